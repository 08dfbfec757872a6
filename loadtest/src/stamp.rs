//! The load-test message: which publisher sent it, its sequence number, and when it was meant
//! to be sent. Subscribers decode it from whatever the entrypoint delivers (a WebSocket frame, an
//! SSE `data:` line, a GET batch item), so it is plain ASCII: fixed-width lowercase hex, padded
//! with `x` to the requested size. No quoting, escaping or base64 is ever needed on any path.

use std::fmt::Write as _;

/// Bytes of the stamp itself: publisher (8 hex digits), sequence (16), intended send time (16).
pub const STAMP_BYTES: usize = 40;

/// The identity and timing of one published message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    /// Index of the publisher connection (0-based).
    pub publisher: u32,
    /// Position in that publisher's own sequence (0, 1, 2, … without gaps).
    pub seq: u64,
    /// When the open-loop schedule meant it to be sent, in nanoseconds of the harness clock.
    /// Latency is measured from here, not from the actual send, so a stalled sender still
    /// charges the delay to the system under test (no coordinated omission).
    pub intended_ns: u64,
}

impl Stamp {
    /// Writes the stamp padded to `size_bytes` (at least [`STAMP_BYTES`]) into `dst`, replacing it.
    pub fn encode(&self, size_bytes: usize, dst: &mut String) {
        dst.clear();
        // Writing to a String cannot fail.
        let _ = write!(
            dst,
            "{:08x}{:016x}{:016x}",
            self.publisher, self.seq, self.intended_ns
        );
        while dst.len() < size_bytes {
            dst.push('x');
        }
    }

    /// Reads a stamp from the start of a payload; `None` when it is not one of ours.
    pub fn decode(payload: &[u8]) -> Option<Stamp> {
        let head = payload.get(..STAMP_BYTES)?;
        Some(Stamp {
            publisher: u32::try_from(hex(&head[..8])?).ok()?,
            seq: hex(&head[8..24])?,
            intended_ns: hex(&head[24..40])?,
        })
    }
}

fn hex(digits: &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for &digit in digits {
        let nibble = match digit {
            b'0'..=b'9' => digit - b'0',
            b'a'..=b'f' => digit - b'a' + 10,
            _ => return None,
        };
        value = (value << 4) | u64::from(nibble);
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_at_every_size() {
        let stamp = Stamp {
            publisher: 7,
            seq: u64::MAX - 3,
            intended_ns: 123_456_789_012,
        };
        let mut text = String::new();
        for size in [0, STAMP_BYTES, 41, 1000] {
            stamp.encode(size, &mut text);
            assert_eq!(text.len(), size.max(STAMP_BYTES));
            assert!(text.bytes().all(|b| b.is_ascii_alphanumeric()));
            assert_eq!(Stamp::decode(text.as_bytes()), Some(stamp));
        }
    }

    #[test]
    fn rejects_foreign_payloads() {
        assert_eq!(Stamp::decode(b"hello"), None);
        assert_eq!(Stamp::decode(&[b'z'; 40]), None);
        assert_eq!(
            Stamp::decode(b"0000000g00000000000000010000000000000001"),
            None
        );
    }
}
