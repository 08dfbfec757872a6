//! HTTP/1.1 request head parsing: httparse once, then keep byte ranges into the frozen head.
//!
//! [`parse_request_head`] splits the head (request line, header fields, the blank line) off the
//! connection buffer as one frozen `Bytes`; what follows (a body, pipelined requests) stays in the
//! buffer. Every accessor on [`RequestHead`] is a slice of that one allocation.
//!
//! Framing is decided here, once, and strictly (RFC 9112 §6): anything that could make us and a
//! proxy in front of us disagree about where the body ends is refused, and every [`HeadError`]
//! closes the connection because the stream position is then unknown. Choices:
//! - `Content-Length` with `Transfer-Encoding` → 400; differing `Content-Length` values → 400
//!   (equal duplicates, also as a comma list, are accepted); non-digits or overflow → 400.
//! - `Transfer-Encoding` must be exactly `chunked`: `chunked` anywhere but last (or twice) → 400,
//!   a coding we do not implement (`gzip, chunked`, `gzip`) → 501, any coding on HTTP/1.0 → 400.
//! - obs-fold (a header line starting with space or tab): httparse rejects it for requests; we
//!   report it as its own 400 so the client learns what to fix.
//! - HTTP versions other than 1.0 and 1.1 → 505, but only on a well-formed request line
//!   (`GET /  HTTP/1.1`, `http/1.1` are malformed: 400); a target that is not origin-form → 400.
//! - A CR not followed by LF anywhere in the head → 400, as soon as it arrives
//!   ([`bare_cr_after`] tells the reader to parse at once instead of waiting for the blank line).
//! - More than one `Host` field → 400 (RFC 9112 §3.2).
//! - Paths with dot segments, encoded separators or backslashes → 400 (`target.rs`).

use std::ops::Range;

use bytes::{Buf, Bytes, BytesMut};
use thiserror::Error;

/// Bounds on a request head, from the listener config.
#[derive(Debug, Clone, Copy)]
pub struct HeadLimits {
    /// Request line + header fields + blank line; more is answered with 431.
    pub max_header_bytes: usize,
    /// Number of header fields; more is answered with 431.
    pub max_header_count: usize,
}

/// The request method; extension methods are kept verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    /// `GET`: a poll (http-get), an SSE stream or a WebSocket upgrade.
    Get,
    /// `HEAD`.
    Head,
    /// `POST`: a publish (http-post).
    Post,
    /// `PUT`.
    Put,
    /// `DELETE`.
    Delete,
    /// `OPTIONS`: a CORS preflight when it carries `Access-Control-Request-Method`.
    Options,
    /// `PATCH`.
    Patch,
    /// Any other token, as sent (case-sensitive, like every method name).
    Other(String),
}

