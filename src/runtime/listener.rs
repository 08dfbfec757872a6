//! One listening socket per shard, all bound to the same address with SO_REUSEPORT so the kernel
//! spreads incoming connections over the shards without any shared accept queue.

use std::io;
use std::net::{SocketAddr, TcpListener};

use socket2::{Domain, Protocol, Socket, Type};

/// Pending-connection backlog per listener.
const BACKLOG: i32 = 4096;

/// Binds `count` SO_REUSEPORT listeners on `addr`. With port 0 the first bind picks the port and
/// the others join it, so tests can ask for any free port.
///
/// SO_REUSEPORT would also let a *second gateway* join the same port and silently take half the
/// traffic, so the address is first probed with a plain bind, which fails while anyone holds it.
pub(super) fn bind_reuseport(addr: SocketAddr, count: usize) -> io::Result<Vec<TcpListener>> {
    if addr.port() != 0 {
        let probe = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        // SO_REUSEADDR so that connections of a previous run in TIME_WAIT do not block a restart;
        // it still conflicts with a socket that is listening.
        probe.set_reuse_address(true)?;
        probe.bind(&addr.into()).map_err(|err| {
            io::Error::new(
                err.kind(),
                format!("cannot listen on {addr}: {err} (is another gateway running?)"),
            )
        })?;
    }
    let mut listeners = Vec::with_capacity(count);
    let mut addr = addr;
    for _ in 0..count {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_reuse_address(true)?;
        socket.set_reuse_port(true)?;
        socket.set_nonblocking(true)?;
        socket
            .bind(&addr.into())
            .map_err(|err| io::Error::new(err.kind(), format!("cannot listen on {addr}: {err}")))?;
        socket.listen(BACKLOG)?;
        let listener: TcpListener = socket.into();
        addr = listener.local_addr()?;
        listeners.push(listener);
    }
    Ok(listeners)
}
