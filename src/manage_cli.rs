//! The management subcommands of the `tidegate` binary: `apis …`, `subscriptions …` and
//! `tokens …` (clients
//! of the management API) and `export` (the store as a configuration file).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use serde_json::{json, Value};
use tidegate::config;
use tidegate::manage::cli::{
    table, CliError, Client, API_COLUMNS, SUBSCRIPTION_COLUMNS, TOKEN_COLUMNS,
};

/// Where the management API is and how to talk to it.
#[derive(Args)]
pub struct Connection {
    /// The management API's address (management.listen).
    #[arg(
        long,
        global = true,
        env = "TIDEGATE_URL",
        default_value = "http://127.0.0.1:8083"
    )]
    url: String,
    /// A management token (printed at first start, or one of management.tokens).
    #[arg(long, global = true, env = "TIDEGATE_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// The environment of the routes (management.environment).
    #[arg(
        long,
        global = true,
        env = "TIDEGATE_ENVIRONMENT",
        default_value = "DEFAULT"
    )]
    environment: String,
    /// How answers are printed.
    #[arg(long, short, global = true, value_enum, default_value_t = Output::Table)]
    output: Output,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// The management API's JSON, pretty-printed.
    Json,
    /// Aligned columns (lists) or the JSON (single objects).
    Table,
}

#[derive(Subcommand)]
pub enum ApisAction {
    /// List the APIs with their state, lifecycle and deployed revision.
    List,
    /// Show one API.
    Get { id: String },
    /// Deploy the API's current definition as a new revision.
    Deploy {
        id: String,
        /// A note kept with the revision.
        #[arg(long)]
        comment: Option<String>,
    },
    /// Start a deployed API (served again).
    Start { id: String },
    /// Stop an API (its streams are drained, then it answers 404).
    Stop { id: String },
    /// Delete a stopped API whose plans are all closed.
    Delete { id: String },
}

#[derive(Subcommand)]
pub enum SubscriptionsAction {
    /// List the subscriptions to an API.
    List { api: String },
    /// Accept a pending subscription (an API key plan's first key is printed once).
    Accept { api: String, subscription: String },
    /// Close a subscription (its keys stop working).
    Close { api: String, subscription: String },
}

#[derive(Subcommand)]
pub enum TokensAction {
    /// List the management tokens: configured ones and the store's (never a hash).
    List,
    /// Create a token in the store and print it (shown only now). It authenticates on the nodes
    /// where no token is configured (management.tokens, TIDEGATE_MANAGEMENT_TOKEN).
    Create {
        /// Its name: the actor of the audit events of its calls.
        name: String,
        /// When it stops working, RFC 3339 (e.g. 2027-01-01T00:00:00Z); default: never.
        #[arg(long, value_name = "TIME")]
        expires_at: Option<String>,
        /// What it may do: admin (everything) or viewer (read only: GET).
        #[arg(long, value_name = "ROLE", default_value = "admin")]
        role: String,
    },
    /// Revoke a store token. An administrator's is refused while no other administrator's stays
    /// valid as long (it could lock every operator out) unless --force.
    Revoke {
        name: String,
        /// Revoke it even when no other token outlasts it (e.g. the store's tokens are no
        /// longer used: every node has management.tokens).
        #[arg(long)]
        force: bool,
    },
}

/// `tidegate tokens …`.
pub fn tokens(action: TokensAction, connection: Connection) -> ExitCode {
    match &action {
        TokensAction::List => call(
            &connection,
            "GET",
            "/tokens",
            None,
            Some(TOKEN_COLUMNS),
            None,
        ),
        TokensAction::Create {
            name,
            expires_at,
            role,
        } => {
            let mut body = json!({ "name": name, "role": role });
            if let Some(at) = expires_at {
                body["expiresAt"] = Value::from(at.as_str());
            }
            call(&connection, "POST", "/tokens", Some(&body), None, None)
        }
        TokensAction::Revoke { name, force } => call(
            &connection,
            "DELETE",
            &format!(
                "/tokens/{}{}",
                segment(name),
                if *force { "?force=true" } else { "" }
            ),
            None,
            None,
            Some(format!("revoked {name}")),
        ),
    }
}

