//! The route table: every method and path template of the management API, each with its
//! handler. The same table answers 404 (no such path) and 405 (with `Allow`), and is what the
//! OpenAPI document is checked against.

use super::call::Call;
use super::portal::PORTAL_ROUTES;
use super::{apis, applications, plans, subscriptions, tokens};
use crate::admin::Reply;
use crate::manage::service::ServiceError;

/// A handler: answers one call.
pub(super) type HandlerFn = fn(&Call<'_>) -> Result<Reply, ServiceError>;

/// One route: `method` on the path `template` (`{name}` matches one segment).
pub(super) struct Route {
    pub(super) method: &'static str,
    pub(super) template: &'static str,
    pub(super) handler: HandlerFn,
}

/// The prefix of every environment's routes.
pub(super) const ENV_BASE: &str = "/management/v2/environments/{envId}";
/// The OpenAPI document's path (served without authentication).
pub(super) const OPENAPI_PATH: &str = "/management/v2/openapi.json";

macro_rules! routes {
    ($($method:literal $path:literal => $handler:expr,)*) => {
        &[$(Route { method: $method, template: concat!("/management/v2/environments/{envId}", $path), handler: $handler },)*]
    };
}

/// Every route under `ENV_BASE`.
static ROUTES: &[Route] = routes! {
    "GET" "/apis" => apis::list,
    "POST" "/apis" => apis::create,
    "GET" "/apis/{apiId}" => apis::get,
    "PUT" "/apis/{apiId}" => apis::update,
    "DELETE" "/apis/{apiId}" => apis::delete,
    "GET" "/apis/{apiId}/deployments" => apis::deployments,
    "POST" "/apis/{apiId}/deployments" => apis::deploy,
    "GET" "/apis/{apiId}/deployments/{revision}" => apis::deployment,
    "POST" "/apis/{apiId}/deployments/{revision}/_rollback" => apis::rollback,
    "POST" "/apis/{apiId}/_start" => apis::start,
    "POST" "/apis/{apiId}/_stop" => apis::stop,
    "POST" "/apis/{apiId}/_publish" => apis::publish,
    "POST" "/apis/{apiId}/_unpublish" => apis::unpublish,
    "POST" "/apis/{apiId}/_deprecate" => apis::deprecate,
    "POST" "/apis/{apiId}/_archive" => apis::archive,
    "POST" "/apis/{apiId}/_make-public" => apis::make_public,
    "POST" "/apis/{apiId}/_make-private" => apis::make_private,
    "GET" "/apis/{apiId}/plans" => plans::list,
    "POST" "/apis/{apiId}/plans" => plans::create,
    "GET" "/apis/{apiId}/plans/{planId}" => plans::get,
    "PUT" "/apis/{apiId}/plans/{planId}" => plans::update,
    "DELETE" "/apis/{apiId}/plans/{planId}" => plans::delete,
    "POST" "/apis/{apiId}/plans/{planId}/_publish" => plans::publish,
    "POST" "/apis/{apiId}/plans/{planId}/_deprecate" => plans::deprecate,
    "POST" "/apis/{apiId}/plans/{planId}/_close" => plans::close,
    "GET" "/apis/{apiId}/subscriptions" => subscriptions::list,
    "POST" "/apis/{apiId}/subscriptions" => subscriptions::create,
    "GET" "/apis/{apiId}/subscriptions/{subscriptionId}" => subscriptions::get,
    "PUT" "/apis/{apiId}/subscriptions/{subscriptionId}" => subscriptions::update,
    "POST" "/apis/{apiId}/subscriptions/{subscriptionId}/_accept" => subscriptions::accept,
    "POST" "/apis/{apiId}/subscriptions/{subscriptionId}/_reject" => subscriptions::reject,
    "POST" "/apis/{apiId}/subscriptions/{subscriptionId}/_pause" => subscriptions::pause,
    "POST" "/apis/{apiId}/subscriptions/{subscriptionId}/_resume" => subscriptions::resume,
    "POST" "/apis/{apiId}/subscriptions/{subscriptionId}/_close" => subscriptions::close,
    "GET" "/apis/{apiId}/subscriptions/{subscriptionId}/api-keys" => subscriptions::keys,
    "POST" "/apis/{apiId}/subscriptions/{subscriptionId}/api-keys/_renew" => subscriptions::renew_key,
    "POST" "/apis/{apiId}/subscriptions/{subscriptionId}/api-keys/{keyId}/_revoke" => subscriptions::revoke_key,
    "GET" "/applications" => applications::list,
    "POST" "/applications" => applications::create,
    "GET" "/applications/{applicationId}" => applications::get,
    "PUT" "/applications/{applicationId}" => applications::update,
    "DELETE" "/applications/{applicationId}" => applications::delete,
    "GET" "/audit" => applications::audit,
    "GET" "/tokens" => tokens::list,
    "POST" "/tokens" => tokens::create,
    "DELETE" "/tokens/{tokenName}" => tokens::revoke,
};

/// Every method and template served, the OpenAPI document's and the developer portal's
/// included: what the document must list, no more, no less.
pub fn route_table() -> Vec<(&'static str, &'static str)> {
    let mut table: Vec<_> = ROUTES.iter().map(|r| (r.method, r.template)).collect();
    table.extend(PORTAL_ROUTES.iter().map(|r| (r.method, r.template)));
    table.push(("GET", OPENAPI_PATH));
    table
}

/// What a path resolves to.
pub(super) enum Resolved {
    /// A route and the values of its `{name}` segments, in order.
    Found(&'static Route, Vec<(&'static str, String)>),
    /// The path exists, not for this method: the methods that work.
    WrongMethod(String),
    /// No route has this path, whatever the method (404).
    NotFound,
}

