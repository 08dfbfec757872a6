//! Push (webhook) subscriptions through the management API, in Gravitee v2's shape: the request's
//! `consumerConfiguration { entrypointId: "webhook", channel?, entrypointConfiguration }` is the
//! stored subscription's `type: push` + `configuration` (what the YAML file holds), so the one
//! validator checks it as `tidegate check` checks the file, and an export is a valid file. The
//! validator's locations are put back in the request's terms; views show the configuration
//! again as `consumerConfiguration`, with its secrets masked (a view is read by more people than
//! the ones who wrote the secret). `consumerConfiguration.channel` is stored as the file's
//! `configuration.channel`.

use serde_json::{json, Map, Value};

use super::masked_secrets::{self, MASK};
use super::{FieldError, ServiceError};

/// Where a push subscription's configuration sits in the request body.
const REQUEST_PREFIX: &str = "consumerConfiguration.entrypointConfiguration";
/// Where the channel sits in the request body (`configuration.channel` in the file).
const CHANNEL: &str = "consumerConfiguration.channel";

/// The push configuration a subscription request carries: `None` without `consumerConfiguration`
/// (a standard subscription), else its `entrypointConfiguration` (checked later by the
/// validator). Refuses a shape this gateway cannot honour, saying what to send.
pub(super) fn requested(body: &Value) -> Result<Option<Value>, ServiceError> {
    let Some(consumer) = body.get("consumerConfiguration") else {
        return Ok(None);
    };
    let refuse = |location: &str, message: &str| {
        ServiceError::invalid(
            "definition.invalid",
            "the subscription's consumerConfiguration is invalid; see `errors`",
        )
        .with_errors(vec![FieldError {
            location: location.to_owned(),
            message: message.to_owned(),
        }])
    };
    let Some(consumer) = consumer.as_object() else {
        return Err(refuse(
            "consumerConfiguration",
            "must be a mapping { entrypointId: webhook, entrypointConfiguration: { callbackUrl, … } }",
        ));
    };
    for key in consumer.keys() {
        if !matches!(
            key.as_str(),
            "entrypointId" | "channel" | "entrypointConfiguration"
        ) {
            return Err(refuse(
                &format!("consumerConfiguration.{key}"),
                "unknown key (expected entrypointId, channel, entrypointConfiguration)",
            ));
        }
    }
    match consumer.get("entrypointId").and_then(Value::as_str) {
        Some("webhook") => {}
        _ => {
            return Err(refuse(
                "consumerConfiguration.entrypointId",
                "must be \"webhook\": push subscriptions are delivered by the webhook entrypoint",
            ))
        }
    }
    let channel = match consumer.get("channel") {
        None | Some(Value::Null) => None,
        Some(Value::String(channel)) if channel.is_empty() => None,
        Some(Value::String(channel)) => Some(channel.clone()),
        Some(_) => {
            return Err(refuse(
                CHANNEL,
                "must be a string: a topic of the API (Kafka, in-memory) or a topic filter within the API's (MQTT)",
            ))
        }
    };
    let mut configuration = match consumer.get("entrypointConfiguration") {
        Some(Value::Object(config)) => config.clone(),
        _ => return Err(refuse(
            REQUEST_PREFIX,
            "must be a mapping with at least `callbackUrl` (see docs/webhooks.md for every key)",
        )),
    };
    if configuration.contains_key("channel") {
        return Err(refuse(
            &format!("{REQUEST_PREFIX}.channel"),
            "the channel goes in consumerConfiguration.channel",
        ));
    }
    // Stored as the file's `configuration.channel`.
    if let Some(channel) = channel {
        configuration.insert("channel".to_owned(), Value::String(channel));
    }
    Ok(Some(Value::Object(configuration)))
}

