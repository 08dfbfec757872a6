//! A small document store for the management plane: what the management API writes and every
//! node's follower reads.
//!
//! Documents are JSON bodies keyed by (kind, id) with a version for optimistic concurrency
//! (`put` with the version the writer read, `Conflict` when another writer came first). Every
//! write bumps one store-wide *generation*, so a node learns that something changed from one
//! cheap read. Each write and its audit event commit in one transaction.

mod memory;
mod postgres;
mod schema;
mod sqlite;
mod transaction;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::config::TokenRole;

pub use memory::MemoryStore;
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;
pub use transaction::Bound;

/// What a document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Body: `{definition, lifecycleState, visibility, state, deployedRevision}`.
    Api,
    /// Body: one `applications[]` entry as in the YAML file.
    Application,
    /// Body: one `subscriptions[]` entry as in the YAML file (with `apiKeys` hashes).
    Subscription,
}

impl Kind {
    /// Every kind, in the order a configuration lists them.
    pub const ALL: [Kind; 3] = [Kind::Api, Kind::Application, Kind::Subscription];

    /// The name stored in the `kind` column and used in audit targets (`api:ID`).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Api => "api",
            Kind::Application => "application",
            Kind::Subscription => "subscription",
        }
    }

    /// The kind named `text` (as written by [`Kind::as_str`]).
    pub fn parse(text: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

/// One stored document.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// What it is: with `id`, the document's key.
    pub kind: Kind,
    /// The id the configuration gives it (`apis[].id`, `applications[].id`, …), unique per kind.
    pub id: String,
    /// The JSON body; its shape depends on `kind` (see [`Kind`]).
    pub body: Value,
    /// 1 when created, + 1 on every replace: the ETag of the management API.
    pub version: u64,
    /// When the last write stored it, to the millisecond.
    pub updated_at: SystemTime,
}

/// A numbered, immutable copy of an API definition: what a deployment runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Revision {
    /// The id of the API it is a revision of.
    pub api: String,
    /// 1, 2, … per API.
    pub number: u64,
    /// One `apis[]` entry as in the YAML file.
    pub definition: Value,
    /// When it was stored (the deployment's time), to the millisecond.
    pub created_at: SystemTime,
    /// Who made it: the actor of the deployment, rollback or plan status change (a token name,
    /// or `seed` for revision 1 of a seeded API).
    pub author: String,
    /// Why it was made: the deployment's `comment` when it gave one, or what the gateway wrote
    /// (`plan gold closed`, `seeded from the configuration file`).
    pub comment: Option<String>,
}

/// Who changed what, when, with the document before and after.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    /// When the change was made, to the millisecond.
    pub at: SystemTime,
    /// A token name, `seed`, …
    pub actor: String,
    /// e.g. `api.create`, `api.deploy`, `subscription.accept`.
    pub action: String,
    /// `kind:id`, e.g. `api:qs-message-api`.
    pub target: String,
    /// The document's body before the change; `None` for a create.
    pub before: Option<Value>,
    /// The document's body after the change; `None` for a delete.
    pub after: Option<Value>,
}

impl AuditEvent {
    /// An event at the current time, without before / after bodies.
    pub fn now(actor: &str, action: &str, target: &str) -> AuditEvent {
        AuditEvent {
            at: SystemTime::now(),
            actor: actor.to_owned(),
            action: action.to_owned(),
            target: target.to_owned(),
            before: None,
            after: None,
        }
    }

    /// The same event carrying the document's body before and after the change.
    pub fn with_bodies(mut self, before: Option<Value>, after: Option<Value>) -> AuditEvent {
        self.before = before;
        self.after = after;
        self
    }
}

/// The audit target of a document: `kind:id`.
pub fn target(kind: Kind, id: &str) -> String {
    format!("{}:{id}", kind.as_str())
}

