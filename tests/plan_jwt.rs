//! JWT plans end to end over real sockets: a bearer token (header, or `access_token` in the
//! query for EventSource and WebSocket clients) lets its application in on GET, POST, SSE and
//! WebSocket; expired, forged and wrong-audience tokens are 401 with `WWW-Authenticate: Bearer
//! error="invalid_token"`; a valid token without a subscription is 403; a live stream ends when
//! its token expires.

mod common;

use std::net::SocketAddr;

use common::plans::{chat_with_plans, statuses, ws_with, Present, FORBIDDEN, LET_IN, UNAUTHORIZED};
use common::ws_client::{close_frame, ws_open};
use common::*;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::json;
use tidegate::config::DriverChoice;
use tidegate::runtime::Gateway;
use tidegate::security::jwt::unix_now;
use tungstenite::protocol::frame::coding::CloseCode;

const SECRET: &str = "an HMAC secret of at least 32 bytes, for the JWT plan tests";

const PLANS: &str = r#"      - id: jwt
        name: JWT
        security: jwt
        configuration:
          secret: "an HMAC secret of at least 32 bytes, for the JWT plan tests"
          issuer: https://idp.test
          audience: chat
          clockSkewSeconds: 0
"#;

const TAIL: &str = r#"
applications:
  - id: app
    name: App
    clientId: app-client
  - id: other-app
    name: Other app
    clientId: other-client
subscriptions:
  - id: sub
    api: chat
    plan: jwt
    application: app
"#;

fn gateway(driver: DriverChoice) -> Gateway {
    start_one_shard(&chat_with_plans(PLANS, TAIL), driver)
}

/// A token for `client` expiring `lifetime_s` from now, with `overrides` merged into the claims.
fn token_with(client: &str, lifetime_s: i64, overrides: serde_json::Value, secret: &str) -> String {
    let mut claims = json!({
        "iss": "https://idp.test", "aud": "chat", "azp": client, "sub": "alice",
        "exp": unix_now() as i64 + lifetime_s,
    });
    claims
        .as_object_mut()
        .unwrap()
        .extend(overrides.as_object().unwrap().clone());
    let key = EncodingKey::from_secret(secret.as_bytes());
    jsonwebtoken::encode(&Header::default(), &claims, &key).unwrap()
}

