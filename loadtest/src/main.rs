//! The `tidegate-load` command line; the harness itself is the library (see lib.rs).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use tidegate_load::broker_suite::{BrokerMode, BrokerRun};
use tidegate_load::brokers::{BrokerBins, BrokerKind};
use tidegate_load::error::LoadError;
use tidegate_load::publisher::PubProtocol;
use tidegate_load::report::Report;
use tidegate_load::run::Workload;
use tidegate_load::servers::{Driver, Server, ServerKind, ServerOptions, WsDeflate};
use tidegate_load::shapes::PubShape;
use tidegate_load::subscriber::SubProtocol;
use tidegate_load::suites::Suite;
use tidegate_load::{doc, idle, limits, plot, raw_server, run, suites};

mod cli_shapes;

#[derive(Parser)]
#[command(
    name = "tidegate-load",
    version,
    about = "Load-test harness for tidegate (see docs/benchmarks.md)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// One run against a server this command starts (--serve) or one already running (--target).
    Run(RunArgs),
    /// The same workload through every tidegate entrypoint; writes the comparison table.
    Entrypoints(SuiteArgs),
    /// The same POST → WebSocket workload on tidegate, nginx + nchan and the raw writer.
    Peers(SuiteArgs),
    /// The same POST → WebSocket workload on tidegate with io_uring and with epoll, for the
    /// workload's publishers (pipelining) and for many publishers waiting for every answer.
    Drivers(DriversArgs),
    /// Issue 17's table: publisher shapes (SHAPE@RATE rows) × subscriber protocols on tidegate,
    /// nginx + nchan and the raw writer, in one run.
    Shapes(cli_shapes::ShapesArgs),
    /// Each server's maximum delivered rate for one publisher shape: steps the offered rate
    /// until loss or lag.
    MaxRate(cli_shapes::MaxRateArgs),
    /// Server memory with N idle WebSocket connections.
    Idle(IdleArgs),
    /// Describes this machine (CPU, cores, memory, kernel, descriptor limit) as markdown.
    Machine {
        #[arg(long)]
        doc: Option<PathBuf>,
    },
    /// The gateway in front of a real broker (tansu or mosquitto, started for the run): backlog
    /// replay from `earliest` (Kafka) or live fan-out with latency, over SSE.
    Broker(BrokerArgs),
    /// The raw writer (started by `peers`; serves until killed).
    RawServer {
        #[arg(long)]
        listen: SocketAddr,
    },
}

#[derive(Args, Clone)]
struct WorkloadArgs {
    /// Subscriber connections.
    #[arg(long, default_value_t = 1000)]
    subscribers: usize,
    /// How subscribers receive.
    #[arg(long = "sub", value_enum, default_value = "ws")]
    sub: SubProtocol,
    /// Publisher connections.
    #[arg(long, default_value_t = 1)]
    publishers: u32,
    /// How publishers send.
    #[arg(long = "pub", value_enum, default_value = "post")]
    publish: PubProtocol,
    /// A publisher shape (waiting[:PUBLISHERS], pipelining[:UNANSWERED], ws[:PUBLISHERS]);
    /// replaces --pub, --publishers and --max-in-flight.
    #[arg(long)]
    shape: Option<PubShape>,
    /// Published messages per second, all publishers together.
    #[arg(long, default_value_t = 1000.0)]
    rate: f64,
    /// Payload bytes per message (at least 40).
    #[arg(long, default_value_t = 100)]
    size: usize,
    #[arg(long, default_value_t = 1000)]
    warmup_ms: u64,
    #[arg(long, default_value_t = 5000)]
    duration_ms: u64,
    /// Subscriber threads of the harness (publishers have one more).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Loopback source addresses (127.0.0.1..) connections are spread over.
    #[arg(long, default_value_t = 8)]
    source_ips: u8,
    /// HTTP GET subscribers: `limit` of each poll.
    #[arg(long, default_value_t = 10000)]
    get_limit: usize,
    /// Per publisher: unanswered POSTs before it waits (due messages keep their due times).
    #[arg(long, default_value_t = 1000)]
    max_in_flight: u64,
    /// Subscribers connect over TLS to this address (the gateway's `gateway.tls.listen`);
    /// publishers stay on the plaintext target. With --target.
    #[arg(long, requires = "sub_tls_ca")]
    sub_tls_addr: Option<SocketAddr>,
    /// With --sub-tls-addr: PEM file of the CA (or self-signed certificate) to trust.
    #[arg(long)]
    sub_tls_ca: Option<PathBuf>,
    /// With --sub-tls-addr: the SNI name (checked against the certificate).
    #[arg(long, default_value = "localhost")]
    sub_tls_name: String,
    /// A header sent on every publisher and subscriber request, e.g.
    /// `--header 'X-Gravitee-Api-Key: KEY'` for an api-key plan (repeatable; not in reports).
    #[arg(long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
}

