//! An API's `cors:` section (Gravitee v4's listener `cors`, on the API here since tidegate has
//! no listener objects): which web pages on other origins may call the API from a browser.
//!
//! Writing the section turns CORS on (`enabled` defaults to true there; `enabled: false` keeps the
//! settings but turns it off). `allowOrigin: "*"` with `allowCredentials: true` is refused:
//! browsers reject that answer, and echoing any origin instead would let every site on the web
//! make credentialed calls. List the origins (or a pattern) instead.

use serde::Deserialize;

use super::origins::{self, AllowOrigin, RawOrigins};
use super::problem::{join, Problems};

/// Methods a page may use without listing them (CORS-safelisted), and the default list.
const DEFAULT_ALLOW_METHODS: &[&str] = &["GET", "POST"];
/// What pages may send by default: the body type, SSE's resume header, a request id, and the
/// credentials of API-key and JWT plans. Anything else (e.g. headers copied into messages by
/// `requestHeadersToMessage`) must be listed.
const DEFAULT_ALLOW_HEADERS: &[&str] = &[
    "Content-Type",
    "Last-Event-ID",
    "X-Request-Id",
    "Authorization",
    "X-Gravitee-Api-Key",
];
/// What pages may read by default: tidegate's own answer headers (a browser hides every other
/// header but the CORS-safelisted ones from a cross-origin page).
const DEFAULT_EXPOSE_HEADERS: &[&str] = &[
    "X-Message-Id",
    "X-Request-Id",
    "X-Kafka-Partition",
    "X-Kafka-Offset",
    "Retry-After",
    "WWW-Authenticate",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
];

/// `apis[].cors`, as written.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    default,
    expecting = "the cors mapping (enabled, allowOrigin, allowMethods, allowHeaders, exposeHeaders, allowCredentials, maxAge)"
)]
pub(crate) struct RawCors {
    pub enabled: bool,
    pub allow_origin: Option<RawOrigins>,
    pub allow_methods: Vec<String>,
    pub allow_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    pub allow_credentials: bool,
    /// Seconds a browser may cache a preflight answer; -1 (the default) sends no
    /// `Access-Control-Max-Age`.
    pub max_age: i64,
}

impl Default for RawCors {
    fn default() -> Self {
        RawCors {
            enabled: true,
            allow_origin: None,
            allow_methods: owned(DEFAULT_ALLOW_METHODS),
            allow_headers: owned(DEFAULT_ALLOW_HEADERS),
            expose_headers: owned(DEFAULT_EXPOSE_HEADERS),
            allow_credentials: false,
            max_age: -1,
        }
    }
}

fn owned(list: &[&str]) -> Vec<String> {
    list.iter().map(|item| (*item).to_owned()).collect()
}

/// Validated CORS settings of an enabled `cors` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsConfig {
    /// `allowOrigin` (required): the origins whose pages may call the API.
    pub allow_origin: AllowOrigin,
    /// Methods a preflight may ask for (GET, HEAD and POST are always allowed, as browsers
    /// send them without asking).
    pub allow_methods: Vec<String>,
    /// Request headers a page may send; `None` = `*`, any.
    pub allow_headers: Option<Vec<String>>,
    /// Answer headers a page may read (may be `*` when credentials are off).
    pub expose_headers: Vec<String>,
    /// `allowCredentials` (default `false`): pages may send cookies and HTTP authentication
    /// (`Access-Control-Allow-Credentials: true`); never with `allowOrigin: "*"`.
    pub allow_credentials: bool,
    /// `Access-Control-Max-Age`, seconds; `None` = not sent.
    pub max_age: Option<u64>,
}

/// Validates a `cors` section; `None` when it is disabled.
pub(crate) fn cors(raw: RawCors, loc: &str, p: &mut Problems) -> Option<CorsConfig> {
    let origin_loc = join(loc, "allowOrigin");
    let allow_origin = match raw.allow_origin {
        Some(origins) => origins::allow_origin(&origins.into_list(), &origin_loc, p),
        None if raw.enabled => {
            p.push(
                origin_loc,
                "required when CORS is enabled: the origins of the pages that may call this API, e.g. [\"https://app.example.com\"]",
            );
            return None;
        }
        None => return None,
    };
    if raw.allow_credentials && allow_origin.any {
        p.push(
            join(loc, "allowOrigin"),
            "\"*\" cannot be combined with allowCredentials: true (browsers refuse that answer); list the origins, or a pattern",
        );
    }
    tokens(&raw.allow_methods, &join(loc, "allowMethods"), "method", p);
    let any_header = raw.allow_headers.iter().any(|name| name.trim() == "*");
    let headers_loc = join(loc, "allowHeaders");
    tokens(&raw.allow_headers, &headers_loc, "header name", p);
    let expose_loc = join(loc, "exposeHeaders");
    tokens(&raw.expose_headers, &expose_loc, "header name", p);
    if raw.allow_credentials && raw.expose_headers.iter().any(|name| name.trim() == "*") {
        p.push(
            expose_loc,
            "\"*\" means a header named '*' to browsers when allowCredentials is true; list the headers",
        );
    }
    let max_age = match raw.max_age {
        -1 => None,
        seconds => match u64::try_from(seconds) {
            Ok(seconds) => Some(seconds),
            Err(_) => {
                p.push(
                    join(loc, "maxAge"),
                    format!("must be -1 (not sent) or a number of seconds, got {seconds}"),
                );
                None
            }
        },
    };
    raw.enabled.then(|| CorsConfig {
        allow_origin,
        allow_methods: trimmed(&raw.allow_methods),
        allow_headers: (!any_header).then(|| trimmed(&raw.allow_headers)),
        expose_headers: trimmed(&raw.expose_headers),
        allow_credentials: raw.allow_credentials,
        max_age,
    })
}

fn trimmed(list: &[String]) -> Vec<String> {
    list.iter().map(|item| item.trim().to_owned()).collect()
}

/// Reports every entry that is not an HTTP token (RFC 9110 §5.6.2), or `*`.
fn tokens(list: &[String], loc: &str, what: &str, p: &mut Problems) {
    for (index, item) in list.iter().enumerate() {
        let item = item.trim();
        let ok = item == "*" || (!item.is_empty() && item.bytes().all(is_token_byte));
        if !ok {
            p.push(
                format!("{loc}[{index}]"),
                format!("'{item}' is not a {what} (letters, digits and !#$%&'*+-.^_`|~ only)"),
            );
        }
    }
}

/// RFC 9110 `tchar`.
pub(crate) fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}
