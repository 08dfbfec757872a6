//! A hand-framed WebSocket client for what tungstenite cannot do (permessage-deflate, RSV bits,
//! upgrades answered without a subprotocol): the upgrade's raw answer, frames read and written
//! byte by byte, and deflate done here with flate2, independently of the gateway's codec.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};

/// The upgrade's answer: status, header fields, and the body of a refusal.
pub struct Upgrade {
    pub stream: TcpStream,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Upgrade {
    pub fn header(&self, name: &str) -> Option<&str> {
        let mut found = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name));
        found.next().map(|(_, v)| v.as_str())
    }
}

/// Sends an upgrade for `path` with `extra` header lines (each ending in `\r\n`) and reads the
/// answer's head (and the body of a non-101).
pub fn upgrade(addr: SocketAddr, path: &str, extra: &str) -> Upgrade {
    let mut stream = super::connect(addr);
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra}\r\n"
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).expect("the upgrade's answer");
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut upgrade = Upgrade {
        stream,
        status,
        headers,
        body: String::new(),
    };
    if status != 101 {
        let len: usize = upgrade.header("content-length").unwrap().parse().unwrap();
        let mut body = vec![0; len];
        upgrade.stream.read_exact(&mut body).unwrap();
        upgrade.body = String::from_utf8(body).unwrap();
    }
    upgrade
}

/// One frame as the server sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub fin: bool,
    pub rsv1: bool,
    pub opcode: u8,
    pub payload: Vec<u8>,
}

pub fn read_frame(stream: &mut TcpStream) -> Frame {
    let mut head = [0u8; 2];
    stream.read_exact(&mut head).expect("a frame");
    let len = match head[1] & 0x7f {
        126 => {
            let mut n = [0u8; 2];
            stream.read_exact(&mut n).unwrap();
            u16::from_be_bytes(n) as usize
        }
        127 => {
            let mut n = [0u8; 8];
            stream.read_exact(&mut n).unwrap();
            u64::from_be_bytes(n) as usize
        }
        n => n as usize,
    };
    assert_eq!(head[1] & 0x80, 0, "server frames are not masked");
    let mut payload = vec![0; len];
    stream.read_exact(&mut payload).unwrap();
    Frame {
        fin: head[0] & 0x80 != 0,
        rsv1: head[0] & 0x40 != 0,
        opcode: head[0] & 0x0f,
        payload,
    }
}

/// The next data or close frame, skipping pings and pongs.
pub fn next_frame(stream: &mut TcpStream) -> Frame {
    loop {
        let frame = read_frame(stream);
        if !matches!(frame.opcode, 0x9 | 0xA) {
            return frame;
        }
    }
}

/// The close code of the next close frame, skipping data and control frames before it.
pub fn close_code(stream: &mut TcpStream) -> (u16, String) {
    loop {
        let frame = read_frame(stream);
        if frame.opcode == 0x8 {
            let code = u16::from_be_bytes([frame.payload[0], frame.payload[1]]);
            return (
                code,
                String::from_utf8_lossy(&frame.payload[2..]).into_owned(),
            );
        }
    }
}

/// Writes one masked frame with the given bits.
pub fn send_frame(stream: &mut TcpStream, fin: bool, rsv1: bool, opcode: u8, payload: &[u8]) {
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    let mut frame = vec![(if fin { 0x80 } else { 0 }) | (if rsv1 { 0x40 } else { 0 }) | opcode];
    match payload.len() {
        n if n < 126 => frame.push(0x80 | n as u8),
        n if n <= 0xffff => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    stream.write_all(&frame).unwrap();
}

/// `payload` deflated as a permessage-deflate sender does: raw deflate, sync flush, the final
/// `00 00 ff ff` taken off.
pub fn deflate(payload: &[u8]) -> Vec<u8> {
    let mut compress = Compress::new(Compression::default(), false);
    let mut out = Vec::with_capacity(payload.len() + 1024);
    compress
        .compress_vec(payload, &mut out, FlushCompress::Sync)
        .unwrap();
    assert_eq!(compress.total_in() as usize, payload.len());
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
    out.truncate(out.len() - 4);
    out
}

/// A received permessage-deflate payload inflated (the tail put back).
pub fn inflate(payload: &[u8]) -> Vec<u8> {
    let mut decompress = Decompress::new(false);
    let mut input = payload.to_vec();
    input.extend_from_slice(&[0, 0, 0xff, 0xff]);
    let mut out = Vec::with_capacity(payload.len() * 20 + 1024);
    loop {
        let consumed = decompress.total_in() as usize;
        decompress
            .decompress_vec(&input[consumed..], &mut out, FlushDecompress::Sync)
            .unwrap();
        if decompress.total_in() as usize == input.len() && out.len() < out.capacity() {
            return out;
        }
        out.reserve(out.capacity());
    }
}
