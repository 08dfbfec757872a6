//! The connections a blocking server (`http_server`) serves at once, and how many each client
//! holds: at most `max_connections` in all and `max_connections_per_address` per client, so
//! that one client cannot take every slot. A client is keyed as every per-client limit keys it
//! (`client_key`).

use std::collections::HashMap;
use std::net::{IpAddr, TcpStream};

use slab::Slab;

use super::http_server::ServerLimits;
use super::reply::Reply;
use crate::metrics::{AdminMetrics, ShardMetrics};

/// The key per-client limits count under: an IPv4 address as is (an IPv4-mapped IPv6 one too);
/// an IPv6 address as its /64, which one client usually holds whole.
pub(crate) fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::from(segments)
            }
        },
    }
}

/// Why a connection is not served.
pub(super) enum Refusal {
    /// `max_connections` are open (or the socket could not be kept).
    Full,
    /// Its client holds `max_connections_per_address`.
    ClientFull,
}

impl Refusal {
    /// The answer, counted in its metric; `Retry-After: 1` either way.
    pub(super) fn answer(self, limits: &ServerLimits, metrics: &AdminMetrics) -> Reply {
        match self {
            Refusal::Full => {
                ShardMetrics::inc(&metrics.connections_rejected_total);
                Reply::text(
                    503,
                    format!(
                        "{} connections are open, the most this endpoint serves at once; retry shortly",
                        limits.max_connections
                    ),
                )
            }
            Refusal::ClientFull => {
                ShardMetrics::inc(&metrics.connections_rejected_per_address_total);
                Reply::text(
                    429,
                    format!(
                        "{} connections from your address are open, the most one address may hold \
                         on this endpoint; retry once one of them has been answered",
                        limits.max_connections_per_address
                    ),
                )
            }
        }
        .with_header("Retry-After", "1")
    }
}

/// The open connections (a handle on each, to cut them when the server stops) and each
/// client's count.
#[derive(Default)]
pub(super) struct OpenConns {
    streams: Slab<(TcpStream, IpAddr)>,
    per_client: HashMap<IpAddr, usize>,
}

impl OpenConns {
    /// Takes `handle` (of a connection from `peer`) in, or says why not.
    pub(super) fn admit(
        &mut self,
        handle: impl FnOnce() -> std::io::Result<TcpStream>,
        peer: IpAddr,
        limits: &ServerLimits,
    ) -> Result<usize, Refusal> {
        let client = client_key(peer);
        let held = self.per_client.get(&client).copied().unwrap_or(0);
        if self.streams.len() >= limits.max_connections {
            return Err(Refusal::Full);
        }
        if held >= limits.max_connections_per_address {
            return Err(Refusal::ClientFull);
        }
        let handle = handle().map_err(|_| Refusal::Full)?;
        *self.per_client.entry(client).or_default() += 1;
        Ok(self.streams.insert((handle, client)))
    }

    /// Forgets connection `key`; returns its handle.
    pub(super) fn release(&mut self, key: usize) -> Option<TcpStream> {
        let (handle, client) = self.streams.try_remove(key)?;
        if let Some(held) = self.per_client.get_mut(&client) {
            *held -= 1;
            if *held == 0 {
                self.per_client.remove(&client);
            }
        }
        Some(handle)
    }

    /// Every open connection.
    pub(super) fn streams(&self) -> impl Iterator<Item = &TcpStream> {
        self.streams.iter().map(|(_, (stream, _))| stream)
    }
}

#[cfg(test)]
mod tests {
    use std::net::{TcpListener, TcpStream};

    use super::*;

    fn limits(max: usize, per_address: usize) -> ServerLimits {
        ServerLimits {
            max_connections: max,
            max_connections_per_address: per_address,
            request_deadline: std::time::Duration::from_secs(1),
            max_head_bytes: 1024,
            max_body_bytes: 0,
        }
    }

    fn socket(listener: &TcpListener) -> impl FnOnce() -> std::io::Result<TcpStream> + '_ {
        move || TcpStream::connect(listener.local_addr().unwrap())
    }

    #[test]
    fn one_client_holds_at_most_its_share_and_gives_it_back() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let limits = limits(3, 2);
        let mut open = OpenConns::default();
        let one: IpAddr = "2001:db8::1".parse().unwrap();
        // The same /64, and the same IPv4 client mapped and not.
        let one_again: IpAddr = "2001:db8::ffff:2".parse().unwrap();
        let v4: IpAddr = "192.0.2.1".parse().unwrap();
        let v4_mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(client_key(v4_mapped), v4);
        assert_eq!(client_key(one_again), client_key(one));
        assert_ne!(
            client_key("2001:db8:0:1::1".parse().unwrap()),
            client_key(one)
        );
        let first = open.admit(socket(&listener), one, &limits).ok().unwrap();
        assert!(open.admit(socket(&listener), one_again, &limits).is_ok());
        assert!(matches!(
            open.admit(socket(&listener), one, &limits),
            Err(Refusal::ClientFull)
        ));
        assert!(open.admit(socket(&listener), v4, &limits).is_ok());
        assert!(matches!(
            open.admit(socket(&listener), v4_mapped, &limits),
            Err(Refusal::Full)
        ));
        assert!(open.release(first).is_some());
        assert!(open.release(first).is_none(), "released once");
        assert!(open.admit(socket(&listener), v4_mapped, &limits).is_ok());
        assert!(matches!(
            open.admit(socket(&listener), one, &limits),
            Err(Refusal::Full)
        ));
        assert_eq!(open.streams().count(), 3);
    }
}
