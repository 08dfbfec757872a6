//! One access-log line, rendered as JSON or as `key=value` text (logfmt).
//!
//! Nothing a client sent is written raw: strings are escaped (JSON rules, or quoted with `\"`,
//! `\\` and control characters escaped in text), the path never carries its query string (query
//! strings hold credentials: `api-key`, `access_token`), and the path and user agent are cut to
//! a bounded length.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::civil_date::civil_from_days;
use crate::config::AccessLogFormat;
use crate::observe::exchange::Subscriber;

/// Longest path written (longer ones are cut, marked with `…`).
pub const MAX_PATH_BYTES: usize = 512;
/// Longest user agent written.
pub const MAX_USER_AGENT_BYTES: usize = 256;

/// What one line says.
#[derive(Debug, Serialize)]
pub struct AccessLine<'a> {
    /// UTC, RFC 3339 with milliseconds.
    pub time: String,
    /// The id sent back in `X-Request-Id` (the client's own when sane, else generated).
    pub request_id: &'a str,
    /// The client's address and port (`-` when unknown).
    pub client: String,
    /// The API id, `-` when no API served the request.
    pub api: &'a str,
    /// `http-get`, `http-post`, `sse`, `websocket`, or `none` (refused before one was chosen).
    pub entrypoint: &'a str,
    /// The request method (`-` when the head did not parse).
    pub method: &'a str,
    /// The request path without its query string (which may carry credentials), cut to
    /// `MAX_PATH_BYTES`; `-` when the head did not parse.
    pub path: &'a str,
    /// The answer's status code (a stream's handshake status: `101`, `200`).
    pub status: u16,
    /// Bytes read from the client while serving the request (head, body; a stream's frames).
    pub bytes_in: u64,
    /// Bytes written to the client (head and body; a stream's frames).
    pub bytes_out: u64,
    /// Messages the client published (a POST: 1; a WebSocket: each message).
    pub messages_in: u64,
    /// Messages delivered to the client (a GET batch's items, SSE events, WebSocket messages).
    pub messages_out: u64,
    /// From the request's first byte to the end of its answer (a stream's whole life).
    pub duration_ms: f64,
    /// The `User-Agent` header, cut to `MAX_USER_AGENT_BYTES`; `-` when absent.
    pub user_agent: &'a str,
    /// The id of the plan the plan check selected; absent when it refused the request or no
    /// API was reached.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<&'a str>,
    /// The id of the application the request was served for; absent on a keyless plan.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub application: Option<&'a str>,
    /// The id of the subscription the request was served under; absent on a keyless plan.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscription: Option<&'a str>,
}

impl<'a> AccessLine<'a> {
    /// Fills in the time (now), the client and the subscriber fields.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        request_id: &'a str,
        client: Option<SocketAddr>,
        api: &'a str,
        entrypoint: &'a str,
        method: &'a str,
        path: &'a str,
        status: u16,
        counts: (u64, u64, u64, u64),
        duration: Duration,
        user_agent: &'a str,
        subscriber: Option<&'a Subscriber>,
    ) -> AccessLine<'a> {
        let (bytes_in, bytes_out, messages_in, messages_out) = counts;
        AccessLine {
            time: rfc3339_millis(SystemTime::now()),
            request_id,
            client: client.map_or_else(|| "-".to_owned(), |addr| addr.to_string()),
            api,
            entrypoint,
            method,
            path: cut(path, MAX_PATH_BYTES),
            status,
            bytes_in,
            bytes_out,
            messages_in,
            messages_out,
            duration_ms: (duration.as_micros() as f64 / 1000.0),
            user_agent: cut(user_agent, MAX_USER_AGENT_BYTES),
            plan: subscriber.map(|s| s.plan.as_str()),
            application: subscriber.and_then(|s| s.application.as_deref()),
            subscription: subscriber.and_then(|s| s.subscription.as_deref()),
        }
    }

    /// The line, newline included.
    pub fn render(&self, format: AccessLogFormat) -> String {
        let mut out = match format {
            AccessLogFormat::Json => serde_json::to_string(self).unwrap_or_default(),
            AccessLogFormat::Text => self.text(),
        };
        out.push('\n');
        out
    }

    fn text(&self) -> String {
        let mut out = String::with_capacity(256);
        let _ = write!(out, "time={} request_id=", self.time);
        quoted(&mut out, self.request_id);
        let _ = write!(out, " client={} api=", self.client);
        quoted(&mut out, self.api);
        let _ = write!(out, " entrypoint={} method=", self.entrypoint);
        quoted(&mut out, self.method);
        out.push_str(" path=");
        quoted(&mut out, self.path);
        let _ = write!(
            out,
            " status={} bytes_in={} bytes_out={} messages_in={} messages_out={} duration_ms={:.3} user_agent=",
            self.status, self.bytes_in, self.bytes_out, self.messages_in, self.messages_out, self.duration_ms
        );
        quoted(&mut out, self.user_agent);
        for (key, value) in [
            ("plan", self.plan),
            ("application", self.application),
            ("subscription", self.subscription),
        ] {
            if let Some(value) = value {
                let _ = write!(out, " {key}=");
                quoted(&mut out, value);
            }
        }
        out
    }
}

