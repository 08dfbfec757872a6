//! Configuration: one YAML file → a validated, typed [`Config`], or every problem at once.
//!
//! Loading runs in three stages so an operator sees all mistakes in one pass:
//! 1. YAML syntax: the text becomes a loose tree (`serde_json::Value`); a syntax error is the only
//!    problem that stops everything, and it is reported by line and column.
//! 2. Shape (`sections.rs`): each section is decoded on its own into serde structs (`raw.rs`),
//!    with unknown keys rejected; a broken section is reported by key path and skipped.
//! 3. Rules (`validate.rs`): minimums, formats, uniqueness, cross-API conflicts.
//!
//! After that the configuration is trusted: the rest of the gateway uses [`model`] types only.

pub mod access_log;
mod applications;
mod cors;
mod defaults;
mod echo;
mod endpoint_sides;
mod file;
pub mod kafka;
mod listeners;
pub mod management;
pub mod model;
mod mqtt;
mod number_wording;
mod origins;
mod plan;
mod portal;
mod problem;
mod push;
pub mod push_channel;
pub mod push_model;
mod push_sources;
pub mod rate_limit;
mod raw;
pub mod secret;
mod sections;
pub mod store;
mod subscriptions;
pub(crate) mod timestamp;
pub mod tls_identity;
pub mod tls_listener;
mod validate;
mod virtual_hosts;
pub mod webhook;
pub mod websocket;

use std::path::Path;

use serde_saphyr::MessageFormatter;

pub use access_log::{AccessLogConfig, AccessLogFormat};
pub use applications::{parse_subject, CertificateMatch};
pub(crate) use cors::is_token_byte;
pub use cors::CorsConfig;
pub use kafka::KafkaOptions;
pub use management::{AdminToken, ConsoleConfig, ManagementConfig, TokenRole};
pub use model::{
    ApiConfig, ApiState, Config, DriverChoice, EndpointConfig, EntrypointConfig, GatewayConfig,
    HttpGetOptions, HttpPostOptions, InMemoryOptions, Limits, MockOptions, OutboundConfig,
    PlanConfig, PlanSecurity, SlowClientPolicy, SseOptions, Timeouts, WebSocketOptions,
};
pub use model::{
    ApiKeyConfig, ApiKeyPlanOptions, ApplicationConfig, KeyHash, PlanStatus, PlanValidation,
    SubscriptionConfig, SubscriptionStatus,
};
pub use mqtt::{
    topic_name_problem, MqttConsumerOptions, MqttOptions, MqttProducerOptions, MqttProtocol,
    MqttTlsOptions,
};
pub use origins::{AllowOrigin, OriginPattern};
pub use plan::{API_KEY_QUERY_PARAMETER, DEFAULT_API_KEY_HEADER};
pub use portal::PortalConfig;
pub use problem::{ConfigError, Problem};
pub use secret::Secret;
pub use store::{PostgresTls, StoreBackend, StoreConfig};
pub use tls_identity::ClientIdentity;
pub use tls_listener::{ClientAuth, TlsFiles, TlsListenerConfig, TlsMaterial, TlsVersion};
pub use virtual_hosts::ContextPath;

use problem::Problems;

/// The quickstart configuration, compiled in: used when no file is given.
const DEFAULT_YAML: &str = include_str!("default.yaml");
const DEFAULT_ORIGIN: &str = "<embedded default>";

pub use file::MAX_CONFIG_BYTES;

/// Reads and validates the configuration file at `path`: `run` and `check` both load through
/// here, so `check` reports everything `run` would refuse before binding. Only a regular file of
/// at most [`MAX_CONFIG_BYTES`] is read.
pub fn load_file(path: &Path) -> Result<Config, ConfigError> {
    let origin = path.display().to_string();
    match file::read_config_file(path) {
        Ok(text) => load_str(&text, &origin),
        Err(message) => Err(ConfigError {
            origin,
            problems: vec![Problem {
                location: "file".to_owned(),
                message,
            }],
        }),
    }
}

/// Parses and validates configuration `text`; `origin` names it in error messages.
pub fn load_str(text: &str, origin: &str) -> Result<Config, ConfigError> {
    let mut problems = Problems::default();
    let config = parse_tree(text, &mut problems)
        .and_then(|tree| sections::read_config(&tree, &mut problems));
    problems.into_result(origin)?;
    // Without problems every section decoded, so a config was built.
    config.ok_or_else(|| ConfigError {
        origin: origin.to_owned(),
        problems: vec![Problem {
            location: "top level".to_owned(),
            message: "the configuration could not be read".to_owned(),
        }],
    })
}

/// The text of the embedded quickstart configuration (what `run` without a file loads).
pub fn embedded_default_text() -> &'static str {
    DEFAULT_YAML
}

/// Configuration `text` as a loose tree (YAML syntax only, nothing validated): the management
/// plane takes the file's own sections from it (the node-local `gateway:`, the lists that seed
/// an empty store).
pub fn raw_tree(text: &str, origin: &str) -> Result<serde_json::Value, ConfigError> {
    let mut problems = Problems::default();
    let tree = parse_tree(text, &mut problems);
    problems.into_result(origin)?;
    Ok(tree.unwrap_or(serde_json::Value::Null))
}

