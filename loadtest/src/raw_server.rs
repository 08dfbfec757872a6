//! The physical limit: a server with no gateway logic on the same workload. It accepts
//! WebSocket upgrades and SSE requests (`Accept: text/event-stream`) on `/sub` (subscribers),
//! HTTP POSTs and WebSocket upgrades on `/pub` (publishers; a WebSocket publisher's text frames
//! are its messages) on one thread; each message is framed once per subscriber protocol and
//! appended to every subscriber's output, and each subscriber's output is written once per
//! event-loop turn (the same write coalescing the gateway does). No routing, no queues with
//! policies, no retention, no cross-shard hand-off, no metrics.
//!
//! A subscriber with more than [`MAX_PENDING_BYTES`] unwritten is disconnected (the harness
//! counts what it then misses as lost).

use std::io::{self, Read, Write};
use std::net::SocketAddr;

use bytes::{Bytes, BytesMut};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use tidegate::codec::http_body::BodyDecoder;
use tidegate::codec::http_head::{parse_request_head, HeadLimits};
use tidegate::codec::ws::{accept_key, encode_text, FrameDecoder, WsEvent, WsLimits};

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
    /// A WebSocket publisher: each text frame is a message.
    WsPublisher(FrameDecoder),
    Subscriber(SubKind),
}

/// How a subscriber receives: which of a message's two framings it gets.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SubKind {
    Ws,
    Sse,
}

/// One published message, framed once for each subscriber protocol.
struct Framed {
    ws: Bytes,
    sse: Bytes,
}

impl Framed {
    fn new(payload: &[u8]) -> Framed {
        let mut ws = BytesMut::new();
        encode_text(&mut ws, payload);
        let mut sse = BytesMut::with_capacity(payload.len() + 8);
        sse.extend_from_slice(b"data: ");
        sse.extend_from_slice(payload);
        sse.extend_from_slice(b"\n\n");
        Framed {
            ws: ws.freeze(),
            sse: sse.freeze(),
        }
    }
}

struct Peer {
    stream: TcpStream,
    role: Role,
    inbound: BytesMut,
    out: BytesMut,
}

/// Serves until killed.
pub fn serve(listen: SocketAddr) -> io::Result<()> {
    serve_on(std::net::TcpListener::bind(listen)?)
}

/// Serves on a bound listener until killed (tests bind 127.0.0.1:0 and run it on a thread).
pub fn serve_on(listener: std::net::TcpListener) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let mut listener = TcpListener::from_std(listener);
    let mut poll = Poll::new()?;
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
                for &s in &subscribers {
                    let Some(sub) = peers[s].as_mut() else {
                        continue;
                    };
                    match sub.role {
                        Role::Subscriber(SubKind::Ws) => sub.out.extend_from_slice(&frame.ws),
                        Role::Subscriber(SubKind::Sse) => sub.out.extend_from_slice(&frame.sse),
                        _ => continue,
                    }
                    dirty.push(s);
                }
            }
            dirty.push(index);
            if !alive {
                drop_peer(&poll, &mut peers, (&mut free, &mut subscribers), index);
            }
        }
        dirty.sort_unstable();
        dirty.dedup();
        for index in dirty.drain(..) {
            let Some(peer) = peers.get_mut(index).and_then(Option::as_mut) else {
                continue;
            };
            if !write_out(peer) || peer.out.len() > MAX_PENDING_BYTES {
                drop_peer(&poll, &mut peers, (&mut free, &mut subscribers), index);
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
    frames: &mut Vec<Framed>,
    subscribers: &mut Vec<usize>,
    index: usize,
) -> bool {
    // What arrived with the end of the stream still counts: a WebSocket publisher's last
    // frames may come in the same read as its FIN.
    let open = loop {
        match peer.stream.read(scratch) {
            Ok(0) => break false,
            Ok(n) => peer.inbound.extend_from_slice(&scratch[..n]),
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => break true,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break false,
        }
    };
    handle_inbound(peer, frames, subscribers, index) && open
}

/// Handles the complete requests, frames and bodies in `peer.inbound`; false when the peer
/// must be closed.
fn handle_inbound(
    peer: &mut Peer,
    frames: &mut Vec<Framed>,
    subscribers: &mut Vec<usize>,
    index: usize,
) -> bool {
    loop {
        match &mut peer.role {
            Role::Subscriber(_) => {
                // Pongs and the like: nothing to do.
                peer.inbound.clear();
                return true;
            }
            Role::WsPublisher(decoder) => loop {
                match decoder.decode(&mut peer.inbound) {
                    Ok(None) => return true,
                    Ok(Some(WsEvent::Text(payload) | WsEvent::Binary(payload))) => {
                        frames.push(Framed::new(&payload))
                    }
                    Ok(Some(WsEvent::Close(_))) | Err(_) => return false,
                    Ok(Some(_)) => {}
                }
            },
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
                    if head.path() == "/pub" {
                        peer.role = Role::WsPublisher(FrameDecoder::new(WsLimits {
                            max_frame_bytes: 1 << 20,
                            max_message_bytes: 1 << 20,
                        }));
                    } else {
                        peer.role = Role::Subscriber(SubKind::Ws);
                        subscribers.push(index);
                    }
                }
                Ok(Some(head)) if head.accepts_event_stream() => {
                    // Not chunked: the stream ends with the connection.
                    peer.out.extend_from_slice(
                        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\
                          Cache-Control: no-cache\r\nConnection: close\r\n\r\n",
                    );
                    peer.role = Role::Subscriber(SubKind::Sse);
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
                    frames.push(Framed::new(&body));
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

/// Closes a peer; its slot is free for the next connection, so it leaves the subscriber list now
/// (a reused slot listed twice would get every message twice).
fn drop_peer(
    poll: &Poll,
    peers: &mut [Option<Peer>],
    (free, subscribers): (&mut Vec<usize>, &mut Vec<usize>),
    index: usize,
) {
    if let Some(mut peer) = peers[index].take() {
        let _ = poll.registry().deregister(&mut peer.stream);
        free.push(index);
        if let Some(at) = subscribers.iter().position(|&s| s == index) {
            subscribers.swap_remove(at);
        }
    }
}
