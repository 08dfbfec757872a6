//! The `management:` section: with it, the store (not the file) holds the APIs, applications and
//! subscriptions, a management API listens, and each node follows the store. Without it the
//! gateway runs from the file alone, as before.
//!
//! ```yaml
//! management:
//!   listen: 127.0.0.1:8083
//!   environment: DEFAULT
//!   store: { type: sqlite, path: tidegate.db, pollIntervalMs: 1000 }   # store.rs
//!   tokens: [ { name: ci, hash: "sha256:…" } ]
//!   console: { enabled: true, listen: 127.0.0.1:8084 }
//!   portal: { maxApplications: 1000, writesPerMinute: 10 }
//! ```

use std::net::SocketAddr;

use serde::Deserialize;
use serde_json::Value;

use super::model::GatewayConfig;
use super::problem::{join, Problems};
use super::sections::decode;
use super::store::{store, RawStore, StoreConfig};
use super::subscriptions::KeyHash;

/// Where the management API listens unless told otherwise (Gravitee's management port).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8083";
/// Where the console listens unless told otherwise.
pub const DEFAULT_CONSOLE_LISTEN: &str = "127.0.0.1:8084";
/// The `{env}` of the management routes unless told otherwise.
pub const DEFAULT_ENVIRONMENT: &str = "DEFAULT";
/// The names the gateway itself writes as the actor of audit events: no token may take one.
pub mod actors {
    /// `TIDEGATE_MANAGEMENT_TOKEN`'s token.
    pub const ENV: &str = "env";
    /// The gateway's own doings (the first start's generated token).
    pub const GATEWAY: &str = "gateway";
    /// The developer portal's anonymous requests.
    pub const PORTAL: &str = "portal";
    /// What a first start seeds from the file.
    pub const SEED: &str = "seed";
    /// All of them.
    pub const ALL: [&str; 4] = [ENV, GATEWAY, PORTAL, SEED];
}

/// Why `name` cannot name a management token (configured or created through the API), or
/// `None`: 1 to 64 letters, digits, `.`, `_` or `-`, starting with a letter or digit (a name is
/// a path segment of `DELETE /tokens/{name}`, where `.` and `..` are never routed), and none of
/// the gateway's own audit actors, in any case.
pub fn token_name_problem(name: &str) -> Option<String> {
    let valid = (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !valid {
        // A name far too long is not quoted whole.
        let shown: String = name.chars().take(64).collect();
        let more = if shown.len() < name.len() { "…" } else { "" };
        return Some(format!(
            "'{shown}{more}' is not a token name: use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        ));
    }
    if actors::ALL
        .iter()
        .any(|actor| actor.eq_ignore_ascii_case(name))
    {
        return Some(format!(
            "'{name}' is the gateway's own name in the audit log; choose another"
        ));
    }
    None
}

/// The environment variable that holds a clear administrator's token (named `env`).
pub const TOKEN_ENV: &str = "TIDEGATE_MANAGEMENT_TOKEN";

/// The validated `management:` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagementConfig {
    /// The management REST API's address.
    pub listen: SocketAddr,
    /// The `{env}` path segment of the management routes.
    pub environment: String,
    /// `store` (default a SQLite file `tidegate.db`, polled every 1000 ms): where the APIs,
    /// applications and subscriptions live.
    pub store: StoreConfig,
    /// Administrator tokens from the file (hashes only).
    pub tokens: Vec<AdminToken>,
    /// `console` (default on, `127.0.0.1:8084`): the web console and developer portal server.
    pub console: ConsoleConfig,
    /// `portal`: the developer portal's bounds on what anonymous visitors may create.
    pub portal: super::portal::PortalConfig,
}

/// A named management token, by its SHA-256 (the clear token is never in the file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminToken {
    /// `name`: who holds the token; the management API knows a caller by it.
    pub name: String,
    /// `hash`: `sha256:` and 64 hex digits of the token (`tidegate apikey generate` prints both).
    pub hash: KeyHash,
    /// `role` (default `admin`): what the token may do.
    pub role: TokenRole,
}

/// What a management token may do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TokenRole {
    /// Everything: read, and change APIs, plans, applications, subscriptions and tokens.
    #[default]
    Admin,
    /// Read only (`GET`): for dashboards, audits and CI checks; every change is refused 403.
    Viewer,
}

