//! Many SSE clients reading a replay at once, each checking what it got record by record.
//!
//! Records carry `P:I:` at the start of their payload (partition `P`, the record's index `I`
//! in its partition, as `tests/kafka/client.py produce-many` writes them). A client reads until
//! it has `expected` records, its stream ends, or the deadline passes, and keeps the
//! `(P, I)` pairs in arrival order so the test can check them exactly.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// What one client received.
#[derive(Debug, Default)]
pub struct Received {
    /// HTTP status of the stream's answer.
    pub status: u16,
    /// `(partition, index)` of every record, in arrival order.
    pub records: Vec<(u32, u64)>,
    /// The last `id:` seen (the client's resume position).
    pub last_id: Option<String>,
}

/// Opens `target` as SSE on `addr` and reads records until `expected` arrived, the stream
/// ended, or `deadline` passed.
pub fn read_records(
    addr: SocketAddr,
    target: &str,
    expected: usize,
    deadline: Instant,
) -> Received {
    read_records_then(addr, target, expected, deadline, || {})
}

/// `read_records`, calling `opened` once the stream's answer head arrived.
pub fn read_records_then(
    addr: SocketAddr,
    target: &str,
    expected: usize,
    deadline: Instant,
    opened: impl FnOnce(),
) -> Received {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let request =
        format!("GET {target} HTTP/1.1\r\nHost: test\r\nAccept: text/event-stream\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut reader = BufReader::with_capacity(64 * 1024, stream);
    let mut received = Received::default();
    let mut line = String::new();
    if !read_head_line(&mut reader, &mut line, deadline) {
        return received;
    }
    received.status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    loop {
        line.clear();
        if !read_head_line(&mut reader, &mut line, deadline) || line == "\r\n" {
            break;
        }
    }
    if received.status != 200 {
        return received;
    }
    opened();
    let mut pending = String::new();
    while received.records.len() < expected && Instant::now() < deadline {
        let mut size = String::new();
        match reader.read_line(&mut size) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => continue,
            Err(_) => break,
        }
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        let mut chunk = vec![0; size + 2];
        if reader.read_exact(&mut chunk).is_err() || size == 0 {
            break;
        }
        pending.push_str(std::str::from_utf8(&chunk[..size]).expect("UTF-8"));
        let complete = pending.rfind('\n').map_or(0, |i| i + 1);
        for line in pending[..complete].lines() {
            if let Some(data) = line.strip_prefix("data: ") {
                let mut parts = data.splitn(3, ':');
                let (Some(p), Some(i)) = (parts.next(), parts.next()) else {
                    continue;
                };
                if let (Ok(p), Ok(i)) = (p.parse(), i.parse()) {
                    received.records.push((p, i));
                }
            } else if let Some(id) = line.strip_prefix("id: ") {
                received.last_id = Some(id.to_owned());
            }
        }
        pending.drain(..complete);
    }
    received
}

/// Reads one line of the answer's head, waiting for it until `deadline` (a loaded gateway may
/// take longer than one read timeout to answer 100 clients connecting at once); false when the
/// connection ended or failed, or the deadline passed.
fn read_head_line(reader: &mut BufReader<TcpStream>, line: &mut String, deadline: Instant) -> bool {
    loop {
        match reader.read_line(line) {
            Ok(0) => return false,
            Ok(_) if line.ends_with('\n') => return true,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) && Instant::now() < deadline => {}
            Err(_) => return false,
        }
    }
}

/// Checks that `received` holds, for every partition `p`, exactly the indices
/// `from[p]..per_partition` once each and in order; returns what is wrong, if anything.
pub fn check_exactly_once_in_order(
    received: &Received,
    from: &[u64],
    per_partition: u64,
) -> Result<(), String> {
    let mut next: Vec<u64> = from.to_vec();
    for &(p, i) in &received.records {
        let Some(expected) = next.get_mut(p as usize) else {
            return Err(format!("record of unknown partition {p}"));
        };
        if i != *expected {
            return Err(format!(
                "partition {p}: got index {i} where {expected} was due ({} records in)",
                received.records.len()
            ));
        }
        *expected += 1;
    }
    for (p, &n) in next.iter().enumerate() {
        if n != per_partition {
            return Err(format!(
                "partition {p}: stopped at {n} of {per_partition} ({} records in)",
                received.records.len()
            ));
        }
    }
    Ok(())
}