/// `configuration` (an update's) with each masked secret replaced by the stored one it stands
/// for: an auth `password` / `token` / `clientSecret` shown masked keeps the stored value, and
/// a masked entry of `secrets` the stored secret it names (`masked_secrets`: by its id, wherever
/// the client moved it, so `[new, masked]` rotates in a new secret before the stored one). A
/// mask with nothing (or, in `secrets`, more than one secret) stored behind it is refused.
pub(super) fn keep_masked(mut configuration: Value, stored: &Value) -> Result<Value, ServiceError> {
    let missing = |location: String| {
        ServiceError::invalid(
            "definition.invalid",
            "the subscription's consumerConfiguration is invalid; see `errors`",
        )
        .with_errors(vec![FieldError {
            location,
            message: format!("{MASK} stands for the stored secret, but none is stored here: send the secret itself"),
        }])
    };
    // A stored credential goes only where it went before: a masked auth secret is kept only
    // while the callback's origin and every other auth setting (type, user, client id, token
    // endpoint) are unchanged, else whoever may update the subscription could send the stored
    // password or token to a host of theirs without ever seeing it.
    let same_destination = origin(configuration.get("callbackUrl"))
        == origin(stored.get("callbackUrl"))
        && auth_settings(configuration.get("auth")) == auth_settings(stored.get("auth"));
    if let Some(auth) = configuration.get_mut("auth").and_then(Value::as_object_mut) {
        for key in AUTH_SECRETS {
            if auth.get(key).and_then(Value::as_str) != Some(MASK) {
                continue;
            }
            if !same_destination {
                return Err(ServiceError::invalid(
                    "definition.invalid",
                    "the subscription's consumerConfiguration is invalid; see `errors`",
                )
                .with_errors(vec![FieldError {
                    location: format!("{REQUEST_PREFIX}.auth.{key}"),
                    message: format!("{MASK} keeps the stored secret only while the callback's host and the other auth settings stay the same: send the secret itself to use it with the new ones"),
                }]));
            }
            match stored.get("auth").and_then(|a| a.get(key)) {
                Some(kept @ Value::String(_)) => {
                    auth.insert(key.to_owned(), kept.clone());
                }
                _ => return Err(missing(format!("{REQUEST_PREFIX}.auth.{key}"))),
            }
        }
    }
    if let Some(Value::Array(secrets)) = configuration.get_mut("secrets") {
        let stored = stored
            .get("secrets")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        let location = |index| format!("{REQUEST_PREFIX}.secrets[{index}]");
        masked_secrets::keep_stored(secrets, stored, location).map_err(|error| {
            ServiceError::invalid(
                "definition.invalid",
                "the subscription's consumerConfiguration is invalid; see `errors`",
            )
            .with_errors(vec![error])
        })?;
    }
    Ok(configuration)
}

/// The auth fields that hold secrets (masked in answers).
const AUTH_SECRETS: [&str; 3] = ["password", "token", "clientSecret"];

/// `scheme://host:port` of a callback URL (what a credential sent to it reaches).
fn origin(url: Option<&Value>) -> Option<String> {
    let url = url?.as_str()?;
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    Some(format!(
        "{}://{}",
        scheme.to_ascii_lowercase(),
        authority.to_ascii_lowercase()
    ))
}

/// An auth object without its secrets: where and as whom a credential is used.
fn auth_settings(auth: Option<&Value>) -> Option<serde_json::Map<String, Value>> {
    let mut settings = auth?.as_object()?.clone();
    for key in AUTH_SECRETS {
        settings.remove(key);
    }
    Some(settings)
}

/// `subscription` as a push subscription with `configuration`.
pub(super) fn make_push(subscription: &mut Value, configuration: Value) {
    subscription["type"] = Value::String("push".to_owned());
    subscription["configuration"] = configuration;
}

/// Whether a stored subscription body is a push subscription.
pub(super) fn is_push(body: &Value) -> bool {
    body.get("type").and_then(Value::as_str) == Some("push")
}

/// The validator's locations of a push subscription put in the request's terms
/// (`configuration.retry.attempts` → `consumerConfiguration.entrypointConfiguration.retry.attempts`).
pub(super) fn in_request_terms(mut err: ServiceError) -> ServiceError {
    for error in &mut err.errors {
        if error.location == "configuration.channel" {
            error.location = CHANNEL.to_owned();
            continue;
        }
        if let Some(rest) = error.location.strip_prefix("configuration") {
            if rest.is_empty() || rest.starts_with(['.', '[']) {
                error.location = format!("{REQUEST_PREFIX}{rest}");
            }
        }
    }
    err
}

