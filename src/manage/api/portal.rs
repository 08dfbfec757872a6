//! The developer portal's routes (`/portal/v1/…`), read without a token: the published public
//! APIs, one of them, and a subscription request. Served by the management API's listener and,
//! on the console's origin, by the console's (src/console).
//!
//! A subscription request needs no sign-in, so it cannot name an existing application (anyone
//! could then take keys for someone else's): each request creates an application of its own,
//! `portal-…`, and subscribes it. The clear API key (auto-validated API key plans) is in the
//! answer, once; that key is the application's credential from then on. Applications made this
//! way are bounded in all (`management.portal.maxApplications`, counted in the store transaction
//! that creates one) and per client address (`writesPerMinute`, portal_limit.rs), so an
//! anonymous caller can neither fill the store nor take every application there is to make.

use std::time::Instant;

use serde_json::{json, Value};

use super::call::json_body;
use super::errors::{error_reply, reply};
use super::portal_limit::{retry_after_seconds, PortalWriteLimit};
use super::router::match_template;
use crate::admin::{Reply, Request};
use crate::config::PortalConfig;
use crate::manage::service::{Actor, ErrorKind, Service, ServiceError};
use crate::manage::store::Bound;

/// The prefix of the portal's routes.
pub(super) const PORTAL_BASE: &str = "/portal/v1/apis";
/// The id prefix of the applications the portal creates.
const PORTAL_APPLICATION_PREFIX: &str = "portal-";
/// Longest application name a portal caller may give.
const MAX_APPLICATION_NAME_CHARS: usize = 100;

/// The portal's bounds on anonymous writes, and their counters.
pub(super) struct Portal {
    /// Applications the portal may create (`management.portal.maxApplications`).
    max_applications: usize,
    /// Subscription requests per client address (`management.portal.writesPerMinute`).
    pub writes: PortalWriteLimit,
}

impl Portal {
    pub(super) fn new(config: PortalConfig) -> Portal {
        Portal {
            max_applications: config.max_applications,
            writes: PortalWriteLimit::new(config.writes_per_minute),
        }
    }
}

/// A portal handler: the service, the portal's bounds, the request, and the `{apiId}`.
type PortalFn = fn(&Service, &Portal, &Request, &str) -> Result<Reply, ServiceError>;

/// One portal route; the OpenAPI document lists these with the management routes.
pub(super) struct PortalRoute {
    pub method: &'static str,
    pub template: &'static str,
    handler: PortalFn,
}

/// Every portal route.
pub(super) static PORTAL_ROUTES: &[PortalRoute] = &[
    PortalRoute {
        method: "GET",
        template: "/portal/v1/apis",
        handler: |service, _, _, _| {
            let apis = service.portal_apis()?;
            Ok(Reply::json(200, &json!({ "data": apis })))
        },
    },
    PortalRoute {
        method: "GET",
        template: "/portal/v1/apis/{apiId}",
        handler: |service, _, _, id| Ok(Reply::json(200, &service.portal_api(id)?)),
    },
    PortalRoute {
        method: "POST",
        template: "/portal/v1/apis/{apiId}/subscriptions",
        handler: subscribe,
    },
];

/// Answers a `/portal/…` request; `method` is the request's method name.
pub(super) fn handle(service: &Service, portal: &Portal, request: &Request, method: &str) -> Reply {
    let path = request.head.path();
    let mut allowed: Vec<&str> = Vec::new();
    for route in PORTAL_ROUTES {
        let Some(params) = match_template(route.template, path) else {
            continue;
        };
        if route.method != method {
            allowed.push(route.method);
            continue;
        }
        let id = params.first().map_or("", |(_, value)| value.as_str());
        return (route.handler)(service, portal, request, id).unwrap_or_else(|err| reply(&err));
    }
    if allowed.is_empty() {
        not_found(path)
    } else {
        wrong_method(&allowed.join(", "))
    }
}

/// Creates the caller's application and its subscription to `plan` of API `api`: 429 past the
/// client's writes per minute, 409 once the portal made `maxApplications`.
fn subscribe(
    service: &Service,
    portal: &Portal,
    request: &Request,
    api: &str,
) -> Result<Reply, ServiceError> {
    if let Err(wait) = portal.writes.admit(request.peer, Instant::now()) {
        let seconds = retry_after_seconds(wait);
        return Ok(error_reply(
            429,
            "portal.rate_limited",
            &format!("too many subscription requests from your address; retry in {seconds} s"),
            &[],
        )
        .with_header("Retry-After", seconds.to_string()));
    }
    let actor = Actor(crate::config::management::actors::PORTAL.to_owned());
    let body = json_body(request, false)?;
    let name = body
        .get("application")
        .and_then(Value::as_str)
        .map(str::trim)
        .unwrap_or_default();
    let plan = body.get("plan").and_then(Value::as_str).unwrap_or_default();
    let mut errors = Vec::new();
    if name.is_empty() || name.chars().count() > MAX_APPLICATION_NAME_CHARS {
        errors.push(json!({ "location": "application", "message": format!("name your application (1 to {MAX_APPLICATION_NAME_CHARS} characters)") }));
    }
    // Only what the portal shows may be subscribed to: a published, public API's published,
    // credentialed plans.
    let listed = service.portal_api(api)?;
    let offered = listed["plans"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|p| p["id"] == plan && p["security"] != "keyless");
    if !offered {
        errors.push(json!({ "location": "plan", "message": format!("'{plan}' is not a plan of this API you can subscribe to; choose one of its published API key plans") }));
    }
    if !errors.is_empty() {
        return Ok(error_reply(
            400,
            "portal.subscription_invalid",
            "the subscription request has problems, listed in `errors`",
            &errors,
        ));
    }
    let id = format!("{PORTAL_APPLICATION_PREFIX}{}", random_hex()?);
    let bound = Bound {
        prefix: PORTAL_APPLICATION_PREFIX,
        max: portal.max_applications as u64,
    };
    service.create_application_within(json!({ "id": id, "name": name }), &actor, Some(bound))?;
    let subscription = service.subscribe(api, &id, plan, &Value::Null, &actor)?;
    let mut answer = json!({
        "id": subscription["id"],
        "application": id,
        "plan": plan,
        "status": subscription["status"],
    });
    if let Some(key) = subscription["apiKey"]["key"].as_str() {
        answer["key"] = json!(key);
    }
    Ok(Reply::json(201, &answer))
}

fn not_found(path: &str) -> Reply {
    error_reply(
        404,
        "route.not_found",
        &format!("no portal route {path}; the portal serves GET {PORTAL_BASE}, GET {PORTAL_BASE}/{{id}} and POST {PORTAL_BASE}/{{id}}/subscriptions"),
        &[],
    )
}

fn wrong_method(allow: &str) -> Reply {
    error_reply(405, "method.not_allowed", &format!("use {allow}"), &[]).with_header("Allow", allow)
}

/// 8 random bytes as hex: portal application ids must not collide or be guessed.
fn random_hex() -> Result<String, ServiceError> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 8];
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
