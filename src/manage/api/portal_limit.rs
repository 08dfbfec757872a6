//! The developer portal's per-client limit on writes (`management.portal.writesPerMinute`): a
//! subscription request needs no sign-in and creates an application, so without a limit one
//! client could take every application the portal may create (`maxApplications`) in a second.
//!
//! A token bucket per client address: `writesPerMinute` at once, then one more every
//! `60 s / writesPerMinute`. IPv6 clients are keyed by their /64 (one host usually holds a
//! whole /64, so keying by full address would give it billions of buckets). The map is bounded
//! (`MAX_TRACKED_CLIENTS`): when full, buckets that refilled completely (they hold nothing a
//! fresh bucket would not) are dropped; if none did, the new client is refused like a limited
//! one, so memory stays bounded under a spread of addresses. Behind a reverse proxy every
//! client shares the proxy's address: raise the limit there, or limit at the proxy.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::admin::client_key;

/// Client addresses tracked at once.
pub(super) const MAX_TRACKED_CLIENTS: usize = 10_000;
/// What a refused client is told to wait when the table of clients is full.
const FULL_TABLE_RETRY: Duration = Duration::from_secs(60);

/// The limit and its counters.
pub(super) struct PortalWriteLimit {
    per_minute: u32,
    clients: Mutex<HashMap<IpAddr, Bucket>>,
    refused: AtomicU64,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl PortalWriteLimit {
    pub(super) fn new(per_minute: u32) -> PortalWriteLimit {
        PortalWriteLimit {
            per_minute: per_minute.max(1),
            clients: Mutex::new(HashMap::new()),
            refused: AtomicU64::new(0),
        }
    }

    /// Takes one write for `peer` at `now`; `Err(wait)` when it has none left, with how long
    /// until it has one (the `Retry-After`). A request without a known peer shares one bucket.
    pub(super) fn admit(&self, peer: Option<SocketAddr>, now: Instant) -> Result<(), Duration> {
        let key = peer.map_or(IpAddr::from([0u8; 4]), |peer| client_key(peer.ip()));
        let capacity = f64::from(self.per_minute);
        let mut clients = self.lock();
        if !clients.contains_key(&key) && clients.len() >= MAX_TRACKED_CLIENTS {
            clients.retain(|_, bucket| self.refilled(*bucket, now) < capacity);
            if clients.len() >= MAX_TRACKED_CLIENTS {
                self.refused.fetch_add(1, Ordering::Relaxed);
                return Err(FULL_TABLE_RETRY);
            }
        }
        let bucket = clients.entry(key).or_insert(Bucket {
            tokens: capacity,
            at: now,
        });
        bucket.tokens = self.refilled(*bucket, now);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        self.refused.fetch_add(1, Ordering::Relaxed);
        let wait = (1.0 - bucket.tokens) * self.seconds_per_token();
        Err(Duration::from_secs_f64(wait))
    }

    /// Writes refused since start.
    pub(super) fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Client addresses tracked now.
    pub(super) fn tracked(&self) -> usize {
        self.lock().len()
    }

    fn refilled(&self, bucket: Bucket, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        (bucket.tokens + elapsed / self.seconds_per_token()).min(f64::from(self.per_minute))
    }

    fn seconds_per_token(&self) -> f64 {
        60.0 / f64::from(self.per_minute)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<IpAddr, Bucket>> {
        // Each update is one whole bucket: a poisoned map is still consistent.
        self.clients
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// `Retry-After` in whole seconds, rounded up (at least 1).
pub(super) fn retry_after_seconds(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> Option<SocketAddr> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn a_client_gets_its_burst_then_one_write_per_interval() {
        let limit = PortalWriteLimit::new(2);
        let start = Instant::now();
        let client = addr("192.0.2.1:1000");
        assert!(limit.admit(client, start).is_ok());
        assert!(limit.admit(client, start).is_ok());
        let wait = limit.admit(client, start).unwrap_err();
        assert_eq!(retry_after_seconds(wait), 30);
        // Another address has its own bucket; the same one after 30 s has one write again.
        assert!(limit.admit(addr("192.0.2.2:1000"), start).is_ok());
        assert!(limit.admit(client, start + Duration::from_secs(30)).is_ok());
        assert_eq!(limit.refused(), 1);
    }

    #[test]
    fn ipv6_clients_share_their_slash_64() {
        let limit = PortalWriteLimit::new(1);
        let now = Instant::now();
        assert!(limit.admit(addr("[2001:db8::1]:1"), now).is_ok());
        assert!(limit.admit(addr("[2001:db8::ffff:2]:1"), now).is_err());
        assert!(limit.admit(addr("[2001:db8:0:1::1]:1"), now).is_ok());
    }

    #[test]
    fn the_table_of_clients_is_bounded() {
        let limit = PortalWriteLimit::new(1);
        let now = Instant::now();
        for n in 0..MAX_TRACKED_CLIENTS {
            let ip = std::net::Ipv4Addr::from(0x0a00_0000 + n as u32);
            assert!(limit.admit(Some(SocketAddr::from((ip, 1))), now).is_ok());
        }
        assert_eq!(
            limit.admit(addr("192.0.2.9:1"), now),
            Err(FULL_TABLE_RETRY),
            "no bucket refilled: a new client is refused"
        );
        // A minute later every bucket refilled: they are dropped and the newcomer admitted.
        let later = now + Duration::from_secs(60);
        assert!(limit.admit(addr("192.0.2.9:1"), later).is_ok());
        assert_eq!(limit.tracked(), 1);
    }
}
