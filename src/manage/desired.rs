//! What a node should run, read from the store: the file's own `gateway:` section (node-local)
//! with the store's APIs (each at its deployed revision), applications and subscriptions, as one
//! configuration document validated by the same loader as a file.

use serde_json::{json, Map, Value};

use super::store::{Document, Kind, Store, StoreError};
use crate::config::{self, Config, ConfigError, ManagementConfig};

/// Where a desired configuration "comes from" in its error messages.
pub const STORE_ORIGIN: &str = "<management store>";

/// The configuration document for the store's current content: `{gateway, apis, applications,
/// subscriptions}`. An API is in it when it has a deployed revision, with `state` from its
/// document; a revision that is missing is an error (`Corrupt`), never silently skipped.
pub fn desired_document(store: &dyn Store, gateway: &Value) -> Result<Value, StoreError> {
    let mut apis = Vec::new();
    for document in store.list(Kind::Api)? {
        if let Some(definition) = deployed_definition(store, &document)? {
            apis.push(definition);
        }
    }
    let bodies = |kind| -> Result<Vec<Value>, StoreError> {
        Ok(store.list(kind)?.into_iter().map(|doc| doc.body).collect())
    };
    let mut document = Map::new();
    if !gateway.is_null() {
        document.insert("gateway".to_owned(), gateway.clone());
    }
    document.insert("apis".to_owned(), Value::Array(apis));
    document.insert(
        "applications".to_owned(),
        Value::Array(bodies(Kind::Application)?),
    );
    document.insert(
        "subscriptions".to_owned(),
        Value::Array(bodies(Kind::Subscription)?),
    );
    Ok(Value::Object(document))
}

/// The definition an API document deploys (its revision's, with the document's `state`), or
/// `None` when it was never deployed.
pub fn deployed_definition(
    store: &dyn Store,
    document: &Document,
) -> Result<Option<Value>, StoreError> {
    let Some(number) = document
        .body
        .get("deployedRevision")
        .and_then(Value::as_u64)
    else {
        return Ok(None);
    };
    let revision = store.revision(&document.id, number)?.ok_or_else(|| {
        StoreError::Corrupt(format!(
            "api {} is deployed at revision {number}, which the store does not hold",
            document.id
        ))
    })?;
    let mut definition = revision.definition;
    if let (Value::Object(map), Some(state)) = (&mut definition, document.body.get("state")) {
        map.insert("state".to_owned(), state.clone());
    }
    Ok(Some(definition))
}

/// The store's content as a validated [`Config`] for this node (`management` kept from the
/// file). The outer error: the store failed; the inner: what it holds does not validate.
pub fn desired_config(
    store: &dyn Store,
    gateway: &Value,
    management: &ManagementConfig,
) -> Result<Result<Config, ConfigError>, StoreError> {
    let document = desired_document(store, gateway)?;
    // JSON is YAML: the one loader checks it, so the store and `tidegate check` agree.
    Ok(
        config::load_str(&document.to_string(), STORE_ORIGIN).map(|mut config| {
            config.management = Some(management.clone());
            config
        }),
    )
}

/// The file's `gateway:` section as a tree (null when absent).
pub fn gateway_section(file_tree: &Value) -> Value {
    file_tree.get("gateway").cloned().unwrap_or(Value::Null)
}

/// A document body for an API the seed or an import deploys: published and public, in the
/// runtime state its definition names (started unless it says `stopped`).
pub fn seeded_api_body(definition: &Value) -> Value {
    let state = definition
        .get("state")
        .and_then(Value::as_str)
        .unwrap_or("started");
    let mut definition = definition.clone();
    if let Value::Object(map) = &mut definition {
        // The runtime state lives in the API document, not in its revisions.
        map.remove("state");
    }
    json!({
        "definition": definition,
        "lifecycleState": "published",
        "visibility": "public",
        "state": state,
        "deployedRevision": null,
    })
}
