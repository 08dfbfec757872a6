//! Gravitee v2's UpdateSubscription (`PUT …/apis/{apiId}/subscriptions/{subscriptionId}`): a
//! push subscription's `consumerConfiguration` and any subscription's `startingAt` / `endingAt`
//! replaced in place. The same validator as a creation checks the result (400 with the
//! locations in the request's terms, nothing written), `If-Match` or the body's `version` guard
//! against a concurrent change, the change is audited, and the answer masks secrets. A masked
//! secret sent back (what a GET shows) keeps the stored one, so a client can GET, change the
//! callback URL and PUT the configuration back. The node picks the change up like any other
//! subscription change: the runner drains and a new one resumes from its position.

use serde_json::{Map, Value};

use super::push;
use super::subscriptions::subscription_view;
use super::validate::Change;
use super::{check_expected, Actor, Expected, FieldError, Service, ServiceError};
use crate::manage::store::Kind;

/// The keys an update may carry.
const KEYS: &str = "consumerConfiguration, startingAt, endingAt, version";

impl Service {
    /// Replaces the subscription's `consumerConfiguration` (push subscriptions only) and its
    /// validity window; returns the new view and version.
    pub fn update_subscription(
        &self,
        api: &str,
        id: &str,
        request: &Value,
        expected: Expected,
        actor: &Actor,
    ) -> Result<(Value, u64), ServiceError> {
        let doc = self.subscription(api, id)?;
        check_expected(expected, doc.version)?;
        let Some(fields) = request.as_object() else {
            return Err(refuse(
                "body",
                &format!("send a JSON object with some of: {KEYS}"),
            ));
        };
        for key in fields.keys() {
            match key.as_str() {
                "consumerConfiguration" | "startingAt" | "endingAt" | "version" => {}
                "metadata" => {
                    return Err(refuse(
                        "metadata",
                        "subscription metadata is not kept by this gateway; leave it out",
                    ))
                }
                other => {
                    return Err(refuse(other, &format!("unknown key (expected {KEYS})")));
                }
            }
        }
        let mut body = doc.body.clone();
        if let Some(configuration) = push::requested(request)? {
            if !push::is_push(&body) {
                return Err(refuse(
                    "consumerConfiguration",
                    &format!("subscription '{id}' is a standard subscription: only a push subscription has a consumerConfiguration"),
                ));
            }
            let stored = body.get("configuration").cloned().unwrap_or(Value::Null);
            push::make_push(&mut body, push::keep_masked(configuration, &stored)?);
        }
        if let Some(object) = body.as_object_mut() {
            window(object, fields, "startingAt");
            window(object, fields, "endingAt");
        }
        self.validate(&Change {
            kind: Kind::Subscription,
            id,
            body: Some(&body),
        })
        .map_err(push::in_request_terms)?;
        let doc = self.write(
            Kind::Subscription,
            id,
            Some(&doc),
            &body,
            actor,
            "subscription.update",
        )?;
        Ok((subscription_view(&doc), doc.version))
    }
}

/// `key` as sent: a value replaces the stored one, `null` removes it, absent keeps it.
fn window(body: &mut Map<String, Value>, fields: &Map<String, Value>, key: &str) {
    match fields.get(key) {
        None => {}
        Some(Value::Null) => {
            body.remove(key);
        }
        Some(value) => {
            body.insert(key.to_owned(), value.clone());
        }
    }
}

fn refuse(location: &str, message: &str) -> ServiceError {
    ServiceError::invalid(
        "subscription.invalid_update",
        "the subscription update is invalid; see `errors`",
    )
    .with_errors(vec![FieldError {
        location: location.to_owned(),
        message: message.to_owned(),
    }])
}
