//! The embedded store: one SQLite file (WAL journal), so a single node needs nothing else.
//!
//! One connection behind a mutex: the store is off the data path and its calls are short. Write
//! transactions start `IMMEDIATE` (the file's write lock first), so a second process on the same
//! file waits (`busy_timeout`) instead of failing half-way.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, Row, Transaction, TransactionBehavior};
use serde_json::Value;

mod txn;

use super::schema;
use super::transaction;
use super::{
    from_millis, parse_json, parse_json_opt, unsigned, AuditEvent, Bound, Document, Kind, Revision,
    Store, StoreError, StoredToken,
};

/// How long a call waits for another process's write lock on the file.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The store in one SQLite file.
pub struct SqliteStore {
    connection: Mutex<Connection>,
}

impl SqliteStore {
    /// Opens (creating when missing) the store at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let mut connection = Connection::open(path).map_err(|error| {
            StoreError::Unavailable(format!("cannot open {}: {error}", path.display()))
        })?;
        connection.busy_timeout(BUSY_TIMEOUT).map_err(unavailable)?;
        connection
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(unavailable)?;
        connection
            .pragma_update(None, "foreign_keys", true)
            .map_err(unavailable)?;
        migrate(&mut connection)?;
        Ok(SqliteStore {
            connection: Mutex::new(connection),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic mid-call rolled its transaction back (Transaction's drop): the connection is fine.
        self.connection
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `work` in a write transaction that first bumps the generation.
    fn write<T>(
        &self,
        work: impl FnOnce(&mut Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut connection = self.lock();
        let mut tx = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(unavailable)?;
        tx.execute("UPDATE tidegate_generation SET value = value + 1", [])
            .map_err(unavailable)?;
        let result = work(&mut tx)?;
        tx.commit().map_err(unavailable)?;
        Ok(result)
    }
}

fn migrate(connection: &mut Connection) -> Result<(), StoreError> {
    let tx = connection
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(unavailable)?;
    tx.execute(schema::VERSION_TABLE, []).map_err(unavailable)?;
    let found: Option<i64> = tx
        .query_row("SELECT version FROM tidegate_schema", [], |row| row.get(0))
        .optional()
        .map_err(unavailable)?;
    if found.is_none() {
        tx.execute("INSERT INTO tidegate_schema (version) VALUES (0)", [])
            .map_err(unavailable)?;
    }
    let found = found.unwrap_or(0);
    let known = schema::SQLITE.len();
    let applied = usize::try_from(found).unwrap_or(usize::MAX);
    if applied > known {
        return Err(StoreError::Corrupt(schema::too_new(found, known)));
    }
    for step in &schema::SQLITE[applied..] {
        tx.execute_batch(step).map_err(unavailable)?;
    }
    tx.execute("UPDATE tidegate_schema SET version = ?1", [known as i64])
        .map_err(unavailable)?;
    tx.commit().map_err(unavailable)
}

fn unavailable(error: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(error.to_string())
}

const DOCUMENT_COLUMNS: &str = "kind, id, body, version, updated_at_ms";
const REVISION_COLUMNS: &str = "api, number, definition, created_at_ms, author, comment";

/// A row's raw columns, converted outside rusqlite's closure so JSON errors are `Corrupt`.
type DocumentRow = (String, String, String, i64, i64);
type RevisionRow = (String, i64, String, i64, String, Option<String>);

fn document_row(row: &Row<'_>) -> rusqlite::Result<DocumentRow> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
    ))
}

fn document((kind, id, body, version, updated_at_ms): DocumentRow) -> Result<Document, StoreError> {
    Ok(Document {
        kind: Kind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown document kind '{kind}'")))?,
        body: parse_json(&body, &format!("document {kind}:{id}"))?,
        id,
        version: unsigned(version, "a document version")?,
        updated_at: from_millis(updated_at_ms),
    })
}

fn revision_row(row: &Row<'_>) -> rusqlite::Result<RevisionRow> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
    ))
}

