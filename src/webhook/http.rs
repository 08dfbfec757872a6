//! Sans-IO HTTP/1.1 for deliveries: the request encoding, and the callback's answer read with
//! httparse and the request body decoder (`Content-Length` or chunked, bounded). Only the status
//! and whether the connection can be reused matter; the answer's body is discarded.

use bytes::{BufMut, Bytes, BytesMut};

use crate::codec::http_body::BodyDecoder;
use crate::codec::http_head::BodyFraming;

/// Most headers read in an answer.
const MAX_RESPONSE_HEADERS: usize = 64;

/// The head of a POST to `target` on `host`, for a body of `length` bytes, with `headers`.
pub fn request_head(host: &str, target: &str, headers: &[(&str, &str)], length: usize) -> Bytes {
    let mut head = BytesMut::with_capacity(256);
    head.put_slice(b"POST ");
    head.put_slice(target.as_bytes());
    head.put_slice(b" HTTP/1.1\r\nhost: ");
    head.put_slice(host.as_bytes());
    head.put_slice(b"\r\ncontent-length: ");
    head.put_slice(length.to_string().as_bytes());
    head.put_slice(b"\r\n");
    for (name, value) in headers {
        head.put_slice(name.as_bytes());
        head.put_slice(b": ");
        head.put_slice(value.as_bytes());
        head.put_slice(b"\r\n");
    }
    head.put_slice(b"\r\n");
    head.freeze()
}

/// A complete answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The HTTP status code (2xx acknowledges a delivery).
    pub status: u16,
    /// The connection may carry the next request.
    pub reusable: bool,
    /// The body (an OAuth2 token answer is read; a delivery's is ignored).
    pub body: Bytes,
}

/// Why an answer could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnswerError {
    /// Not HTTP/1.1 as a callback must answer (bad head, bad `Content-Length`, bad chunking);
    /// the message says what, for the log.
    Malformed(String),
    /// Head and body together exceed the reader's bound (`maxResponseBytes`).
    TooLarge,
}

/// Reads one answer incrementally: feed what arrived, get the answer once complete.
pub struct AnswerReader {
    max_bytes: usize,
    head: Option<(u16, bool)>,
    body: Option<BodyDecoder>,
    /// Body until the connection closes (no framing): never reusable.
    until_close: bool,
    seen: usize,
    unframed: BytesMut,
}

impl AnswerReader {
    /// A reader that gives up past `max_bytes` (head and body together).
    pub fn new(max_bytes: usize) -> AnswerReader {
        AnswerReader {
            max_bytes,
            head: None,
            body: None,
            until_close: false,
            seen: 0,
            unframed: BytesMut::new(),
        }
    }