fn token(client: &str, lifetime_s: i64) -> String {
    token_with(client, lifetime_s, json!({}), SECRET)
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn with_bearer(addr: SocketAddr, token: &str) -> [u16; 4] {
    statuses(addr, Present::Header("Authorization", &bearer(token)))
}

fn a_valid_token_lets_its_application_in_on_every_entrypoint_on(driver: DriverChoice) {
    let gateway = gateway(driver);
    assert_eq!(
        with_bearer(gateway.local_addr(), &token("app-client", 300)),
        LET_IN
    );
}
on_both_drivers!(
    a_valid_token_lets_its_application_in_on_every_entrypoint,
    a_valid_token_lets_its_application_in_on_every_entrypoint_on
);

fn refused_tokens_are_401_with_a_bearer_challenge_on(driver: DriverChoice) {
    let gateway = gateway(driver);
    let addr = gateway.local_addr();
    let expired = token("app-client", -10);
    let forged = token_with(
        "app-client",
        300,
        json!({}),
        "another secret of at least 32 bytes!!",
    );
    let wrong_aud = token_with("app-client", 300, json!({ "aud": "other-api" }), SECRET);
    for (what, bad, reason) in [
        ("expired", &expired, "token has expired"),
        ("forged", &forged, "token signature is invalid"),
        (
            "wrong audience",
            &wrong_aud,
            "token audience is not accepted",
        ),
        ("garbage", &"not-a-jwt".to_owned(), "token is malformed"),
    ] {
        assert_eq!(with_bearer(addr, bad), UNAUTHORIZED, "{what}");
        let answer = get(addr, "/chat", &[("Authorization", &bearer(bad))]);
        let challenge = answer
            .header("www-authenticate")
            .unwrap_or_default()
            .to_owned();
        assert!(
            challenge.starts_with("Bearer error=\"invalid_token\""),
            "{what}: {challenge}"
        );
        assert!(challenge.contains(reason), "{what}: {challenge}");
    }
    // No credential at all on an API without a keyless plan.
    assert_eq!(statuses(addr, Present::Nothing), UNAUTHORIZED);
}
on_both_drivers!(
    refused_tokens_are_401_with_a_bearer_challenge,
    refused_tokens_are_401_with_a_bearer_challenge_on
);

fn a_valid_token_without_a_subscription_is_403_on(driver: DriverChoice) {
    let gateway = gateway(driver);
    assert_eq!(
        with_bearer(gateway.local_addr(), &token("other-client", 300)),
        FORBIDDEN
    );
    assert_eq!(
        with_bearer(gateway.local_addr(), &token("unknown-client", 300)),
        FORBIDDEN
    );
}
on_both_drivers!(
    a_valid_token_without_a_subscription_is_403,
    a_valid_token_without_a_subscription_is_403_on
);

fn eventsource_and_websocket_clients_send_the_token_in_the_query_on(driver: DriverChoice) {
    let gateway = gateway(driver);
    let addr = gateway.local_addr();
    let target = format!("/chat?access_token={}", token("app-client", 300));
    let (head, _stream) = open_sse(addr, &target, &[]);
    assert_eq!(head.status, 200);
    let mut socket = ws_open(addr, &target);
    socket.close(None).unwrap();
    let expired = format!("/chat?access_token={}", token("app-client", -10));
    assert_eq!(open_sse(addr, &expired, &[]).0.status, 401);
    // Both ways at once is a malformed request (RFC 6750 §2).
    let both = get(
        addr,
        &target,
        &[("Authorization", &bearer(&token("app-client", 300)))],
    );
    assert_eq!(both.status, 400);
}
on_both_drivers!(
    eventsource_and_websocket_clients_send_the_token_in_the_query,
    eventsource_and_websocket_clients_send_the_token_in_the_query_on
);

fn live_streams_end_when_their_token_expires_on(driver: DriverChoice) {
    let gateway = gateway(driver);
    let addr = gateway.local_addr();
    let short = token("app-client", 2);
    let (head, mut sse) = open_sse(addr, "/chat", &[("Authorization", &bearer(&short))]);
    assert_eq!(head.status, 200);
    let mut ws = ws_with(addr, Present::Header("Authorization", &bearer(&short))).unwrap();
    let text = read_sse_until(&mut sse, |text| text.contains("event: goaway"));
    assert!(text.contains("event: goaway"), "{text}");
    assert!(text.contains("token expired"), "{text}");
    let (code, reason) = close_frame(&mut ws);
    assert_eq!(code, CloseCode::Policy);
    assert!(reason.starts_with("token expired"), "{reason}");
}
on_both_drivers!(
    live_streams_end_when_their_token_expires,
    live_streams_end_when_their_token_expires_on
);

/// The chat API with a WebSocket entrypoint that takes token renewals.
fn renewing_gateway(driver: DriverChoice) -> Gateway {
    let yaml = chat_with_plans(PLANS, TAIL).replace(
        "      - type: websocket\n",
        "      - type: websocket\n        configuration: { tokenRefresh: true }\n",
    );
    assert!(yaml.contains("tokenRefresh"));
    start_one_shard(&yaml, driver)
}

fn renewal(token: &str) -> tungstenite::Message {
    tungstenite::Message::text(json!({ "type": "auth", "token": token }).to_string())
}

fn a_websocket_renewing_its_token_outlives_the_first_one_on(driver: DriverChoice) {
    let gateway = renewing_gateway(driver);
    let first = token("app-client", 2);
    let first_exp = unix_now() + 2;
    let mut ws = ws_with(
        gateway.local_addr(),
        Present::Header("Authorization", &bearer(&first)),
    )
    .unwrap();
    ws.send(renewal(&token("app-client", 300))).unwrap();
    // Past the first token's expiry (whole seconds), the session still delivers, and the
    // renewal message itself was never published.
    while unix_now() <= first_exp + 1 {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    ws.send(tungstenite::Message::text("hello")).unwrap();
    assert_eq!(
        ws_client::next_data(&mut ws),
        ws_client::Data::Text("hello".to_owned())
    );
}
on_both_drivers!(
    a_websocket_renewing_its_token_outlives_the_first_one,
    a_websocket_renewing_its_token_outlives_the_first_one_on
);

fn a_renewal_for_another_client_or_a_bad_token_closes_the_session_on(driver: DriverChoice) {
    let gateway = renewing_gateway(driver);
    let addr = gateway.local_addr();
    for (bad, reason) in [
        (
            token("other-client", 300),
            "renewal refused: the token names another client",
        ),
        (
            token("app-client", -10),
            "renewal refused: token has expired",
        ),
    ] {
        let opening = bearer(&token("app-client", 300));
        let mut ws = ws_with(addr, Present::Header("Authorization", &opening)).unwrap();
        ws.send(renewal(&bad)).unwrap();
        let (code, text) = close_frame(&mut ws);
        assert_eq!(code, CloseCode::Policy);
        // The close carries the cursor to resume from after the reason.
        assert!(text.starts_with(reason), "{text}");
    }
}
on_both_drivers!(
    a_renewal_for_another_client_or_a_bad_token_closes_the_session,
    a_renewal_for_another_client_or_a_bad_token_closes_the_session_on
);

fn without_token_refresh_a_renewal_message_is_an_ordinary_message_on(driver: DriverChoice) {
    let gateway = gateway(driver);
    let opening = bearer(&token("app-client", 300));
    let mut ws = ws_with(
        gateway.local_addr(),
        Present::Header("Authorization", &opening),
    )
    .unwrap();
    let message = renewal(&token("app-client", 300));
    let text = message.to_text().unwrap().to_owned();
    ws.send(message).unwrap();
    assert_eq!(ws_client::next_data(&mut ws), ws_client::Data::Text(text));
}
on_both_drivers!(
    without_token_refresh_a_renewal_message_is_an_ordinary_message,
    without_token_refresh_a_renewal_message_is_an_ordinary_message_on
);
