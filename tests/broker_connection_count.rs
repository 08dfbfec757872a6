//! The broker connection count the Kafka tests rely on (`common::broker_sockets`): a socket
//! counts once however often /proc/net/tcp lists it. A read of /proc/net/tcp on a busy machine
//! may list a socket twice; counting lines once reported twice the gateway's broker
//! connections during tests/kafka_replay.rs (issue 16's "~20 extra connections").

mod common;

use std::collections::HashSet;
use std::net::{TcpListener, TcpStream};

use common::broker_sockets::{established_from_this_process, established_to, socket_inodes};

/// Three connections to a listener of this process, and the table as read now.
fn three_connections() -> (TcpListener, Vec<TcpStream>, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let streams = (0..3)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    (listener, streams, port)
}

#[test]
fn each_connection_counts_once() {
    let (_listener, _streams, port) = three_connections();
    assert_eq!(established_from_this_process(port), 3);
}

/// The kernel resumed its walk of the socket table at a position that had moved: every line
/// is printed again.
#[test]
fn a_socket_listed_twice_in_one_read_counts_once() {
    let (_listener, _streams, port) = three_connections();
    let ours = socket_inodes();
    let table = std::fs::read_to_string("/proc/self/net/tcp").unwrap();
    let body: String = table.lines().skip(1).map(|l| format!("{l}\n")).collect();
    let repeated = format!("{table}{body}");
    assert_eq!(established_to(std::slice::from_ref(&table), port, &ours), 3);
    assert_eq!(established_to(&[repeated], port, &ours), 3);
    assert_eq!(established_to(&[table.clone(), table], port, &ours), 3);
}

/// Sockets of other processes (no inode of ours) and other states do not count.
#[test]
fn only_this_process_established_sockets_count() {
    let (_listener, _streams, port) = three_connections();
    let table = std::fs::read_to_string("/proc/self/net/tcp").unwrap();
    assert_eq!(established_to(&[table], port, &HashSet::new()), 0);
}
