//! Every ping gets its own pong, in order, however many arrive at once: pongs waiting to be
//! written are bounded, and a client pinging faster than they are written is simply read later.

mod common;

use common::ws_client::{ws_open, WsClient};
use common::*;
use tidegate::config::DriverChoice;
use tungstenite::Message;

/// Sends `count` pings in one write and returns the payloads of the pongs that come back.
fn ping_burst(socket: &mut WsClient, count: usize) -> Vec<String> {
    for n in 0..count {
        socket
            .write(Message::Ping(format!("ping {n}").into_bytes().into()))
            .unwrap();
    }
    socket.flush().unwrap();
    let mut pongs = Vec::new();
    while pongs.len() < count {
        match socket.read().expect("a pong for every ping") {
            Message::Pong(payload) => pongs.push(String::from_utf8(payload.to_vec()).unwrap()),
            other => panic!("unexpected {other:?}"),
        }
    }
    pongs
}

fn every_ping_is_answered_in_order(driver: DriverChoice) {
    // One message a minute: nothing but pongs comes back.
    let gateway = start(test_config(&mock_api_yaml(60_000), driver));
    let mut socket = ws_open(gateway.local_addr(), "/mock");
    let expected = |count: usize| (0..count).map(|n| format!("ping {n}")).collect::<Vec<_>>();
    // Autobahn 2.10: ten pings at once.
    assert_eq!(ping_burst(&mut socket, 10), expected(10));
    // Far more than the gateway keeps waiting for their pongs.
    assert_eq!(ping_burst(&mut socket, 500), expected(500));
    assert_eq!(
        tidegate::metrics::total(gateway.metrics(), |m| &m.websocket_pongs_pending),
        0
    );
}
on_both_drivers!(pings_in_order, every_ping_is_answered_in_order);
