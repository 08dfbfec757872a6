//! What a handler of the gateway's own HTTP server answers: a status, a typed body and the few
//! headers these endpoints need (`Allow`, `ETag`, `Location`, `WWW-Authenticate`).

/// One response.
pub struct Reply {
    /// The HTTP status code.
    pub status: u16,
    /// The `Content-Type` header's value.
    pub content_type: &'static str,
    /// The whole body.
    pub body: String,
    /// The methods the resource serves, sent in `Allow` (a 405 must list them, RFC 9110 §15.5.6).
    pub allow: Option<&'static str>,
    /// Further header fields, sent as given (names are fixed by the code, values may be data).
    pub headers: Vec<(&'static str, String)>,
}

impl Reply {
    /// A reply with `body` of `content_type`.
    pub fn new(status: u16, content_type: &'static str, body: String) -> Reply {
        Reply {
            status,
            content_type,
            body,
            allow: None,
            headers: Vec::new(),
        }
    }

    /// A plain-text reply.
    pub fn text(status: u16, body: impl Into<String>) -> Reply {
        Reply::new(status, "text/plain; charset=utf-8", body.into())
    }

    /// A JSON reply.
    pub fn json(status: u16, body: &serde_json::Value) -> Reply {
        Reply::new(status, "application/json", body.to_string())
    }

    /// A reply without content (204).
    pub fn no_content() -> Reply {
        Reply::new(204, "application/json", String::new())
    }

    /// A 405 naming the methods that work, in `Allow` and in `body`.
    pub fn method_not_allowed(allow: &'static str, body: impl Into<String>) -> Reply {
        Reply {
            allow: Some(allow),
            ..Reply::text(405, body)
        }
    }

    /// Adds a header field.
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }
}
