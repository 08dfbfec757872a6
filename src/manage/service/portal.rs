//! What the developer portal shows: published, public APIs only, with their plans open to
//! subscription, and never anything an administrator alone should see (audit, revisions, keys).

use serde_json::{json, Value};

use super::api_body::{plan_status, ApiBody, LifecycleState, Visibility};
use super::{Service, ServiceError};
use crate::manage::store::{Document, Kind};

impl Service {
    /// Every API the portal lists: published (or deprecated, still usable) and public.
    pub fn portal_apis(&self) -> Result<Vec<Value>, ServiceError> {
        let mut listed = Vec::new();
        for doc in self.store.list(Kind::Api)? {
            let body = ApiBody::from_value(&doc.body)?;
            if in_portal(&body) {
                listed.push(portal_view(&doc, &body));
            }
        }
        Ok(listed)
    }

    /// One API of the portal; 404 for one it does not list (private, unpublished).
    pub fn portal_api(&self, id: &str) -> Result<Value, ServiceError> {
        let doc = self.document(Kind::Api, id)?;
        let body = ApiBody::from_value(&doc.body)?;
        if !in_portal(&body) {
            return Err(ServiceError::not_found(Kind::Api, id));
        }
        Ok(portal_view(&doc, &body))
    }
}

fn in_portal(body: &ApiBody) -> bool {
    body.visibility == Visibility::Public
        && matches!(
            body.lifecycle_state,
            LifecycleState::Published | LifecycleState::Deprecated
        )
}

/// Name, context paths, entrypoint types and the plans one may subscribe to.
fn portal_view(doc: &Document, body: &ApiBody) -> Value {
    let definition = &body.definition;
    let entrypoints: Vec<Value> = definition
        .get("entrypoints")
        .and_then(Value::as_array)
        .map(|list| list.iter().filter_map(|e| e.get("type").cloned()).collect())
        .unwrap_or_default();
    let plans: Vec<Value> = body
        .plans()
        .iter()
        .filter(|plan| plan_status(plan) == "published")
        .map(|plan| {
            json!({
                "id": super::api_body::plan_id(plan),
                "name": plan.get("name"),
                "security": plan.get("security"),
                "validation": plan.get("validation").cloned().unwrap_or(json!("auto")),
            })
        })
        .collect();
    json!({
        "id": doc.id,
        "name": definition.get("name"),
        "contextPaths": definition.get("contextPaths"),
        "entrypoints": entrypoints,
        "lifecycleState": body.lifecycle_state,
        "plans": plans,
    })
}
