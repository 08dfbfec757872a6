//! One MQTT connection attempt has one deadline, `connectTimeoutMs` from its start (name lookup,
//! TCP connect, TLS, CONNACK), and a publish that arrives during it waits for its outcome: it is
//! answered with why the attempt failed, never "still connecting". The TCP connect used to have a
//! deadline of its own and CONNACK another one counted from after it, while the publish waited
//! `connectTimeoutMs` from its own arrival: when the connect was slow (the name lookup runs off
//! the shard; a loaded machine), the publish gave up before the attempt did and answered "still
//! connecting" (`mqtt_connect_at_start` failed so under load).

mod common;

use std::net::{SocketAddr, TcpStream};

use common::mqtt_api::*;
use common::*;
use socket2::{Domain, Socket, Type};
use tidegate::config::DriverChoice;

fn a_publish_gets_the_outcome_of_an_attempt_whose_tcp_connect_is_slow(driver: DriverChoice) {
    // A listener whose accept queue is full: the gateway's SYN is dropped and sent again about a
    // second later, so its TCP connect completes only after the queue had room again.
    let listener = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    listener
        .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    listener.listen(0).unwrap();
    let broker = listener.local_addr().unwrap().as_socket().unwrap();
    let filler = TcpStream::connect(broker).unwrap();
    let endpoint = "        connectTimeoutMs: 3000\n        producer:\n          topic: t\n";
    let gateway = start_one_shard(
        &api_yaml(broker.port(), "      - type: http-post", endpoint),
        driver,
    );
    let addr = gateway.local_addr();
    let publisher = std::thread::spawn(move || post(addr, "/m", "x", ""));
    // The publish is in (it waits for the attempt): now the connect may complete, and nobody
    // answers its CONNECT.
    assert!(eventually(WAIT, || metric(&gateway, |m| &m
        .http_requests_total)
        == 1));
    let _first_in_queue = listener.accept().unwrap();

    let response = publisher.join().unwrap();
    assert_eq!(response.status, 503, "{}", response.text());
    let text = response.text();
    assert!(text.contains("not connected to the MQTT broker"), "{text}");
    assert!(!text.contains("still connecting"), "{text}");
    drop(filler);
}
on_both_drivers!(
    slow_tcp_connect,
    a_publish_gets_the_outcome_of_an_attempt_whose_tcp_connect_is_slow
);