/// Why a store call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The document's stored version is not the expected one (`current`: the stored version,
    /// `None` when the document does not exist). The caller re-reads and retries, or answers 409.
    #[error("the document changed meanwhile (stored version: {current:?})")]
    Conflict {
        /// The stored version, or `None` when the document does not exist.
        current: Option<u64>,
    },
    /// The store cannot be reached (connection refused or lost, file unreadable): retry later.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// The store answered with something this version cannot read (a schema from a newer
    /// version, a body that is not JSON).
    #[error("the store holds unreadable data: {0}")]
    Corrupt(String),
    /// A bounded create found `count` documents already, the most allowed.
    #[error("the store holds {count} such documents, the most allowed")]
    Full {
        /// Documents counted: the bound's `max`.
        count: u64,
    },
    /// A management token of that name exists.
    #[error("a management token of that name exists")]
    TokenTaken,
    /// No management token of that name.
    #[error("no management token of that name")]
    NoSuchToken,
    /// Revoking this token would leave none as lasting (see [`Store::revoke_token`]).
    #[error("no other administrator's token would stay valid as long")]
    LastToken,
}

/// The most management tokens the store keeps (at the cap, expired ones make room).
pub const MAX_TOKENS: u64 = 100;

/// A management token the store keeps: its name and the SHA-256 of the clear token (never
/// the token itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredToken {
    /// Unique; the actor of the audit events of the calls made with it.
    pub name: String,
    /// `sha256:` and 64 hex digits.
    pub hash: String,
    /// When it was created, to the millisecond; `None` for a token stored before tokens had
    /// times.
    pub created_at: Option<SystemTime>,
    /// From when it no longer authenticates; `None`: never.
    pub expires_at: Option<SystemTime>,
    /// What it may do (`admin` for a token stored before tokens had roles).
    pub role: TokenRole,
}

impl StoredToken {
    /// Whether it still authenticates at `now`.
    pub fn is_live(&self, now: SystemTime) -> bool {
        self.expires_at.is_none_or(|at| now < at)
    }

    /// Whether it is an administrator's, live at `now`, and stays valid at least as long as
    /// `other` (no expiry outlasts every expiry): a viewer token cannot stand in for an
    /// administrator's.
    pub fn outlasts(&self, other: &StoredToken, now: SystemTime) -> bool {
        self.role == TokenRole::Admin
            && self.is_live(now)
            && match (self.expires_at, other.expires_at) {
                (None, _) => true,
                (Some(_), None) => false,
                (Some(mine), Some(theirs)) => mine >= theirs,
            }
    }
}

