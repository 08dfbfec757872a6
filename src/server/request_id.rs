//! Request ids: the handle that ties an answer a client was shown to the access-log line and to
//! the log line holding an error's details (`Conn::respond_error`). Every answer carries one in
//! `X-Request-Id` (the WebSocket and SSE handshakes included), and a 5xx body names it too.
//!
//! A client's own `X-Request-Id` is kept when it is sane — 1 to `MAX_CLIENT_ID_BYTES` visible
//! ASCII characters (no spaces, quotes are escaped by the log formats) — so a request can be
//! followed through a chain of proxies; anything else is replaced by a generated one, so no id
//! can grow a log line without bound or start a new one. A generated id is a keyed hash (SipHash
//! with a random key per thread, i.e. per shard) of the thread's request counter: unique in
//! practice, without a lock, and it does not reveal how much traffic a shard serves.

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};

/// Longest client-chosen id kept (longer ones are replaced).
pub const MAX_CLIENT_ID_BYTES: usize = 128;

thread_local! {
    static KEY: RandomState = RandomState::new();
    static COUNTER: Cell<u64> = const { Cell::new(0) };
}

/// One request's id: generated (16 lowercase hex digits) or the client's own, when sane.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestId {
    bytes: [u8; MAX_CLIENT_ID_BYTES],
    len: u8,
}

impl RequestId {
    /// A new id, different from every other this process made (up to 64-bit hash collisions).
    pub fn generate() -> RequestId {
        let count = COUNTER.with(|counter| {
            let count = counter.get();
            counter.set(count.wrapping_add(1));
            count
        });
        let hash = KEY.with(|key| {
            let mut hasher = key.build_hasher();
            hasher.write_u64(count);
            hasher.finish()
        });
        // Written in place: ids are made for every request, so no formatting allocation.
        let mut bytes = [0; MAX_CLIENT_ID_BYTES];
        for (i, byte) in bytes[..16].iter_mut().enumerate() {
            let nibble = (hash >> (60 - 4 * i)) & 0xf;
            *byte = b"0123456789abcdef"[nibble as usize];
        }
        RequestId { bytes, len: 16 }
    }

    /// The client's `X-Request-Id` when it is sane, else a generated one.
    pub fn from_client(value: Option<&[u8]>) -> RequestId {
        value
            .and_then(RequestId::accept)
            .unwrap_or_else(RequestId::generate)
    }

    /// `value` as an id, if it is 1 to `MAX_CLIENT_ID_BYTES` visible ASCII characters.
    fn accept(value: &[u8]) -> Option<RequestId> {
        let sane = !value.is_empty()
            && value.len() <= MAX_CLIENT_ID_BYTES
            && value.iter().all(u8::is_ascii_graphic);
        if !sane {
            return None;
        }
        let mut bytes = [0; MAX_CLIENT_ID_BYTES];
        bytes[..value.len()].copy_from_slice(value);
        Some(RequestId {
            bytes,
            len: value.len() as u8,
        })
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Only visible ASCII is ever stored.
        std::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or_default()
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequestId({})", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_sixteen_hex_digits_and_do_not_repeat() {
        let ids: HashSet<String> = (0..10_000)
            .map(|_| RequestId::generate().to_string())
            .collect();
        assert_eq!(ids.len(), 10_000);
        assert!(ids
            .iter()
            .all(|id| id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit())));
    }

    #[test]
    fn threads_make_different_ids() {
        let here: HashSet<String> = (0..100)
            .map(|_| RequestId::generate().to_string())
            .collect();
        let there: Vec<String> = std::thread::spawn(|| {
            (0..100)
                .map(|_| RequestId::generate().to_string())
                .collect()
        })
        .join()
        .unwrap();
        assert!(there.iter().all(|id| !here.contains(id)));
    }

    #[test]
    fn sane_client_ids_are_kept_others_replaced() {
        let kept = RequestId::from_client(Some(b"trace-42/abc:def"));
        assert_eq!(kept.as_str(), "trace-42/abc:def");
        let longest = vec![b'a'; MAX_CLIENT_ID_BYTES];
        assert_eq!(RequestId::from_client(Some(&longest)).as_str().len(), 128);
        let too_long = vec![b'a'; MAX_CLIENT_ID_BYTES + 1];
        for bad in [
            &b""[..],
            b"has space",
            b"tab\there",
            b"caf\xc3\xa9",
            &too_long,
        ] {
            let replaced = RequestId::from_client(Some(bad)).to_string();
            assert_eq!(replaced.len(), 16, "{bad:?}");
            assert!(replaced.bytes().all(|b| b.is_ascii_hexdigit()));
        }
        assert_eq!(RequestId::from_client(None).as_str().len(), 16);
    }
}
