//! Request body decoding (`Content-Length` or chunked), incremental and bounded.
//!
//! [`BodyDecoder::decode`] consumes whatever has arrived and returns the whole body once it is
//! complete; bytes after the body (a pipelined request) are left in the buffer. Any split of the
//! input works, down to one byte at a time: the decoder keeps its position in the chunk grammar
//! between calls. Bounds: the body itself (`max_body_bytes`, 413 as soon as a length or chunk
//! size announces more), the chunk-size line, and the trailer section (skipped, never stored).
//! Line endings must be CRLF: a lenient reading of chunk framing is how request smuggling starts.

use bytes::{Buf, Bytes, BytesMut};
use thiserror::Error;

use super::http_head::BodyFraming;

/// Hex digits accepted in a chunk size (leading zeros included); more is malformed.
const MAX_CHUNK_SIZE_DIGITS: u8 = 32;
/// Bytes of chunk extensions accepted on one size line; they are ignored.
const MAX_CHUNK_EXTENSION_BYTES: usize = 1024;
/// Bytes of trailer fields accepted after the last chunk; they are ignored.
const MAX_TRAILER_BYTES: usize = 8192;

/// A body the client framed wrongly or made too large. Both close the connection: the rest of
/// the body is unread, so the next request's start is unknown.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// The body, or a `Content-Length` or chunk size announcing it, goes past the limit (413).
    #[error("request body exceeds {max_body_bytes} bytes")]
    TooLarge {
        /// The limit it went past, as given to [`BodyDecoder::new`].
        max_body_bytes: usize,
    },
    /// Chunked framing that breaks the grammar (bare LF, bad hex size, oversized extension or
    /// trailer …); the text names the rule broken (400).
    #[error("malformed chunked body: {0}")]
    Malformed(&'static str),
}

impl BodyError {
    /// The HTTP status the error is answered with: 413 for too large, 400 for malformed.
    pub fn status(&self) -> u16 {
        match self {
            BodyError::TooLarge { .. } => 413,
            BodyError::Malformed(_) => 400,
        }
    }

    /// Always true: the rest of the body is unread, so the next request's start is unknown and
    /// the connection cannot be reused.
    pub fn closes_connection(&self) -> bool {
        true
    }
}

/// Where the decoder is in the body grammar.
#[derive(Debug)]
enum State {
    /// `Content-Length` bytes still to come.
    Length {
        remaining: u64,
    },
    /// Reading a chunk-size line: the hex size, then an ignored extension, then CRLF.
    ChunkSize {
        size: u64,
        digits: u8,
        extension: Extension,
        saw_cr: bool,
    },
    ChunkData {
        remaining: u64,
    },
    /// The CRLF that ends every chunk's data.
    ChunkDataEnd {
        saw_cr: bool,
    },
    /// Trailer lines after the zero-size chunk, up to the empty line.
    Trailers {
        line_bytes: usize,
        total_bytes: usize,
        saw_cr: bool,
    },
    Done,
    /// An error was returned; every later call returns it again.
    Failed(BodyError),
}

/// What follows the hex digits of a chunk size: `*( BWS ";" ext )` before the CRLF.
#[derive(Debug)]
enum Extension {
    /// Still reading digits.
    None,
    /// Whitespace after the size; only more whitespace, `;` or CR may follow.
    Space,
    /// Inside the extensions after `;`: skipped, counted against the bound.
    Text(usize),
}

/// Decodes one request body; create one per request from [`RequestHead::body_framing`].
///
/// [`RequestHead::body_framing`]: super::http_head::RequestHead::body_framing
#[derive(Debug)]
pub struct BodyDecoder {
    state: State,
    /// What has been decoded so far; handed out (and emptied) once the body is complete.
    body: BytesMut,
    max_body_bytes: usize,
}

impl BodyDecoder {
    /// A `Content-Length` over `max_body_bytes` fails on the first [`Self::decode`], before any
    /// byte is read.
    pub fn new(framing: BodyFraming, max_body_bytes: usize) -> BodyDecoder {
        let state = match framing {
            BodyFraming::Empty | BodyFraming::Length(0) => State::Done,
            BodyFraming::Length(len) if len > max_body_bytes as u64 => {
                State::Failed(BodyError::TooLarge { max_body_bytes })
            }
            BodyFraming::Length(len) => State::Length { remaining: len },
            BodyFraming::Chunked => State::chunk_size(),
        };
        BodyDecoder {
            state,
            body: BytesMut::new(),
            max_body_bytes,
        }
    }

