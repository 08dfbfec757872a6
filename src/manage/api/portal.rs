//! The developer portal's routes (`/portal/v1/…`), read without a token: the published public
//! APIs, one of them, and a subscription request. Served by the management API's listener and,
//! on the console's origin, by the console's (src/console).
//!
//! A subscription request needs no sign-in, so it cannot name an existing application (anyone
//! could then take keys for someone else's): each request creates an application of its own,
//! `portal-…`, and subscribes it. The clear API key (auto-validated API key plans) is in the
//! answer, once; that key is the application's credential from then on. Applications made this
//! way are bounded (`MAX_PORTAL_APPLICATIONS`) so an anonymous caller cannot fill the store.

use serde_json::{json, Value};

use super::call::Call;
use super::errors::{error_reply, reply};
use crate::admin::{Reply, Request};
use crate::codec::http_head::Method;
use crate::manage::service::{Actor, ErrorKind, Service, ServiceError};

/// The prefix of the portal's routes.
pub const PORTAL_BASE: &str = "/portal/v1/apis";
/// Applications the portal may create; past it, requests are refused until an administrator
/// removes some (`DELETE …/applications/{id}`).
pub const MAX_PORTAL_APPLICATIONS: usize = 1000;
/// The id prefix of the applications the portal creates.
const PORTAL_APPLICATION_PREFIX: &str = "portal-";
/// Longest application name a portal caller may give.
const MAX_APPLICATION_NAME_CHARS: usize = 100;

/// Answers a `/portal/…` request.
pub fn handle(service: &Service, request: &Request) -> Reply {
    let path = request.head.path();
    let rest = path
        .strip_prefix(PORTAL_BASE)
        .map(|rest| rest.trim_start_matches('/'));
    let segments: Vec<&str> = match rest {
        Some("") => Vec::new(),
        Some(rest) => rest.split('/').collect(),
        None => return not_found(path),
    };
    let method = request.head.method();
    let answer = match (method, segments.as_slice()) {
        (Method::Get, []) => service
            .portal_apis()
            .map(|apis| Reply::json(200, &json!({ "data": apis }))),
        (Method::Get, [id]) => service.portal_api(id).map(|api| Reply::json(200, &api)),
        (Method::Post, [id, "subscriptions"]) => subscribe(service, request, id),
        (_, []) | (_, [_]) => return wrong_method("GET"),
        (_, [_, "subscriptions"]) => return wrong_method("POST"),
        _ => return not_found(path),
    };
    answer.unwrap_or_else(|err| reply(&err))
}

/// Creates the caller's application and its subscription to `plan` of API `api`.
fn subscribe(service: &Service, request: &Request, api: &str) -> Result<Reply, ServiceError> {
    let actor = Actor("portal".to_owned());
    let call = Call {
        service,
        request,
        params: Vec::new(),
        actor: Actor("portal".to_owned()),
    };
    let body = call.json(false)?;
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
    let made = service
        .list_applications()?
        .iter()
        .filter(|app| {
            app["id"]
                .as_str()
                .is_some_and(|id| id.starts_with(PORTAL_APPLICATION_PREFIX))
        })
        .count();
    if made >= MAX_PORTAL_APPLICATIONS {
        return Err(ServiceError::new(
            ErrorKind::Conflict,
            "portal.applications_full",
            format!("the portal has created {made} applications, the most it may; ask an administrator for access"),
        ));
    }
    let id = format!("{PORTAL_APPLICATION_PREFIX}{}", random_hex()?);
    service.create_application(json!({ "id": id, "name": name }), &actor)?;
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
