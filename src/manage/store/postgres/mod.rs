//! The shared store: PostgreSQL, for several gateway nodes that follow one set of APIs.
//!
//! One connection behind a mutex (the store is off the data path). A lost connection is
//! reconnected on the next call, so a database restart only costs the calls made while it was
//! down (`Unavailable`). Every write transaction first bumps the one-row generation table: that
//! row lock serializes writers across nodes, so versions and revision numbers never race, and
//! the new generation tells every node's follower that something changed.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use postgres::{Client, NoTls, Row, Transaction};
use serde_json::Value;
use tokio_postgres_rustls::MakeRustlsConnect;

mod txn;

use postgres::config::SslMode;

use super::schema;
use super::transaction;
use super::{
    from_millis, parse_json, parse_json_opt, unsigned, AuditEvent, Bound, Document, Kind, Revision,
    Store, StoreError, StoredToken,
};
use crate::config::PostgresTls;
use crate::tls::client_trust;

/// How long a connection attempt may take before the store counts as unavailable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The advisory lock held while the schema is created or migrated, so two nodes starting at
/// once do not both create the tables (an arbitrary constant: "tidegate" in ASCII).
const MIGRATION_LOCK: i64 = 0x7469_6465_6761_7465;

/// The store in a PostgreSQL database.
pub struct PostgresStore {
    config: postgres::Config,
    /// TLS to the database, when the configuration asks for it (`sslmode=require`).
    tls: Option<MakeRustlsConnect>,
    /// `None` until connected, and again after the connection was lost.
    client: Mutex<Option<Client>>,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user:password@host:port/db`, or a `host=/run/dir` key/value
    /// string) and creates or migrates the schema. With `tls`, over TLS only, the server's
    /// certificate verified (chain and host name) against `tls.ca_file` or the Mozilla roots,
    /// presenting `tls.client_identity` when the server asks for a client certificate.
    pub fn connect(url: &str, tls: Option<&PostgresTls>) -> Result<PostgresStore, StoreError> {
        let mut config: postgres::Config = url.parse().map_err(|_| {
            // The parser's message may quote the URL, password included.
            StoreError::Unavailable(
                "the PostgreSQL url cannot be read; write postgres://user:password@host:5432/database"
                    .to_owned(),
            )
        })?;
        config.connect_timeout(CONNECT_TIMEOUT);
        let tls = match tls {
            Some(tls) => {
                // A TLS session or none: never a silent fall back to plain text.
                config.ssl_mode(SslMode::Require);
                let builder = client_trust::verifying_builder(tls.ca_file.as_deref())
                    .map_err(StoreError::Unavailable)?;
                let config = client_trust::presenting(builder, tls.client_identity.as_ref())
                    .map_err(StoreError::Unavailable)?;
                Some(MakeRustlsConnect::new(config))
            }
            None => None,
        };
        let store = PostgresStore {
            config,
            tls,
            client: Mutex::new(None),
        };
        store.with_client(|_| Ok(()))?;
        Ok(store)
    }

    fn lock(&self) -> MutexGuard<'_, Option<Client>> {
        self.client
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `work` on the connection, (re)connecting first when there is none. A call that
    /// finds the connection dead (the server restarted meanwhile) reconnects and runs once more:
    /// its transaction was rolled back, so running it again is safe (a write that did commit
    /// before the loss is then refused as a `Conflict`).
    fn with_client<T>(
        &self,
        mut work: impl FnMut(&mut Client) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut guard = self.lock();
        let mut retried = false;
        loop {
            if guard.as_ref().is_none_or(Client::is_closed) {
                *guard = None;
                let connected = match &self.tls {
                    Some(tls) => self.config.connect(tls.clone()),
                    None => self.config.connect(NoTls),
                };
                let mut client =
                    connected.map_err(|error| with_handshake_hint(unavailable(error)))?;
                migrate(&mut client)?;
                *guard = Some(client);
            }
            let Some(client) = guard.as_mut() else {
                return Err(StoreError::Unavailable("no connection".to_owned()));
            };
            LOST.with(|lost| lost.set(false));
            let result = work(client);
            let lost = client.is_closed() || LOST.with(|lost| lost.replace(false));
            if lost {
                *guard = None;
                if !retried && result.is_err() {
                    retried = true;
                    continue;
                }
            }
            return result;
        }
    }

    /// Runs `work` in a transaction that first bumps the generation.
    fn write<T>(
        &self,
        mut work: impl FnMut(&mut Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.with_client(|client| {
            let mut tx = client.transaction().map_err(unavailable)?;
            tx.execute("UPDATE tidegate_generation SET value = value + 1", &[])
                .map_err(unavailable)?;
            let result = work(&mut tx)?;
            tx.commit().map_err(unavailable)?;
            Ok(result)
        })
    }
}

fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let mut tx = client.transaction().map_err(unavailable)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(unavailable)?;
    tx.batch_execute(schema::VERSION_TABLE)
        .map_err(unavailable)?;
    let found: Option<i64> = tx
        .query_opt("SELECT version FROM tidegate_schema", &[])
        .map_err(unavailable)?
        .map(|row| row.get(0));
    if found.is_none() {
        tx.execute("INSERT INTO tidegate_schema (version) VALUES (0)", &[])
            .map_err(unavailable)?;
    }
    let found = found.unwrap_or(0);
    let known = schema::POSTGRES.len();
    let applied = usize::try_from(found).unwrap_or(usize::MAX);
    if applied > known {
        return Err(StoreError::Corrupt(schema::too_new(found, known)));
    }
    for step in &schema::POSTGRES[applied..] {
        tx.batch_execute(step).map_err(unavailable)?;
    }
    tx.execute(
        "UPDATE tidegate_schema SET version = $1",
        &[&(known as i64)],
    )
    .map_err(unavailable)?;
    tx.commit().map_err(unavailable)
}

thread_local! {
    /// Set by [`unavailable`] when an error says the connection is gone (the server shut down
    /// or restarted): `with_client` then drops the connection even if the client has not
    /// noticed yet.
    static LOST: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn unavailable(error: postgres::Error) -> StoreError {
    let connection_gone = error.is_closed()
        || error.code().is_some_and(|code| {
            let code = code.code();
            // 08: connection exceptions; 57P01..57P03: admin / crash shutdown, cannot connect now.
            code.starts_with("08") || code.starts_with("57P")
        });
    if connection_gone {
        LOST.with(|lost| lost.set(true));
    }
    let text = match error.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        // With its causes: "error performing TLS handshake" alone does not say that the
        // certificate was not trusted.
        None => {
            let mut text = error.to_string();
            let mut cause = std::error::Error::source(&error);
            while let Some(inner) = cause {
                text.push_str(&format!(": {inner}"));
                cause = inner.source();
            }
            text
        }
    };
    StoreError::Unavailable(text)
}

/// `error` with what a TLS alert from the database usually means: the server checked a client
/// certificate (rustls reports the server's alert, not the reason).
fn with_handshake_hint(error: StoreError) -> StoreError {
    match error {
        StoreError::Unavailable(text) if text.contains("received fatal alert") => {
            StoreError::Unavailable(format!(
                "{text} (the database ended the TLS handshake: if it asks for a client certificate, check that management.store.certFile is signed by an authority in its ssl_ca_file)"
            ))
        }
        other => other,
    }
}

const DOCUMENT_COLUMNS: &str = "kind, id, body, version, updated_at_ms";
const REVISION_COLUMNS: &str = "api, number, definition, created_at_ms, author, comment";

fn document(row: &Row) -> Result<Document, StoreError> {
    let kind: String = row.get(0);
    let id: String = row.get(1);
    let body: String = row.get(2);
    Ok(Document {
        kind: Kind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown document kind '{kind}'")))?,
        body: parse_json(&body, &format!("document {kind}:{id}"))?,
        id,
        version: unsigned(row.get(3), "a document version")?,
        updated_at: from_millis(row.get(4)),
    })
}

fn revision(row: &Row) -> Result<Revision, StoreError> {
    let api: String = row.get(0);
    let number: i64 = row.get(1);
    let definition: String = row.get(2);
    Ok(Revision {
        definition: parse_json(&definition, &format!("revision {number} of {api}"))?,
        api,
        number: unsigned(number, "a revision number")?,
        created_at: from_millis(row.get(3)),
        author: row.get(4),
        comment: row.get(5),
    })
}

impl Store for PostgresStore {
    transaction::transactional_writes!();

    fn generation(&self) -> Result<u64, StoreError> {
        self.with_client(|client| {
            let row = client
                .query_one("SELECT value FROM tidegate_generation", &[])
                .map_err(unavailable)?;
            unsigned(row.get(0), "the generation")
        })
    }

    fn list(&self, kind: Kind) -> Result<Vec<Document>, StoreError> {
        self.with_client(|client| {
            client
                .query(
                    &format!(
                        "SELECT {DOCUMENT_COLUMNS} FROM tidegate_documents WHERE kind = $1 ORDER BY id"
                    ),
                    &[&kind.as_str()],
                )
                .map_err(unavailable)?
                .iter()
                .map(document)
                .collect()
        })
    }

    fn get(&self, kind: Kind, id: &str) -> Result<Option<Document>, StoreError> {
        self.with_client(|client| {
            client
                .query_opt(
                    &format!(
                        "SELECT {DOCUMENT_COLUMNS} FROM tidegate_documents WHERE kind = $1 AND id = $2"
                    ),
                    &[&kind.as_str(), &id],
                )
                .map_err(unavailable)?
                .as_ref()
                .map(document)
                .transpose()
        })
    }

    fn revisions(&self, api: &str) -> Result<Vec<Revision>, StoreError> {
        self.with_client(|client| {
            client
                .query(
                    &format!(
                        "SELECT {REVISION_COLUMNS} FROM tidegate_revisions WHERE api = $1 ORDER BY number"
                    ),
                    &[&api],
                )
                .map_err(unavailable)?
                .iter()
                .map(revision)
                .collect()
        })
    }

    fn revision(&self, api: &str, number: u64) -> Result<Option<Revision>, StoreError> {
        let Ok(number) = i64::try_from(number) else {
            return Ok(None);
        };
        self.with_client(|client| {
            client
                .query_opt(
                    &format!(
                        "SELECT {REVISION_COLUMNS} FROM tidegate_revisions WHERE api = $1 AND number = $2"
                    ),
                    &[&api, &number],
                )
                .map_err(unavailable)?
                .as_ref()
                .map(revision)
                .transpose()
        })
    }

    fn audit(&self, target: Option<&str>, limit: usize) -> Result<Vec<AuditEvent>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with_client(|client| {
            let rows = client
                .query(
                    "SELECT at_ms, actor, action, target, before, after FROM tidegate_audit
                     WHERE $1::TEXT IS NULL OR target = $1 ORDER BY seq DESC LIMIT $2",
                    &[&target, &limit],
                )
                .map_err(unavailable)?;
            rows.iter()
                .map(|row| {
                    Ok(AuditEvent {
                        at: from_millis(row.get(0)),
                        actor: row.get(1),
                        action: row.get(2),
                        target: row.get(3),
                        before: parse_json_opt(row.get(4), "an audit event's before")?,
                        after: parse_json_opt(row.get(5), "an audit event's after")?,
                    })
                })
                .collect()
        })
    }

    fn tokens(&self) -> Result<Vec<StoredToken>, StoreError> {
        self.with_client(txn::read_tokens)
    }
}
