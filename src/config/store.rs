//! `management.store`: where the management plane keeps its documents. A SQLite file for one
//! node, or a PostgreSQL database shared by several, reached in plain text or, with
//! `sslmode=require` in its URL (libpq's `verify-ca` and `verify-full` mean the same here), over
//! TLS with the server's certificate verified (chain and host name) against the Mozilla roots or
//! `caFile`, presenting the client certificate of `certFile` and `keyFile` when the server asks
//! for one (`clientcert=verify-ca` or `cert` in its `pg_hba.conf`). `prefer`, the client's
//! default, connects in plain text: a session that may silently fall back to plain text is not a
//! TLS session.
//!
//! ```yaml
//! store:
//!   type: postgresql
//!   url: postgres://tidegate:${TIDEGATE_DB_PASSWORD}@db:5432/tidegate?sslmode=require
//!   caFile: /etc/tidegate/db-ca.pem   # optional: the authority of a private certificate
//!   certFile: /etc/tidegate/db-client.pem   # optional, with keyFile: a client certificate
//!   keyFile: /etc/tidegate/db-client.key
//!   pollIntervalMs: 1000
//! ```

use std::path::PathBuf;
use std::time::Duration;

use postgres::config::SslMode;
use serde::Deserialize;

use super::problem::Problems;
use super::secret::Secret;
use super::tls_identity::{ca_file, identity_files, ClientIdentity};

/// The SQLite file unless told otherwise (relative to the working directory).
pub const DEFAULT_SQLITE_PATH: &str = "tidegate.db";
/// How often a node reads the store's generation unless told otherwise.
pub const DEFAULT_POLL_INTERVAL_MS: u64 = 1000;
/// Bounds on `pollIntervalMs`: below 50 ms a node would hammer a shared database; above a minute
/// a deployment would take too long to reach it.
const POLL_INTERVAL_MS_RANGE: (u64, u64) = (50, 60_000);

/// Which store, and how often nodes look at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// `store.type` (default `sqlite`) with its `path` or `url`.
    pub backend: StoreBackend,
    /// How often a node reads the store's generation (`pollIntervalMs`).
    pub poll_interval: Duration,
}

/// The store's kind and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreBackend {
    /// One embedded file: a single node, nothing else to run.
    Sqlite {
        /// `store.path` (default `tidegate.db`, relative to the working directory); created at
        /// first start.
        path: PathBuf,
    },
    /// A PostgreSQL database shared by several nodes; `url` after `${ENV}` substitution.
    Postgresql {
        /// `store.url`: `postgres://user:password@host:5432/database`, a secret because it
        /// usually holds the password.
        url: Secret,
        /// TLS to the database (`sslmode=require` in `url`); `None`: plain text.
        tls: Option<PostgresTls>,
    },
}

/// How the database's certificate is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresTls {
    /// `store.caFile`: the authorities trusted instead of the Mozilla roots (a private CA, a
    /// cloud provider's bundle); validated to hold a PEM certificate.
    pub ca_file: Option<PathBuf>,
    /// `store.certFile` and `store.keyFile`: the certificate (chain) and key presented when the
    /// database asks for a client certificate; read and checked to match at load.
    pub client_identity: Option<ClientIdentity>,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    default,
    expecting = "the store mapping (type, path, url, caFile, certFile, keyFile, pollIntervalMs)"
)]
pub(super) struct RawStore {
    #[serde(rename = "type")]
    kind: String,
    path: Option<String>,
    url: Option<String>,
    ca_file: Option<String>,
    cert_file: Option<String>,
    key_file: Option<String>,
    poll_interval_ms: u64,
}

impl Default for RawStore {
    fn default() -> Self {
        RawStore {
            kind: "sqlite".to_owned(),
            path: None,
            url: None,
            ca_file: None,
            cert_file: None,
            key_file: None,
            poll_interval_ms: DEFAULT_POLL_INTERVAL_MS,
        }
    }
}