impl TokenRole {
    /// Every role, as written.
    pub const NAMES: &'static str = "`admin` or `viewer`";

    /// `admin` or `viewer`.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenRole::Admin => "admin",
            TokenRole::Viewer => "viewer",
        }
    }

    /// The role written `text`, if any.
    pub fn parse(text: &str) -> Option<TokenRole> {
        match text {
            "admin" => Some(TokenRole::Admin),
            "viewer" => Some(TokenRole::Viewer),
            _ => None,
        }
    }
}

/// The web console and developer portal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleConfig {
    /// `console.enabled` (default `true`): whether the console server runs at all.
    pub enabled: bool,
    /// `console.listen` (default `127.0.0.1:8084`): the console's address; it must not take
    /// another listener's port.
    pub listen: SocketAddr,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    default,
    expecting = "the management mapping (listen, environment, store, tokens, console, portal)"
)]
struct RawManagement {
    listen: String,
    environment: String,
    store: RawStore,
    tokens: Vec<RawToken>,
    console: RawConsole,
    portal: super::portal::RawPortal,
}

impl Default for RawManagement {
    fn default() -> Self {
        RawManagement {
            listen: DEFAULT_LISTEN.to_owned(),
            environment: DEFAULT_ENVIRONMENT.to_owned(),
            store: RawStore::default(),
            tokens: Vec::new(),
            console: RawConsole::default(),
            portal: super::portal::RawPortal::default(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a token mapping (name, hash, role)")]
struct RawToken {
    name: String,
    hash: String,
    role: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    default,
    expecting = "the console mapping (enabled, listen)"
)]
struct RawConsole {
    enabled: bool,
    listen: String,
}

impl Default for RawConsole {
    fn default() -> Self {
        RawConsole {
            enabled: true,
            listen: DEFAULT_CONSOLE_LISTEN.to_owned(),
        }
    }
}

/// Decodes and validates `management:` (absent or `null`: file mode, `None`). `gateway` (when
/// it decoded) is checked for ports the management listeners would take.
pub(crate) fn read_management(
    value: Option<&Value>,
    gateway: Option<&GatewayConfig>,
    p: &mut Problems,
) -> Option<Option<ManagementConfig>> {
    let value = match value {
        None | Some(Value::Null) => return Some(None),
        Some(value) => value,
    };
    let raw = decode::<RawManagement>(value, "management", p)?;
    let listen = address(&raw.listen, "management.listen", DEFAULT_LISTEN, p);
    let console_listen = address(
        &raw.console.listen,
        "management.console.listen",
        DEFAULT_CONSOLE_LISTEN,
        p,
    );
    let mut bound: Vec<(&str, SocketAddr)> = Vec::new();
    if let Some(gateway) = gateway {
        bound.push(("gateway.listen", gateway.listen));
        bound.extend(gateway.admin_listen.map(|a| ("gateway.adminListen", a)));
        bound.extend(
            gateway
                .tls
                .as_ref()
                .map(|t| ("gateway.tls.listen", t.listen)),
        );
    }
    if let Some(listen) = listen {
        apart("management.listen", listen, &bound, p);
        bound.push(("management.listen", listen));
    }
    if let (true, Some(console)) = (raw.console.enabled, console_listen) {
        apart("management.console.listen", console, &bound, p);
    }
    environment(&raw.environment, p);
    let store = store(raw.store, p);
    let tokens = tokens(raw.tokens, p);
    let portal = super::portal::read_portal(&raw.portal, p);
    Some(Some(ManagementConfig {
        listen: listen?,
        environment: raw.environment,
        store: store?,
        tokens,
        console: ConsoleConfig {
            enabled: raw.console.enabled,
            listen: console_listen?,
        },
        portal,
    }))
}

fn address(text: &str, loc: &str, example: &str, p: &mut Problems) -> Option<SocketAddr> {
    let parsed = text.parse::<SocketAddr>().ok();
    if parsed.is_none() {
        p.push(
            loc,
            format!("'{text}' is not an IP address and port; write e.g. {example}"),
        );
    }
    parsed
}

/// Records a problem when `addr` would bind a port one of `bound` already holds.
fn apart(loc: &str, addr: SocketAddr, bound: &[(&str, SocketAddr)], p: &mut Problems) {
    for (other_loc, other) in bound {
        if super::listeners::collide(addr, *other) {
            p.push(
                loc,
                format!(
                    "{addr} would take the port of {other_loc} ({other}); give it another port"
                ),
            );
        }
    }
}

fn environment(text: &str, p: &mut Problems) {
    let ok = (1..=64).contains(&text.len())
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !ok {
        p.push(
            "management.environment",
            format!("'{text}' must be 1 to 64 characters of a-z, A-Z, 0-9, '.', '_' or '-' (it is a path segment of the management routes), e.g. DEFAULT"),
        );
    }
}

fn tokens(raw: Vec<RawToken>, p: &mut Problems) -> Vec<AdminToken> {
    let mut tokens: Vec<AdminToken> = Vec::with_capacity(raw.len());
    let mut names: Vec<String> = Vec::with_capacity(raw.len());
    for (index, token) in raw.into_iter().enumerate() {
        let loc = format!("management.tokens[{index}]");
        if let Some(problem) = token_name_problem(&token.name) {
            p.push(
                join(&loc, "name"),
                format!("{problem} (it names the actor in the audit log)"),
            );
        }
        if names
            .iter()
            .any(|name| name.eq_ignore_ascii_case(&token.name))
        {
            p.push(
                join(&loc, "name"),
                format!(
                    "token name '{}' is used twice (names are compared ignoring case); each token has its own name",
                    token.name
                ),
            );
        }
        names.push(token.name.clone());
        let role = match token.role.as_deref().map(TokenRole::parse) {
            None => TokenRole::Admin,
            Some(Some(role)) => role,
            Some(None) => {
                p.push(
                    join(&loc, "role"),
                    format!("must be {} (read only)", TokenRole::NAMES),
                );
                TokenRole::Admin
            }
        };
        match KeyHash::from_config_text(&token.hash.to_ascii_lowercase()) {
            Some(hash) => tokens.push(AdminToken {
                name: token.name,
                hash,
                role,
            }),
            None => p.push(
                join(&loc, "hash"),
                "must be `sha256:` and 64 hex digits, as printed by `tidegate apikey generate` (never the token itself)",
            ),
        }
    }
    // Configured tokens replace the store's: with only viewers' among them (and no
    // TIDEGATE_MANAGEMENT_TOKEN, an administrator's), nobody could change anything on this node.
    let env_admin = std::env::var_os(TOKEN_ENV).is_some_and(|token| !token.is_empty());
    if !env_admin
        && !tokens.is_empty()
        && tokens.iter().all(|token| token.role == TokenRole::Viewer)
    {
        p.push(
            "management.tokens",
            "every token is a viewer's: give at least one `role: admin`, or set TIDEGATE_MANAGEMENT_TOKEN (an administrator's); while tokens are configured, the store's tokens do not open this node",
        );
    }
    // One token, one role: a hash listed twice would act as whichever entry comes first.
    for (index, token) in tokens.iter().enumerate() {
        if let Some(first) = tokens[..index]
            .iter()
            .find(|other| other.hash == token.hash)
        {
            p.push(
                format!("management.tokens[{index}].hash"),
                format!(
                    "the same token as '{}' (the hashes are equal); give each token its own",
                    first.name
                ),
            );
        }
    }
    tokens
}

#[cfg(test)]
#[path = "management_tests.rs"]
mod tests;
