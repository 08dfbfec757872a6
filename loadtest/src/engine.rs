//! The client event loop: many non-blocking sockets on one `mio::Poll`, one thread.
//!
//! Readiness-based I/O is what lets one thread hold 100k mostly idle connections with bounded
//! memory: a socket costs its state machine and nothing else until bytes arrive, which are read
//! into one per-thread scratch buffer and handed to the connection's [`Session`]. (With
//! completion-based I/O every idle connection would pin a read buffer in the kernel.)
//!
//! Connections are opened gradually (at most [`MAX_CONNECTING`] handshakes at a time, so the
//! server's accept backlog never overflows) from source addresses 127.0.0.1, 127.0.0.2, … so
//! that more than one address's worth of ephemeral ports is available.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::time::Duration;

use bytes::BytesMut;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use socket2::{Domain, Socket, Type};

/// TCP connects in flight at once.
pub const MAX_CONNECTING: usize = 512;
/// Bytes read per `read` call, into the one scratch buffer of the thread.
const SCRATCH_BYTES: usize = 64 * 1024;
/// An emptied inbound buffer larger than this is freed, so a burst does not stay resident.
const KEEP_INBOUND_BYTES: usize = 16 * 1024;
/// Reads one socket gets per turn before the others have theirs (1 MiB with the scratch buffer).
/// A fast server refills a socket as quickly as one thread drains it: reading until
/// `WouldBlock` let one connection hold the thread for seconds while the others' servers saw a
/// client that stopped reading, and the thread's progress counters (published once per turn)
/// stood still.
const READS_PER_TURN: usize = 16;

/// Why a connection ended.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("server answered {status}: {detail}")]
    Status { status: u16, detail: String },
    #[error("protocol error: {0}")]
    Protocol(String),
    #[error("closed by the server: {0}")]
    Closed(String),
}

/// One connection's protocol, sans-IO: it is told what arrived and appends what to send.
pub trait Session {
    type Ctx;
    /// The TCP connection is up: write the request or handshake to `out`.
    fn start(&mut self, out: &mut BytesMut, ctx: &mut Self::Ctx);
    /// Bytes arrived in `inbound`: consume what is complete, leave the rest.
    fn receive(
        &mut self,
        inbound: &mut BytesMut,
        out: &mut BytesMut,
        ctx: &mut Self::Ctx,
    ) -> Result<(), SessionError>;
    /// The connection failed or ended; it is not used again.
    fn closed(&mut self, error: &SessionError, ctx: &mut Self::Ctx);
}

#[derive(Debug, PartialEq, Eq)]
enum Phase {
    Queued,
    Connecting,
    Open,
    Closed,
}

struct Slot<S> {
    stream: Option<TcpStream>,
    /// The TLS session, when the engine connects over TLS (`use_tls`).
    tls: Option<rustls::ClientConnection>,
    phase: Phase,
    session: S,
    out: BytesMut,
    inbound: BytesMut,
}

/// A set of client connections to one target, driven by [`Engine::turn`].
pub struct Engine<S> {
    poll: Poll,
    events: Events,
    target: SocketAddr,
    source_ips: u8,
    slots: Vec<Slot<S>>,
    next_queued: usize,
    connecting: usize,
    scratch: Vec<u8>,
    /// Connections whose last turn ended at [`READS_PER_TURN`] with bytes still to read: the
    /// poller is edge-triggered, so they are read again next turn without a new event.
    still_readable: Vec<usize>,
    /// Connect over TLS with this configuration and SNI name.
    tls: Option<(
        std::sync::Arc<rustls::ClientConfig>,
        rustls::pki_types::ServerName<'static>,
    )>,
}

impl<S: Session> Engine<S> {
    /// Connections `sessions` to `target`, spread over `source_ips` loopback source addresses
    /// (when the target is a loopback address; at least 1).
    pub fn new(target: SocketAddr, source_ips: u8, sessions: Vec<S>) -> io::Result<Engine<S>> {
        let slots = sessions
            .into_iter()
            .map(|session| Slot {
                stream: None,
                tls: None,
                phase: Phase::Queued,
                session,
                out: BytesMut::new(),
                inbound: BytesMut::new(),
            })
            .collect();
        Ok(Engine {
            poll: Poll::new()?,
            events: Events::with_capacity(1024),
            target,
            source_ips: source_ips.max(1),
            slots,
            next_queued: 0,
            connecting: 0,
            scratch: vec![0; SCRATCH_BYTES],
            still_readable: Vec::new(),
            tls: None,
        })
    }

