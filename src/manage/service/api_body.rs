//! The API document's body in the store (the contract the follower reads): the definition as one
//! `apis[]` entry of the YAML file, its lifecycle state, visibility, wanted runtime state and the
//! deployed revision.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where the API is in its life, as the developer portal sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LifecycleState {
    /// Saved through the API and never published: not in the portal.
    Created,
    /// In the portal (with public visibility), taking subscriptions. Seeded APIs start here.
    Published,
    /// Taken out of the portal; can be published again.
    Unpublished,
    /// Still in the portal but taking no new subscriptions; existing ones keep working. Final
    /// but for archiving.
    Deprecated,
    /// Kept for the record only: it can be read or deleted, nothing else.
    Archived,
}

/// Who sees it in the developer portal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    /// Listed in the developer portal while published or deprecated. Seeded APIs are public.
    Public,
    /// Never in the portal; the default for APIs created through the management API.
    Private,
}

/// Whether the gateway should serve it (once deployed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeState {
    /// The deployed revision is served.
    Started,
    /// Not served: its routes answer 404 and its live streams end (`POST …/_stop`).
    Stopped,
}

/// `Kind::Api` document body.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiBody {
    /// One `apis[]` entry exactly as in the YAML file, plans included.
    pub definition: Value,
    /// Where it is in its life (`lifecycleState`); decides the portal and new subscriptions.
    pub lifecycle_state: LifecycleState,
    /// Whether the portal may list it (`visibility`).
    pub visibility: Visibility,
    /// Whether the gateway serves its deployed revision (`state`); the follower writes it into
    /// the definition it deploys, so it is not part of a revision.
    pub state: RuntimeState,
    /// `None`: saved, never deployed, so not on the gateway.
    pub deployed_revision: Option<u64>,
}

impl ApiBody {
    /// Reads a stored body; a body this version cannot read is the store's corruption.
    pub fn from_value(value: &Value) -> Result<ApiBody, super::ServiceError> {
        serde_json::from_value(value.clone()).map_err(|err| {
            super::ServiceError::store(crate::manage::store::StoreError::Corrupt(format!(
                "API document: {err}"
            )))
        })
    }

    /// The body as stored (camelCase JSON); the inverse of [`Self::from_value`].
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// The plans of the definition (empty when it has none).
    pub fn plans(&self) -> &[Value] {
        self.definition
            .get("plans")
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice)
    }
}

/// A plan's id: its `id`, or its name (as the configuration reads it).
pub(super) fn plan_id(plan: &Value) -> Option<&str> {
    plan.get("id")
        .or_else(|| plan.get("name"))
        .and_then(Value::as_str)
}

/// A plan's status (`published` when unset, as the configuration reads it).
pub(super) fn plan_status(plan: &Value) -> &str {
    plan.get("status")
        .and_then(Value::as_str)
        .unwrap_or("published")
}
