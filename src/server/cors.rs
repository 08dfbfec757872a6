//! CORS and `Origin` checks, decided from the request head alone, before the body is read and
//! before anything is published or subscribed.
//!
//! A request with no `Origin` is not a cross-origin browser request and is left alone. With an
//! API's CORS on, a preflight (`OPTIONS` + `Access-Control-Request-Method`) is answered here (204
//! or 403); any other request from an allowed origin goes on and every answer to it (data, 202,
//! stream head, error) carries `Access-Control-Allow-Origin`, so the page can read even an error;
//! a request from any other origin is refused 403.
//!
//! WebSocket upgrades are not CORS (browsers do not preflight them and ignore CORS answers): the
//! websocket entrypoint's Origin allow-list refuses a page from another origin instead.

use crate::codec::http_head::{Method, RequestHead};
use crate::config::{AllowOrigin, CorsConfig};

/// Most header names a preflight may ask for; a page needs a handful. Beyond it the preflight is
/// refused rather than each name compared with the allow-list.
pub const MAX_REQUESTED_HEADERS: usize = 64;
/// Longest `Origin` value looked at (a scheme, a host and a port).
const MAX_ORIGIN_BYTES: usize = 1024;

/// Answer headers: static names, values made per request.
pub type AnswerHeaders = Vec<(&'static str, String)>;

/// What CORS makes of a request.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// No `Origin`, or the API has CORS off: served as usual.
    NotCors,
    /// A preflight that is allowed: answer 204 with these headers.
    Preflight(AnswerHeaders),
    /// Refused with 403 and this reason, before the body is read.
    Refused(&'static str),
    /// An allowed cross-origin request: every answer to it carries these headers.
    Allowed(AnswerHeaders),
}

/// Refusal reasons (the 403 body).
const MALFORMED_ORIGIN: &str =
    "the Origin header is malformed (one scheme://host[:port] value expected)";
const ORIGIN_NOT_ALLOWED: &str =
    "the request's Origin is not allowed by this API's cors.allowOrigin";
const METHOD_NOT_ALLOWED: &str =
    "CORS preflight refused: the requested method is not in this API's cors.allowMethods";
const HEADER_NOT_ALLOWED: &str =
    "CORS preflight refused: a requested header is not in this API's cors.allowHeaders";
const TOO_MANY_HEADERS: &str =
    "CORS preflight refused: Access-Control-Request-Headers names too many headers (at most 64)";
const MALFORMED_REQUEST_HEADERS: &str =
    "CORS preflight refused: Access-Control-Request-Method/-Headers is malformed";

/// Methods browsers send without a preflight asking for them (Fetch's CORS-safelisted methods).
const SAFELISTED_METHODS: &[&str] = &["GET", "HEAD", "POST"];

/// Decides CORS for `head` on an API whose CORS settings are `cors`.
pub fn check(cors: Option<&CorsConfig>, head: &RequestHead) -> Verdict {
    let Some(cors) = cors else {
        return Verdict::NotCors;
    };
    let origin = match origin(head) {
        Ok(None) => return Verdict::NotCors,
        Ok(Some(origin)) => origin,
        Err(reason) => return Verdict::Refused(reason),
    };
    if !cors.allow_origin.allows(origin) {
        return Verdict::Refused(ORIGIN_NOT_ALLOWED);
    }
    let mut headers = allow_origin_headers(cors, origin);
    let requested_method = head.header("access-control-request-method");
    let (true, Some(requested_method)) = (*head.method() == Method::Options, requested_method)
    else {
        if !cors.expose_headers.is_empty() {
            headers.push((
                "Access-Control-Expose-Headers",
                cors.expose_headers.join(", "),
            ));
        }
        return Verdict::Allowed(headers);
    };
    match preflight(cors, head, requested_method) {
        Ok(extra) => {
            headers.extend(extra);
            Verdict::Preflight(headers)
        }
        Err(reason) => Verdict::Refused(reason),
    }
}

/// Whether a WebSocket upgrade's `Origin` passes `allowed` (`None` = any). An upgrade without
/// `Origin` passes: browsers always send one, so its absence means a non-browser client, which
/// no other site can drive (cross-site WebSocket hijacking needs the victim's browser).
pub fn websocket_origin(
    allowed: Option<&AllowOrigin>,
    head: &RequestHead,
) -> Result<(), &'static str> {
    let Some(allowed) = allowed else {
        return Ok(());
    };
    match origin(head)? {
        None => Ok(()),
        Some(origin) if allowed.allows(origin) => Ok(()),
        Some(_) => Err("the page's Origin is not allowed to open a WebSocket on this API (websocket allowedOrigins)"),
    }
}