    /// Every connection speaks TLS (client `config`, SNI `name`) from its first byte.
    pub fn use_tls(
        &mut self,
        config: std::sync::Arc<rustls::ClientConfig>,
        name: &str,
    ) -> io::Result<()> {
        let name = rustls::pki_types::ServerName::try_from(name.to_owned())
            .map_err(|err| io::Error::new(io::ErrorKind::InvalidInput, err))?;
        self.tls = Some((config, name));
        Ok(())
    }

    /// Opens more connections, waits up to `timeout` for I/O, and handles what is ready.
    pub fn turn(&mut self, timeout: Duration, ctx: &mut S::Ctx) -> io::Result<()> {
        self.open_more(ctx);
        let mut ready = std::mem::take(&mut self.still_readable);
        let timeout = if ready.is_empty() {
            timeout
        } else {
            Duration::ZERO
        };
        match self.poll.poll(&mut self.events, Some(timeout)) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
        ready.extend(self.events.iter().map(|event| event.token().0));
        ready.sort_unstable();
        ready.dedup();
        for index in ready {
            self.on_ready(index, ctx);
        }
        Ok(())
    }

    /// Lets every open session append to its output (e.g. due messages), then writes.
    pub fn pump(
        &mut self,
        ctx: &mut S::Ctx,
        mut produce: impl FnMut(&mut S, &mut BytesMut, &mut S::Ctx),
    ) {
        for index in 0..self.slots.len() {
            let slot = &mut self.slots[index];
            if slot.phase == Phase::Open {
                produce(&mut slot.session, &mut slot.out, ctx);
                if !slot.out.is_empty() {
                    self.flush(index, ctx);
                }
            }
        }
    }

    pub fn sessions(&self) -> impl Iterator<Item = &S> {
        self.slots.iter().map(|slot| &slot.session)
    }

    /// Closes every connection and returns the sessions.
    pub fn into_sessions(self) -> Vec<S> {
        self.slots.into_iter().map(|slot| slot.session).collect()
    }