    /// Consumes body bytes from the front of `buf`; returns the whole body once complete
    /// (afterwards: an empty body on every call), `Ok(None)` while more bytes are needed.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, BodyError> {
        let result = self.advance(buf);
        if let Err(error) = &result {
            self.state = State::Failed(error.clone());
        }
        result
    }

    fn advance(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, BodyError> {
        loop {
            match &mut self.state {
                State::Done => return Ok(Some(std::mem::take(&mut self.body).freeze())),
                State::Failed(error) => return Err(error.clone()),
                State::Length { remaining } | State::ChunkData { remaining } => {
                    if buf.is_empty() {
                        return Ok(None);
                    }
                    let take = usize::try_from(*remaining)
                        .unwrap_or(usize::MAX)
                        .min(buf.len());
                    *remaining -= take as u64;
                    let finished = *remaining == 0;
                    // O(1) when `body` is still empty: the common single-read body is not copied.
                    self.body.unsplit(buf.split_to(take));
                    if finished {
                        self.state = match self.state {
                            State::Length { .. } => State::Done,
                            _ => State::ChunkDataEnd { saw_cr: false },
                        };
                    }
                }
                _ => {
                    let Some(&byte) = buf.first() else {
                        return Ok(None);
                    };
                    buf.advance(1);
                    self.step_line_byte(byte)?;
                }
            }
        }
    }

    /// One byte of a size line, a chunk's closing CRLF or the trailer section.
    fn step_line_byte(&mut self, byte: u8) -> Result<(), BodyError> {
        let malformed = |what| Err(BodyError::Malformed(what));
        match &mut self.state {
            State::ChunkSize { saw_cr: true, .. }
            | State::ChunkDataEnd { saw_cr: true }
            | State::Trailers { saw_cr: true, .. }
                if byte != b'\n' =>
            {
                return malformed("CR not followed by LF");
            }
            State::ChunkSize {
                size,
                digits,
                extension,
                saw_cr,
            } => match (byte, &mut *extension) {
                (b'\n', _) if !*saw_cr => return malformed("line ends without CR"),
                (b'\n', _) if *digits == 0 => return malformed("missing chunk size"),
                (b'\n', _) => {
                    let size = *size;
                    let room = self.max_body_bytes.saturating_sub(self.body.len());
                    if size > room as u64 {
                        return Err(BodyError::TooLarge {
                            max_body_bytes: self.max_body_bytes,
                        });
                    }
                    self.state = match size {
                        0 => State::Trailers {
                            line_bytes: 0,
                            total_bytes: 0,
                            saw_cr: false,
                        },
                        _ => State::ChunkData { remaining: size },
                    };
                }
                (b'\r', _) => *saw_cr = true,
                (_, Extension::Text(used)) => {
                    *used += 1;
                    if *used > MAX_CHUNK_EXTENSION_BYTES {
                        return malformed("chunk extension too long");
                    }
                }
                (b';', _) if *digits > 0 => *extension = Extension::Text(0),
                (b' ' | b'\t', _) if *digits > 0 => *extension = Extension::Space,
                (_, Extension::Space) => return malformed("unexpected byte after chunk size"),
                (_, Extension::None) => {
                    let Some(digit) = (byte as char).to_digit(16) else {
                        return malformed("chunk size is not hexadecimal");
                    };
                    *digits += 1;
                    *size = match size.checked_mul(16) {
                        Some(shifted) if *digits <= MAX_CHUNK_SIZE_DIGITS => {
                            shifted + u64::from(digit)
                        }
                        _ => return malformed("chunk size too large"),
                    };
                }
            },
            State::ChunkDataEnd { saw_cr } => match byte {
                b'\r' if !*saw_cr => *saw_cr = true,
                b'\n' if *saw_cr => self.state = State::chunk_size(),
                _ => return malformed("chunk data not followed by CRLF"),
            },
            State::Trailers {
                line_bytes,
                total_bytes,
                saw_cr,
            } => {
                *total_bytes += 1;
                if *total_bytes > MAX_TRAILER_BYTES {
                    return malformed("trailer section too long");
                }
                match byte {
                    b'\r' => *saw_cr = true,
                    b'\n' if !*saw_cr => return malformed("line ends without CR"),
                    b'\n' if *line_bytes == 0 => self.state = State::Done,
                    b'\n' => {
                        *line_bytes = 0;
                        *saw_cr = false;
                    }
                    _ => *line_bytes += 1,
                }
            }
            State::Length { .. } | State::ChunkData { .. } | State::Done | State::Failed(_) => {}
        }
        Ok(())
    }
}

impl State {
    fn chunk_size() -> State {
        State::ChunkSize {
            size: 0,
            digits: 0,
            extension: Extension::None,
            saw_cr: false,
        }
    }
}

#[cfg(test)]
mod tests;
