//! `Sec-WebSocket-Protocol` (RFC 6455 §4.2.2): the gateway picks the first subprotocol in the
//! client's list, across header fields, that the entrypoint configures, and echoes it, so a
//! browser `new WebSocket(url, ["graphql-ws"])` connects. A client that asks only for unknown
//! subprotocols gets the 101 without the header: a browser (or tungstenite, which checks the same
//! way) then fails the connection itself, a client that can do without one goes on. A malformed
//! list is refused with 400.

mod common;

use common::ws_raw::{next_frame, send_frame, upgrade};
use common::*;
use tidegate::config::DriverChoice;
use tungstenite::client::IntoClientRequest;
use tungstenite::{Message, WebSocket};

/// `/echo`, a websocket that knows `mqtt`, `graphql-ws` and `v1.tidegate`.
fn echo_yaml() -> &'static str {
    r#"
apis:
  - id: echo
    name: Echo
    contextPaths: [/echo]
    entrypoints:
      - type: websocket
        configuration:
          subprotocols: [mqtt, graphql-ws, v1.tidegate]
    endpoint:
      type: echo
    plans:
      - name: Keyless
        security: keyless
"#
}

/// A tungstenite client asking for `protocols` (one header field), as a browser would.
fn strict_client(
    addr: std::net::SocketAddr,
    protocols: &str,
) -> Result<(WebSocket<std::net::TcpStream>, Option<String>), tungstenite::Error> {
    let mut request = format!("ws://{addr}/echo").into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", protocols.parse().unwrap());
    let (socket, response) =
        tungstenite::client::client(request, connect(addr)).map_err(|err| match err {
            tungstenite::HandshakeError::Failure(err) => err,
            tungstenite::HandshakeError::Interrupted(_) => panic!("blocking handshake"),
        })?;
    let chosen = response
        .headers()
        .get("Sec-WebSocket-Protocol")
        .map(|v| v.to_str().unwrap().to_owned());
    Ok((socket, chosen))
}

fn the_clients_first_configured_protocol_is_echoed(driver: DriverChoice) {
    let gateway = start(test_config(echo_yaml(), driver));
    let addr = gateway.local_addr();
    let (mut socket, chosen) = strict_client(addr, "v9.other, graphql-ws, mqtt").unwrap();
    assert_eq!(chosen.as_deref(), Some("graphql-ws"));
    socket.send(Message::Text("hello".into())).unwrap();
    assert_eq!(socket.read().unwrap(), Message::Text("hello".into()));
    // Several header fields are one list, in order.
    let answer = upgrade(
        addr,
        "/echo",
        "Sec-WebSocket-Protocol: soap\r\nSec-WebSocket-Protocol: , v1.tidegate ,mqtt\r\n",
    );
    assert_eq!(answer.status, 101);
    assert_eq!(answer.header("sec-websocket-protocol"), Some("v1.tidegate"));
}
on_both_drivers!(
    first_configured_is_echoed,
    the_clients_first_configured_protocol_is_echoed
);

fn unknown_protocols_get_a_101_without_the_header(driver: DriverChoice) {
    let gateway = start(test_config(echo_yaml(), driver));
    let addr = gateway.local_addr();
    // A browser-like client fails the connection itself.
    let err = strict_client(addr, "soap, wamp").unwrap_err();
    assert!(
        matches!(err, tungstenite::Error::Protocol(ref e) if e.to_string().contains("subprotocol")),
        "{err}"
    );
    // A client that can do without a subprotocol goes on.
    let mut answer = upgrade(addr, "/echo", "Sec-WebSocket-Protocol: soap, wamp\r\n");
    assert_eq!(answer.status, 101);
    assert_eq!(answer.header("sec-websocket-protocol"), None);
    send_frame(&mut answer.stream, true, false, 0x1, b"still here");
    assert_eq!(next_frame(&mut answer.stream).payload, b"still here");
    let admin = gateway.admin_addr().expect("an admin listener");
    let unmatched = common::admin::metric_total(admin, "websocket_subprotocol_unmatched_total");
    assert_eq!(unmatched, 2);
}
on_both_drivers!(
    unknown_get_no_header,
    unknown_protocols_get_a_101_without_the_header
);

fn a_client_asking_for_none_gets_none(driver: DriverChoice) {
    let gateway = start(test_config(echo_yaml(), driver));
    let answer = upgrade(gateway.local_addr(), "/echo", "");
    assert_eq!(answer.status, 101);
    assert_eq!(answer.header("sec-websocket-protocol"), None);
}
on_both_drivers!(
    a_client_asking_for_none_gets_none,
    a_client_asking_for_none_gets_none
);

fn a_malformed_list_is_400_and_says_why(driver: DriverChoice) {
    let gateway = start(test_config(echo_yaml(), driver));
    for bad in ["mqtt, graphql ws", "mqtt;v=1", "\"mqtt\""] {
        let header = format!("Sec-WebSocket-Protocol: {bad}\r\n");
        let answer = upgrade(gateway.local_addr(), "/echo", &header);
        assert_eq!(answer.status, 400, "{bad}");
        assert!(
            answer.body.contains("comma-separated list of tokens"),
            "{}",
            answer.body
        );
    }
}
on_both_drivers!(
    a_malformed_list_is_400_and_says_why,
    a_malformed_list_is_400_and_says_why
);

#[test]
fn a_configured_name_that_is_no_token_is_a_config_problem() {
    let yaml = echo_yaml().replace("v1.tidegate]", "\"v1 tidegate\", mqtt]");
    let err = tidegate::config::load_str(&yaml, "t")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("subprotocols[2]") && err.contains("a subprotocol is a token"),
        "{err}"
    );
    assert!(
        err.contains("subprotocols[3]") && err.contains("listed twice"),
        "{err}"
    );
}