/// Finds the route for `method` on `path`.
pub(super) fn resolve(method: &str, path: &str) -> Resolved {
    let mut allowed: Vec<&str> = Vec::new();
    for route in ROUTES {
        let Some(params) = match_template(route.template, path) else {
            continue;
        };
        if route.method == method {
            return Resolved::Found(route, params);
        }
        if !allowed.contains(&route.method) {
            allowed.push(route.method);
        }
    }
    if allowed.is_empty() {
        Resolved::NotFound
    } else {
        Resolved::WrongMethod(allowed.join(", "))
    }
}

/// The `{name}` values when `path` matches `template` segment by segment (percent-decoded).
pub(super) fn match_template(
    template: &'static str,
    path: &str,
) -> Option<Vec<(&'static str, String)>> {
    let mut params = Vec::new();
    let mut segments = path.split('/');
    for expected in template.split('/') {
        let segment = segments.next()?;
        match expected
            .strip_prefix('{')
            .and_then(|rest| rest.strip_suffix('}'))
        {
            Some(name) if !segment.is_empty() => params.push((name, percent_decode(segment)?)),
            Some(_) => return None,
            None if expected == segment => {}
            None => return None,
        }
    }
    segments.next().is_none().then_some(params)
}

/// `%41` → `A`; `None` for a broken escape or bytes that are not UTF-8.
fn percent_decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = segment.get(index + 1..index + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            index += 3;
        } else {
            out.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_segment_by_segment() {
        let base = "/management/v2/environments/DEFAULT";
        let Resolved::Found(route, params) = resolve("POST", &format!("{base}/apis/a%2Db/_start"))
        else {
            panic!("no match");
        };
        assert_eq!(
            route.template,
            concat!(
                "/management/v2/environments/{envId}",
                "/apis/{apiId}/_start"
            )
        );
        assert_eq!(
            params,
            vec![("envId", "DEFAULT".to_owned()), ("apiId", "a-b".to_owned())]
        );
        assert!(
            matches!(resolve("PATCH", &format!("{base}/apis/x")), Resolved::WrongMethod(allow) if allow == "GET, PUT, DELETE")
        );
        assert!(matches!(
            resolve("GET", &format!("{base}/apis/x/nothing")),
            Resolved::NotFound
        ));
        assert!(matches!(
            resolve("GET", &format!("{base}/apis/")),
            Resolved::NotFound
        ));
    }
}
