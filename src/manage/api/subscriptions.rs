//! Handlers of `/apis/{apiId}/subscriptions/…` and their API keys.

use serde_json::Value;

use super::call::{data, with_etag, Call};
use crate::admin::Reply;
use crate::manage::service::{ServiceError, SubscriptionAction};

type Answer = Result<Reply, ServiceError>;

pub(super) fn list(call: &Call<'_>) -> Answer {
    Ok(data(call.service.list_subscriptions(call.param("apiId"))?))
}

pub(super) fn get(call: &Call<'_>) -> Answer {
    let view = call
        .service
        .get_subscription(call.param("apiId"), call.param("subscriptionId"))?;
    Ok(match view.get("version").and_then(Value::as_u64) {
        Some(version) => with_etag(200, &view, version),
        None => Reply::json(200, &view),
    })
}

/// `PUT`: Gravitee v2's UpdateSubscription (`consumerConfiguration`, `startingAt`, `endingAt`).
pub(super) fn update(call: &Call<'_>) -> Answer {
    let body = call.json(false)?;
    let expected = call.expected(Some(&body))?;
    let (view, version) = call.service.update_subscription(
        call.param("apiId"),
        call.param("subscriptionId"),
        &body,
        expected,
        &call.actor,
    )?;
    Ok(with_etag(200, &view, version))
}

pub(super) fn create(call: &Call<'_>) -> Answer {
    let body = call.json(false)?;
    let field = |name: &str| {
        body.get(name).and_then(Value::as_str).ok_or_else(|| {
            ServiceError::invalid(
                "body.subscription",
                format!("send `{{\"application\": \"…\", \"plan\": \"…\"}}` (with `consumerConfiguration` for a push subscription); `{name}` is missing"),
            )
        })
    };
    let view = call.service.subscribe(
        call.param("apiId"),
        field("application")?,
        field("plan")?,
        &body,
        &call.actor,
    )?;
    Ok(Reply::json(201, &view))
}

pub(super) fn accept(call: &Call<'_>) -> Answer {
    action(call, SubscriptionAction::Accept)
}

pub(super) fn reject(call: &Call<'_>) -> Answer {
    action(call, SubscriptionAction::Reject)
}

pub(super) fn pause(call: &Call<'_>) -> Answer {
    action(call, SubscriptionAction::Pause)
}

pub(super) fn resume(call: &Call<'_>) -> Answer {
    action(call, SubscriptionAction::Resume)
}

pub(super) fn close(call: &Call<'_>) -> Answer {
    action(call, SubscriptionAction::Close)
}

pub(super) fn keys(call: &Call<'_>) -> Answer {
    Ok(data(call.service.api_keys(
        call.param("apiId"),
        call.param("subscriptionId"),
    )?))
}

pub(super) fn renew_key(call: &Call<'_>) -> Answer {
    let shown = call.service.renew_key(
        call.param("apiId"),
        call.param("subscriptionId"),
        &call.actor,
    )?;
    Ok(Reply::json(201, &shown))
}

pub(super) fn revoke_key(call: &Call<'_>) -> Answer {
    call.service.revoke_key(
        call.param("apiId"),
        call.param("subscriptionId"),
        call.param("keyId"),
        &call.actor,
    )?;
    Ok(Reply::no_content())
}

fn action(call: &Call<'_>, action: SubscriptionAction) -> Answer {
    let view = call.service.subscription_action(
        call.param("apiId"),
        call.param("subscriptionId"),
        action,
        &call.actor,
    )?;
    Ok(Reply::json(200, &view))
}
