//! The WebSocket message that renews a session's token before it expires, sans-IO.
//!
//! Only on a WebSocket entrypoint with `tokenRefresh: true`: there a text message that is exactly
//! a JSON object `{"type":"auth","token":"<JWT>"}` is a control message for the gateway, never
//! published. Everything else (other JSON, other members, binary frames) is published as usual,
//! so with the option off, or for any other message, nothing changes.

use serde::Deserialize;

/// The longest text message looked at as a renewal: a token is at most `maxTokenBytes` (64 KiB
/// at most), plus the JSON around it.
pub const MAX_REFRESH_MESSAGE_BYTES: usize = 64 * 1024 + 64;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthMessage {
    #[serde(rename = "type")]
    kind: String,
    token: String,
}

/// The token of a renewal message, or `None` when `payload` is an ordinary message.
pub fn renewal_token(payload: &[u8]) -> Option<String> {
    if payload.len() > MAX_REFRESH_MESSAGE_BYTES || payload.first() != Some(&b'{') {
        return None;
    }
    let message: AuthMessage = serde_json::from_slice(payload).ok()?;
    (message.kind == "auth").then_some(message.token)
}

#[cfg(test)]
mod tests {
    use super::renewal_token;

    #[test]
    fn only_the_exact_shape_is_a_renewal() {
        assert_eq!(
            renewal_token(br#"{"type":"auth","token":"a.b.c"}"#).as_deref(),
            Some("a.b.c")
        );
        assert_eq!(
            renewal_token(br#"{ "token": "a.b.c", "type": "auth" }"#).as_deref(),
            Some("a.b.c")
        );
        for ordinary in [
            &br#"{"type":"auth","token":"a.b.c","extra":1}"#[..],
            br#"{"type":"chat","token":"a.b.c"}"#,
            br#"{"type":"auth"}"#,
            br#"{"type":"auth","token":7}"#,
            br#"["auth","a.b.c"]"#,
            b"hello",
            b"",
        ] {
            assert_eq!(renewal_token(ordinary), None, "{ordinary:?}");
        }
    }
}
