//! The upgrade handshake's checks (RFC 6455 §4.2.1).

use super::handshake;
use crate::entrypoint::test_support::head;

fn upgrade(extra: &str) -> String {
    format!(
        "GET /a HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{extra}\r\n"
    )
}

#[test]
fn a_valid_upgrade_gets_the_rfc_accept_key() {
    let request =
        upgrade("Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n");
    // RFC 6455 §1.3's example.
    assert_eq!(
        handshake(&head(&request)).unwrap(),
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
}

#[test]
fn a_wrong_version_is_426_and_a_missing_or_bad_key_400() {
    let key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    for (extra, status) in [
        (format!("Sec-WebSocket-Version: 8\r\n{key}"), 426),
        (key.to_owned(), 426),
        ("Sec-WebSocket-Version: 13\r\n".to_owned(), 400),
        (
            "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: c2hvcnQ=\r\n".to_owned(),
            400,
        ),
        (
            "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: !!!\r\n".to_owned(),
            400,
        ),
    ] {
        let (got, why) = handshake(&head(&upgrade(&extra))).unwrap_err();
        assert_eq!(got, status, "{extra:?}: {why}");
    }
    let http10 = "GET /a HTTP/1.0\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
    assert_eq!(handshake(&head(http10)).unwrap_err().0, 400);
}