/// Writes `value` bare when it is plain (visible ASCII without `"`, `\` or `=`), else quoted
/// with escapes, so a line always splits back into the same fields.
fn quoted(out: &mut String, value: &str) {
    let plain = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b'\\' | b'='));
    if plain {
        out.push_str(value);
        return;
    }
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:04x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `text` cut to at most `max` bytes, at a character boundary.
fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// `2026-12-06T07:24:23.123Z`.
pub(crate) fn rfc3339_millis(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        since.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line<'a>(path: &'a str, agent: &'a str) -> AccessLine<'a> {
        AccessLine::new(
            "id-1",
            "127.0.0.1:5000".parse().ok(),
            "api",
            "http-get",
            "GET",
            path,
            200,
            (10, 20, 0, 3),
            Duration::from_micros(1500),
            agent,
            None,
        )
    }

    #[test]
    fn dates_are_civil() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_793), (2026, 12, 6));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn text_quotes_what_is_not_plain_and_json_escapes() {
        let text = line("/a b\"\n", "curl/8").render(AccessLogFormat::Text);
        assert!(text.contains(r#"path="/a b\"\u{000a}""#), "{text}");
        assert!(text.contains("user_agent=curl/8"));
        assert!(text.contains("duration_ms=1.500"));
        assert_eq!(text.matches('\n').count(), 1);
        let json = line("/a\"b", "x").render(AccessLogFormat::Json);
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["path"], "/a\"b");
        assert_eq!(value["messages_out"], 3);
        assert!(value.get("plan").is_none());
    }

    #[test]
    fn subscriber_fields_appear_once_a_plan_names_them() {
        let exchange = crate::observe::exchange::Exchange::new();
        exchange.set_subscriber(Subscriber {
            plan: "gold".into(),
            application: Some("app 1".into()),
            subscription: Some("sub-9".into()),
        });
        let subscriber = exchange.subscriber();
        let mut with = line("/p", "ua");
        with.plan = subscriber.as_ref().map(|s| s.plan.as_str());
        with.application = subscriber.as_ref().and_then(|s| s.application.as_deref());
        with.subscription = subscriber.as_ref().and_then(|s| s.subscription.as_deref());
        let json: serde_json::Value =
            serde_json::from_str(&with.render(AccessLogFormat::Json)).unwrap();
        assert_eq!(json["plan"], "gold");
        assert_eq!(json["subscription"], "sub-9");
        let text = with.render(AccessLogFormat::Text);
        assert!(
            text.ends_with(" plan=gold application=\"app 1\" subscription=sub-9\n"),
            "{text}"
        );
    }

    #[test]
    fn long_fields_are_cut_at_char_boundaries() {
        let agent = "é".repeat(MAX_USER_AGENT_BYTES);
        let path = format!("/{}", "p".repeat(2 * MAX_PATH_BYTES));
        let rendered = line(&path, &agent);
        assert!(rendered.user_agent.len() <= MAX_USER_AGENT_BYTES);
        assert_eq!(rendered.path.len(), MAX_PATH_BYTES);
    }
}
