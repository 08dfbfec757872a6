//! Clients that misbehave the way attackers do, for the management API's and the console's
//! attack tests: one exchange read to the close whatever comes back, and a head trickled a byte
//! at a time (slowloris).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use super::eventually;

/// Sends `request` and reads until the server closes: the status (0 when nothing came back) and
/// the whole answer as text.
pub fn exchange(addr: SocketAddr, request: &[u8]) -> (u16, String) {
    exchange_from("127.0.0.1", addr, request)
}

/// Connects from `source` (any 127.0.0.0/8 address is this host): a client at another address.
pub fn connect_from(source: &str, addr: SocketAddr) -> TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let source: SocketAddr = format!("{source}:0").parse().unwrap();
    socket.bind(&source.into()).unwrap();
    socket.connect(&addr.into()).unwrap();
    socket.into()
}

/// `exchange` from the client address `source`.
pub fn exchange_from(source: &str, addr: SocketAddr, request: &[u8]) -> (u16, String) {
    let mut stream = connect_from(source, addr);
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let _ = stream.write_all(request);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    (status, text)
}

/// Sends `head` and then an endless header value, one byte every 2 s, until the server answers
/// and closes (at most 100 bytes); returns what it answered.
pub fn trickle_head(addr: SocketAddr, head: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut answer = Vec::new();
    for byte in head.bytes().chain(std::iter::repeat(b'x')).take(100) {
        if stream.write_all(&[byte]).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_secs(2));
        let mut chunk = [0u8; 512];
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
            Err(_) => {}
        }
    }
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

/// A server's connection bounds as its clients meet them (the management API's, the console's):
/// `cap` connections at once, `per_address` (half of `cap`) from one client address.
pub struct Caps<'a> {
    pub addr: SocketAddr,
    pub cap: usize,
    pub per_address: usize,
    /// A request the server answers `served` (with no connection held).
    pub request: &'a [u8],
    pub served: u16,
    /// The server's `/metrics` text, and its series' prefix (`tidegate_management`).
    pub metrics: &'a dyn Fn() -> String,
    pub prefix: &'a str,
}

/// Idle connections up to `per_address` from one address: that address's next is refused 429
/// with `Retry-After` while another address is served; up to `cap` from two addresses: a third
/// address is refused 503. Each refusal is counted in its metric, and once the held connections
/// go the server serves again.
pub fn check_connection_caps(caps: &Caps<'_>) {
    assert_eq!(
        caps.per_address * 2,
        caps.cap,
        "two addresses fill the server"
    );
    let open = |n: usize| {
        let line = format!("{}_connections_open {n}", caps.prefix);
        eventually(Duration::from_secs(30), || (caps.metrics)().contains(&line))
    };
    let held: Vec<TcpStream> = (0..caps.per_address)
        .map(|_| connect_from("127.0.0.1", caps.addr))
        .collect();
    assert!(
        open(caps.per_address),
        "every held connection is being served"
    );
    // Held connections are cut at the request deadline, so a slow run may see slots free up
    // part-way: count the refusals rather than expect all of them.
    let mut per_address = 0;
    for _ in 0..50 {
        let (status, text) = exchange_from("127.0.0.1", caps.addr, caps.request);
        assert!([429, caps.served].contains(&status), "{text}");
        if status == 429 {
            assert!(text.contains("Retry-After: 1\r\n"), "{text}");
            assert!(text.contains("from your address"), "{text}");
            per_address += 1;
        }
    }
    assert!(per_address > 0, "one address past its share is refused");
    let (status, text) = exchange_from("127.0.0.2", caps.addr, caps.request);
    assert_eq!(status, caps.served, "another address is served: {text}");

    // Held afresh (those above may have reached the request deadline), from two addresses.
    drop(held);
    assert!(open(0), "the held connections were let go");
    let held: Vec<TcpStream> = ["127.0.0.1", "127.0.0.2"]
        .iter()
        .flat_map(|source| (0..caps.per_address).map(|_| connect_from(source, caps.addr)))
        .collect();
    assert!(open(caps.cap), "every held connection is being served");
    let mut full = 0;
    for _ in 0..50 {
        let (status, text) = exchange_from("127.0.0.3", caps.addr, caps.request);
        assert!([503, caps.served].contains(&status), "{text}");
        if status == 503 {
            full += 1;
        }
    }
    assert!(full > 0, "connections past the cap are refused");
    let metrics = (caps.metrics)();
    for line in [
        format!("{}_connections_rejected_total {full}", caps.prefix),
        format!(
            "{}_connections_rejected_per_address_total {per_address}",
            caps.prefix
        ),
    ] {
        assert!(metrics.contains(&line), "{line} in:\n{metrics}");
    }
    drop(held);
    assert!(eventually(Duration::from_secs(30), || {
        exchange(caps.addr, caps.request).0 == caps.served
    }));
}
