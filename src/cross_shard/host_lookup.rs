//! Name resolution without blocking a shard: `getaddrinfo` blocks, so a host name is resolved on
//! a short-lived thread of its own and the answer handed back through a waker. IP literals (the
//! usual broker address) never leave the shard.

#![allow(
    clippy::disallowed_types,
    reason = "getaddrinfo blocks, so a resolver thread hands the answer to the shard through this slot (taken once, never across an await)"
)]
use std::future::poll_fn;
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::task::Poll;

use atomic_waker::AtomicWaker;

#[derive(Default)]
struct Answer {
    addrs: Mutex<Option<io::Result<Vec<SocketAddr>>>>,
    waker: AtomicWaker,
}

/// The addresses of `host:port`.
pub async fn lookup_host(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    if let Ok(ip) = host.trim_matches(['[', ']']).parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let answer = Arc::new(Answer::default());
    let writer = answer.clone();
    let host = host.to_owned();
    std::thread::Builder::new()
        .name("tidegate-lookup".to_owned())
        .spawn(move || {
            let addrs = (host.as_str(), port)
                .to_socket_addrs()
                .map(Iterator::collect);
            if let Ok(mut slot) = writer.addrs.lock() {
                *slot = Some(addrs);
            }
            writer.waker.wake();
        })?;
    poll_fn(|cx| {
        answer.waker.register(cx.waker());
        let taken = answer.addrs.lock().ok().and_then(|mut slot| slot.take());
        match taken {
            Some(addrs) => Poll::Ready(addrs),
            None => Poll::Pending,
        }
    })
    .await
}
