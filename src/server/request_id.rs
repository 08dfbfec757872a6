//! Request ids: the handle that ties an error a client was shown to the log line holding the
//! details (`Conn::respond_error`). Every error answer carries one in `X-Request-Id`, and a 5xx
//! body names it too.
//!
//! The gateway makes them up; a client's own `X-Request-Id` is ignored, since a chosen id could
//! collide with another request's or forge log lines. An id is a keyed hash (SipHash with a
//! random key per thread, i.e. per shard) of the thread's request counter: unique in practice,
//! without a lock, and it does not reveal how much traffic a shard serves.

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};

thread_local! {
    static KEY: RandomState = RandomState::new();
    static COUNTER: Cell<u64> = const { Cell::new(0) };
}

/// One request's id, shown as 16 lowercase hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestId(u64);

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
        RequestId(hash)
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
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
}
