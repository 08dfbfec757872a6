//! Subscriptions of applications to plans: one `subscriptions[]` entry of the YAML file per
//! document, effective at once. A deprecated API, or a deprecated, closed or unpublished plan,
//! takes no new subscription; existing ones keep working.

use std::time::SystemTime;

use serde_json::{json, Value};

use super::api_body::{plan_id, plan_status, ApiBody, LifecycleState};
use super::keys::{expire_live_keys, key_id, key_view, new_key};
use super::plans::no_plan;
use super::push;
use super::validate::Change;
use super::{Actor, ErrorKind, Service, ServiceError};
use crate::manage::store::{Document, Kind};

/// A subscription status action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionAction {
    /// `_accept`: `pending` → `accepted`; an api-key plan's first key is created and shown once,
    /// a push subscription starts delivering.
    Accept,
    /// `_reject`: `pending` → `rejected` (final).
    Reject,
    /// `_pause`: `accepted` → `paused`; a push subscription stops delivering.
    Pause,
    /// `_resume`: `paused` → `accepted`; a push subscription delivers again.
    Resume,
    /// `_close`: from any status but `closed` and `rejected` → `closed` (final).
    Close,
}

impl Service {
    /// The API's subscriptions.
    pub fn list_subscriptions(&self, api: &str) -> Result<Vec<Value>, ServiceError> {
        self.document(Kind::Api, api)?;
        Ok(self
            .store
            .list(Kind::Subscription)?
            .iter()
            .filter(|doc| doc.body.get("api").and_then(Value::as_str) == Some(api))
            .map(subscription_view)
            .collect())
    }

    /// One subscription of the API.
    pub fn get_subscription(&self, api: &str, id: &str) -> Result<Value, ServiceError> {
        Ok(subscription_view(&self.subscription(api, id)?))
    }

    /// Subscribes `application` to `plan`: accepted at once when the plan's validation is auto
    /// (with its first API key, shown once, for an api-key plan), else pending. With a
    /// `consumerConfiguration` (`body`, see `push.rs`) it is a push subscription: delivered by
    /// the API's webhook entrypoint once accepted, with no API key.
    pub fn subscribe(
        &self,
        api: &str,
        application: &str,
        plan: &str,
        request: &Value,
        actor: &Actor,
    ) -> Result<Value, ServiceError> {
        let push = push::requested(request)?;
        let doc = self.document(Kind::Api, api)?;
        let body = ApiBody::from_value(&doc.body)?;
        if matches!(
            body.lifecycle_state,
            LifecycleState::Deprecated | LifecycleState::Archived
        ) {
            return Err(ServiceError::conflict("api.deprecated", format!("API '{api}' is deprecated: it takes no new subscriptions (existing ones keep working)")));
        }
        let plan_def = body
            .plans()
            .iter()
            .find(|candidate| plan_id(candidate) == Some(plan))
            .cloned()
            .ok_or_else(|| no_plan(api, plan))?;
        match plan_status(&plan_def) {
            "deprecated" => return Err(ServiceError::conflict("plan.deprecated", format!("plan '{plan}' is deprecated: it takes no new subscriptions; choose another plan"))),
            "closed" => return Err(ServiceError::conflict("plan.closed", format!("plan '{plan}' is closed; choose another plan"))),
            "staging" => return Err(ServiceError::conflict("plan.not_published", format!("plan '{plan}' is not published yet (POST …/plans/{plan}/_publish)"))),
            _ => {}
        }
        if self.store.get(Kind::Application, application)?.is_none() {
            return Err(ServiceError::new(
                ErrorKind::Invalid,
                "application.not_found",
                format!("no application '{application}'; create it first (POST …/applications)"),
            ));
        }
        let auto = plan_def.get("validation").and_then(Value::as_str) != Some("manual");
        let id = format!("{application}-{plan}-{}", random_suffix()?);
        let mut subscription = json!({
            "id": id, "api": api, "plan": plan, "application": application,
            "status": if auto { "accepted" } else { "pending" },
            "apiKeys": [],
        });
        let shown = match (auto && is_api_key_plan(&plan_def), push) {
            (_, Some(configuration)) => {
                push::make_push(&mut subscription, configuration);
                None
            }
            (true, None) => Some(add_key(&mut subscription)?),
            (false, None) => None,
        };
        self.validate(&Change {
            kind: Kind::Subscription,
            id: &id,
            body: Some(&subscription),
        })
        .map_err(push::in_request_terms)?;
        let doc = self.write(
            Kind::Subscription,
            &id,
            None,
            &subscription,
            actor,
            "subscription.create",
        )?;
        Ok(with_key(subscription_view(&doc), shown))
    }

