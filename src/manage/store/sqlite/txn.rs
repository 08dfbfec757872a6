//! The SQLite store's write transaction: the primitives `transaction.rs` runs its shared rules
//! over.

use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde_json::Value;

use super::unavailable;
use crate::manage::store::transaction::Txn;
use crate::manage::store::{
    from_millis, stored_role, to_millis, unsigned, AuditEvent, Document, Kind, Revision,
    StoreError, StoredToken,
};

impl Txn for Transaction<'_> {
    fn version(&mut self, kind: Kind, id: &str) -> Result<Option<u64>, StoreError> {
        let version: Option<i64> = self
            .query_row(
                "SELECT version FROM tidegate_documents WHERE kind = ?1 AND id = ?2",
                params![kind.as_str(), id],
                |row| row.get(0),
            )
            .optional()
            .map_err(unavailable)?;
        version
            .map(|v| unsigned(v, "a document version"))
            .transpose()
    }

    fn upsert(&mut self, document: &Document) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO tidegate_documents (kind, id, body, version, updated_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (kind, id) DO UPDATE SET body = excluded.body,
                 version = excluded.version, updated_at_ms = excluded.updated_at_ms",
            params![
                document.kind.as_str(),
                document.id,
                document.body.to_string(),
                document.version as i64,
                to_millis(document.updated_at)
            ],
        )
        .map_err(unavailable)?;
        Ok(())
    }

    fn remove(&mut self, kind: Kind, id: &str) -> Result<(), StoreError> {
        self.execute(
            "DELETE FROM tidegate_documents WHERE kind = ?1 AND id = ?2",
            params![kind.as_str(), id],
        )
        .map_err(unavailable)?;
        Ok(())
    }

    fn remove_revisions(&mut self, api: &str) -> Result<(), StoreError> {
        self.execute("DELETE FROM tidegate_revisions WHERE api = ?1", [api])
            .map_err(unavailable)?;
        Ok(())
    }

    fn last_revision(&mut self, api: &str) -> Result<u64, StoreError> {
        let last: i64 = self
            .query_row(
                "SELECT COALESCE(MAX(number), 0) FROM tidegate_revisions WHERE api = ?1",
                [api],
                |row| row.get(0),
            )
            .map_err(unavailable)?;
        unsigned(last, "a revision number")
    }

    fn insert_revision(&mut self, revision: &Revision) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO tidegate_revisions (api, number, definition, created_at_ms, author, comment)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                revision.api,
                revision.number as i64,
                revision.definition.to_string(),
                to_millis(revision.created_at),
                revision.author,
                revision.comment
            ],
        )
        .map_err(unavailable)?;
        Ok(())
    }

    fn record(&mut self, audit: &AuditEvent) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO tidegate_audit (at_ms, actor, action, target, before, after)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                to_millis(audit.at),
                audit.actor,
                audit.action,
                audit.target,
                audit.before.as_ref().map(Value::to_string),
                audit.after.as_ref().map(Value::to_string),
            ],
        )
        .map_err(unavailable)?;
        Ok(())
    }

    fn count_prefixed(&mut self, kind: Kind, prefix: &str) -> Result<u64, StoreError> {
        let count: i64 = self
            .query_row(
                "SELECT COUNT(*) FROM tidegate_documents
                 WHERE kind = ?1 AND substr(id, 1, length(?2)) = ?2",
                params![kind.as_str(), prefix],
                |row| row.get(0),
            )
            .map_err(unavailable)?;
        unsigned(count, "a document count")
    }

    fn tokens(&mut self) -> Result<Vec<StoredToken>, StoreError> {
        read_tokens(self)
    }

    fn insert_token(&mut self, token: &StoredToken) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO tidegate_tokens (name, hash, created_at_ms, expires_at_ms, role)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                token.name,
                token.hash,
                token.created_at.map(to_millis),
                token.expires_at.map(to_millis),
                token.role.as_str(),
            ],
        )
        .map_err(unavailable)?;
        Ok(())
    }

    fn remove_token(&mut self, name: &str) -> Result<(), StoreError> {
        self.execute("DELETE FROM tidegate_tokens WHERE name = ?1", params![name])
            .map_err(unavailable)?;
        Ok(())
    }
}

/// Every management token, ordered by name (in a transaction or not).
pub(super) fn read_tokens(connection: &Connection) -> Result<Vec<StoredToken>, StoreError> {
    let mut statement = connection
        .prepare(
            "SELECT name, hash, created_at_ms, expires_at_ms, role FROM tidegate_tokens ORDER BY name",
        )
        .map_err(unavailable)?;
    let rows = statement
        .query_map([], |row| {
            Ok(StoredToken {
                name: row.get(0)?,
                hash: row.get(1)?,
                created_at: row.get::<_, Option<i64>>(2)?.map(from_millis),
                expires_at: row.get::<_, Option<i64>>(3)?.map(from_millis),
                role: stored_role(&row.get::<_, String>(4)?),
            })
        })
        .map_err(unavailable)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(unavailable)?;
    Ok(rows)
}
