//! A server-side TLS session driven sans-IO on a shard: ciphertext read from the socket is fed in
//! (`absorb`), plaintext to send comes out as ciphertext (`seal`). The socket I/O stays where it
//! was (`server::conn`, `server::duplex`), so the write stall deadline, the gathered writes and
//! the reader task are the same for TLS and plaintext connections.
//!
//! The session is shared by a streaming connection's reader task and its writer (`Rc<RefCell>`),
//! borrowed only between awaits, never across one.

use std::cell::{Cell, RefCell};
use std::io::{self, Read};
use std::rc::Rc;

use bytes::{BufMut, Bytes, BytesMut};
use rustls::ServerConnection;

use super::peer::PeerCertificates;
use super::record_tail::RecordTail;

/// Most ciphertext rustls is asked to hold before it is processed (one read's worth is fed at a
/// time; rustls also bounds what it buffers itself).
const ABSORB_STEP_BYTES: usize = 16 * 1024 + 512;

/// One TLS connection's state.
#[derive(Clone)]
pub struct TlsSession {
    conn: Rc<RefCell<ServerConnection>>,
    peer: Option<Rc<PeerCertificates>>,
    /// The record framing of the ciphertext fed so far: how much of a partial record rustls
    /// holds (`held_record_bytes`).
    tail: Rc<Cell<RecordTail>>,
}

/// What feeding ciphertext gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Absorbed {
    /// Plaintext bytes appended to the caller's buffer.
    pub plaintext: usize,
    /// The client sent close_notify: no more plaintext will come.
    pub closed: bool,
}

impl TlsSession {
    /// Wraps a connection whose handshake is complete; `tail` follows what the handshake fed it.
    pub(crate) fn new(conn: ServerConnection, tail: RecordTail) -> TlsSession {
        let peer = conn
            .peer_certificates()
            .filter(|chain| !chain.is_empty())
            .map(|chain| Rc::new(PeerCertificates::new(chain.to_vec())));
        TlsSession {
            conn: Rc::new(RefCell::new(conn)),
            peer,
            tail: Rc::new(Cell::new(tail)),
        }
    }

    /// The client's verified certificate chain (`clientAuth: request | require`).
    pub fn peer_certificates(&self) -> Option<&Rc<PeerCertificates>> {
        self.peer.as_ref()
    }

    /// The SNI name the client asked for, if any.
    pub fn server_name(&self) -> Option<String> {
        self.conn.borrow().server_name().map(str::to_owned)
    }

    /// Feeds `cipher` (emptied) to the session and appends the plaintext it holds to `out`. An
    /// invalid record is an `InvalidData` error; the alert rustls wants to send then waits in
    /// `pending_output`. The start of a record that is not complete yet stays in the session
    /// (`held_record_bytes`): the caller's buffer is free after this.
    pub fn absorb(&self, cipher: &mut BytesMut, out: &mut BytesMut) -> io::Result<Absorbed> {
        let mut tail = self.tail.get();
        let absorbed = absorb(&mut self.conn.borrow_mut(), &mut tail, cipher, out);
        self.tail.set(tail);
        absorbed
    }

    /// Ciphertext bytes of a partial record the session holds, waiting for the rest (counted in
    /// the read-buffer gauge; bounded by the largest TLS record).
    pub fn held_record_bytes(&self) -> usize {
        self.tail.get().held()
    }

    /// Encrypts `plain`, appending the records (after anything rustls wanted to send already,
    /// e.g. an answer to a key update) to `out`.
    pub fn seal(&self, plain: &[Bytes], out: &mut BytesMut) -> io::Result<()> {
        let mut conn = self.conn.borrow_mut();
        for part in plain {
            io::Write::write_all(&mut conn.writer(), part)?;
            drain_output(&mut conn, out)?;
        }
        drain_output(&mut conn, out)
    }

    /// What rustls wants to send now (an alert after an error, handshake data).
    pub fn pending_output(&self, out: &mut BytesMut) -> io::Result<()> {
        drain_output(&mut self.conn.borrow_mut(), out)
    }

    /// Queues close_notify and returns the records to send (none while the session is in use,
    /// e.g. when a panic unwinds through an encryption).
    pub fn close_notify(&self) -> BytesMut {
        let mut out = BytesMut::new();
        let Ok(mut conn) = self.conn.try_borrow_mut() else {
            return out;
        };
        conn.send_close_notify();
        let _ = drain_output(&mut conn, &mut out);
        out
    }
}

/// `TlsSession::absorb` on an unshared connection (the handshake).
pub(super) fn absorb(
    conn: &mut ServerConnection,
    tail: &mut RecordTail,
    cipher: &mut BytesMut,
    out: &mut BytesMut,
) -> io::Result<Absorbed> {
    let mut absorbed = Absorbed {
        plaintext: 0,
        closed: false,
    };
    while !cipher.is_empty() {
        let step = cipher.len().min(ABSORB_STEP_BYTES);
        let fed = conn.read_tls(&mut &cipher[..step])?;
        tail.advance(&cipher[..fed]);
        let _ = cipher.split_to(fed);
        let state = conn
            .process_new_packets()
            .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))?;
        let ready = state.plaintext_bytes_to_read();
        if ready > 0 {
            let start = out.len();
            out.resize(start + ready, 0);
            let read = conn.reader().read(&mut out[start..])?;
            out.truncate(start + read);
            absorbed.plaintext += read;
        }
        if state.peer_has_closed() {
            absorbed.closed = true;
            cipher.clear();
        }
        if fed == 0 && !cipher.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "TLS records arrive faster than they can be processed",
            ));
        }
    }
    Ok(absorbed)
}

/// Moves every record rustls has ready into `out`.
pub(super) fn drain_output(conn: &mut ServerConnection, out: &mut BytesMut) -> io::Result<()> {
    let mut writer = std::mem::take(out).writer();
    while conn.wants_write() {
        conn.write_tls(&mut writer)?;
    }
    *out = writer.into_inner();
    Ok(())
}
