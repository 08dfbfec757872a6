//! A shard that cannot accept (the process is out of file descriptors) counts every failure in
//! `accept_errors_total` but logs at most one line per 10 s, and serves again once descriptors
//! are free.
//!
//! The descriptor limit belongs to the whole process, so this file holds one test, which runs on
//! both drivers in turn.

#![allow(
    clippy::disallowed_types,
    reason = "a test: its clients and fakes run on plain threads, never on a shard"
)]
mod common;

use std::fs::File;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use socket2::{Domain, Socket, Type};
use tidegate::config::DriverChoice;

/// Everything the gateway logs, as text.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn lines_with(&self, text: &str) -> usize {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .filter(|line| line.contains(text))
            .count()
    }
    fn clear(&self) {
        self.0.lock().unwrap().clear();
    }
}

/// Takes every free descriptor number below a lowered soft limit; restores both when dropped.
struct Exhausted {
    saved: libc::rlimit,
    fillers: Vec<File>,
}

impl Exhausted {
    fn now() -> Exhausted {
        let highest = std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u64>().ok())
            .max()
            .unwrap();
        let mut saved = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit/setrlimit write/read the struct we pass, nothing else.
        unsafe {
            assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut saved), 0);
            let lowered = libc::rlimit {
                rlim_cur: highest + 1,
                rlim_max: saved.rlim_max,
            };
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lowered), 0);
        }
        let mut fillers = Vec::new();
        while let Ok(file) = File::open("/dev/null") {
            fillers.push(file);
        }
        Exhausted { saved, fillers }
    }
}

impl Drop for Exhausted {
    fn drop(&mut self) {
        self.fillers.clear();
        // SAFETY: as above.
        unsafe {
            libc::setrlimit(libc::RLIMIT_NOFILE, &self.saved);
        }
    }
}

fn accept_errors(gateway: &tidegate::runtime::Gateway) -> u64 {
    let text = tidegate::metrics::render_prometheus(gateway.metrics());
    text.lines()
        .find_map(|line| line.strip_prefix("tidegate_accept_errors_total{shard=\"0\"} "))
        .map_or(0, |value| value.parse().unwrap())
}

fn out_of_descriptors(driver: DriverChoice, log: &Captured) {
    let mut config = test_config(&mock_api_yaml(1000), driver);
    config.gateway.shards = std::num::NonZeroUsize::new(1);
    config.gateway.admin_listen = None;
    let gateway = start(config);
    let addr = gateway.local_addr();
    // Sockets made while descriptors are left; they connect once none are.
    let clients: Vec<Socket> = (0..4)
        .map(|_| Socket::new(Domain::IPV4, Type::STREAM, None).unwrap())
        .collect();
    log.clear();

    let exhausted = Exhausted::now();
    let started = Instant::now();
    for client in &clients {
        client.connect(&addr.into()).unwrap();
    }
    // Each failed accept is retried after 50 ms: wait for 40 of them, by the metric or the log.
    let failing = eventually(Duration::from_secs(60), || {
        accept_errors(&gateway) >= 40 || log.lines_with("accept failed") >= 40
    });
    let elapsed = started.elapsed();
    drop(exhausted);
    assert!(failing, "accepts never failed");

    let lines = log.lines_with("accept failed");
    let allowed = 1 + (elapsed.as_secs() / 10) as usize;
    assert!(
        (1..=allowed).contains(&lines),
        "{lines} log lines for {} failed accepts in {elapsed:?}",
        accept_errors(&gateway)
    );
    assert!(accept_errors(&gateway) >= 40);

    // Descriptors are free again: the waiting clients are accepted and new ones served.
    drop(clients);
    assert!(eventually(Duration::from_secs(30), || get(
        addr,
        "/mock?limit=1",
        &[]
    )
    .status
        == 200));
}

#[test]
fn failing_accepts_are_counted_and_logged_sparingly() {
    let log = Captured::default();
    let writer = log.clone();
    tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();
    // one driver: both, in turn, in one test (one log subscriber per process).
    out_of_descriptors(DriverChoice::Epoll, &log);
    out_of_descriptors(DriverChoice::IoUring, &log);
}