/// The store every management component talks to; see the module documentation.
///
/// All calls block; call them from management or follower threads, never from a shard.
pub trait Store: Send + Sync {
    /// A number bumped by every write: unchanged generation, unchanged store.
    fn generation(&self) -> Result<u64, StoreError>;
    /// Every document of `kind`, ordered by id.
    fn list(&self, kind: Kind) -> Result<Vec<Document>, StoreError>;
    /// The document `id` of `kind`; `None` when there is none.
    fn get(&self, kind: Kind, id: &str) -> Result<Option<Document>, StoreError>;
    /// Creates (`expected` None → `Conflict` if it exists) or replaces (`expected` Some(v) →
    /// `Conflict` unless the stored version is v) a document, with its audit event in the same
    /// transaction. Returns the stored document (version 1 when created, else v + 1).
    fn put(
        &self,
        kind: Kind,
        id: &str,
        body: &Value,
        expected: Option<u64>,
        audit: &AuditEvent,
    ) -> Result<Document, StoreError>;
    /// Creates a document (`Conflict` if it exists) unless `kind` already holds `bound.max`
    /// documents whose ids start with `bound.prefix` (`Full`): counted in the transaction that
    /// inserts, so concurrent creates never pass the cap together.
    fn create_bounded(
        &self,
        kind: Kind,
        id: &str,
        body: &Value,
        bound: Bound<'_>,
        audit: &AuditEvent,
    ) -> Result<Document, StoreError>;
    /// Deletes a document at version `expected` (`Conflict` otherwise, or when it is absent),
    /// with its audit event in the same transaction. An API's revisions go with it.
    fn delete(
        &self,
        kind: Kind,
        id: &str,
        expected: u64,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// Stores `definition` as the next revision of `api` (1 for the first).
    fn add_revision(
        &self,
        api: &str,
        definition: &Value,
        author: &str,
        comment: Option<&str>,
    ) -> Result<Revision, StoreError>;
    /// A deployment in one transaction: `body["definition"]` becomes the next revision of `api`
    /// and the API document (at version `expected`, else `Conflict`) is replaced by `body` with
    /// `deployedRevision` set to that revision's number.
    fn deploy(
        &self,
        api: &str,
        body: &Value,
        expected: u64,
        comment: Option<&str>,
        audit: &AuditEvent,
    ) -> Result<(Revision, Document), StoreError>;
    /// Every revision of `api`, oldest first.
    fn revisions(&self, api: &str) -> Result<Vec<Revision>, StoreError>;
    /// Revision `number` of `api`; `None` when there is none (never deployed that far, or the
    /// API was deleted).
    fn revision(&self, api: &str, number: u64) -> Result<Option<Revision>, StoreError>;
    /// The newest `limit` audit events (of `target` only, when given), newest first.
    fn audit(&self, target: Option<&str>, limit: usize) -> Result<Vec<AuditEvent>, StoreError>;
    /// Management tokens, expired ones included, ordered by name.
    fn tokens(&self) -> Result<Vec<StoredToken>, StoreError>;
    /// Adds a management token with its audit event (`TokenTaken` when the name is taken,
    /// `Full` when the store holds [`MAX_TOKENS`] valid ones already; at the cap, expired ones
    /// are removed, each audited, to make room).
    fn add_token(&self, token: &StoredToken, audit: &AuditEvent) -> Result<(), StoreError>;
    /// Removes the management token `name` with its audit event (`NoSuchToken` when there
    /// is none). With `guard_at`, an administrator's token live at that instant is removed only
    /// while another administrator's outlasts it ([`StoredToken::outlasts`]), else `LastToken`:
    /// revoking can never leave the operators without a token, now or when the remaining ones
    /// expire. Checked in the transaction that removes, so concurrent revocations cannot
    /// together pass it.
    fn revoke_token(
        &self,
        name: &str,
        guard_at: Option<SystemTime>,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;
}

/// `body` with `deployedRevision` set to `number`: what [`Store::deploy`] stores.
pub(crate) fn with_deployed_revision(body: &Value, number: u64) -> Value {
    let mut body = body.clone();
    if let Value::Object(map) = &mut body {
        map.insert("deployedRevision".to_owned(), Value::from(number));
    }
    body
}

/// Milliseconds since the Unix epoch: how the SQL stores keep instants.
pub(crate) fn to_millis(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |since| {
        i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
    })
}

/// Now, to the millisecond: what every store keeps, so a document read back equals the one
/// a write returned.
pub(crate) fn now() -> SystemTime {
    from_millis(to_millis(SystemTime::now()))
}

/// The instant `millis` after the Unix epoch (0 for a negative value).
pub(crate) fn from_millis(millis: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(millis).unwrap_or(0))
}

/// A stored token's role. One this binary does not know (written by hand, or by a newer
/// tidegate) is read as the least: a viewer's, and said in the log; the other tokens still work.
pub(crate) fn stored_role(text: &str) -> TokenRole {
    TokenRole::parse(text).unwrap_or_else(|| {
        tracing::warn!(
            role = text,
            "a stored management token has an unknown role; it is treated as a viewer's"
        );
        TokenRole::Viewer
    })
}

/// A stored JSON text, or `Corrupt` naming where it was.
pub(crate) fn parse_json(text: &str, what: &str) -> Result<Value, StoreError> {
    serde_json::from_str(text)
        .map_err(|error| StoreError::Corrupt(format!("{what} is not JSON: {error}")))
}

/// An optional stored JSON text.
pub(crate) fn parse_json_opt(
    text: Option<String>,
    what: &str,
) -> Result<Option<Value>, StoreError> {
    text.map(|text| parse_json(&text, what)).transpose()
}

/// A stored count (SQL integers are signed) as u64.
pub(crate) fn unsigned(value: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("{what} is negative: {value}")))
}

/// The definition a deployment freezes: `body["definition"]` (null when missing).
pub(crate) fn definition_of(body: &Value) -> Value {
    body.get("definition").cloned().unwrap_or(Value::Null)
}