#[derive(Args, Clone)]
struct ServerArgs {
    /// The tidegate binary [default: `tidegate` next to this binary].
    #[arg(long)]
    tidegate_bin: Option<PathBuf>,
    #[arg(long, default_value = "/usr/sbin/nginx")]
    nginx_bin: PathBuf,
    /// Shards / nginx workers of the server under test (the raw writer has one thread).
    #[arg(long, default_value_t = 1)]
    server_threads: usize,
    /// HTTP GET: messagesLimitDurationMs of the generated tidegate config.
    #[arg(long, default_value_t = 100)]
    get_window_ms: u64,
    /// tidegate's I/O driver (`gateway.driver` of the generated config; `drivers` sets it per
    /// run).
    #[arg(long, value_enum, default_value = "auto")]
    driver: Driver,
    /// permessage-deflate on tidegate's subscribe websocket; `idle` clients then offer it.
    #[arg(long, value_enum, default_value = "off")]
    ws_deflate: WsDeflate,
}

#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    workload: WorkloadArgs,
    #[command(flatten)]
    server: ServerArgs,
    /// Start this server for the run.
    #[arg(long, value_enum, conflicts_with = "target")]
    serve: Option<ServerKind>,
    /// A server already running (with --sub-path and --pub-path).
    #[arg(long, required_unless_present = "serve")]
    target: Option<SocketAddr>,
    #[arg(long, default_value = "/load")]
    sub_path: String,
    #[arg(long, default_value = "/load/in")]
    pub_path: String,
    /// With --target: the server's PID, to report its CPU and memory.
    #[arg(long)]
    server_pid: Option<u32>,
    #[arg(long)]
    json: Option<PathBuf>,
    #[arg(long)]
    svg: Option<PathBuf>,
}

#[derive(Args)]
pub(crate) struct SuiteArgs {
    #[command(flatten)]
    workload: WorkloadArgs,
    #[command(flatten)]
    server: ServerArgs,
    /// Where JSON reports, plots and tables go.
    #[arg(long, default_value = "target/loadtest")]
    out: PathBuf,
    /// A markdown document to write the table into (between `<!-- tidegate-load:NAME -->`
    /// markers).
    #[arg(long)]
    doc: Option<PathBuf>,
}

#[derive(Args)]
struct DriversArgs {
    #[command(flatten)]
    suite: SuiteArgs,
    /// The second publisher shape: this many publishers, each waiting for the answer to its
    /// POST before sending the next.
    #[arg(long, default_value_t = 20)]
    waiting_publishers: u32,
}

#[derive(Args)]
struct BrokerArgs {
    #[command(flatten)]
    workload: WorkloadArgs,
    #[command(flatten)]
    server: ServerArgs,
    #[arg(long, value_enum)]
    broker: BrokerKind,
    #[arg(long, value_enum)]
    mode: BrokerMode,
    /// Replay: records to publish before the clients connect (sets --duration-ms from --rate,
    /// no warm-up).
    #[arg(long, default_value_t = 200_000)]
    records: u64,
    /// Kafka: partitions of the topic.
    #[arg(long, default_value_t = 3)]
    partitions: u32,
    /// `maxRetainedMessages` of the consuming API (the node buffer).
    #[arg(long, default_value_t = 10_000)]
    ring: u64,
    /// Replay: give up after this many seconds.
    #[arg(long, default_value_t = 120)]
    limit_s: u64,
    /// tansu [default: $HOME/.cache/tidegate/tansu-0.6.0/bin/tansu, from tests/setup/tansu.sh].
    #[arg(long)]
    tansu_bin: Option<PathBuf>,
    #[arg(long, default_value = "/usr/sbin/mosquitto")]
    mosquitto_bin: PathBuf,
    /// A Python with confluent-kafka [default: the venv tests/setup/tansu.sh makes].
    #[arg(long)]
    python: Option<PathBuf>,
    /// Live MQTT: subscribers connect to mosquitto directly (the broker's own fan-out); the
    /// gateway only publishes.
    #[arg(long)]
    direct: bool,
    /// The row's name in the table.
    #[arg(long, default_value = "tidegate")]
    label: String,
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Args)]
struct IdleArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// Connection counts to measure.
    #[arg(long, value_delimiter = ',', default_value = "10000,50000,100000")]
    levels: Vec<usize>,
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "tidegate,nchan"
    )]
    servers: Vec<ServerKind>,
    #[arg(long, default_value_t = 8)]
    source_ips: u8,
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Once RSS has settled, hold the connections this long more (answering the server's
    /// keep-alive pings) and report the highest RSS meanwhile too: what idle connections cost
    /// over time, keep-alive included (tidegate's default ping interval is 30 s).
    #[arg(long, default_value_t = 0)]
    hold_secs: u64,
    /// How the idle clients subscribe: `ws` (WebSocket) or `sse`.
    #[arg(long = "sub", value_enum, default_value = "ws")]
    sub: SubProtocol,
    #[arg(long, default_value = "target/loadtest")]
    out: PathBuf,
    #[arg(long)]
    doc: Option<PathBuf>,
}

