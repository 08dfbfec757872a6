//! Plans, subscriptions and API keys for the plan tests: an API over an in-memory topic with
//! every entrypoint, keys made on the fly (only their hashes go in the YAML), and clients that
//! present a key on each entrypoint.

use std::net::SocketAddr;

use tidegate::security::api_key;
use tungstenite::client::IntoClientRequest;

use super::ws_client::WsClient;
use super::{get, open_sse, post, Response};

/// A fresh random key and its `sha256:` hash line.
pub fn new_key() -> (String, String) {
    let (key, hash) = api_key::generate().unwrap();
    (key, hash.to_config_text())
}

/// One API `chat` on `/chat` (in-memory topic `chat`) with GET, POST, SSE and a publishing and
/// subscribing WebSocket, whose `plans:` are `plans` (list items indented six spaces), followed
/// by `tail` (top-level `applications:` / `subscriptions:` sections, or more APIs).
pub fn chat_with_plans(plans: &str, tail: &str) -> String {
    format!(
        r#"
apis:
  - id: chat
    name: Chat
    contextPaths: [/chat]
    entrypoints:
      - type: http-get
        configuration: {{ messagesLimitDurationMs: 200 }}
      - type: http-post
      - type: websocket
      - type: sse
    endpoint:
      type: in-memory
      configuration: {{ topic: chat }}
    plans:
{plans}
{tail}"#
    )
}

/// An `applications:` section with `app` and `other-app`.
pub const APPLICATIONS: &str = r#"
applications:
  - id: app
    name: App
  - id: other-app
    name: Other app
"#;

/// A subscription item (indented two spaces) of `app` to `api`/`plan` with `extra` keys (each
/// line indented four spaces, e.g. `    status: paused`) and one key hash.
pub fn subscription(id: &str, api: &str, plan: &str, extra: &str, hash: &str) -> String {
    format!(
        "  - id: {id}\n    api: {api}\n    plan: {plan}\n    application: app\n{extra}    apiKeys:\n      - hash: \"{hash}\"\n"
    )
}

/// How a request presents its key.
#[derive(Clone, Copy)]
pub enum Present<'a> {
    Nothing,
    Header(&'a str, &'a str),
    Query(&'a str),
}

impl Present<'_> {
    fn target(&self, path: &str) -> String {
        match self {
            Present::Query(key) => format!("{path}?api-key={key}"),
            _ => path.to_owned(),
        }
    }

    fn header(&self) -> Option<(&str, &str)> {
        match *self {
            Present::Header(name, key) => Some((name, key)),
            _ => None,
        }
    }
}

/// A GET on `/chat`.
pub fn get_with(addr: SocketAddr, present: Present) -> Response {
    let headers: Vec<(&str, &str)> = present.header().into_iter().collect();
    get(addr, &present.target("/chat"), &headers)
}

/// A POST of `body` on `/chat`.
pub fn post_with(addr: SocketAddr, present: Present, body: &str) -> Response {
    let extra = present
        .header()
        .map(|(name, key)| format!("{name}: {key}\r\n"))
        .unwrap_or_default();
    post(addr, &present.target("/chat"), body, &extra)
}

/// The status of an SSE request on `/chat` (the stream, if any, is dropped).
pub fn sse_status(addr: SocketAddr, present: Present) -> u16 {
    let headers: Vec<(&str, &str)> = present.header().into_iter().collect();
    let (head, _reader) = open_sse(addr, &present.target("/chat"), &headers);
    head.status
}

/// A WebSocket upgrade on `/chat`: the session, or the refusal's status.
pub fn ws_with(addr: SocketAddr, present: Present) -> Result<WsClient, u16> {
    let stream = super::connect(addr);
    let url = format!("ws://{addr}{}", present.target("/chat"));
    let mut request = url.into_client_request().unwrap();
    if let Some((name, key)) = present.header() {
        let name = tungstenite::http::HeaderName::from_bytes(name.as_bytes()).unwrap();
        request.headers_mut().insert(name, key.parse().unwrap());
    }
    match tungstenite::client::client(request, stream) {
        Ok((socket, _)) => Ok(socket),
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(response))) => {
            Err(response.status().as_u16())
        }
        Err(err) => panic!("WebSocket handshake failed: {err}"),
    }
}

/// The status each entrypoint answers `present` with: GET, POST, SSE, WebSocket upgrade.
pub fn statuses(addr: SocketAddr, present: Present) -> [u16; 4] {
    [
        get_with(addr, present).status,
        post_with(addr, present, "hi").status,
        sse_status(addr, present),
        ws_with(addr, present).map_or_else(|status| status, |_| 101),
    ]
}

/// What every entrypoint answers a request that is let in.
pub const LET_IN: [u16; 4] = [200, 202, 200, 101];
/// What every entrypoint answers a missing or invalid credential.
pub const UNAUTHORIZED: [u16; 4] = [401; 4];
/// What every entrypoint answers a valid key without a current subscription to the API.
pub const FORBIDDEN: [u16; 4] = [403; 4];

/// RFC 3339 text (UTC) for `seconds` from now.
pub fn rfc3339_in(seconds: u64) -> String {
    let at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + seconds;
    let (days, rest) = ((at / 86_400) as i64, at % 86_400);
    // H. Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}