impl Method {
    /// The method as it is written on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Patch => "PATCH",
            Method::Other(name) => name,
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Method {
    fn from_token(token: &str) -> Method {
        match token {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            "PATCH" => Method::Patch,
            other => Method::Other(other.to_owned()),
        }
    }
}

/// How the request body is delimited, decided once from the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// Neither `Content-Length` nor `Transfer-Encoding`: no body.
    Empty,
    /// `Content-Length: n`.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// A request head that failed to parse or frame. Every variant is the client's fault.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum HeadError {
    /// The head does not end within `max_header_bytes` (431).
    #[error("request header section exceeds {max_header_bytes} bytes")]
    TooLarge {
        /// The limit it went past: [`HeadLimits::max_header_bytes`].
        max_header_bytes: usize,
    },
    /// More header fields than `max_header_count` (431).
    #[error("request has more than {max_header_count} header fields")]
    TooManyHeaders {
        /// The limit it went past: [`HeadLimits::max_header_count`].
        max_header_count: usize,
    },
    /// A request line, header name or value, or line ending httparse cannot read; the text says
    /// which part and what to send instead (400).
    #[error("malformed request head: {0}")]
    Malformed(&'static str),
    /// A header field continued on the next line (obs-fold, RFC 9112 §5.2), reported on its own
    /// so the client learns to send each field on one line (400).
    #[error("obsolete line folding in a header field; send each header field on one line")]
    ObsFold,
    /// A well-formed request line naming an HTTP version other than 1.0 and 1.1 (505).
    #[error("only HTTP/1.0 and HTTP/1.1 are supported")]
    UnsupportedVersion,
    /// A target in absolute, authority or asterisk form; only `/path?query` is served (400).
    #[error("request target must be an absolute path starting with '/'")]
    TargetNotOriginForm,
    /// Both `Content-Length` and `Transfer-Encoding`: the classic smuggling ambiguity (400).
    #[error("request has both Content-Length and Transfer-Encoding; send only one")]
    LengthAndTransferEncoding,
    /// A `Content-Length` that is not digits, overflows, or disagrees with another one (400).
    #[error("invalid Content-Length; expected one decimal number of bytes")]
    InvalidContentLength,
    /// `Transfer-Encoding` lists `chunked` other than once and last (400).
    #[error("Transfer-Encoding must end with 'chunked', applied once")]
    ChunkedNotFinal,
    /// `Transfer-Encoding` on an HTTP/1.0 request, which has no chunked coding (400).
    #[error("Transfer-Encoding is not allowed in HTTP/1.0 requests")]
    TransferEncodingInHttp10,
    /// A transfer coding other than `chunked` (e.g. `gzip`), named as sent (501).
    #[error("transfer coding '{0}' is not supported; use Content-Length or 'Transfer-Encoding: chunked'")]
    UnsupportedTransferCoding(String),
    /// A CR not followed by LF anywhere in the head, refused as soon as it arrives (400).
    #[error("bare CR in the request head: every CR must be followed by LF")]
    BareCr,
    /// More than one `Host` field (RFC 9112 §3.2), which would make routing ambiguous (400).
    #[error("request has more than one Host header field; send exactly one")]
    DuplicateHost,
    /// A `.` or `..` path segment, plain or percent-encoded, that a proxy might resolve
    /// differently before routing (400).
    #[error("request path contains a dot segment ('.' or '..', also percent-encoded as %2e); send the resolved path")]
    DotSegmentInPath,
    /// `%2F` or `%5C` in the path: a hop that decodes it sees segments routing does not (400).
    #[error("request path contains an encoded '/' or '\\' (%2F or %5C); separate path segments with a plain '/'")]
    EncodedSeparatorInPath,
    /// A raw `\` in the path, which several URL parsers and servers read as `/` (400).
    #[error("request path contains a backslash; separate path segments with '/'")]
    BackslashInPath,
}

impl HeadError {
    /// The status code to answer with (the `Display` text is the body).
    pub fn status(&self) -> u16 {
        match self {
            HeadError::TooLarge { .. } | HeadError::TooManyHeaders { .. } => 431,
            HeadError::UnsupportedVersion => 505,
            HeadError::UnsupportedTransferCoding(_) => 501,
            _ => 400,
        }
    }

    /// Always true: after a bad head we cannot know where the next request starts.
    pub fn closes_connection(&self) -> bool {
        true
    }
}

/// A parsed request head. Owns the head bytes; everything else is a range into them.
#[derive(Debug, Clone)]
pub struct RequestHead {
    /// The head as received, up to and including the blank line.
    raw: Bytes,
    method: Method,
    /// Invariant: every range lies in `raw` on UTF-8 boundaries of text httparse validated.
    path: Range<usize>,
    query: Option<Range<usize>>,
    version_minor: u8,
    headers: Vec<(Range<usize>, Range<usize>)>,
    framing: BodyFraming,
}

impl RequestHead {
    /// The request line's method; entrypoint selection and CORS preflight look at it.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The target without the query string, e.g. `/qs-message-api`.
    pub fn path(&self) -> &str {
        self.text(&self.path)
    }

    /// The raw (still percent-encoded) query string, without the `?`.
    pub fn query(&self) -> Option<&str> {
        self.query.as_ref().map(|range| self.text(range))
    }

