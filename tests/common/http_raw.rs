//! Raw-socket helpers for HTTP conformance tests: requests with exact bytes, answers read one
//! at a time, and the gateway's reaction to a request it must refuse before its body.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};

use super::{connect, read_response, Response};

/// A connection that writes raw bytes and reads whole responses.
pub struct RawConn {
    pub writer: TcpStream,
    pub reader: BufReader<TcpStream>,
}

impl RawConn {
    pub fn open(addr: SocketAddr) -> RawConn {
        let writer = connect(addr);
        let reader = BufReader::new(writer.try_clone().unwrap());
        RawConn { writer, reader }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).unwrap();
    }

    /// Reads one complete response (status line, fields, body).
    pub fn response(&mut self) -> Response {
        read_response(&mut self.reader)
    }

    /// Reads an interim `1xx` response (status line and fields, no body); returns its status.
    pub fn interim_status(&mut self) -> u16 {
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("status line");
        let status = line
            .split_whitespace()
            .nth(1)
            .unwrap_or_else(|| panic!("bad status line {line:?}"))
            .parse()
            .unwrap();
        loop {
            let mut field = String::new();
            self.reader.read_line(&mut field).unwrap();
            if field.trim_end().is_empty() {
                return status;
            }
        }
    }

    /// True when the gateway closed the connection (reads end of stream).
    pub fn closed_by_peer(&mut self) -> bool {
        let mut rest = Vec::new();
        std::io::Read::read_to_end(&mut self.reader, &mut rest).is_ok() && rest.is_empty()
    }
}
