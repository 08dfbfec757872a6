//! The websocket entrypoint's protocol options: `subprotocols` (RFC 6455 `Sec-WebSocket-Protocol`)
//! and `perMessageDeflate` (RFC 7692 compression, off by default). Raw shape, rules and model
//! together, apart from `raw.rs`/`validate.rs` which hold the other entrypoints.

use serde::Deserialize;

use super::problem::{join, Problems};
use crate::codec::ws::deflate_offer::DeflateSettings;
use crate::codec::ws::subprotocol::is_token;

/// Smallest and largest window the gateway can work with (zlib's raw deflate has no 8).
const WINDOW_BITS: std::ops::RangeInclusive<u64> = 9..=15;
/// Messages smaller than this go uncompressed by default: deflate adds bytes to tiny payloads.
const DEFAULT_MIN_MESSAGE_BYTES: u64 = 64;

/// `perMessageDeflate` as written.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    default,
    expecting = "a mapping like `{ enabled: true, clientNoContextTakeover: true, serverMaxWindowBits: 15, clientMaxWindowBits: 15, minMessageBytes: 64 }`"
)]
pub(crate) struct RawPerMessageDeflate {
    pub enabled: bool,
    pub client_no_context_takeover: bool,
    pub server_max_window_bits: u64,
    pub client_max_window_bits: u64,
    pub min_message_bytes: u64,
}

impl Default for RawPerMessageDeflate {
    fn default() -> Self {
        RawPerMessageDeflate {
            enabled: false,
            client_no_context_takeover: true,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
            min_message_bytes: DEFAULT_MIN_MESSAGE_BYTES,
        }
    }
}

/// permessage-deflate, when enabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeflateOptions {
    /// What negotiation may agree to.
    pub settings: DeflateSettings,
    /// Outbound messages shorter than this are sent uncompressed (RSV1 is per message).
    pub min_message_bytes: usize,
}

/// Checks the subprotocol list: tokens, each once.
pub(crate) fn subprotocols(raw: Vec<String>, loc: &str, p: &mut Problems) -> Vec<String> {
    for (index, name) in raw.iter().enumerate() {
        let at = format!("{}[{index}]", join(loc, "subprotocols"));
        if !is_token(name.as_bytes()) {
            p.push(
                at,
                "a subprotocol is a token: letters, digits and !#$%&'*+-.^_`|~, no spaces or commas",
            );
        } else if raw[..index].contains(name) {
            p.push(at, format!("'{name}' is listed twice"));
        }
    }
    raw
}

/// Checks `perMessageDeflate`; `None` when it is off.
pub(crate) fn per_message_deflate(
    raw: RawPerMessageDeflate,
    loc: &str,
    p: &mut Problems,
) -> Option<DeflateOptions> {
    let loc = join(loc, "perMessageDeflate");
    for (key, bits) in [
        ("serverMaxWindowBits", raw.server_max_window_bits),
        ("clientMaxWindowBits", raw.client_max_window_bits),
    ] {
        if !WINDOW_BITS.contains(&bits) {
            p.push(
                join(&loc, key),
                format!("must be 9 to 15 (a window of 2^bits bytes); got {bits}"),
            );
        }
    }
    let clamp = |bits: u64| bits.clamp(*WINDOW_BITS.start(), *WINDOW_BITS.end()) as u8;
    raw.enabled.then(|| DeflateOptions {
        settings: DeflateSettings {
            server_max_window_bits: clamp(raw.server_max_window_bits),
            client_max_window_bits: clamp(raw.client_max_window_bits),
            client_no_context_takeover: raw.client_no_context_takeover,
        },
        min_message_bytes: usize::try_from(raw.min_message_bytes).unwrap_or(usize::MAX),
    })
}