    /// The first query parameter called `name`, percent-decoded with `+` as space.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query()?
            .split('&')
            .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
            .find(|(key, _)| percent_decode(key) == name)
            .map(|(_, value)| percent_decode(value))
    }

    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub fn version_minor(&self) -> u8 {
        self.version_minor
    }

    /// The value of the first header field called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    }

    /// [`Self::header`] as text; `None` if absent or not UTF-8.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        std::str::from_utf8(self.header(name)?).ok()
    }

    /// Every value of the header fields called `name`, in order (e.g. several `Accept` lines).
    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.headers()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    }

    /// All header fields in order, names as sent.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.headers
            .iter()
            .map(|(name, value)| (self.text(name), &self.raw[value.clone()]))
    }

    /// Whether the connection stays open after this exchange (RFC 9112 §9.3).
    pub fn keep_alive(&self) -> bool {
        if self.version_minor >= 1 {
            !self.header_has_token("connection", "close")
        } else {
            self.header_has_token("connection", "keep-alive")
        }
    }

    /// How the body that follows the head is delimited, checked once when the head was parsed.
    pub fn body_framing(&self) -> BodyFraming {
        self.framing
    }

    /// GET with `Upgrade: websocket` and `Connection: upgrade` (the key is checked by the handshake).
    pub fn is_websocket_upgrade(&self) -> bool {
        self.method == Method::Get
            && self.header_has_token("upgrade", "websocket")
            && self.header_has_token("connection", "upgrade")
    }

    /// Whether some `Accept` field lists `text/event-stream` (the SSE entrypoint's selector).
    pub fn accepts_event_stream(&self) -> bool {
        self.headers_named("accept").any(|value| {
            value.split(|&b| b == b',').any(|range| {
                let media = range.split(|&b| b == b';').next().unwrap_or_default();
                media
                    .trim_ascii()
                    .eq_ignore_ascii_case(b"text/event-stream")
            })
        })
    }

    fn header_has_token(&self, name: &str, token: &str) -> bool {
        self.headers_named(name)
            .any(|value| contains_token(value, token))
    }

    fn text(&self, range: &Range<usize>) -> &str {
        // Ranges only ever cover text httparse already checked to be UTF-8 (see `raw`).
        std::str::from_utf8(&self.raw[range.clone()]).unwrap_or_default()
    }
}

/// Header slots kept on the stack while parsing (the default `maxHeaderCount` is 64).
const STACK_HEADER_SLOTS: usize = 64;

/// Parses one request head from the front of `buf`.
///
/// `Ok(None)`: the head is not complete yet (read more). On success the head is split off `buf`.
pub fn parse_request_head(
    buf: &mut BytesMut,
    limits: &HeadLimits,
) -> Result<Option<RequestHead>, HeadError> {
    // Never look past the limit: a head that does not end inside it is too large anyway.
    let window = &buf[..buf.len().min(limits.max_header_bytes)];
    // Header slots on the stack for the usual limits; the heap only for larger ones.
    let mut on_stack = [httparse::EMPTY_HEADER; STACK_HEADER_SLOTS];
    let mut on_heap;
    let slots: &mut [httparse::Header<'_>] = if limits.max_header_count <= STACK_HEADER_SLOTS {
        &mut on_stack[..limits.max_header_count]
    } else {
        on_heap = vec![httparse::EMPTY_HEADER; limits.max_header_count];
        &mut on_heap
    };
    let mut request = httparse::Request::new(slots);
    let head_len = match request.parse(window) {
        Ok(httparse::Status::Complete(n)) if has_bare_cr(&window[..n]) => {
            return Err(HeadError::BareCr)
        }
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if has_bare_cr(window) => return Err(HeadError::BareCr),
        Ok(httparse::Status::Partial) if window.len() == limits.max_header_bytes => {
            return Err(HeadError::TooLarge {
                max_header_bytes: limits.max_header_bytes,
            })
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(error) => return Err(map_parse_error(error, window, limits)),
    };
    let version_minor = request.version.unwrap_or(1);
    let method = Method::from_token(request.method.unwrap_or_default());
    let target = request.path.unwrap_or_default();
    if !target.starts_with('/') {
        return Err(HeadError::TargetNotOriginForm);
    }
    let framing = framing::body_framing_of(request.headers, version_minor)?;
    let host_fields = request
        .headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("host"))
        .count();
    if host_fields > 1 {
        return Err(HeadError::DuplicateHost);
    }

    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (
            span(window, path.as_bytes()),
            Some(span(window, query.as_bytes())),
        ),
        None => (span(window, target.as_bytes()), None),
    };
    let path_text = target.split_once('?').map_or(target, |(path, _)| path);
    if let Some(problem) = target::path_problem(path_text) {
        return Err(problem);
    }
    let headers = request
        .headers
        .iter()
        .map(|h| (span(window, h.name.as_bytes()), span(window, h.value)))
        .collect();
    // A copy, not a split of `buf`: a split would keep the whole read buffer alive for as long
    // as the head (a WebSocket or SSE stream holds its head for its lifetime).
    let raw = Bytes::copy_from_slice(&buf[..head_len]);
    buf.advance(head_len);
    Ok(Some(RequestHead {
        raw,
        method,
        path,
        query,
        version_minor,
        headers,
        framing,
    }))
}

