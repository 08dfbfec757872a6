//! First start with a store: the file's `apis`, `applications` and `subscriptions` fill an
//! empty store once (each API deployed as revision 1 in its file `state`), so the quickstart and
//! an existing file-mode setup keep running when the management plane is turned on.

use serde_json::Value;

use super::desired::seeded_api_body;
use super::store::{target, AuditEvent, Kind, Store, StoreError};

/// The actor of the seed's audit events.
pub const SEED_ACTOR: &str = crate::config::management::actors::SEED;

/// What a seed did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SeedReport {
    /// False when the store had been written before (nothing done).
    pub seeded: bool,
    /// APIs written from the file's `apis`, each deployed as revision 1.
    pub apis: usize,
    /// Applications written from the file's `applications`.
    pub applications: usize,
    /// Subscriptions written from the file's `subscriptions`.
    pub subscriptions: usize,
}

/// Seeds `store` from the file's tree when the store never held a document (no audit event yet:
/// deleting everything later does not bring the file's content back).
///
/// The caller has validated the file; a document that is not a mapping with a string `id` is
/// skipped.
pub fn seed_if_empty(store: &dyn Store, file_tree: &Value) -> Result<SeedReport, StoreError> {
    if !store.audit(None, 1)?.is_empty() {
        return Ok(SeedReport::default());
    }
    let mut report = SeedReport {
        seeded: true,
        ..SeedReport::default()
    };
    for definition in items(file_tree, "apis") {
        let Some(id) = definition.get("id").and_then(Value::as_str) else {
            continue;
        };
        let body = seeded_api_body(definition);
        let audit = AuditEvent::now(SEED_ACTOR, "api.create", &target(Kind::Api, id))
            .with_bodies(None, Some(body.clone()));
        let created = store.put(Kind::Api, id, &body, None, &audit)?;
        let audit = AuditEvent::now(SEED_ACTOR, "api.deploy", &target(Kind::Api, id));
        store.deploy(
            id,
            &body,
            created.version,
            Some("seeded from the configuration file"),
            &audit,
        )?;
        report.apis += 1;
    }
    for (kind, key, count) in [
        (Kind::Application, "applications", &mut report.applications),
        (
            Kind::Subscription,
            "subscriptions",
            &mut report.subscriptions,
        ),
    ] {
        for body in items(file_tree, key) {
            let Some(id) = body.get("id").and_then(Value::as_str) else {
                continue;
            };
            let audit = AuditEvent::now(
                SEED_ACTOR,
                &format!("{}.create", kind.as_str()),
                &target(kind, id),
            )
            .with_bodies(None, Some(body.clone()));
            store.put(kind, id, body, None, &audit)?;
            *count += 1;
        }
    }
    Ok(report)
}

fn items<'t>(tree: &'t Value, key: &str) -> impl Iterator<Item = &'t Value> {
    tree.get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}