    /// Connections not yet closed (queued, connecting or open).
    pub fn live(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| s.phase != Phase::Closed)
            .count()
    }

    fn open_more(&mut self, ctx: &mut S::Ctx) {
        while self.connecting < MAX_CONNECTING && self.next_queued < self.slots.len() {
            let index = self.next_queued;
            self.next_queued += 1;
            let source = self.source_for(index);
            match connect(self.target, source) {
                Ok(mut stream) => {
                    let interest = Interest::READABLE | Interest::WRITABLE;
                    if let Err(err) =
                        self.poll
                            .registry()
                            .register(&mut stream, Token(index), interest)
                    {
                        self.close(index, SessionError::Io(err), ctx);
                        continue;
                    }
                    let tls = match &self.tls {
                        None => None,
                        Some((config, name)) => {
                            match rustls::ClientConnection::new(config.clone(), name.clone()) {
                                Ok(conn) => Some(conn),
                                Err(err) => {
                                    let err = io::Error::other(err);
                                    self.close(index, SessionError::Io(err), ctx);
                                    continue;
                                }
                            }
                        }
                    };
                    let slot = &mut self.slots[index];
                    slot.stream = Some(stream);
                    slot.tls = tls;
                    slot.phase = Phase::Connecting;
                    self.connecting += 1;
                }
                Err(err) => self.close(index, SessionError::Io(err), ctx),
            }
        }
    }

    fn source_for(&self, index: usize) -> Option<IpAddr> {
        match self.target.ip() {
            IpAddr::V4(ip) if ip.is_loopback() => {
                let host = 1 + (index % usize::from(self.source_ips)) as u8;
                Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, host)))
            }
            _ => None,
        }
    }

    fn on_ready(&mut self, index: usize, ctx: &mut S::Ctx) {
        if self.slots[index].phase == Phase::Connecting {
            let Some(stream) = self.slots[index].stream.as_ref() else {
                return;
            };
            match stream.take_error() {
                Ok(Some(err)) | Err(err) => return self.close(index, SessionError::Io(err), ctx),
                Ok(None) => {}
            }
            match stream.peer_addr() {
                Ok(_) => {}
                Err(err) if err.kind() == io::ErrorKind::NotConnected => return,
                Err(err) => return self.close(index, SessionError::Io(err), ctx),
            }
            self.connecting -= 1;
            let slot = &mut self.slots[index];
            slot.phase = Phase::Open;
            slot.session.start(&mut slot.out, ctx);
        }
        if self.slots[index].phase != Phase::Open {
            return;
        }
        match self.read(index, ctx) {
            Ok(true) => {}
            Ok(false) => self.still_readable.push(index),
            Err(err) => return self.close(index, err, ctx),
        }
        self.flush(index, ctx);
    }

    /// Reads until the socket would block (`true`) or [`READS_PER_TURN`] reads were made
    /// (`false`: more may be waiting), handing each read to the session.
    fn read(&mut self, index: usize, ctx: &mut S::Ctx) -> Result<bool, SessionError> {
        let slot = &mut self.slots[index];
        let Some(stream) = slot.stream.as_mut() else {
            return Ok(true);
        };
        for _ in 0..READS_PER_TURN {
            match stream.read(&mut self.scratch) {
                Ok(0) => {
                    slot.session
                        .receive(&mut slot.inbound, &mut slot.out, ctx)?;
                    return Err(SessionError::Closed("connection closed".into()));
                }
                Ok(n) => {
                    match slot.tls.as_mut() {
                        Some(tls) => decrypt(tls, &self.scratch[..n], &mut slot.inbound)?,
                        None => slot.inbound.extend_from_slice(&self.scratch[..n]),
                    }
                    slot.session
                        .receive(&mut slot.inbound, &mut slot.out, ctx)?;
                    if slot.inbound.is_empty() && slot.inbound.capacity() > KEEP_INBOUND_BYTES {
                        slot.inbound = BytesMut::new();
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(true),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(SessionError::Io(err)),
            }
        }
        Ok(false)
    }

    /// Writes pending output until done or the socket would block (a writable event resumes).
    fn flush(&mut self, index: usize, ctx: &mut S::Ctx) {
        let slot = &mut self.slots[index];
        let Some(stream) = slot.stream.as_mut() else {
            return;
        };
        if let Some(tls) = slot.tls.as_mut() {
            // Plaintext into the session (buffered until the handshake is done), records out.
            if !slot.out.is_empty() {
                if let Err(err) = tls.writer().write_all(&slot.out) {
                    return self.close(index, SessionError::Io(err), ctx);
                }
                slot.out.clear();
            }
            while tls.wants_write() {
                match tls.write_tls(stream) {
                    Ok(_) => {}
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => return,
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                    Err(err) => return self.close(index, SessionError::Io(err), ctx),
                }
            }
            return;
        }
        while !slot.out.is_empty() {
            match stream.write(&slot.out) {
                Ok(0) => {
                    let err = io::Error::new(io::ErrorKind::WriteZero, "socket accepted no bytes");
                    return self.close(index, SessionError::Io(err), ctx);
                }
                Ok(n) => {
                    let _ = slot.out.split_to(n);
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return self.close(index, SessionError::Io(err), ctx),
            }
        }
        if slot.out.capacity() > KEEP_INBOUND_BYTES {
            slot.out = BytesMut::new();
        }
    }

    fn close(&mut self, index: usize, error: SessionError, ctx: &mut S::Ctx) {
        let slot = &mut self.slots[index];
        if slot.phase == Phase::Connecting {
            self.connecting -= 1;
        }
        slot.tls = None;
        if let Some(mut stream) = slot.stream.take() {
            let _ = self.poll.registry().deregister(&mut stream);
        }
        if slot.phase != Phase::Closed {
            slot.phase = Phase::Closed;
            slot.out = BytesMut::new();
            slot.inbound = BytesMut::new();
            slot.session.closed(&error, ctx);
        }
    }
}

/// Starts a non-blocking connect from `source` (port chosen at connect time, so each source
/// address offers the whole ephemeral range per destination).
fn connect(target: SocketAddr, source: Option<IpAddr>) -> io::Result<TcpStream> {
    let socket = Socket::new(Domain::for_address(target), Type::STREAM, None)?;
    socket.set_nonblocking(true)?;
    socket.set_tcp_nodelay(true)?;
    if let Some(ip) = source {
        bind_address_no_port(&socket)?;
        socket.bind(&SocketAddr::new(ip, 0).into())?;
    }
    match socket.connect(&target.into()) {
        Ok(()) => {}
        Err(err) if err.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(err) => return Err(err),
    }
    Ok(TcpStream::from_std(std::net::TcpStream::from(socket)))
}

/// `IP_BIND_ADDRESS_NO_PORT`: defer the source port choice from `bind` to `connect`.
fn bind_address_no_port(socket: &Socket) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: a valid socket descriptor and a pointer to a c_int of the size we pass.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Feeds `cipher` to the TLS session and appends the plaintext it gives to `inbound`.
fn decrypt(
    tls: &mut rustls::ClientConnection,
    mut cipher: &[u8],
    inbound: &mut BytesMut,
) -> Result<(), SessionError> {
    while !cipher.is_empty() {
        tls.read_tls(&mut cipher)?;
        let state = tls
            .process_new_packets()
            .map_err(|err| SessionError::Protocol(format!("TLS: {err}")))?;
        let ready = state.plaintext_bytes_to_read();
        if ready > 0 {
            let start = inbound.len();
            inbound.resize(start + ready, 0);
            let got = tls.reader().read(&mut inbound[start..])?;
            inbound.truncate(start + got);
        }
    }
    Ok(())
}
