//! The start of a TLS record a session holds until the rest arrives.
//!
//! rustls keeps the ciphertext it was fed and has not yet processed in its own receive buffer:
//! after a read, that is exactly the start of the last record, when the read ended inside one
//! (every complete record is processed at once). A streaming connection therefore needs no buffer
//! of its own for a partial record (`server::stream_read` gives its read buffer back), and the
//! read-buffer gauge counts these bytes from here: rustls does not say how much it holds, so the
//! record headers of everything fed to it are followed (5 bytes: type, version, length).

/// A TLS record header: content type (1), legacy version (2), length (2).
const HEADER_BYTES: usize = 5;

/// Where the bytes fed to a session stand in their record framing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RecordTail {
    /// The header of the record under way, as far as it arrived.
    header: [u8; HEADER_BYTES],
    header_len: usize,
    /// Its body's length (once the header is whole) and how much of it is still to come.
    body_len: usize,
    body_left: usize,
}

impl RecordTail {
    /// Follows `bytes`, the next ones fed to the session.
    pub(crate) fn advance(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.header_len < HEADER_BYTES {
                let take = (HEADER_BYTES - self.header_len).min(bytes.len());
                self.header[self.header_len..self.header_len + take]
                    .copy_from_slice(&bytes[..take]);
                self.header_len += take;
                bytes = &bytes[take..];
                if self.header_len == HEADER_BYTES {
                    self.body_len =
                        usize::from(u16::from_be_bytes([self.header[3], self.header[4]]));
                    self.body_left = self.body_len;
                    if self.body_left == 0 {
                        *self = RecordTail::default();
                    }
                }
                continue;
            }
            let take = self.body_left.min(bytes.len());
            self.body_left -= take;
            bytes = &bytes[take..];
            if self.body_left == 0 {
                *self = RecordTail::default();
            }
        }
    }

    /// Bytes of a record begun and not complete (0 between records).
    pub(crate) fn held(&self) -> usize {
        if self.header_len < HEADER_BYTES {
            self.header_len
        } else {
            HEADER_BYTES + self.body_len - self.body_left
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(body: usize) -> Vec<u8> {
        let mut bytes = vec![23, 3, 3];
        bytes.extend_from_slice(&(body as u16).to_be_bytes());
        bytes.resize(HEADER_BYTES + body, 7);
        bytes
    }

    #[test]
    fn whole_records_leave_nothing_held_and_a_partial_one_its_bytes() {
        let mut tail = RecordTail::default();
        let mut stream = record(100);
        stream.extend(record(0));
        stream.extend(record(300));
        tail.advance(&stream);
        assert_eq!(tail.held(), 0);
        let next = record(50);
        for (fed, byte) in next.iter().enumerate() {
            assert_eq!(tail.held(), fed, "before byte {fed}");
            tail.advance(std::slice::from_ref(byte));
        }
        assert_eq!(tail.held(), 0, "the record completed");
        // A read that ends inside the second of two records.
        let mut two = record(20);
        two.extend(&record(40)[..12]);
        tail.advance(&two);
        assert_eq!(tail.held(), 12);
        tail.advance(&record(40)[12..]);
        assert_eq!(tail.held(), 0);
    }
}