fn revision(
    (api, number, definition, created_at_ms, author, comment): RevisionRow,
) -> Result<Revision, StoreError> {
    Ok(Revision {
        definition: parse_json(&definition, &format!("revision {number} of {api}"))?,
        api,
        number: unsigned(number, "a revision number")?,
        created_at: from_millis(created_at_ms),
        author,
        comment,
    })
}

impl Store for SqliteStore {
    transaction::transactional_writes!();

    fn generation(&self) -> Result<u64, StoreError> {
        let value: i64 = self
            .lock()
            .query_row("SELECT value FROM tidegate_generation", [], |row| {
                row.get(0)
            })
            .map_err(unavailable)?;
        unsigned(value, "the generation")
    }

    fn list(&self, kind: Kind) -> Result<Vec<Document>, StoreError> {
        let connection = self.lock();
        let mut statement = connection
            .prepare(&format!(
                "SELECT {DOCUMENT_COLUMNS} FROM tidegate_documents WHERE kind = ?1 ORDER BY id"
            ))
            .map_err(unavailable)?;
        let rows = statement
            .query_map([kind.as_str()], document_row)
            .map_err(unavailable)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(unavailable)?;
        rows.into_iter().map(document).collect()
    }

    fn get(&self, kind: Kind, id: &str) -> Result<Option<Document>, StoreError> {
        let row = self
            .lock()
            .query_row(
                &format!(
                    "SELECT {DOCUMENT_COLUMNS} FROM tidegate_documents WHERE kind = ?1 AND id = ?2"
                ),
                params![kind.as_str(), id],
                document_row,
            )
            .optional()
            .map_err(unavailable)?;
        row.map(document).transpose()
    }

    fn revisions(&self, api: &str) -> Result<Vec<Revision>, StoreError> {
        let connection = self.lock();
        let mut statement = connection
            .prepare(&format!(
                "SELECT {REVISION_COLUMNS} FROM tidegate_revisions WHERE api = ?1 ORDER BY number"
            ))
            .map_err(unavailable)?;
        let rows = statement
            .query_map([api], revision_row)
            .map_err(unavailable)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(unavailable)?;
        rows.into_iter().map(revision).collect()
    }

    fn revision(&self, api: &str, number: u64) -> Result<Option<Revision>, StoreError> {
        let Ok(number) = i64::try_from(number) else {
            return Ok(None);
        };
        let row = self
            .lock()
            .query_row(
                &format!(
                    "SELECT {REVISION_COLUMNS} FROM tidegate_revisions WHERE api = ?1 AND number = ?2"
                ),
                params![api, number],
                revision_row,
            )
            .optional()
            .map_err(unavailable)?;
        row.map(revision).transpose()
    }

    fn audit(&self, target: Option<&str>, limit: usize) -> Result<Vec<AuditEvent>, StoreError> {
        let connection = self.lock();
        let mut statement = connection
            .prepare(
                "SELECT at_ms, actor, action, target, before, after FROM tidegate_audit
                 WHERE ?1 IS NULL OR target = ?1 ORDER BY seq DESC LIMIT ?2",
            )
            .map_err(unavailable)?;
        type AuditRow = (i64, String, String, String, Option<String>, Option<String>);
        let rows = statement
            .query_map(
                params![target, i64::try_from(limit).unwrap_or(i64::MAX)],
                |row| -> rusqlite::Result<AuditRow> {
                    Ok((
                        row.get(0)?,
                        row.get(1)?,
                        row.get(2)?,
                        row.get(3)?,
                        row.get(4)?,
                        row.get(5)?,
                    ))
                },
            )
            .map_err(unavailable)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(unavailable)?;
        rows.into_iter()
            .map(|(at_ms, actor, action, target, before, after)| {
                Ok(AuditEvent {
                    at: from_millis(at_ms),
                    before: parse_json_opt(before, "an audit event's before")?,
                    after: parse_json_opt(after, "an audit event's after")?,
                    actor,
                    action,
                    target,
                })
            })
            .collect()
    }

    fn tokens(&self) -> Result<Vec<StoredToken>, StoreError> {
        txn::read_tokens(&self.lock())
    }
}