/// A view of a push subscription: `configuration` replaced by `consumerConfiguration`, secrets
/// masked (auth password, token and client secret; signing secrets).
pub(super) fn view(view: &mut Value) {
    let Some(map) = view.as_object_mut() else {
        return;
    };
    let Some(mut configuration) = map.remove("configuration") else {
        return;
    };
    if let Some(auth) = configuration.get_mut("auth").and_then(Value::as_object_mut) {
        for key in ["password", "token", "clientSecret"] {
            if auth.contains_key(key) {
                auth.insert(key.to_owned(), json!(MASK));
            }
        }
    }
    if let Some(Value::Array(secrets)) = configuration.get_mut("secrets") {
        for secret in secrets {
            *secret = json!(masked_secrets::masked(secret.as_str().unwrap_or("")));
        }
    }
    let mut consumer = Map::new();
    consumer.insert("entrypointId".to_owned(), json!("webhook"));
    if let Some(channel) = configuration
        .as_object_mut()
        .and_then(|c| c.remove("channel"))
    {
        consumer.insert("channel".to_owned(), channel);
    }
    consumer.insert("entrypointConfiguration".to_owned(), configuration);
    map.insert("consumerConfiguration".to_owned(), Value::Object(consumer));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_shape_is_checked_before_the_validator() {
        let body = |consumer: Value| json!({ "consumerConfiguration": consumer });
        assert_eq!(requested(&json!({})).unwrap(), None);
        let ok = requested(&body(json!({
            "entrypointId": "webhook",
            "entrypointConfiguration": { "callbackUrl": "http://x/" },
        })))
        .unwrap();
        assert_eq!(ok, Some(json!({ "callbackUrl": "http://x/" })));
        let narrowed = requested(&body(json!({
            "entrypointId": "webhook",
            "channel": "orders/eu/#",
            "entrypointConfiguration": { "callbackUrl": "http://x/" },
        })))
        .unwrap();
        let stored = json!({ "callbackUrl": "http://x/", "channel": "orders/eu/#" });
        assert_eq!(narrowed, Some(stored.clone()));
        let mut shown = json!({ "type": "push", "configuration": stored });
        view(&mut shown);
        assert_eq!(shown["consumerConfiguration"]["channel"], "orders/eu/#");
        assert!(shown["consumerConfiguration"]["entrypointConfiguration"]
            .get("channel")
            .is_none());
        for (consumer, location) in [
            (json!("webhook"), "consumerConfiguration"),
            (
                json!({ "entrypointId": "sse", "entrypointConfiguration": {} }),
                "consumerConfiguration.entrypointId",
            ),
            (
                json!({ "entrypointId": "webhook", "channel": 7, "entrypointConfiguration": {} }),
                CHANNEL,
            ),
            (
                json!({ "entrypointId": "webhook", "entrypointConfiguration": { "channel": "a" } }),
                "consumerConfiguration.entrypointConfiguration.channel",
            ),
            (json!({ "entrypointId": "webhook" }), REQUEST_PREFIX),
            (
                json!({ "entrypointId": "webhook", "entrypointConfiguration": {}, "x": 1 }),
                "consumerConfiguration.x",
            ),
        ] {
            let err = requested(&body(consumer)).unwrap_err();
            assert_eq!(err.errors[0].location, location);
        }
    }

    #[test]
    fn masked_secrets_sent_back_keep_the_stored_ones() {
        let stored = json!({
            "callbackUrl": "http://y/a",
            "auth": { "type": "basic", "username": "u", "password": "p" },
            "secrets": ["whsec_old"],
        });
        let sent = json!({
            "callbackUrl": "HTTP://Y/b?c",
            "auth": { "type": "basic", "username": "u", "password": MASK },
            "secrets": ["whsec_new", MASK],
        });
        let kept = keep_masked(sent, &stored).unwrap();
        assert_eq!(kept["auth"]["password"], "p");
        assert_eq!(kept["secrets"], json!(["whsec_new", "whsec_old"]));
        let nothing_behind = json!({ "secrets": [MASK, MASK] });
        let err = keep_masked(nothing_behind, &stored).unwrap_err();
        assert_eq!(
            err.errors[0].location,
            format!("{REQUEST_PREFIX}.secrets[1]")
        );
        // The stored password is not sent to another host, nor as another user.
        for (url, user) in [
            ("http://z/a", "u"),
            ("http://y:81/a", "u"),
            ("http://y/a", "v"),
        ] {
            let moved = json!({
                "callbackUrl": url,
                "auth": { "type": "basic", "username": user, "password": MASK },
            });
            let err = keep_masked(moved, &stored).unwrap_err();
            assert_eq!(
                err.errors[0].location,
                format!("{REQUEST_PREFIX}.auth.password"),
                "{url} {user}"
            );
        }
        let no_token =
            json!({ "callbackUrl": "http://y/a", "auth": { "type": "bearer", "token": MASK } });
        let err = keep_masked(no_token, &stored).unwrap_err();
        assert_eq!(
            err.errors[0].location,
            format!("{REQUEST_PREFIX}.auth.token")
        );
    }

    #[test]
    fn views_mask_secrets() {
        let mut subscription = json!({ "id": "s", "type": "push", "configuration": {
            "callbackUrl": "http://x/",
            "auth": { "type": "basic", "username": "u", "password": "p" },
            "secrets": ["whsec_a"],
        }});
        view(&mut subscription);
        let config = &subscription["consumerConfiguration"]["entrypointConfiguration"];
        assert_eq!(config["auth"]["password"], MASK);
        assert_eq!(config["auth"]["username"], "u");
        assert_eq!(config["secrets"][0], masked_secrets::masked("whsec_a"));
        assert!(subscription.get("configuration").is_none());
    }
}
