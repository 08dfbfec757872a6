//! Streaming decoder of an HTTP/1.1 chunked body (the gateway sends SSE this way): yields each
//! chunk's data as it arrives, without waiting for the body to end.

use bytes::{Buf, BytesMut};

/// Where the decoder is inside the chunked framing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Reading a chunk-size line.
    Size,
    /// Inside chunk data, this many bytes left.
    Data(usize),
    /// Expecting the CRLF after chunk data.
    DataEnd,
    /// The last chunk (size 0) was read.
    Done,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("malformed chunked body: {0}")]
pub struct ChunkedError(&'static str);

#[derive(Debug)]
pub struct Dechunker {
    state: State,
}

impl Default for Dechunker {
    fn default() -> Self {
        Dechunker { state: State::Size }
    }
}

impl Dechunker {
    /// Consumes what it can of `buf`, appending chunk data to `out`. Returns `true` once the last
    /// chunk was seen.
    pub fn decode(&mut self, buf: &mut BytesMut, out: &mut Vec<u8>) -> Result<bool, ChunkedError> {
        loop {
            match self.state {
                State::Done => return Ok(true),
                State::Size => {
                    let Some(eol) = buf.windows(2).position(|w| w == b"\r\n") else {
                        if buf.len() > 64 {
                            return Err(ChunkedError("chunk-size line too long"));
                        }
                        return Ok(false);
                    };
                    let line = std::str::from_utf8(&buf[..eol])
                        .map_err(|_| ChunkedError("chunk size is not ASCII"))?;
                    let digits = line.split(';').next().unwrap_or("").trim();
                    let size = usize::from_str_radix(digits, 16)
                        .map_err(|_| ChunkedError("chunk size is not hex"))?;
                    buf.advance(eol + 2);
                    self.state = if size == 0 {
                        State::Done
                    } else {
                        State::Data(size)
                    };
                }
                State::Data(left) => {
                    if buf.is_empty() {
                        return Ok(false);
                    }
                    let take = left.min(buf.len());
                    out.extend_from_slice(&buf[..take]);
                    buf.advance(take);
                    self.state = if take == left {
                        State::DataEnd
                    } else {
                        State::Data(left - take)
                    };
                }
                State::DataEnd => {
                    if buf.len() < 2 {
                        return Ok(false);
                    }
                    if &buf[..2] != b"\r\n" {
                        return Err(ChunkedError("chunk data not followed by CRLF"));
                    }
                    buf.advance(2);
                    self.state = State::Size;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = b"5\r\nhello\r\n007\r\n, world\r\n1;ext=1\r\n!\r\n0\r\n\r\n";

    #[test]
    fn decodes_whole_and_byte_by_byte() {
        for step in [BODY.len(), 1, 3] {
            let (mut dechunker, mut buf, mut out) = (Dechunker::default(), BytesMut::new(), vec![]);
            let mut done = false;
            for piece in BODY.chunks(step) {
                buf.extend_from_slice(piece);
                done = dechunker.decode(&mut buf, &mut out).unwrap();
            }
            assert!(done);
            assert_eq!(out, b"hello, world!");
        }
    }

    #[test]
    fn rejects_garbage() {
        let mut buf = BytesMut::from(&b"zz\r\n"[..]);
        assert!(Dechunker::default().decode(&mut buf, &mut vec![]).is_err());
        let mut buf = BytesMut::from(&b"2\r\nabXY"[..]);
        assert!(Dechunker::default().decode(&mut buf, &mut vec![]).is_err());
    }
}