/// Where `part` (a sub-slice handed out by httparse) lies inside `base`.
fn span(base: &[u8], part: &[u8]) -> Range<usize> {
    let start = (part.as_ptr() as usize).wrapping_sub(base.as_ptr() as usize);
    match start.checked_add(part.len()) {
        Some(end) if !part.is_empty() && end <= base.len() => start..end,
        _ => 0..0,
    }
}

/// What a request line that httparse cannot read must look like.
const MALFORMED_REQUEST_LINE: &str =
    "invalid request line; send 'METHOD /path HTTP/1.1', its three parts separated by single spaces";

fn map_parse_error(error: httparse::Error, window: &[u8], limits: &HeadLimits) -> HeadError {
    match error {
        httparse::Error::TooManyHeaders => HeadError::TooManyHeaders {
            max_header_count: limits.max_header_count,
        },
        _ if has_bare_cr(head_part(window)) => HeadError::BareCr,
        httparse::Error::Version if names_another_http_version(window) => {
            HeadError::UnsupportedVersion
        }
        httparse::Error::Version => HeadError::Malformed(MALFORMED_REQUEST_LINE),
        _ if has_obs_fold(window) => HeadError::ObsFold,
        httparse::Error::Token => HeadError::Malformed(MALFORMED_REQUEST_LINE),
        httparse::Error::HeaderName => HeadError::Malformed("invalid header field name"),
        httparse::Error::HeaderValue => HeadError::Malformed("invalid header field value"),
        httparse::Error::NewLine => HeadError::Malformed("invalid line ending"),
        httparse::Error::Status => HeadError::Malformed("invalid status"),
    }
}

/// Whether a comma-separated header value lists `token` (case-insensitive), e.g. `Connection`.
fn contains_token(value: &[u8], token: &str) -> bool {
    value
        .split(|&b| b == b',')
        .any(|item| item.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

/// Decodes `application/x-www-form-urlencoded` text: `%XX` escapes and `+` as space. Invalid
/// escapes are kept literally and invalid UTF-8 becomes U+FFFD: a query is client input.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = bytes
            .get(i + 1..i + 3)
            .filter(|hex| bytes[i] == b'%' && hex.iter().all(u8::is_ascii_hexdigit))
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (bytes[i], escaped) {
            (_, Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b'+', None) => {
                out.push(b' ');
                i += 1;
            }
            (other, None) => {
                out.push(other);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

mod framing;
mod scan;
mod target;

pub use scan::{bare_cr_after, head_terminated};
use scan::{has_bare_cr, has_obs_fold, head_part, names_another_http_version};
pub use target::path_problem;

#[cfg(test)]
mod tests;