fn main() -> ExitCode {
    match execute(Cli::parse().command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("tidegate-load: {err}");
            ExitCode::FAILURE
        }
    }
}

fn execute(command: Command) -> Result<(), LoadError> {
    match command {
        Command::Run(args) => run_command(args),
        Command::Entrypoints(args) => {
            let table = suite(&args)?.entrypoints()?;
            splice(&args.doc, "entrypoints", &table)
        }
        Command::Peers(args) => {
            let table = suite(&args)?.peers()?;
            splice(&args.doc, &format!("peers-{}", args.workload.rate), &table)
        }
        Command::Drivers(args) => {
            let table = suite(&args.suite)?.drivers(args.waiting_publishers)?;
            splice(&args.suite.doc, "drivers", &table)
        }
        Command::Shapes(args) => cli_shapes::shapes(args),
        Command::MaxRate(args) => cli_shapes::max_rate(args),
        Command::Idle(args) => {
            let options = server_options(&args.server)?;
            let rows = idle::measure(
                &args.servers,
                &args.levels,
                &options,
                args.source_ips,
                args.threads,
                std::time::Duration::from_secs(args.hold_secs),
                args.sub,
            )?;
            suites::write_json(&args.out.join("idle.json"), &rows)?;
            let table = idle::table(&rows);
            println!("{table}");
            splice(&args.doc, "idle", &table)
        }
        Command::Machine { doc } => {
            let text = machine();
            println!("{text}");
            splice(&doc, "machine", &text)
        }
        Command::Broker(args) => {
            let table = broker_run(args)?.execute()?;
            println!("{table}");
            Ok(())
        }
        Command::RawServer { listen } => raw_server::serve(listen)
            .map_err(|err| LoadError::io(std::path::Path::new("raw-server"), err)),
    }
}

fn run_command(args: RunArgs) -> Result<(), LoadError> {
    let mut workload = workload(
        &args.workload,
        args.target.unwrap_or_else(|| ([127, 0, 0, 1], 0).into()),
    );
    workload.sub_path = args.sub_path.clone();
    workload.pub_path = args.pub_path.clone();
    let server = match args.serve {
        Some(kind) => {
            let server = Server::start(kind, &server_options(&args.server)?)?;
            workload.target = server.addr;
            workload.sub_path = kind.paths().subscribe.to_owned();
            workload.pub_path = kind.paths().publish.to_owned();
            Some(server)
        }
        None => None,
    };
    let pid = server.as_ref().map(Server::pid).or(args.server_pid);
    let outcome = run::run(&workload, pid)?;
    drop(server);
    let report = Report::new("run", args.serve, &workload, &outcome);
    print!("{}", report.human());
    if let Some(path) = &args.json {
        suites::write_json(path, &report)?;
    }
    if let Some(path) = &args.svg {
        plot::write_spectrum_svg(
            path,
            "latency",
            &[(
                format!("{:?} → {:?}", workload.publish, workload.sub),
                report.spectrum.clone(),
            )],
        )?;
    }
    Ok(())
}

