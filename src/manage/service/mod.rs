//! The management service: typed views over the store's documents and the lifecycle rules of
//! APIs, plans, applications and subscriptions. The REST layer (`manage::api`) only parses
//! requests and renders answers; every rule lives here, so the console and the CLI get the same
//! answers.
//!
//! Every change is one `Store::put`/`delete` carrying its audit event (who, what, before, after),
//! so the store writes both in one transaction. Every definition is checked by one validator
//! (`validate.rs`): the candidate configuration through `config::load_str`, as `tidegate check`.

mod api_body;
mod apis;
mod applications;
mod deployments;
mod error;
mod keys;
mod masked_secrets;
mod plans;
mod portal;
mod push;
mod redact;
mod subscription_update;
mod subscriptions;
mod tokens;
mod validate;
mod views;

use std::sync::Arc;

use serde_json::Value;

pub use api_body::{ApiBody, LifecycleState, RuntimeState, Visibility};
pub use apis::{ApiAction, ApiInput};
pub use error::{ErrorKind, FieldError, ServiceError};
pub use keys::RENEW_GRACE;
pub use plans::PlanAction;
pub use redact::redact_secrets;
pub use subscriptions::SubscriptionAction;
pub use tokens::{token_target, TokenSources, ENV_TOKEN_NAME};
pub use views::{stats_from, ApiStats};

use crate::manage::store::{target, AuditEvent, Document, Kind, Store, StoreError};

/// This node's live numbers for one API (open streams, messages, requests), by API id.
pub type StatsSource = dyn Fn(&str) -> ApiStats + Send + Sync;

/// The service: the store, the node's own `gateway:` section, and this node's per-API numbers.
pub struct Service {
    store: Arc<dyn Store>,
    /// The configuration file's `gateway:` section (node-local), as a tree: every candidate
    /// configuration is validated with it, as the follower applies it.
    gateway_section: Value,
    stats: Box<StatsSource>,
}

/// Who asks: the token's name, written to the audit log.
#[derive(Debug, Clone)]
pub struct Actor(pub String);

/// The version a write expects: from `If-Match` (mismatch: 412) or from the body's `version`
/// (mismatch: 409).
#[derive(Debug, Clone, Copy, Default)]
pub struct Expected {
    /// The version named by the `If-Match` header (the ETag a GET answered); `None` without one.
    pub if_match: Option<u64>,
    /// The `version` field of the request body; `None` when the body has none.
    pub body_version: Option<u64>,
}

impl Service {
    /// A service over `store`; `gateway_section` is the file's `gateway:` tree (`Value::Null`
    /// when the file has none).
    pub fn new(store: Arc<dyn Store>, gateway_section: Value, stats: Box<StatsSource>) -> Service {
        Service {
            store,
            gateway_section,
            stats,
        }
    }

    /// The store (for the token check and the audit route).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The newest audit events, newest first, of `target` (e.g. `api:orders`) or of everything.
    pub fn audit(&self, target: Option<&str>, limit: usize) -> Result<Vec<Value>, ServiceError> {
        let events = self.store.audit(target, limit)?;
        Ok(events.iter().map(views::audit_event).collect())
    }

    fn document(&self, kind: Kind, id: &str) -> Result<Document, ServiceError> {
        self.store
            .get(kind, id)?
            .ok_or_else(|| ServiceError::not_found(kind, id))
    }

    /// Writes `body` over `current` (or creates it when `current` is `None`), audited.
    fn write(
        &self,
        kind: Kind,
        id: &str,
        current: Option<&Document>,
        body: &Value,
        actor: &Actor,
        action: &str,
    ) -> Result<Document, ServiceError> {
        let audit = audit_event(
            actor,
            action,
            kind,
            id,
            current.map(|doc| doc.body.clone()),
            Some(body.clone()),
        );
        self.store
            .put(kind, id, body, current.map(|doc| doc.version), &audit)
            .map_err(|err| ServiceError::from_write(err, kind, id))
    }

    /// Deletes `current`, audited.
    fn remove(&self, current: &Document, actor: &Actor, action: &str) -> Result<(), ServiceError> {
        let audit = audit_event(
            actor,
            action,
            current.kind,
            &current.id,
            Some(current.body.clone()),
            None,
        );
        self.store
            .delete(current.kind, &current.id, current.version, &audit)
            .map_err(|err| ServiceError::from_write(err, current.kind, &current.id))
    }
}

/// Checks the version a write expects against the stored one.
fn check_expected(expected: Expected, current: u64) -> Result<(), ServiceError> {
    if let Some(wanted) = expected.if_match {
        if wanted != current {
            return Err(ServiceError::precondition_failed(current));
        }
    }
    if let Some(wanted) = expected.body_version {
        if wanted != current {
            return Err(ServiceError::conflict(
                "version.conflict",
                format!("the body's version is {wanted} but the stored one is {current}: someone changed it meanwhile; GET it again, reapply your change, and send the new version"),
            ));
        }
    }
    Ok(())
}

fn audit_event(
    actor: &Actor,
    action: &str,
    kind: Kind,
    id: &str,
    before: Option<Value>,
    after: Option<Value>,
) -> AuditEvent {
    AuditEvent::now(&actor.0, action, &target(kind, id)).with_bodies(before, after)
}

impl From<StoreError> for ServiceError {
    fn from(err: StoreError) -> ServiceError {
        ServiceError::store(err)
    }
}
