//! A TLS stream whose client sent half a TLS record and stopped holds one buffer for it: the
//! TLS session's own, which keeps the record's start until the rest arrives. The stream gives
//! its read buffer back to the shard's pool (`tidegate_read_buffers_in_use` 0, as for an idle
//! stream) and `tidegate_read_buffer_bytes` counts the record's bytes held. Before, the reader
//! waited for the rest in a pending read holding two pool buffers (the plaintext buffer and a
//! ciphertext one) while the byte gauge said 0.

mod common;

use std::io::Write;
use std::time::Duration;

use bytes::BytesMut;
use common::echo_api::echo_yaml;
use common::tls_client::{client_config, tls_connect, ClientOptions, KeyKind, TestPki};
use common::{eventually, start, test_config};
use tidegate::codec::ws::{encode_client_frame, Opcode};
use tidegate::config::DriverChoice;
use tidegate::metrics::total;
use tungstenite::Message;

fn yaml(cert: &common::tls_client::ServerCert) -> String {
    echo_yaml(&format!(
        "gateway:\n  tls:\n    listen: 127.0.0.1:0\n    certificates:\n      - certFile: {}\n        keyFile: {}",
        cert.cert_file.display(),
        cert.key_file.display()
    ))
}

fn half_a_tls_record_holds_only_the_sessions_buffer(driver: DriverChoice) {
    let pki = TestPki::new("tidegate test CA");
    let cert = pki.server_cert("server", &["gateway.test"], KeyKind::EcdsaP256);
    let gateway = start(test_config(&yaml(&cert), driver));
    let gauges = || {
        (
            total(gateway.metrics(), |m| &m.read_buffers_in_use),
            total(gateway.metrics(), |m| &m.read_buffer_bytes),
        )
    };
    let client = client_config(&pki.ca_der(), ClientOptions::default());
    let stream = tls_connect(gateway.tls_addr().unwrap(), &client, "gateway.test").unwrap();
    let (mut ws, response) =
        tungstenite::client::client("wss://gateway.test/echo", stream).expect("wss upgrade");
    assert_eq!(response.status().as_u16(), 101);
    assert!(
        eventually(Duration::from_secs(60), || {
            total(gateway.metrics(), |m| &m.websocket_sessions_open) == 1 && gauges() == (0, 0)
        }),
        "an idle TLS stream holds (buffers, bytes) {:?}",
        gauges()
    );

    // One WebSocket frame, encrypted as one TLS record; the client sends its first half.
    let mut frame = BytesMut::new();
    encode_client_frame(
        &mut frame,
        Opcode::Text,
        true,
        b"half a record now, the rest later",
        [1, 2, 3, 4],
    );
    let tls = ws.get_mut();
    tls.conn.writer().write_all(&frame).unwrap();
    let mut record = Vec::new();
    while tls.conn.wants_write() {
        tls.conn.write_tls(&mut record).unwrap();
    }
    let (first, rest) = record.split_at(record.len() / 2);
    tls.sock.write_all(first).unwrap();
    let half = first.len() as u64;
    assert!(
        eventually(Duration::from_secs(60), || gauges() == (0, half)),
        "with {half} bytes of a TLS record sent: (pool buffers lent, bytes held) = {:?}, expected (0, {half})",
        gauges()
    );

    // The rest arrives: the frame is whole and echoed; nothing stays held.
    tls.sock.write_all(rest).unwrap();
    let echoed = loop {
        match ws.read().expect("the echo") {
            Message::Text(text) => break text.to_string(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(echoed, "half a record now, the rest later");
    assert!(
        eventually(Duration::from_secs(60), || gauges() == (0, 0)),
        "after the whole record: {:?}",
        gauges()
    );
    // Whole records go on being read, each with a buffer given back at once.
    for n in 0..10 {
        ws.send(Message::Text(format!("message {n}").into()))
            .unwrap();
        loop {
            match ws.read().expect("the echo") {
                Message::Text(text) => break assert_eq!(text.as_str(), format!("message {n}")),
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    assert!(eventually(Duration::from_secs(60), || gauges() == (0, 0)));
}
on_both_drivers!(
    half_a_tls_record,
    half_a_tls_record_holds_only_the_sessions_buffer
);