fn broker_run(args: BrokerArgs) -> Result<BrokerRun, LoadError> {
    let mut workload = workload(&args.workload, ([127, 0, 0, 1], 0).into());
    workload.sub = SubProtocol::Sse;
    workload.publish = PubProtocol::Post;
    if args.mode == BrokerMode::Replay {
        workload.warmup = Duration::ZERO;
        workload.duration = Duration::from_secs_f64(args.records as f64 / args.workload.rate);
    }
    let mut bins = BrokerBins::installed();
    bins.mosquitto = args.mosquitto_bin;
    if let Some(tansu) = args.tansu_bin {
        bins.tansu = tansu;
    }
    if let Some(python) = args.python {
        bins.python = python;
    }
    Ok(BrokerRun {
        kind: args.broker,
        mode: args.mode,
        partitions: args.partitions.max(1),
        ring: args.ring.max(1),
        limit: Duration::from_secs(args.limit_s),
        bins,
        servers: server_options(&args.server)?,
        workload,
        label: args.label,
        json: args.json,
        direct: args.direct,
    })
}

pub(crate) fn suite(args: &SuiteArgs) -> Result<Suite, LoadError> {
    std::fs::create_dir_all(&args.out).map_err(|err| LoadError::io(&args.out, err))?;
    Ok(Suite {
        servers: server_options(&args.server)?,
        workload: workload(&args.workload, ([127, 0, 0, 1], 0).into()),
        out_dir: args.out.clone(),
    })
}

fn workload(args: &WorkloadArgs, target: SocketAddr) -> Workload {
    let workload = Workload {
        target,
        sub: args.sub,
        sub_path: String::new(),
        subscribers: args.subscribers,
        publish: args.publish,
        pub_path: String::new(),
        publishers: args.publishers,
        rate_per_s: args.rate,
        size_bytes: args.size,
        warmup: Duration::from_millis(args.warmup_ms),
        duration: Duration::from_millis(args.duration_ms),
        threads: args.threads,
        source_ips: args.source_ips,
        get_limit: args.get_limit,
        max_in_flight: args.max_in_flight,
        sub_addr: None,
        sub_tls: args.sub_tls_addr.map(|addr| tidegate_load::run::SubTls {
            addr,
            ca_file: args.sub_tls_ca.clone().unwrap_or_default(),
            server_name: args.sub_tls_name.clone(),
        }),
        headers: args.headers.clone(),
    };
    match args.shape {
        Some(shape) => shape.apply(&workload),
        None => workload,
    }
}

fn server_options(args: &ServerArgs) -> Result<ServerOptions, LoadError> {
    let tidegate_bin = match &args.tidegate_bin {
        Some(path) => path.clone(),
        None => std::env::current_exe()
            .map_err(|err| LoadError::io(std::path::Path::new("current_exe"), err))?
            .with_file_name("tidegate"),
    };
    Ok(ServerOptions {
        tidegate_bin,
        nginx_bin: args.nginx_bin.clone(),
        threads: args.server_threads.max(1),
        get_window_ms: args.get_window_ms.max(1),
        driver: args.driver,
        ws_deflate: args.ws_deflate,
    })
}

pub(crate) fn splice(doc: &Option<PathBuf>, name: &str, content: &str) -> Result<(), LoadError> {
    match doc {
        Some(path) => doc::splice(path, name, content),
        None => Ok(()),
    }
}

/// CPU model, cores, memory, kernel and descriptor limit, as a markdown list.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map_or("unknown".to_owned(), |m| m.trim().to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kib: u64 = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "- CPU: {model}, {cores} cores available (shared: harness and server run on the same cores)\n\
         - memory: {:.1} GiB\n- kernel: Linux {}\n- RLIMIT_NOFILE hard limit: {}",
        mem_kib as f64 / 1024.0 / 1024.0,
        kernel.trim(),
        limits::nofile_hard()
    )
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::{Cli, Command};

    #[test]
    fn every_subcommand_line_is_well_formed() {
        // Catches two arguments with one name (max-rate once had its own `--shape` beside the
        // workload's, and clap refused every max-rate command line at run time).
        Cli::command().debug_assert();
    }

    #[test]
    fn max_rate_takes_the_workload_shape() {
        let cli = Cli::try_parse_from([
            "tidegate-load",
            "max-rate",
            "--shape",
            "ws",
            "--sub",
            "ws",
            "--start-rate",
            "500",
        ])
        .expect("max-rate parses");
        assert!(matches!(cli.command, Command::MaxRate(_)));
    }
}