    /// Accept, reject, pause, resume or close; accepting a subscription to an api-key plan
    /// without a key creates its first key (in the answer, once).
    pub fn subscription_action(
        &self,
        api: &str,
        id: &str,
        action: SubscriptionAction,
        actor: &Actor,
    ) -> Result<Value, ServiceError> {
        let doc = self.subscription(api, id)?;
        let mut body = doc.body.clone();
        let status = body
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or("accepted")
            .to_owned();
        use SubscriptionAction as A;
        let (allowed, new_status, name) = match action {
            A::Accept => (status == "pending", "accepted", "subscription.accept"),
            A::Reject => (status == "pending", "rejected", "subscription.reject"),
            A::Pause => (status == "accepted", "paused", "subscription.pause"),
            A::Resume => (status == "paused", "accepted", "subscription.resume"),
            A::Close => (
                !matches!(status.as_str(), "closed" | "rejected"),
                "closed",
                "subscription.close",
            ),
        };
        if !allowed {
            return Err(ServiceError::conflict("subscription.status", format!("subscription '{id}' is {status}: it cannot become {new_status} (pending → accepted/rejected; accepted ⇄ paused; → closed)")));
        }
        body["status"] = Value::String(new_status.to_owned());
        let mut shown = None;
        if action == A::Accept
            && !push::is_push(&body)
            && !has_keys(&body)
            && self.subscription_plan_is_api_key(api, &body)?
        {
            shown = Some(add_key(&mut body)?);
        }
        let doc = self.save_subscription(&doc, &body, actor, name)?;
        Ok(with_key(subscription_view(&doc), shown))
    }

    /// The subscription's keys (ids, expiry, revoked; never the key or its hash).
    pub fn api_keys(&self, api: &str, id: &str) -> Result<Vec<Value>, ServiceError> {
        let doc = self.subscription(api, id)?;
        Ok(keys(&doc.body).iter().map(key_view).collect())
    }

    /// A new key (shown once); the live ones expire after the grace period.
    pub fn renew_key(&self, api: &str, id: &str, actor: &Actor) -> Result<Value, ServiceError> {
        let doc = self.subscription(api, id)?;
        let mut body = doc.body.clone();
        if let Some(Value::Array(list)) = body.get_mut("apiKeys") {
            expire_live_keys(list, SystemTime::now());
        }
        let shown = add_key(&mut body)?;
        self.save_subscription(&doc, &body, actor, "subscription.renew_key")?;
        Ok(shown)
    }

    /// Revokes key `key` at once.
    pub fn revoke_key(
        &self,
        api: &str,
        id: &str,
        key: &str,
        actor: &Actor,
    ) -> Result<(), ServiceError> {
        let doc = self.subscription(api, id)?;
        let mut body = doc.body.clone();
        let Some(Value::Array(list)) = body.get_mut("apiKeys") else {
            return Err(no_key(id, key));
        };
        let entry = list
            .iter_mut()
            .find(|entry| entry.get("hash").and_then(Value::as_str).map(key_id) == Some(key))
            .ok_or_else(|| no_key(id, key))?;
        entry["revoked"] = Value::Bool(true);
        self.save_subscription(&doc, &body, actor, "subscription.revoke_key")?;
        Ok(())
    }

    pub(super) fn subscription(&self, api: &str, id: &str) -> Result<Document, ServiceError> {
        let doc = self.document(Kind::Subscription, id)?;
        if doc.body.get("api").and_then(Value::as_str) != Some(api) {
            return Err(ServiceError::not_found(Kind::Subscription, id));
        }
        Ok(doc)
    }

    fn save_subscription(
        &self,
        doc: &Document,
        body: &Value,
        actor: &Actor,
        action: &str,
    ) -> Result<Document, ServiceError> {
        self.validate(&Change {
            kind: Kind::Subscription,
            id: &doc.id,
            body: Some(body),
        })?;
        self.write(Kind::Subscription, &doc.id, Some(doc), body, actor, action)
    }

    fn subscription_plan_is_api_key(&self, api: &str, body: &Value) -> Result<bool, ServiceError> {
        let plan = body.get("plan").and_then(Value::as_str).unwrap_or_default();
        Ok(is_api_key_plan(&self.get_plan(api, plan)?))
    }
}

fn is_api_key_plan(plan: &Value) -> bool {
    plan.get("security").and_then(Value::as_str) == Some("api-key")
}

fn keys(body: &Value) -> &[Value] {
    body.get("apiKeys")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn has_keys(body: &Value) -> bool {
    !keys(body).is_empty()
}

/// Appends a new key to `body.apiKeys`; returns `{id, key}` to show once.
fn add_key(body: &mut Value) -> Result<Value, ServiceError> {
    let (entry, shown) = new_key()?;
    if !body.get("apiKeys").is_some_and(Value::is_array) {
        body["apiKeys"] = Value::Array(Vec::new());
    }
    if let Some(Value::Array(list)) = body.get_mut("apiKeys") {
        list.push(entry);
    }
    Ok(shown)
}

pub(super) fn subscription_view(doc: &Document) -> Value {
    let mut view = doc.body.clone();
    view["apiKeys"] = Value::Array(keys(&doc.body).iter().map(key_view).collect());
    view["version"] = json!(doc.version);
    if push::is_push(&doc.body) {
        push::view(&mut view);
    }
    view
}

fn with_key(mut view: Value, shown: Option<Value>) -> Value {
    if let Some(shown) = shown {
        view["apiKey"] = shown;
    }
    view
}

/// 6 random bytes as hex: subscription ids must not collide between two creators.
fn random_suffix() -> Result<String, ServiceError> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 6];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| {
            ServiceError::new(
                ErrorKind::Unavailable,
                "random.unavailable",
                "the system random number generator is unavailable",
            )
        })?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn no_key(id: &str, key: &str) -> ServiceError {
    ServiceError::new(
        ErrorKind::NotFound,
        "key.not_found",
        format!("subscription '{id}' has no key '{key}'"),
    )
}
