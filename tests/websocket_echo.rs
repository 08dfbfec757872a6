//! The echo route (config/echo.yaml) is per connection: each client gets back exactly what it
//! sent, in order and with its frame type, and nothing another client sent; a client that sends
//! far more than it reads loses nothing.

mod common;

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use common::ws_client::{next_data, ws_open, Data};
use common::*;
use tidegate::codec::ws::{encode_client_frame, Opcode};
use tidegate::config::DriverChoice;
use tungstenite::Message;

fn echo_gateway(driver: DriverChoice) -> tidegate::runtime::Gateway {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/echo.yaml");
    let config = tidegate::config::load_file(&path).expect("config/echo.yaml loads");
    start(on_loopback(config, driver))
}

fn each_connection_gets_back_only_its_own(driver: DriverChoice) {
    let gateway = echo_gateway(driver);
    let addr = gateway.local_addr();
    let mut alice = ws_open(addr, "/echo");
    let mut bob = ws_open(addr, "/echo");
    alice.send(Message::Text("from alice".into())).unwrap();
    assert_eq!(next_data(&mut alice), Data::Text("from alice".into()));
    bob.send(Message::Binary(b"from bob".to_vec().into()))
        .unwrap();
    assert_eq!(next_data(&mut bob), Data::Binary(b"from bob".to_vec()));
    // Had Bob's message reached Alice, it would come before her own second one.
    alice
        .send(Message::Binary(b"alice again".to_vec().into()))
        .unwrap();
    assert_eq!(next_data(&mut alice), Data::Binary(b"alice again".to_vec()));
}
on_both_drivers!(per_connection, each_connection_gets_back_only_its_own);

fn a_client_that_sends_far_more_than_it_reads_loses_nothing(driver: DriverChoice) {
    let gateway = echo_gateway(driver);
    let mut socket = ws_open(gateway.local_addr(), "/echo");
    // Far more than an outbound queue (maxQueuedBytes 4 MiB) and both socket buffers hold.
    let (count, size) = (300, 64 * 1024);
    let payload = move |n: usize| vec![(n % 251) as u8; size];
    let mut writer = socket.get_ref().try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        let mut frame = bytes::BytesMut::new();
        for n in 0..count {
            frame.clear();
            encode_client_frame(&mut frame, Opcode::Binary, true, &payload(n), [1, 2, 3, 4]);
            writer.write_all(&frame).unwrap();
        }
    });
    // Read nothing while the client sends (or, once the gateway stops reading it, for a while):
    // an echo that dropped instead of pausing the sender would lose messages here.
    eventually(Duration::from_secs(3), || sender.is_finished());
    for n in 0..count {
        assert!(
            next_data(&mut socket) == Data::Binary(payload(n)),
            "message {n}"
        );
    }
    sender.join().unwrap();
    assert_eq!(
        tidegate::metrics::total(gateway.metrics(), |m| &m.messages_dropped_slow_client_total),
        0
    );
}
on_both_drivers!(
    a_client_that_sends_far_more_than_it_reads_loses_nothing,
    a_client_that_sends_far_more_than_it_reads_loses_nothing
);

/// A client whose ping, last fragment and close reach the gateway in one read (a gateway busy for
/// a second, Autobahn 5.19 and 5.20 on a loaded machine) still gets its pongs and its echo before
/// the close: what the client sent before its close is answered before the close.
fn pongs_and_echoes_go_out_before_the_close_that_followed_them(driver: DriverChoice) {
    let gateway = echo_gateway(driver);
    let mut socket = ws_open(gateway.local_addr(), "/echo");
    let mask = [7, 1, 3, 9];
    let mut burst = bytes::BytesMut::new();
    encode_client_frame(&mut burst, Opcode::Text, false, b"fragment1", mask);
    encode_client_frame(&mut burst, Opcode::Continuation, false, b"fragment2", mask);
    encode_client_frame(&mut burst, Opcode::Ping, true, b"pongme 1!", mask);
    encode_client_frame(&mut burst, Opcode::Continuation, false, b"fragment3", mask);
    encode_client_frame(&mut burst, Opcode::Ping, true, b"pongme 2!", mask);
    encode_client_frame(&mut burst, Opcode::Continuation, true, b"fragment4", mask);
    encode_client_frame(&mut burst, Opcode::Binary, true, b"and one more", mask);
    let mut close = 1000u16.to_be_bytes().to_vec();
    close.extend_from_slice(b"done");
    encode_client_frame(&mut burst, Opcode::Close, true, &close, mask);
    socket.get_mut().write_all(&burst).unwrap();
    let mut received = Vec::new();
    loop {
        match socket.read() {
            Ok(Message::Close(frame)) => {
                let frame = frame.expect("a close code");
                received.push(format!("close {} {}", u16::from(frame.code), frame.reason));
                break;
            }
            Ok(Message::Pong(payload)) => {
                received.push(format!("pong {}", String::from_utf8_lossy(&payload)))
            }
            Ok(Message::Text(text)) => received.push(format!("text {text}")),
            Ok(Message::Binary(data)) => {
                received.push(format!("binary {}", String::from_utf8_lossy(&data)))
            }
            Ok(other) => panic!("unexpected {other:?} after {received:?}"),
            Err(err) => panic!("{err} after {received:?}"),
        }
    }
    assert_eq!(
        received,
        [
            "pong pongme 1!",
            "pong pongme 2!",
            "text fragment1fragment2fragment3fragment4",
            "binary and one more",
            "close 1000 done",
        ]
    );
}
on_both_drivers!(
    pongs_and_echoes_go_out_before_the_close_that_followed_them,
    pongs_and_echoes_go_out_before_the_close_that_followed_them
);

#[test]
fn an_echo_endpoint_serves_publishing_and_subscribing_websockets_only() {
    let yaml = r#"
apis:
  - id: echo
    name: Echo
    contextPaths: [/echo]
    entrypoints:
      - type: websocket
        configuration:
          subscriber:
            enabled: false
      - type: sse
    endpoint:
      type: echo
    plans:
      - name: Keyless
        security: keyless
"#;
    let problems = tidegate::config::load_str(yaml, "t")
        .expect_err("refused")
        .to_string();
    assert!(
        problems.contains("apis[0].entrypoints[0]")
            && problems.contains("keep both `publisher.enabled` and `subscriber.enabled` true"),
        "{problems}"
    );
    assert!(
        problems.contains("apis[0].entrypoints[1]")
            && problems.contains("remove the sse entrypoint"),
        "{problems}"
    );
}
