//! The `tidegate` command: run the gateway, or check a configuration file.

#![allow(
    clippy::disallowed_types,
    reason = "the main thread and the management follower share the gateway handle; no shard holds it"
)]
mod manage_cli;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{mpsc, Arc, Mutex};

use clap::{Parser, Subcommand, ValueEnum};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use tidegate::config::{self, Config};
use tidegate::cross_shard::ShardFault;
use tidegate::manage::node::{gateway_applier, ManagedNode, Prepared};
use tidegate::manage::service::stats_from;
use tidegate::runtime::Gateway;

/// Hibernating streams free their tasks; mimalloc returns those pages (Cargo.toml says why).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc.h (v3, the version libmimalloc-sys builds by default):
/// milliseconds before freed pages go back to the system, checked on later allocator calls.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Freed pages go back to the system when they are freed. With mimalloc's default (10 ms, acted
/// on by a later allocator call) a gateway whose idle streams just hibernated, and which then
/// allocates nothing, kept everything they freed resident (docs/benchmarks.md, idle memory).
fn return_freed_pages_at_once() {
    // SAFETY: sets one of mimalloc's integer options; any value is valid for this one.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) }
}

/// tidegate: an event-native API gateway. Exposes message brokers (Kafka, MQTT), in-memory topics
/// and a Mock generator to web clients over HTTP GET and POST, WebSocket and Server-Sent Events,
/// and pushes their messages to webhooks.
///
/// With no command it runs the gateway; with no configuration file it serves the embedded
/// quickstart API at http://localhost:8082/qs-message-api.
#[derive(Parser)]
#[command(version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Log filter: error, warn, info, debug, trace, or tracing directives such as `tidegate=debug`.
    /// The default keeps the Kafka client library (rskafka) to errors: its informational and
    /// warning lines repeat for every connection and retry (over a hundred in 15 s against a
    /// closed port); tidegate logs each failure itself, with its reason, at most as often as it
    /// retries.
    #[arg(
        long,
        global = true,
        env = "TIDEGATE_LOG",
        default_value = "info,rskafka=error"
    )]
    log_level: String,
    /// Log line format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Configuration file for the default `run` command (same as `run -c FILE`).
    #[arg(short, long, value_name = "FILE")]
    config: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway (the default command).
    Run {
        /// Configuration file (YAML). Without it, the embedded quickstart configuration is used.
        #[arg(short, long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Check a configuration file: print every problem with its location, exit 1 if any.
    /// Opens no socket.
    Check {
        /// Configuration file (YAML): `check FILE` or `check -c FILE`.
        #[arg(value_name = "FILE", required_unless_present = "config")]
        file: Option<PathBuf>,
        /// Configuration file (YAML), as with `run`.
        #[arg(short, long, value_name = "FILE", conflicts_with = "file")]
        config: Option<PathBuf>,
    },
    /// API keys for subscriptions to api-key plans.
    Apikey {
        #[command(subcommand)]
        action: ApiKeyAction,
    },
    /// Manage APIs through the management API (--url / TIDEGATE_URL, --token / TIDEGATE_TOKEN).
    Apis {
        #[command(subcommand)]
        action: manage_cli::ApisAction,
        #[command(flatten)]
        connection: manage_cli::Connection,
    },
    /// Manage an API's subscriptions through the management API.
    Subscriptions {
        #[command(subcommand)]
        action: manage_cli::SubscriptionsAction,
        #[command(flatten)]
        connection: manage_cli::Connection,
    },
    /// Manage the management API's own tokens: list, create (printed once), revoke.
    Tokens {
        #[command(subcommand)]
        action: manage_cli::TokensAction,
        #[command(flatten)]
        connection: manage_cli::Connection,
    },
    /// Write the management store's deployed APIs, applications and subscriptions as a
    /// configuration file (`tidegate check` accepts it).
    Export {
        /// The configuration file whose `management.store` to read.
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
        /// Where to write the YAML (default: standard output).
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ApiKeyAction {
    /// Print a new random API key (256 bits) and the `hash:` line to list under the
    /// subscription's `apiKeys` (the configuration holds only the hash; the key is shown once).
    Generate,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

fn main() -> ExitCode {
    return_freed_pages_at_once();
    let cli = Cli::parse();
    if let Err(message) = init_logging(&cli.log_level, cli.log_format) {
        eprintln!("{message}");
        return ExitCode::from(2);
    }
    match cli.command.unwrap_or(Command::Run { config: cli.config }) {
        Command::Check { file, config } => match file.or(config) {
            Some(path) => check(&path),
            // clap requires one of them.
            None => ExitCode::from(2),
        },
        Command::Run { config } => run(config),
        Command::Apikey {
            action: ApiKeyAction::Generate,
        } => generate_api_key(),
        Command::Apis { action, connection } => manage_cli::apis(action, connection),
        Command::Subscriptions { action, connection } => {
            manage_cli::subscriptions(action, connection)
        }
        Command::Tokens { action, connection } => manage_cli::tokens(action, connection),
        Command::Export { config, output } => manage_cli::export(&config, output),
    }
}

fn init_logging(filter: &str, format: LogFormat) -> Result<(), String> {
    let filter = tracing_subscriber::EnvFilter::try_new(filter).map_err(|err| {
        format!("invalid --log-level '{filter}': {err} (use error, warn, info, debug, trace, or a directive such as tidegate=debug)")
    })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    Ok(())
}

fn check(path: &std::path::Path) -> ExitCode {
    match config::load_file(path) {
        Ok(config) => {
            println!("{}: OK ({} API(s))", path.display(), config.apis.len());
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("{err}");
            eprintln!("{}: {} problem(s)", path.display(), err.problems.len());
            ExitCode::FAILURE
        }
    }
}

fn generate_api_key() -> ExitCode {
    match tidegate::security::api_key::generate() {
        Ok((key, hash)) => {
            println!("key: {key}");
            println!("hash: {}", hash.to_config_text());
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

fn run(path: Option<PathBuf>) -> ExitCode {
    let config: Config = match &path {
        Some(path) => match config::load_file(path) {
            Ok(config) => config,
            Err(err) => {
                eprintln!("{err}");
                return ExitCode::FAILURE;
            }
        },
        None => config::embedded_default(),
    };
    let (events, inbox) = mpsc::channel();
    if let Err(err) = forward_signals(events.clone()) {
        eprintln!("cannot install signal handlers: {err}");
        return ExitCode::FAILURE;
    }
    // With `management:` the store holds the APIs: seed it, start on its content, follow it.
    let prepared = match &config.management {
        Some(_) => match prepare_management(&config, path.as_deref()) {
            Ok(prepared) => Some(prepared),
            Err(message) => {
                eprintln!("{message}");
                return ExitCode::FAILURE;
            }
        },
        None => None,
    };
    let config = prepared.as_ref().map_or(config, |p| p.config.clone());
    let apis: Vec<String> = config
        .apis
        .iter()
        .flat_map(|api| api.context_paths.iter().map(ToString::to_string))
        .collect();
    let gateway = match Gateway::start(config) {
        Ok(gateway) => gateway,
        Err(err) => {
            tracing::error!("{err}");
            return ExitCode::FAILURE;
        }
    };
    // The bound addresses, real ports included (port 0 in the configuration picks a free one).
    let admin = gateway
        .admin_addr()
        .map_or_else(|| "off".to_owned(), |addr| addr.to_string());
    tracing::info!(
        addr = %gateway.local_addr(),
        admin = %admin,
        tls = %gateway.tls_addr().map_or_else(|| "off".to_owned(), |addr| addr.to_string()),
        shards = gateway.drivers().len(),
        context_paths = %apis.join(","),
        "tidegate is listening"
    );
    let health = gateway.health().clone();
    let gateway = Arc::new(Mutex::new(gateway));
    let managed = match prepared {
        Some(prepared) => {
            let listen = prepared.management.listen;
            let stats = stats_from(
                gateway
                    .lock()
                    .unwrap_or_else(|poison| poison.into_inner())
                    .api_metrics()
                    .to_vec(),
            );
            match ManagedNode::start(prepared, gateway_applier(gateway.clone()), Some(stats)) {
                Ok(managed) => {
                    let locked = gateway.lock().unwrap_or_else(|poison| poison.into_inner());
                    for source in managed.metrics_sources() {
                        locked.more_metrics().add(source);
                    }
                    if let Some(console) = managed.console() {
                        locked.more_metrics().add(console.metrics_source());
                    }
                    drop(locked);
                    tracing::info!(
                        management = %listen,
                        console = %managed.console().map_or_else(|| "off".to_owned(), |c| c.local_addr().to_string()),
                        "following the management store; management API listening"
                    );
                    Some(managed)
                }
                Err(err) => {
                    tracing::error!("the management plane could not start: {err}");
                    Running {
                        gateway,
                        managed: None,
                    }
                    .shutdown();
                    return ExitCode::FAILURE;
                }
            }
        }
        None => None,
    };
    let to_main = events.clone();
    std::thread::spawn(move || {
        let _ = to_main.send(Event::ShardDown(health.wait_for_fault()));
    });
    let file_mode_path = if managed.is_some() { None } else { path };
    supervise(Running { gateway, managed }, &inbox, events, file_mode_path)
}

/// Opens the store named by `config.management`, seeds it from the file (or the embedded
/// default) when empty, and reads what to start with.
fn prepare_management(config: &Config, path: Option<&std::path::Path>) -> Result<Prepared, String> {
    let (text, origin) = match path {
        Some(path) => (
            std::fs::read_to_string(path).map_err(|err| format!("{}: {err}", path.display()))?,
            path.display().to_string(),
        ),
        None => (
            config::embedded_default_text().to_owned(),
            "<embedded default>".to_owned(),
        ),
    };
    let tree = config::raw_tree(&text, &origin).map_err(|err| err.to_string())?;
    tidegate::manage::node::prepare(config, &tree)
}

/// The gateway and, in management mode, its follower and management API.
struct Running {
    /// Shared with the follower, which applies the store's changes to it.
    gateway: Arc<Mutex<Gateway>>,
    managed: Option<ManagedNode>,
}

impl Running {
    /// Stops the management side first (no change is applied while the shards drain), then the
    /// gateway.
    fn shutdown(mut self) {
        drop(self.managed.take());
        match Arc::try_unwrap(self.gateway) {
            Ok(gateway) => gateway
                .into_inner()
                .unwrap_or_else(|poison| poison.into_inner())
                .shutdown(),
            Err(_) => tracing::error!("the gateway is still shared; exiting without draining"),
        }
    }

    fn gateway(&self) -> std::sync::MutexGuard<'_, Gateway> {
        self.gateway
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

/// What the main thread waits for.
enum Event {
    /// SIGTERM or SIGINT.
    Signal(i32),
    /// SIGHUP: reload the APIs, plans, applications, subscriptions and API keys.
    Reload,
    /// A shard died (a shard-wide task panicked).
    ShardDown(ShardFault),
    /// The graceful shutdown finished.
    Stopped,
}

/// Sends every SIGTERM, SIGINT and SIGHUP (reload the TLS certificates, plans, applications,
/// subscriptions and API keys) to the main thread.
fn forward_signals(events: mpsc::Sender<Event>) -> std::io::Result<()> {
    let mut signals = Signals::new([SIGTERM, SIGINT, SIGHUP])?;
    std::thread::Builder::new()
        .name("tidegate-signals".to_owned())
        .spawn(move || {
            for signal in signals.forever() {
                let event = if signal == SIGHUP {
                    Event::Reload
                } else {
                    Event::Signal(signal)
                };
                if events.send(event).is_err() {
                    break;
                }
            }
        })?;
    Ok(())
}

/// Runs until the gateway has stopped: the first signal starts a graceful shutdown (exit 0); a
/// dead shard does too, and the exit status is then 1 so that the process supervisor restarts
/// the gateway. A signal during the shutdown ends the process at once, with 128 + the signal's
/// number as the shell reports a death by signal (an operator's Ctrl-C twice, or an orchestrator
/// that has waited long enough).
fn supervise(
    gateway: Running,
    inbox: &mpsc::Receiver<Event>,
    events: mpsc::Sender<Event>,
    path: Option<PathBuf>,
) -> ExitCode {
    let mut gateway = Some(gateway);
    let mut status = ExitCode::SUCCESS;
    let shut_down = |gateway: &mut Option<Running>| {
        if let Some(gateway) = gateway.take() {
            let events = events.clone();
            std::thread::spawn(move || {
                gateway.shutdown();
                let _ = events.send(Event::Stopped);
            });
        }
    };
    while let Ok(event) = inbox.recv() {
        match event {
            Event::Signal(signal) if gateway.is_some() => {
                tracing::info!(
                    signal,
                    "shutting down (a second SIGTERM or SIGINT exits at once)"
                );
                shut_down(&mut gateway);
            }
            Event::Signal(signal) => {
                tracing::error!(
                    signal,
                    "second signal during the shutdown: exiting without waiting for clients"
                );
                std::process::exit(128 + signal);
            }
            Event::ShardDown(fault) => {
                tracing::error!(shard = fault.shard, task = fault.task, "a shard is down; shutting down the others so that the gateway can be restarted");
                status = ExitCode::FAILURE;
                shut_down(&mut gateway);
            }
            Event::Reload => {
                if let Some(running) = &gateway {
                    let gateway = running.gateway();
                    tracing::info!("SIGHUP: reloading the TLS certificates");
                    gateway.reload_tls();
                    match &path {
                        Some(path) => reload(&gateway, path),
                        None if running.managed.is_some() => tracing::info!(
                            "SIGHUP: the APIs come from the management store (followed continuously), not from the file"
                        ),
                        None => tracing::info!(
                            "SIGHUP: no plans to reload (running the embedded quickstart, no configuration file)"
                        ),
                    }
                }
            }
            Event::Stopped => break,
        }
    }
    tracing::info!("stopped");
    status
}

/// SIGHUP: re-reads the file and applies it live: APIs (deployed, updated, stopped, removed
/// without a restart), plans, applications, subscriptions and API keys. An invalid file keeps
/// everything in force and logs every problem; a changed `gateway:` section needs a restart.
fn reload(gateway: &Gateway, path: &std::path::Path) {
    match gateway.reload_file(path) {
        Ok(report) => {
            tracing::info!(
                version = report.version,
                added = ?report.added,
                updated = ?report.updated,
                removed = ?report.removed,
                started = ?report.started,
                stopped = ?report.stopped,
                "reloaded plans, applications, subscriptions and API keys, and the APIs"
            );
        }
        Err(err) => {
            tracing::error!(
                "reload refused, the previous APIs, plans and keys stay in force:\n{err}"
            )
        }
    }
}
