//! What the upgrade agrees on beyond RFC 6455's basics: the subprotocol (`Sec-WebSocket-Protocol`)
//! and permessage-deflate (`Sec-WebSocket-Extensions`), within what the entrypoint configures;
//! and the basics themselves (version, key) and the framing asked for (`?envelope=`).

use crate::codec::http_head::RequestHead;
use crate::codec::ws::accept_key;
use crate::codec::ws::deflate_offer::{self, Agreed};
use crate::codec::ws::subprotocol;
use crate::config::WebSocketOptions;

/// The agreed options, with the 101's extra header values.
pub(super) struct Negotiated {
    /// The subprotocol to echo; `None` when the client asked for none or only for others.
    pub(super) subprotocol: Option<String>,
    /// The client asked for subprotocols and none is configured (counted, and logged at debug:
    /// a browser fails such a connection after the 101).
    pub(super) subprotocol_unmatched: bool,
    /// permessage-deflate, when enabled here and offered acceptably by the client.
    pub(super) deflate: Option<Agreed>,
}

/// Negotiates with the client's upgrade request; the 400 body when a header is malformed.
pub(super) fn negotiate(
    head: &RequestHead,
    options: &WebSocketOptions,
) -> Result<Negotiated, String> {
    let subprotocol = subprotocol::select(
        head.headers_named("sec-websocket-protocol"),
        &options.subprotocols,
    )
    .map_err(|err| err.to_string())?;
    let asked = head
        .headers_named("sec-websocket-protocol")
        .any(|field| !field.trim_ascii().is_empty());
    let deflate = match &options.per_message_deflate {
        // Without the extension configured its header is ignored, as any unknown extension is.
        None => None,
        Some(deflate) => deflate_offer::negotiate(
            head.headers_named("sec-websocket-extensions"),
            &deflate.settings,
        )
        .map_err(|err| err.to_string())?,
    };
    Ok(Negotiated {
        subprotocol_unmatched: asked && subprotocol.is_none(),
        subprotocol: subprotocol.map(str::to_owned),
        deflate,
    })
}

/// Checks the upgrade request; returns the `Sec-WebSocket-Accept` value.
pub(super) fn handshake(head: &RequestHead) -> Result<String, (u16, &'static str)> {
    if head.version_minor() < 1 {
        return Err((400, "WebSocket upgrade needs HTTP/1.1"));
    }
    if head.header_str("sec-websocket-version").map(str::trim) != Some("13") {
        return Err((426, "WebSocket upgrade needs 'Sec-WebSocket-Version: 13'"));
    }
    let key = head
        .header("sec-websocket-key")
        .ok_or((400, "WebSocket upgrade needs a 'Sec-WebSocket-Key' header"))?;
    let decoded =
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, key.trim_ascii());
    if !matches!(decoded, Ok(bytes) if bytes.len() == 16) {
        return Err((400, "'Sec-WebSocket-Key' must be 16 random bytes in base64"));
    }
    Ok(accept_key(key.trim_ascii()))
}

/// How messages are framed for the client.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Envelope {
    /// Each message as one frame of its own type, payload untouched.
    None,
    /// Each message as a text frame holding `{"id":…,"content":…}` (`?envelope=json`).
    Json,
}

impl Envelope {
    /// The framing the upgrade asks for (`?envelope=`); the 400 message when it is unknown.
    pub(super) fn requested(head: &RequestHead) -> Result<Envelope, String> {
        match head.query_param("envelope").as_deref() {
            None | Some("") => Ok(Envelope::None),
            Some("json") => Ok(Envelope::Json),
            Some(other) => Err(format!(
                "unknown envelope '{}': use ?envelope=json (each message as {{\"id\":…,\"content\":…}}) or leave it out",
                other.chars().take(32).collect::<String>()
            )),
        }
    }
}