/// The request's one `Origin` value, if any; several, or one that is not visible ASCII, is
/// malformed.
fn origin(head: &RequestHead) -> Result<Option<&str>, &'static str> {
    let mut values = head.headers_named("origin");
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(MALFORMED_ORIGIN);
    }
    let text = std::str::from_utf8(first)
        .map_err(|_| MALFORMED_ORIGIN)?
        .trim();
    let visible = !text.is_empty()
        && text.len() <= MAX_ORIGIN_BYTES
        && text.bytes().all(|byte| byte.is_ascii_graphic());
    if visible {
        Ok(Some(text))
    } else {
        Err(MALFORMED_ORIGIN)
    }
}

/// `Access-Control-Allow-Origin` (the origin itself, or `*` when any is allowed: a credentialed
/// `*` is refused at load), with `Vary: Origin` when the answer depends on it, and
/// `-Allow-Credentials`.
fn allow_origin_headers(cors: &CorsConfig, origin: &str) -> AnswerHeaders {
    let mut headers = Vec::with_capacity(6);
    if cors.allow_origin.any {
        headers.push(("Access-Control-Allow-Origin", "*".to_owned()));
    } else {
        headers.push(("Access-Control-Allow-Origin", origin.to_owned()));
        headers.push(("Vary", "Origin".to_owned()));
    }
    if cors.allow_credentials {
        headers.push(("Access-Control-Allow-Credentials", "true".to_owned()));
    }
    headers
}

/// The preflight's own headers, or why it is refused.
fn preflight(
    cors: &CorsConfig,
    head: &RequestHead,
    requested_method: &[u8],
) -> Result<AnswerHeaders, &'static str> {
    let method = std::str::from_utf8(requested_method)
        .ok()
        .map(str::trim)
        .filter(|method| is_token(method))
        .ok_or(MALFORMED_REQUEST_HEADERS)?;
    let method_ok = SAFELISTED_METHODS.contains(&method)
        || cors
            .allow_methods
            .iter()
            .any(|allowed| allowed == "*" || allowed.eq_ignore_ascii_case(method));
    if !method_ok {
        return Err(METHOD_NOT_ALLOWED);
    }
    let mut requested = Vec::new();
    for field in head.headers_named("access-control-request-headers") {
        let field = std::str::from_utf8(field).map_err(|_| MALFORMED_REQUEST_HEADERS)?;
        for name in field
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
        {
            if requested.len() == MAX_REQUESTED_HEADERS {
                return Err(TOO_MANY_HEADERS);
            }
            if !is_token(name) {
                return Err(MALFORMED_REQUEST_HEADERS);
            }
            requested.push(name);
        }
    }
    let allowed_headers = match &cors.allow_headers {
        // `*`: whatever was asked for (a credentialed preflight reads `*` as a header name).
        None => requested.join(", "),
        Some(allowed) => {
            let listed = |name: &&str| allowed.iter().any(|a| a.eq_ignore_ascii_case(name));
            if !requested.iter().all(listed) {
                return Err(HEADER_NOT_ALLOWED);
            }
            allowed.join(", ")
        }
    };
    let mut headers = Vec::with_capacity(4);
    let methods = if cors.allow_methods.is_empty() {
        method.to_owned()
    } else {
        cors.allow_methods.join(", ")
    };
    headers.push(("Access-Control-Allow-Methods", methods));
    if !allowed_headers.is_empty() {
        headers.push(("Access-Control-Allow-Headers", allowed_headers));
    }
    if let Some(seconds) = cors.max_age {
        headers.push(("Access-Control-Max-Age", seconds.to_string()));
    }
    headers.push((
        "Vary",
        "Access-Control-Request-Method, Access-Control-Request-Headers".to_owned(),
    ));
    Ok(headers)
}

fn is_token(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(crate::config::is_token_byte)
}

#[cfg(test)]
mod tests;