/// The embedded quickstart configuration (`src/config/default.yaml`).
///
/// A unit test proves the file valid, so this cannot fail at runtime; should it ever (an edited
/// file shipped without running tests), it falls back to the same APIs built in code.
pub fn embedded_default() -> Config {
    load_str(DEFAULT_YAML, DEFAULT_ORIGIN).unwrap_or_else(|error| {
        tracing::error!(%error, "embedded default configuration is invalid; using built-in quickstart");
        quickstart()
    })
}

/// The quickstart built in code: the same values `default.yaml` spells out.
fn quickstart() -> Config {
    Config {
        gateway: GatewayConfig::default(),
        apis: vec![ApiConfig {
            id: "qs-message-api".to_owned(),
            name: "Quickstart message API".to_owned(),
            state: ApiState::Started,
            context_paths: vec![ContextPath::any_host("/qs-message-api")],
            entrypoints: vec![
                EntrypointConfig::HttpGet(HttpGetOptions::default()),
                EntrypointConfig::WebSocket(WebSocketOptions {
                    publisher_enabled: false,
                    subscriber_enabled: true,
                    ..WebSocketOptions::default()
                }),
                EntrypointConfig::Sse(SseOptions::default()),
            ],
            endpoint: EndpointConfig::Mock(MockOptions::default()),
            plans: vec![PlanConfig {
                id: "Keyless".to_owned(),
                name: "Keyless".to_owned(),
                security: PlanSecurity::Keyless,
                status: PlanStatus::Published,
                validation: PlanValidation::Auto,
                policies: Default::default(),
            }],
            cors: None,
            access_log: true,
        }],
        applications: Vec::new(),
        subscriptions: Vec::new(),
        management: Some(quickstart_management()),
    }
}

/// The quickstart's management plane: every default (API 8083, console 8084, `tidegate.db`).
fn quickstart_management() -> ManagementConfig {
    use management::{DEFAULT_CONSOLE_LISTEN, DEFAULT_ENVIRONMENT, DEFAULT_LISTEN};
    use store::{DEFAULT_POLL_INTERVAL_MS, DEFAULT_SQLITE_PATH};
    let address = |text: &str| text.parse().expect("a constant socket address");
    ManagementConfig {
        listen: address(DEFAULT_LISTEN),
        environment: DEFAULT_ENVIRONMENT.to_owned(),
        store: StoreConfig {
            backend: StoreBackend::Sqlite {
                path: DEFAULT_SQLITE_PATH.into(),
            },
            poll_interval: std::time::Duration::from_millis(DEFAULT_POLL_INTERVAL_MS),
        },
        tokens: Vec::new(),
        console: ConsoleConfig {
            enabled: true,
            listen: address(DEFAULT_CONSOLE_LISTEN),
        },
        portal: PortalConfig::default(),
    }
}

/// Stage 1: YAML text → loose tree. A syntax error is reported as `line L column C`.
fn parse_tree(text: &str, problems: &mut Problems) -> Option<serde_json::Value> {
    match serde_saphyr::from_str::<serde_json::Value>(text) {
        Ok(tree) => Some(tree),
        Err(error) => {
            let location = match error.location() {
                Some(at) if at.line() > 0 => format!("line {} column {}", at.line(), at.column()),
                _ => "top level".to_owned(),
            };
            let message = match original_error(&error) {
                serde_saphyr::Error::Budget { breach, .. } => budget_message(breach),
                _ => serde_saphyr::DefaultMessageFormatter
                    .format_message(&error)
                    .into_owned(),
            };
            // The text may quote the input: keep each problem on one line.
            let message: String = message
                .replace(
                    ", set DuplicateKeyPolicy in Options if acceptable",
                    "; each key may appear once",
                )
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            problems.push(location, format!("invalid YAML: {message}"));
            None
        }
    }
}

/// The error under the library's wrappers (source snippets, alias sites).
fn original_error(mut error: &serde_saphyr::Error) -> &serde_saphyr::Error {
    while let serde_saphyr::Error::WithSnippet { error: inner, .. }
    | serde_saphyr::Error::AliasError { error: inner, .. } = error
    {
        error = inner;
    }
    error
}

/// The parser's bounds on a document (serde-saphyr's default `Budget`), in words: the library's
/// own text for them is its internal `Nodes { nodes: 250001 }`.
fn budget_message(breach: &serde_saphyr::budget::BudgetBreach) -> String {
    use serde_saphyr::budget::BudgetBreach;
    match breach {
        BudgetBreach::Nodes { .. } | BudgetBreach::Events { .. } => "the configuration has more than 250000 YAML values (each use of an alias `*name` counts its anchor's values again); a configuration is far smaller: look for a runaway generated file or aliases nested in aliases".to_owned(),
        BudgetBreach::Aliases { .. } | BudgetBreach::AliasAnchorRatio { .. } => "the configuration uses too many aliases (`*name`); write the values out or use fewer aliases".to_owned(),
        BudgetBreach::Depth { .. } => "the configuration nests mappings and lists more than 64 levels deep".to_owned(),
        BudgetBreach::Documents { .. } => "the file holds too many YAML documents (`---`); a configuration is one document".to_owned(),
        _ => "the configuration is too large for a configuration file (too many anchors, keys or bytes of text)".to_owned(),
    }
}

#[cfg(test)]
mod endpoint_sides_tests;
#[cfg(test)]
mod plans_tests;
#[cfg(test)]
mod rate_limit_tests;
#[cfg(test)]
mod rules_tests;
#[cfg(test)]
mod tests;