/// `tidegate apis …`.
pub fn apis(action: ApisAction, connection: Connection) -> ExitCode {
    let path = |id: &str, tail: &str| format!("/apis/{}{tail}", segment(id));
    let (method, target, body, columns) = match &action {
        ApisAction::List => ("GET", "/apis".to_owned(), None, Some(API_COLUMNS)),
        ApisAction::Get { id } => ("GET", path(id, ""), None, None),
        ApisAction::Deploy { id, comment } => (
            "POST",
            path(id, "/deployments"),
            Some(json!({ "comment": comment })),
            None,
        ),
        ApisAction::Start { id } => ("POST", path(id, "/_start"), None, None),
        ApisAction::Stop { id } => ("POST", path(id, "/_stop"), None, None),
        ApisAction::Delete { id } => ("DELETE", path(id, ""), None, None),
    };
    let done = match &action {
        ApisAction::Start { id } => Some(format!("started {id}")),
        ApisAction::Stop { id } => Some(format!("stopped {id}")),
        ApisAction::Delete { id } => Some(format!("deleted {id}")),
        _ => None,
    };
    call(&connection, method, &target, body.as_ref(), columns, done)
}

/// `tidegate subscriptions …`.
pub fn subscriptions(action: SubscriptionsAction, connection: Connection) -> ExitCode {
    let path = |api: &str, tail: &str| format!("/apis/{}/subscriptions{tail}", segment(api));
    match &action {
        SubscriptionsAction::List { api } => call(
            &connection,
            "GET",
            &path(api, ""),
            None,
            Some(SUBSCRIPTION_COLUMNS),
            None,
        ),
        SubscriptionsAction::Accept { api, subscription } => call(
            &connection,
            "POST",
            &path(api, &format!("/{}/_accept", segment(subscription))),
            None,
            None,
            None,
        ),
        SubscriptionsAction::Close { api, subscription } => call(
            &connection,
            "POST",
            &path(api, &format!("/{}/_close", segment(subscription))),
            None,
            None,
            Some(format!("closed {subscription}")),
        ),
    }
}

/// An id as one path segment: anything outside `[A-Za-z0-9._-]` percent-encoded.
fn segment(id: &str) -> String {
    id.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

fn call(
    connection: &Connection,
    method: &str,
    path: &str,
    body: Option<&Value>,
    columns: Option<&[(&str, &str)]>,
    done: Option<String>,
) -> ExitCode {
    let Some(token) = connection.token.as_deref().filter(|t| !t.is_empty()) else {
        eprintln!("no management token: give --token or set TIDEGATE_TOKEN (the token printed at the gateway's first start, or one of management.tokens)");
        return ExitCode::from(2);
    };
    let client = Client::new(&connection.url, token, &connection.environment);
    match client.call(method, path, body) {
        Ok(answer) => {
            print_answer(&answer, connection.output, columns, done);
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("{error}");
            match error {
                CliError::Unreachable { .. } | CliError::Unauthorized { .. } => ExitCode::from(2),
                _ => ExitCode::FAILURE,
            }
        }
    }
}

fn print_answer(
    answer: &Value,
    output: Output,
    columns: Option<&[(&str, &str)]>,
    done: Option<String>,
) {
    match (output, columns, answer) {
        (Output::Json, _, Value::Null) => println!("{{}}"),
        (Output::Json, _, _) => println!("{}", pretty(answer)),
        (Output::Table, Some(columns), _) => {
            let items = answer
                .get("data")
                .and_then(Value::as_array)
                .map_or(&[][..], Vec::as_slice);
            print!("{}", table(items, columns));
        }
        (Output::Table, None, Value::Null) => {
            println!("{}", done.unwrap_or_else(|| "done".to_owned()))
        }
        (Output::Table, None, _) => println!("{}", pretty(answer)),
    }
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

/// `tidegate export`: reads the store named by the file's `management:` section and writes its
/// content as YAML to `output` (stdout when absent).
pub fn export(config_path: &std::path::Path, output: Option<PathBuf>) -> ExitCode {
    let config = match config::load_file(config_path) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::FAILURE;
        }
    };
    let Some(management) = &config.management else {
        eprintln!(
            "{}: no `management:` section, so no store to export: the file itself holds the APIs",
            config_path.display()
        );
        return ExitCode::FAILURE;
    };
    let yaml = tidegate::manage::node::open_store(management)
        .and_then(|store| tidegate::manage::export::export_yaml(store.as_ref()));
    let yaml = match yaml {
        Ok(yaml) => yaml,
        Err(error) => {
            eprintln!("management store: {error}");
            return ExitCode::FAILURE;
        }
    };
    match output {
        None => {
            print!("{yaml}");
            ExitCode::SUCCESS
        }
        Some(path) => match std::fs::write(&path, yaml) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("cannot write {}: {error}", path.display());
                ExitCode::FAILURE
            }
        },
    }
}
