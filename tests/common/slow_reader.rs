//! Clients that read slowly or not at all: sockets with a small receive buffer, so the gateway's
//! writes to them stall after a few kilobytes instead of after the kernel's default megabytes.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use socket2::{Domain, Socket, Type};

/// Connects with a receive buffer of about `receive_buffer_bytes` (the kernel doubles it and
/// applies its minimum), set before the handshake so the advertised window stays small.
pub fn connect_small_window(addr: SocketAddr, receive_buffer_bytes: usize) -> TcpStream {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None).expect("socket");
    socket
        .set_recv_buffer_size(receive_buffer_bytes)
        .expect("SO_RCVBUF");
    socket.connect(&addr.into()).expect("connect");
    let stream: TcpStream = socket.into();
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

/// Sends `request` on a small-window connection and returns the socket unread.
pub fn send_small_window(
    addr: SocketAddr,
    receive_buffer_bytes: usize,
    request: &str,
) -> TcpStream {
    let mut stream = connect_small_window(addr, receive_buffer_bytes);
    stream.write_all(request.as_bytes()).unwrap();
    stream
}

/// An SSE request for `path` (HTTP/1.1, chunked answer).
pub fn sse_request(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: test\r\nAccept: text/event-stream\r\n\r\n")
}

/// A socket that reads at most `chunk_bytes` per read and pauses `pause` before each, until
/// `until`; then it reads at full speed. Writes pass through. A reader that is slow but keeps
/// making progress.
pub struct Throttled {
    pub inner: TcpStream,
    pub chunk_bytes: usize,
    pub pause: Duration,
    pub until: std::time::Instant,
}

impl Read for Throttled {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if std::time::Instant::now() >= self.until {
            return self.inner.read(buf);
        }
        std::thread::sleep(self.pause);
        let n = buf.len().min(self.chunk_bytes);
        self.inner.read(&mut buf[..n])
    }
}

impl Write for Throttled {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
