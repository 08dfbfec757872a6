//! One authenticated call to a route: the request, the path's parameters, who calls, and the
//! request-side rules every handler shares (a JSON body, `If-Match`, the version in the body).

use serde_json::Value;

use super::auth::Tokens;
use crate::admin::{Reply, Request};
use crate::manage::service::{Actor, Expected, Service, ServiceError};

/// A call to a route.
pub(super) struct Call<'a> {
    /// Where the lifecycle rules live; handlers only translate between HTTP and it.
    pub(super) service: &'a Service,
    /// The request as the admin server read it (head and bounded body).
    pub(super) request: &'a Request,
    /// The values of the route's `{name}` segments, in template order.
    pub(super) params: Vec<(&'static str, String)>,
    /// Who calls, recorded in audit events: the token's name.
    pub(super) actor: Actor,
    /// The management tokens (for the token routes).
    pub(super) tokens: &'a Tokens,
}

impl Call<'_> {
    /// The value of the path's `{name}` segment (the router matched it, so it is there).
    pub(super) fn param(&self, name: &str) -> &str {
        self.params
            .iter()
            .find(|(param, _)| *param == name)
            .map_or("", |(_, value)| value.as_str())
    }

    /// The path's `{name}` as a number (a revision), or 400.
    pub(super) fn number_param(&self, name: &str) -> Result<u64, ServiceError> {
        self.param(name).parse().map_err(|_| {
            ServiceError::invalid(
                "path.invalid",
                format!(
                    "`{name}` must be a whole number, got '{}'",
                    self.param(name)
                ),
            )
        })
    }

    /// The body as JSON (`json_body`).
    pub(super) fn json(&self, optional: bool) -> Result<Value, ServiceError> {
        json_body(self.request, optional)
    }

    /// The version a write expects: `If-Match` and the body's `version`.
    pub(super) fn expected(&self, body: Option<&Value>) -> Result<Expected, ServiceError> {
        let if_match = match self.request.head.header_str("if-match") {
            None => None,
            Some(text) if text.trim() == "*" => None,
            Some(text) => Some(parse_etag(text).ok_or_else(|| {
                ServiceError::invalid(
                    "header.if_match",
                    format!("If-Match must be an ETag this API sent, such as \"3\"; got {text:?}"),
                )
            })?),
        };
        let body_version = match body.and_then(|body| body.get("version")) {
            None | Some(Value::Null) => None,
            Some(version) => Some(version.as_u64().ok_or_else(|| {
                ServiceError::invalid(
                    "body.version",
                    "`version` must be a whole number (the ETag's value)",
                )
            })?),
        };
        Ok(Expected {
            if_match,
            body_version,
        })
    }
}

/// `request`'s body as JSON: 415 unless `Content-Type` is JSON, 400 (with the position) unless
/// it parses. An empty body reads as `{}` when `optional`.
pub(super) fn json_body(request: &Request, optional: bool) -> Result<Value, ServiceError> {
    if request.body.is_empty() {
        if optional {
            return Ok(Value::Object(Default::default()));
        }
        return Err(ServiceError::invalid(
            "body.missing",
            "this route needs a JSON body (Content-Type: application/json)",
        ));
    }
    if !is_json(request.head.header_str("content-type")) {
        return Err(ServiceError::new(
            crate::manage::service::ErrorKind::UnsupportedMediaType,
            "body.media_type",
            "send the body as JSON with `Content-Type: application/json`",
        ));
    }
    serde_json::from_slice(&request.body).map_err(|err| {
        ServiceError::invalid(
            "body.invalid_json",
            format!(
                "the body is not valid JSON: {} (line {} column {})",
                err_text(&err),
                err.line(),
                err.column()
            ),
        )
    })
}

/// `ETag: "<version>"`.
pub(super) fn etag(version: u64) -> String {
    format!("\"{version}\"")
}

/// A JSON answer with the document's ETag.
pub(super) fn with_etag(status: u16, body: &Value, version: u64) -> Reply {
    Reply::json(status, body).with_header("ETag", etag(version))
}

/// `{"data": [...]}`.
pub(super) fn data(items: Vec<Value>) -> Reply {
    Reply::json(200, &serde_json::json!({ "data": items }))
}

/// `"3"`, `W/"3"` or `3` → 3.
fn parse_etag(text: &str) -> Option<u64> {
    let text = text.trim();
    let text = text.strip_prefix("W/").unwrap_or(text);
    let text = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    text.parse().ok()
}

/// `application/json`, with parameters, or any `+json` type.
fn is_json(content_type: Option<&str>) -> bool {
    let Some(value) = content_type else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// serde_json's message without its own " at line L column C" tail (said once, by us).
fn err_text(err: &serde_json::Error) -> String {
    let text = err.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_and_media_types() {
        assert_eq!(parse_etag("\"7\""), Some(7));
        assert_eq!(parse_etag("W/\"7\""), Some(7));
        assert_eq!(parse_etag("\"x\""), None);
        assert!(is_json(Some("application/json; charset=utf-8")));
        assert!(is_json(Some("application/merge-patch+json")));
        assert!(!is_json(Some("text/plain")));
        assert!(!is_json(None));
    }
}