    /// Consumes from `buf`; `Ok(Some)` once the answer is complete (bytes after it stay).
    pub fn advance(&mut self, buf: &mut BytesMut) -> Result<Option<Answer>, AnswerError> {
        if self.head.is_none() {
            let mut headers = [httparse::EMPTY_HEADER; MAX_RESPONSE_HEADERS];
            let mut response = httparse::Response::new(&mut headers);
            let parsed = response
                .parse(buf)
                .map_err(|error| AnswerError::Malformed(format!("bad answer head: {error}")))?;
            let httparse::Status::Complete(length) = parsed else {
                if buf.len() > self.max_bytes {
                    return Err(AnswerError::TooLarge);
                }
                return Ok(None);
            };
            let status = response.code.unwrap_or(0);
            let mut keep_alive = response.version == Some(1);
            let mut framing = BodyFraming::Empty;
            let mut framed = false;
            for header in response.headers.iter() {
                let value = std::str::from_utf8(header.value).unwrap_or("").trim();
                if header.name.eq_ignore_ascii_case("connection") {
                    if value.eq_ignore_ascii_case("close") {
                        keep_alive = false;
                    } else if value.eq_ignore_ascii_case("keep-alive") {
                        keep_alive = true;
                    }
                } else if header.name.eq_ignore_ascii_case("content-length") {
                    let length = value.parse::<u64>().map_err(|_| {
                        AnswerError::Malformed("bad content-length in the answer".to_owned())
                    })?;
                    framing = BodyFraming::Length(length);
                    framed = true;
                } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
                    if !value.eq_ignore_ascii_case("chunked") {
                        return Err(AnswerError::Malformed(format!(
                            "unsupported transfer-encoding '{value}'"
                        )));
                    }
                    framing = BodyFraming::Chunked;
                    framed = true;
                }
            }
            if (100..200).contains(&status) {
                // An interim answer (100 Continue): skip it, the final one follows.
                let _ = buf.split_to(length);
                return self.advance(buf);
            }
            let _ = buf.split_to(length);
            self.seen = length;
            let no_body = status == 204 || status == 304;
            if !framed && !no_body {
                self.until_close = true;
                keep_alive = false;
            }
            if no_body {
                framing = BodyFraming::Empty;
            }
            let room = self.max_bytes.saturating_sub(length).max(1);
            self.body = Some(BodyDecoder::new(framing, room));
            self.head = Some((status, keep_alive));
        }
        let (status, keep_alive) = self.head.expect("set above");
        if self.until_close {
            self.seen += buf.len();
            self.unframed.extend_from_slice(buf);
            buf.clear();
            if self.seen > self.max_bytes {
                return Err(AnswerError::TooLarge);
            }
            return Ok(None);
        }
        let body = self.body.as_mut().expect("set with the head");
        match body.decode(buf) {
            Ok(Some(body)) => Ok(Some(Answer {
                status,
                reusable: keep_alive,
                body,
            })),
            Ok(None) => Ok(None),
            Err(crate::codec::http_body::BodyError::TooLarge { .. }) => Err(AnswerError::TooLarge),
            Err(error) => Err(AnswerError::Malformed(error.to_string())),
        }
    }

    /// The connection closed: an answer whose body runs until the close is complete now.
    pub fn at_close(&self) -> Option<Answer> {
        let (status, _) = self.head?;
        self.until_close.then(|| Answer {
            status,
            reusable: false,
            body: self.unframed.clone().freeze(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(parts: &[&[u8]]) -> Result<Option<Answer>, AnswerError> {
        let mut reader = AnswerReader::new(4096);
        let mut buf = BytesMut::new();
        let mut last = Ok(None);
        for part in parts {
            buf.extend_from_slice(part);
            last = reader.advance(&mut buf);
            if !matches!(last, Ok(None)) {
                return last;
            }
        }
        last
    }

    #[test]
    fn reads_length_chunked_and_split_answers() {
        let ok = read_all(&[b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"]);
        assert_eq!(
            ok,
            Ok(Some(Answer {
                status: 200,
                reusable: true,
                body: Bytes::from_static(b"ok")
            }))
        );
        let split = read_all(&[
            b"HTTP/1.1 500 Oops\r\ntransfer-",
            b"encoding: chunked\r\n\r\n3\r\nab",
            b"c\r\n0\r\n\r\n",
        ]);
        assert_eq!(
            split,
            Ok(Some(Answer {
                status: 500,
                reusable: true,
                body: Bytes::from_static(b"abc")
            }))
        );
        let close =
            read_all(&[b"HTTP/1.1 404 No\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"]);
        assert_eq!(
            close,
            Ok(Some(Answer {
                status: 404,
                reusable: false,
                body: Bytes::new()
            }))
        );
        let interim = read_all(&[b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"]);
        assert_eq!(
            interim,
            Ok(Some(Answer {
                status: 204,
                reusable: true,
                body: Bytes::new()
            }))
        );
        assert!(read_all(&[b"garbage\r\n\r\n"]).is_err());
    }

    #[test]
    fn an_unframed_body_ends_at_the_close() {
        let mut reader = AnswerReader::new(4096);
        let mut buf = BytesMut::from(&b"HTTP/1.0 200 OK\r\n\r\nbody"[..]);
        assert_eq!(reader.advance(&mut buf), Ok(None));
        assert_eq!(
            reader.at_close(),
            Some(Answer {
                status: 200,
                reusable: false,
                body: Bytes::from_static(b"body")
            })
        );
    }

    #[test]
    fn the_request_head_carries_host_length_and_headers() {
        let head = request_head("h:81", "/in", &[("x-a", "b")], 5);
        assert_eq!(
            &head[..],
            b"POST /in HTTP/1.1\r\nhost: h:81\r\ncontent-length: 5\r\nx-a: b\r\n\r\n"
        );
    }
}
