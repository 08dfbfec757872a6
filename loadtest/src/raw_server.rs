//! The physical limit: a server with no gateway logic on the same workload. It accepts
//! WebSocket upgrades (subscribers) and HTTP POSTs (publishers) on one thread; each POST body is
//! framed once and appended to every subscriber's output, and each subscriber's output is
//! written once per event-loop turn (the same write coalescing the gateway does). No routing, no
//! queues with policies, no retention, no cross-shard hand-off, no metrics.
//!
//! A subscriber with more than [`MAX_PENDING_BYTES`] unwritten is disconnected (the harness
//! counts what it then misses as lost).

use std::io::{self, Read, Write};
use std::net::SocketAddr;

use bytes::BytesMut;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use tidegate::codec::http_body::BodyDecoder;
use tidegate::codec::http_head::{parse_request_head, HeadLimits};
use tidegate::codec::ws::{accept_key, encode_text};

const LISTENER: Token = Token(usize::MAX);
const MAX_PENDING_BYTES: usize = 4 * 1024 * 1024;
const LIMITS: HeadLimits = HeadLimits {
    max_header_bytes: 16 * 1024,
    max_header_count: 64,
};

enum Role {
    /// Still reading a request head.
    Request,
    /// A POST whose body is being read.
    Body(BodyDecoder),
    Subscriber,
}

struct Peer {
    stream: TcpStream,
    role: Role,
    inbound: BytesMut,
    out: BytesMut,
}

/// Serves until killed.
pub fn serve(listen: SocketAddr) -> io::Result<()> {
    let mut poll = Poll::new()?;
    let mut listener = TcpListener::bind(listen)?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut peers: Vec<Option<Peer>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut subscribers: Vec<usize> = Vec::new();
    let mut dirty: Vec<usize> = Vec::new();
    let mut events = Events::with_capacity(1024);
    let mut scratch = vec![0u8; 64 * 1024];
    loop {
        if let Err(err) = poll.poll(&mut events, None) {
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        for event in events.iter() {
            if event.token() == LISTENER {
                accept_all(&listener, &poll, &mut peers, &mut free)?;
                continue;
            }
            let index = event.token().0;
            let mut frames = Vec::new();
            let alive = match peers.get_mut(index).and_then(Option::as_mut) {
                Some(peer) => read_peer(peer, &mut scratch, &mut frames, &mut subscribers, index),
                None => continue,
            };
            for frame in frames {
                subscribers.retain(|&s| peers.get(s).is_some_and(Option::is_some));
                for &s in &subscribers {
                    if let Some(sub) = peers[s]
                        .as_mut()
                        .filter(|p| matches!(p.role, Role::Subscriber))
                    {
                        sub.out.extend_from_slice(&frame);
                        dirty.push(s);
                    }
                }
            }
            dirty.push(index);
            if !alive {
                drop_peer(&poll, &mut peers, &mut free, index);
            }
        }
        dirty.sort_unstable();
        dirty.dedup();
        for index in dirty.drain(..) {
            let Some(peer) = peers.get_mut(index).and_then(Option::as_mut) else {
                continue;
            };
            if !write_out(peer) || peer.out.len() > MAX_PENDING_BYTES {
                drop_peer(&poll, &mut peers, &mut free, index);
            }
        }
    }
}

fn accept_all(
    listener: &TcpListener,
    poll: &Poll,
    peers: &mut Vec<Option<Peer>>,
    free: &mut Vec<usize>,
) -> io::Result<()> {
    loop {
        match listener.accept() {
            Ok((mut stream, _)) => {
                let _ = stream.set_nodelay(true);
                let index = free.pop().unwrap_or_else(|| {
                    peers.push(None);
                    peers.len() - 1
                });
                let interest = Interest::READABLE | Interest::WRITABLE;
                poll.registry()
                    .register(&mut stream, Token(index), interest)?;
                peers[index] = Some(Peer {
                    stream,
                    role: Role::Request,
                    inbound: BytesMut::new(),
                    out: BytesMut::new(),
                });
            }
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            // Out of descriptors and the like: keep serving the peers we have.
            Err(_) => return Ok(()),
        }
    }
}

/// Reads what arrived and handles complete requests; published frames go to `frames`.
/// Returns false when the peer is gone.
fn read_peer(
    peer: &mut Peer,
    scratch: &mut [u8],
    frames: &mut Vec<BytesMut>,
    subscribers: &mut Vec<usize>,
    index: usize,
) -> bool {
    loop {
        match peer.stream.read(scratch) {
            Ok(0) => return false,
            Ok(n) => peer.inbound.extend_from_slice(&scratch[..n]),
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    loop {
        match &mut peer.role {
            Role::Subscriber => {
                // Pongs and the like: nothing to do.
                peer.inbound.clear();
                return true;
            }
            Role::Request => match parse_request_head(&mut peer.inbound, &LIMITS) {
                Ok(None) => return true,
                Err(_) => return false,
                Ok(Some(head)) if head.is_websocket_upgrade() => {
                    let key = accept_key(head.header("sec-websocket-key").unwrap_or_default());
                    peer.out.extend_from_slice(
                        format!(
                            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                             Connection: Upgrade\r\nSec-WebSocket-Accept: {key}\r\n\r\n"
                        )
                        .as_bytes(),
                    );
                    peer.role = Role::Subscriber;
                    subscribers.push(index);
                }
                Ok(Some(head)) => {
                    peer.role = Role::Body(BodyDecoder::new(head.body_framing(), 1 << 20))
                }
            },
            Role::Body(decoder) => match decoder.decode(&mut peer.inbound) {
                Ok(None) => return true,
                Err(_) => return false,
                Ok(Some(body)) => {
                    let mut frame = BytesMut::new();
                    encode_text(&mut frame, &body);
                    frames.push(frame);
                    peer.out
                        .extend_from_slice(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n");
                    peer.role = Role::Request;
                }
            },
        }
    }
}

/// Writes until done or blocked; false when the peer is gone.
fn write_out(peer: &mut Peer) -> bool {
    while !peer.out.is_empty() {
        match peer.stream.write(&peer.out) {
            Ok(0) => return false,
            Ok(n) => {
                let _ = peer.out.split_to(n);
            }
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => return true,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    true
}

fn drop_peer(poll: &Poll, peers: &mut [Option<Peer>], free: &mut Vec<usize>, index: usize) {
    if let Some(mut peer) = peers[index].take() {
        let _ = poll.registry().deregister(&mut peer.stream);
        free.push(index);
    }
}
