//! The gateway's two listening addresses must not collide: `run` binds `gateway.listen` first,
//! so an `adminListen` on the same port would fail only after the shards started. Checking it
//! here makes `tidegate check` report what `run` would refuse.

use std::net::SocketAddr;

use super::problem::Problems;

/// Records a problem when `admin` (`gateway.adminListen`) would bind a port `listen`
/// (`gateway.listen`) already holds: the same nonzero port, on the same address or where either
/// is a wildcard (`0.0.0.0` and `[::]` also cover every specific address). Port 0 picks a free
/// port, so it never collides.
pub(crate) fn check_apart(listen: SocketAddr, admin: SocketAddr, p: &mut Problems) {
    if collide(listen, admin) {
        p.push(
            "gateway.adminListen",
            format!(
                "{admin} would take the port of gateway.listen ({listen}); give the admin endpoint another port, e.g. 127.0.0.1:18082, or `off`"
            ),
        );
    }
}

/// True when binding `a` and `b` would fail: the same nonzero port, on the same address or where
/// either is a wildcard.
pub(crate) fn collide(a: SocketAddr, b: SocketAddr) -> bool {
    let same_port = a.port() == b.port() && a.port() != 0;
    let overlap = a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified();
    same_port && overlap
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collides(listen: &str, admin: &str) -> bool {
        let mut p = Problems::default();
        check_apart(listen.parse().unwrap(), admin.parse().unwrap(), &mut p);
        p.into_result("test").is_err()
    }

    #[test]
    fn same_port_on_overlapping_addresses_collides() {
        assert!(collides("127.0.0.1:8082", "127.0.0.1:8082"));
        assert!(collides("0.0.0.0:8082", "127.0.0.1:8082"));
        assert!(collides("127.0.0.1:8082", "0.0.0.0:8082"));
        assert!(collides("[::]:8082", "127.0.0.1:8082"));
    }

    #[test]
    fn other_ports_addresses_and_port_zero_do_not() {
        assert!(!collides("127.0.0.1:8082", "127.0.0.1:8083"));
        assert!(!collides("127.0.0.1:8082", "127.0.0.2:8082"));
        assert!(!collides("127.0.0.1:0", "127.0.0.1:0"));
    }
}
