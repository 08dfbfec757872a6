//! The API document's body in the store (the contract the follower reads): the definition as one
//! `apis[]` entry of the YAML file, its lifecycle state, visibility, wanted runtime state and the
//! deployed revision.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where the API is in its life, as the developer portal sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LifecycleState {
    Created,
    Published,
    Unpublished,
    Deprecated,
    Archived,
}

/// Who sees it in the developer portal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    Public,
    Private,
}

/// Whether the gateway should serve it (once deployed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeState {
    Started,
    Stopped,
}

/// `Kind::Api` document body.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiBody {
    /// One `apis[]` entry exactly as in the YAML file, plans included.
    pub definition: Value,
    pub lifecycle_state: LifecycleState,
    pub visibility: Visibility,
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
