//! `tidegate export`: the store's APIs (each at its deployed revision, with its runtime state),
//! applications and subscriptions as a configuration file that `tidegate check` accepts — a
//! backup, a diff, or the seed of another store.

use serde_json::Value;

use super::desired::desired_document;
use super::store::{Store, StoreError};

/// The store's content as configuration YAML (no `gateway:` section: that stays node-local).
/// APIs saved but never deployed are not in it: a file only holds what runs.
pub fn export_yaml(store: &dyn Store) -> Result<String, StoreError> {
    let document = desired_document(store, &Value::Null)?;
    let yaml = serde_saphyr::to_string(&document)
        .map_err(|error| StoreError::Corrupt(format!("cannot write the store as YAML: {error}")))?;
    Ok(format!(
        "# Exported from the tidegate management store: the deployed APIs, the applications and\n# the subscriptions (API keys as hashes). `tidegate check` accepts it; as the `apis`,\n# `applications` and `subscriptions` of a file it seeds an empty store.\n{yaml}"
    ))
}
