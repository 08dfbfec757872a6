//! This process's established TCP connections to one port, read from /proc (the broker
//! connection counts of the Kafka tests).
//!
//! /proc/net/tcp is not a snapshot: the kernel prints it a page at a time and resumes its walk
//! of the socket tables by position, so while other sockets open and close (a loaded machine:
//! other tests' gateways, brokers and clients) one read may list a socket twice, or miss one.
//! Counting its lines made tests/kafka_replay.rs see up to twice the gateway's connections
//! (samples of 22 with 11 open, 30 with 15, while rskafka logged exactly 11 and 15 connects):
//! the "~20 extra broker connections during a replay" of issue 16. So a socket counts once, by
//! its inode, over two reads (a socket one read missed is in the other).

use std::collections::HashSet;

/// Distinct sockets among `ours` (inodes) that `tables` (texts of /proc/net/tcp) list as
/// established to `port` (their remote port).
pub fn established_to(tables: &[String], port: u16, ours: &HashSet<String>) -> usize {
    let port_hex = format!(":{port:04X}");
    let mut seen = HashSet::new();
    for table in tables {
        for line in table.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() > 9
                && fields[2].ends_with(&port_hex)
                && fields[3] == "01"
                && ours.contains(fields[9])
            {
                seen.insert(fields[9].to_owned());
            }
        }
    }
    seen.len()
}

/// The socket inodes this process holds open.
pub fn socket_inodes() -> HashSet<String> {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return HashSet::new();
    };
    dir.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| {
            let l = l.to_string_lossy().into_owned();
            l.strip_prefix("socket:[")?
                .strip_suffix(']')
                .map(str::to_owned)
        })
        .collect()
}

/// This process's established TCP connections to `port` on IPv4, each counted once.
pub fn established_from_this_process(port: u16) -> usize {
    let ours = socket_inodes();
    let read = || std::fs::read_to_string("/proc/self/net/tcp").unwrap_or_default();
    established_to(&[read(), read()], port, &ours)
}
