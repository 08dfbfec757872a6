//! The store's write transactions, written once: each backend (memory, SQLite, PostgreSQL) only
//! provides the primitives of one open transaction (`Txn`), and runs these functions inside
//! its own transaction (a lock, `BEGIN IMMEDIATE`, or a row lock on the generation table). So
//! the rules — a version check before every change, the audit event with it, a deployment as a
//! revision plus the document, a bounded create — cannot drift apart between stores.
//!
//! Every function checks before it changes anything, so a refusal leaves nothing half-written
//! even in the memory store, which has no rollback.

use std::time::SystemTime;

use serde_json::Value;

use crate::config::TokenRole;

use super::{
    definition_of, with_deployed_revision, AuditEvent, Document, Kind, Revision, StoreError,
    StoredToken,
};

/// What one open write transaction of a backend can do.
pub(crate) trait Txn {
    /// The stored version of a document, `None` when it does not exist.
    fn version(&mut self, kind: Kind, id: &str) -> Result<Option<u64>, StoreError>;
    /// Inserts or replaces `document`.
    fn upsert(&mut self, document: &Document) -> Result<(), StoreError>;
    /// Removes a document (present: the caller checked).
    fn remove(&mut self, kind: Kind, id: &str) -> Result<(), StoreError>;
    /// Removes every revision of `api`.
    fn remove_revisions(&mut self, api: &str) -> Result<(), StoreError>;
    /// The number of the newest revision of `api`, 0 when it has none.
    fn last_revision(&mut self, api: &str) -> Result<u64, StoreError>;
    fn insert_revision(&mut self, revision: &Revision) -> Result<(), StoreError>;
    /// Appends an audit event.
    fn record(&mut self, audit: &AuditEvent) -> Result<(), StoreError>;
    /// How many documents of `kind` have an id starting with `prefix`.
    fn count_prefixed(&mut self, kind: Kind, prefix: &str) -> Result<u64, StoreError>;
    /// Every management token.
    fn tokens(&mut self) -> Result<Vec<StoredToken>, StoreError>;
    /// Inserts a token (its name is free: the caller checked).
    fn insert_token(&mut self, token: &StoredToken) -> Result<(), StoreError>;
    /// Removes a token (present: the caller checked).
    fn remove_token(&mut self, name: &str) -> Result<(), StoreError>;
}

/// A cap on the documents of one kind whose ids share a prefix (the portal's applications).
#[derive(Debug, Clone, Copy)]
pub struct Bound<'a> {
    /// The id prefix of the documents counted (the portal's applications share one).
    pub prefix: &'a str,
    /// Most documents allowed with that prefix (`management.portal.maxApplications` for the
    /// portal); a create past it fails with [`super::StoreError::Full`].
    pub max: u64,
}

/// See [`super::Store::put`].
pub(crate) fn put(
    tx: &mut impl Txn,
    kind: Kind,
    id: &str,
    body: &Value,
    expected: Option<u64>,
    audit: &AuditEvent,
) -> Result<Document, StoreError> {
    let current = tx.version(kind, id)?;
    if current != expected {
        return Err(StoreError::Conflict { current });
    }
    let document = Document {
        kind,
        id: id.to_owned(),
        body: body.clone(),
        version: current.unwrap_or(0) + 1,
        updated_at: super::now(),
    };
    tx.upsert(&document)?;
    tx.record(audit)?;
    Ok(document)
}

/// See [`super::Store::create_bounded`]: the count and the insert in one transaction, so
/// concurrent creates cannot all pass the check.
pub(crate) fn create_bounded(
    tx: &mut impl Txn,
    kind: Kind,
    id: &str,
    body: &Value,
    bound: Bound<'_>,
    audit: &AuditEvent,
) -> Result<Document, StoreError> {
    let count = tx.count_prefixed(kind, bound.prefix)?;
    if count >= bound.max {
        return Err(StoreError::Full { count });
    }
    put(tx, kind, id, body, None, audit)
}

/// See [`super::Store::delete`].
pub(crate) fn delete(
    tx: &mut impl Txn,
    kind: Kind,
    id: &str,
    expected: u64,
    audit: &AuditEvent,
) -> Result<(), StoreError> {
    let current = tx.version(kind, id)?;
    if current != Some(expected) {
        return Err(StoreError::Conflict { current });
    }
    tx.remove(kind, id)?;
    if kind == Kind::Api {
        tx.remove_revisions(id)?;
    }
    tx.record(audit)
}

/// See [`super::Store::add_revision`].
pub(crate) fn add_revision(
    tx: &mut impl Txn,
    api: &str,
    definition: &Value,
    author: &str,
    comment: Option<&str>,
) -> Result<Revision, StoreError> {
    let revision = Revision {
        api: api.to_owned(),
        number: tx.last_revision(api)? + 1,
        definition: definition.clone(),
        created_at: super::now(),
        author: author.to_owned(),
        comment: comment.map(str::to_owned),
    };
    tx.insert_revision(&revision)?;
    Ok(revision)
}