/// Validates `management.store`.
pub(super) fn store(raw: RawStore, p: &mut Problems) -> Option<StoreConfig> {
    let (min, max) = POLL_INTERVAL_MS_RANGE;
    if !(min..=max).contains(&raw.poll_interval_ms) {
        p.push(
            "management.store.pollIntervalMs",
            format!(
                "must be between {min} and {max} (ms), got {}",
                raw.poll_interval_ms
            ),
        );
    }
    let backend = match raw.kind.as_str() {
        "sqlite" => {
            if raw.url.is_some() {
                p.push(
                    "management.store.url",
                    "`url` is for `type: postgresql`; a sqlite store takes `path`",
                );
            }
            for (key, given) in [
                ("caFile", raw.ca_file.is_some()),
                ("certFile", raw.cert_file.is_some()),
                ("keyFile", raw.key_file.is_some()),
            ] {
                if given {
                    p.push(
                        format!("management.store.{key}"),
                        format!("`{key}` is for `type: postgresql` (TLS to the database); a sqlite store is a local file"),
                    );
                }
            }
            let path = raw.path.unwrap_or_else(|| DEFAULT_SQLITE_PATH.to_owned());
            if path.trim().is_empty() {
                p.push(
                    "management.store.path",
                    "must name the SQLite file, e.g. tidegate.db",
                );
            }
            Some(StoreBackend::Sqlite { path: path.into() })
        }
        "postgresql" => {
            if raw.path.is_some() {
                p.push(
                    "management.store.path",
                    "`path` is for `type: sqlite`; a postgresql store takes `url`",
                );
            }
            let tls = PostgresTls {
                ca_file: raw
                    .ca_file
                    .map(|path| ca_file(&path, "management.store.caFile", p)),
                client_identity: identity_files(
                    raw.cert_file,
                    raw.key_file,
                    ("certFile", "keyFile"),
                    "management.store",
                    p,
                ),
            };
            match raw.url {
                None => {
                    p.push(
                        "management.store.url",
                        "a postgresql store needs `url`, e.g. postgres://tidegate:${TIDEGATE_DB_PASSWORD}@db:5432/tidegate",
                    );
                    None
                }
                Some(url) => postgres_url(&url, tls, p),
            }
        }
        other => {
            p.push(
                "management.store.type",
                format!("unknown store type '{other}'; use `sqlite` (one embedded file) or `postgresql` (shared by several nodes)"),
            );
            None
        }
    };
    Some(StoreConfig {
        backend: backend?,
        poll_interval: Duration::from_millis(raw.poll_interval_ms),
    })
}

/// The backend of `url`, with `tls` (the files' settings) when it says `sslmode=require`.
fn postgres_url(text: &str, tls: PostgresTls, p: &mut Problems) -> Option<StoreBackend> {
    let loc = "management.store.url";
    let url = match expand_env(text, &|name| std::env::var(name).ok()) {
        Ok(url) => url,
        Err(message) => {
            p.push(loc, message);
            return None;
        }
    };
    // The text may hold a password: no message quotes it.
    let example =
        "e.g. postgres://tidegate:${TIDEGATE_DB_PASSWORD}@db:5432/tidegate?sslmode=require";
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        p.push(
            loc,
            format!("must be a URL starting with postgres:// or postgresql://, {example}"),
        );
        return None;
    }
    for (option, instead) in [
        (
            "sslrootcert",
            "the authority's PEM file as management.store.caFile",
        ),
        (
            "sslcert",
            "the client certificate's PEM file as management.store.certFile",
        ),
        (
            "sslkey",
            "the client key's PEM file as management.store.keyFile",
        ),
    ] {
        if url.contains(&format!("{option}=")) {
            p.push(loc, format!("`{option}` is libpq's: give {instead}"));
            return None;
        }
    }
    let url = verified_modes_as_require(&url);
    let Ok(parsed) = url.parse::<postgres::Config>() else {
        p.push(
            loc,
            format!("cannot be read as a PostgreSQL URL (check its host, port and `?key=value` options); {example}"),
        );
        return None;
    };
    let use_tls = match parsed.get_ssl_mode() {
        SslMode::Require => true,
        // `prefer` (the default) would fall back to plain text whenever TLS fails: tidegate
        // connects either with a verified TLS session or, when asked, without one.
        SslMode::Prefer | SslMode::Disable => false,
        _ => {
            p.push(
                loc,
                "use sslmode=require (TLS, certificate verified) or sslmode=disable",
            );
            return None;
        }
    };
    if !use_tls {
        let given = [
            (
                "caFile",
                "the authority of the database's TLS certificate",
                tls.ca_file.is_some(),
            ),
            (
                "certFile",
                "a client certificate for TLS",
                tls.client_identity.is_some(),
            ),
        ];
        for (key, what, given) in given {
            if given {
                p.push(
                    format!("management.store.{key}"),
                    format!("`{key}` is {what}: add `sslmode=require` to `url` to use TLS"),
                );
            }
        }
    }
    Some(StoreBackend::Postgresql {
        url: Secret::from(url.as_str()),
        tls: use_tls.then_some(tls),
    })
}

/// `url` with libpq's `sslmode=verify-ca` / `verify-full` written `require`, which the client
/// knows: tidegate verifies the certificate's chain and host name whenever it uses TLS.
fn verified_modes_as_require(url: &str) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url.to_owned();
    };
    let options: Vec<&str> = query
        .split('&')
        .map(|option| match option {
            "sslmode=verify-ca" | "sslmode=verify-full" => "sslmode=require",
            other => other,
        })
        .collect();
    format!("{base}?{}", options.join("&"))
}

/// `text` with every `${NAME}` replaced by the environment variable NAME (`lookup`), so a
/// password need not be written in the file; an unset variable or an unclosed `${` is an error.
pub(crate) fn expand_env(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| "`${` without its closing `}`; write ${NAME}".to_owned())?;
        let name = &after[..end];
        let valid = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(format!(
                "'${{{name}}}' is not an environment variable reference; write ${{NAME}} with A-Z, 0-9 and '_'"
            ));
        }
        let value =
            lookup(name).ok_or_else(|| format!("the environment variable {name} is not set"))?;
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}
