//! Reaching a chosen shard: the kernel spreads connections over the shards' SO_REUSEPORT
//! listeners, so a test opens connections until each shard has accepted one (each shard counts
//! what it accepted), and speaks HTTP on the one it needs. Use while no other connection is
//! being opened to the gateway.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use tidegate::metrics::ShardMetrics;
use tidegate::runtime::Gateway;

use super::{connect, eventually, read_response, Response};

/// Connections tried before giving up (each lands on a given shard about 1/N of the time).
const MAX_TRIES: usize = 1000;

fn accepted(gateway: &Gateway) -> Vec<u64> {
    gateway
        .metrics()
        .iter()
        .map(|m| ShardMetrics::get(&m.connections_accepted_total))
        .collect()
}

/// One open connection per shard, `result[i]` accepted by shard `i`.
pub fn one_connection_per_shard(gateway: &Gateway) -> Vec<TcpStream> {
    let shards = gateway.metrics().len();
    let mut found: Vec<Option<TcpStream>> = (0..shards).map(|_| None).collect();
    for _ in 0..MAX_TRIES {
        let before = accepted(gateway);
        let stream = connect(gateway.local_addr());
        let mut shard = None;
        let counted = eventually(Duration::from_secs(60), || {
            let now = accepted(gateway);
            shard = (0..shards).find(|&i| now[i] > before[i]);
            shard.is_some()
        });
        assert!(counted, "no shard counted the connection");
        let shard = shard.unwrap();
        if found[shard].is_none() {
            found[shard] = Some(stream);
        }
        if found.iter().all(Option::is_some) {
            return found.into_iter().map(Option::unwrap).collect();
        }
    }
    panic!("{MAX_TRIES} connections did not reach every one of {shards} shards");
}

/// Sends a GET on `stream` (kept alive) and reads the response.
pub fn get_on(stream: &mut TcpStream, target: &str, headers: &[(&str, &str)]) -> Response {
    let mut request = format!("GET {target} HTTP/1.1\r\nHost: test\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    read_response(&mut BufReader::new(stream.try_clone().unwrap()))
}

/// Opens an SSE stream on `stream`; returns the status and the reader positioned after the head.
pub fn sse_on(
    mut stream: TcpStream,
    target: &str,
    headers: &[(&str, &str)],
) -> (u16, BufReader<TcpStream>) {
    let mut request =
        format!("GET {target} HTTP/1.1\r\nHost: test\r\nAccept: text/event-stream\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).expect("status line");
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {line:?}"));
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if line.trim_end().is_empty() {
            break;
        }
    }
    (status, reader)
}

/// The `(id, data)` of each event in an SSE body (single-line data).
pub fn sse_events(text: &str) -> Vec<(String, String)> {
    text.split("\n\n")
        .filter_map(|event| {
            let field = |name: &str| {
                event
                    .lines()
                    .find_map(|line| line.strip_prefix(name))
                    .map(str::to_owned)
            };
            Some((field("id: ")?, field("data: ")?))
        })
        .collect()
}