/// See [`super::Store::deploy`].
pub(crate) fn deploy(
    tx: &mut impl Txn,
    api: &str,
    body: &Value,
    expected: u64,
    comment: Option<&str>,
    audit: &AuditEvent,
) -> Result<(Revision, Document), StoreError> {
    let current = tx.version(Kind::Api, api)?;
    if current != Some(expected) {
        return Err(StoreError::Conflict { current });
    }
    let revision = add_revision(tx, api, &definition_of(body), &audit.actor, comment)?;
    let body = with_deployed_revision(body, revision.number);
    let document = put(tx, Kind::Api, api, &body, Some(expected), audit)?;
    Ok((revision, document))
}

/// See [`super::Store::add_token`].
pub(crate) fn add_token(
    tx: &mut impl Txn,
    token: &StoredToken,
    audit: &AuditEvent,
) -> Result<(), StoreError> {
    let tokens = tx.tokens()?;
    // Names differing only in case would read as one in the audit log.
    if tokens
        .iter()
        .any(|stored| stored.name.eq_ignore_ascii_case(&token.name))
    {
        return Err(StoreError::TokenTaken);
    }
    let mut count = tokens.len() as u64;
    let now = super::now();
    let live = tokens.iter().filter(|stored| stored.is_live(now)).count() as u64;
    if live >= super::MAX_TOKENS {
        // Refused before anything changes.
        return Err(StoreError::Full { count });
    }
    if count >= super::MAX_TOKENS {
        // Expired tokens make room: they no longer open anything (each removal audited).
        for expired in tokens.iter().filter(|stored| !stored.is_live(now)) {
            tx.remove_token(&expired.name)?;
            let target = format!("token:{}", expired.name);
            tx.record(&AuditEvent::now(&audit.actor, "token.revoke", &target))?;
            count -= 1;
        }
    }
    if count >= super::MAX_TOKENS {
        return Err(StoreError::Full { count });
    }
    tx.insert_token(token)?;
    tx.record(audit)
}

/// See [`super::Store::revoke_token`].
pub(crate) fn revoke_token(
    tx: &mut impl Txn,
    name: &str,
    guard_at: Option<SystemTime>,
    audit: &AuditEvent,
) -> Result<(), StoreError> {
    let tokens = tx.tokens()?;
    let Some(revoked) = tokens.iter().find(|token| token.name == name) else {
        return Err(StoreError::NoSuchToken);
    };
    if let Some(now) = guard_at {
        // An expired token goes freely: removing it takes nothing away.
        let outlasted = tokens
            .iter()
            .any(|token| token.name != name && token.outlasts(revoked, now));
        // A viewer token goes freely too: it was never what kept anyone in.
        if revoked.role == TokenRole::Admin && revoked.is_live(now) && !outlasted {
            return Err(StoreError::LastToken);
        }
    }
    tx.remove_token(name)?;
    tx.record(audit)
}

/// The `Store` methods that write, for a backend's `impl Store`: each runs its function above
/// inside the backend's own `self.write(|tx| …)` (a lock, or a database transaction), whose
/// transaction type implements [`Txn`].
macro_rules! transactional_writes {
    () => {
        fn put(
            &self,
            kind: Kind,
            id: &str,
            body: &Value,
            expected: Option<u64>,
            audit: &AuditEvent,
        ) -> Result<Document, StoreError> {
            self.write(|tx| transaction::put(tx, kind, id, body, expected, audit))
        }

        fn create_bounded(
            &self,
            kind: Kind,
            id: &str,
            body: &Value,
            bound: Bound<'_>,
            audit: &AuditEvent,
        ) -> Result<Document, StoreError> {
            self.write(|tx| transaction::create_bounded(tx, kind, id, body, bound, audit))
        }

        fn delete(
            &self,
            kind: Kind,
            id: &str,
            expected: u64,
            audit: &AuditEvent,
        ) -> Result<(), StoreError> {
            self.write(|tx| transaction::delete(tx, kind, id, expected, audit))
        }

        fn add_revision(
            &self,
            api: &str,
            definition: &Value,
            author: &str,
            comment: Option<&str>,
        ) -> Result<Revision, StoreError> {
            self.write(|tx| transaction::add_revision(tx, api, definition, author, comment))
        }

        fn deploy(
            &self,
            api: &str,
            body: &Value,
            expected: u64,
            comment: Option<&str>,
            audit: &AuditEvent,
        ) -> Result<(Revision, Document), StoreError> {
            self.write(|tx| transaction::deploy(tx, api, body, expected, comment, audit))
        }

        fn add_token(&self, token: &StoredToken, audit: &AuditEvent) -> Result<(), StoreError> {
            self.write(|tx| transaction::add_token(tx, token, audit))
        }

        fn revoke_token(
            &self,
            name: &str,
            guard_at: Option<std::time::SystemTime>,
            audit: &AuditEvent,
        ) -> Result<(), StoreError> {
            self.write(|tx| transaction::revoke_token(tx, name, guard_at, audit))
        }
    };
}
pub(crate) use transactional_writes;
