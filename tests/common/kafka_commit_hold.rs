//! A TCP proxy before the test broker that can hold back OffsetCommit or JoinGroup requests:
//! once told to (`hold_commits`, `hold_joins`), it reads each such request a client sends and
//! never forwards it, so the broker never answers (a commit, or a join, that hangs). Every other
//! request and every answer passes unchanged. The broker must advertise the proxy (`Broker::restart_advertising`), or clients
//! would reach it directly after their first metadata answer.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, OffsetCommitRequest, RequestHeader};
use kafka_protocol::protocol::Decodable;

/// Largest request passed on (a bound against a broken client).
const MAX_REQUEST_BYTES: usize = 64 * 1024 * 1024;

#[derive(Default)]
struct Shared {
    hold: AtomicBool,
    hold_joins: AtomicBool,
    /// JoinGroup requests held back so far.
    joins_held: AtomicUsize,
    /// Connections with a held JoinGroup that their client closed.
    held_joins_closed: AtomicUsize,
    /// The committed offsets of every OffsetCommit held back, in arrival order.
    held_offsets: Mutex<Vec<i64>>,
    /// The client sides of the connections with a held commit (to cut them at the end).
    held_connections: Mutex<Vec<TcpStream>>,
}

/// The proxy; it runs until the test process ends.
pub struct CommitHold {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

impl CommitHold {
    /// A proxy on a free loopback port forwarding to `broker`.
    pub fn start(broker: SocketAddr) -> CommitHold {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a proxy port");
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared::default());
        let accepting = shared.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let Ok(upstream) = TcpStream::connect(broker) else {
                    continue;
                };
                let shared = accepting.clone();
                std::thread::spawn(move || forward_requests(client, upstream, &shared));
            }
        });
        CommitHold { addr, shared }
    }

    /// From now on OffsetCommit requests are held back.
    pub fn hold_commits(&self) {
        self.shared.hold.store(true, Ordering::SeqCst);
    }

    /// From now on JoinGroup requests are held back (a join waiting for a rebalance that
    /// never ends).
    pub fn hold_joins(&self) {
        self.shared.hold_joins.store(true, Ordering::SeqCst);
    }

    /// JoinGroup requests held back so far.
    pub fn joins_held(&self) -> usize {
        self.shared.joins_held.load(Ordering::SeqCst)
    }

    /// Connections with a held JoinGroup that their client has closed since.
    pub fn held_joins_closed(&self) -> usize {
        self.shared.held_joins_closed.load(Ordering::SeqCst)
    }

    /// The committed offsets of the commits held back so far.
    pub fn held_offsets(&self) -> Vec<i64> {
        self.shared.held_offsets.lock().unwrap().clone()
    }

    /// Closes the connections whose commit is held (their clients see the connection fail
    /// instead of waiting for their request timeout).
    pub fn cut_held(&self) {
        for connection in self.shared.held_connections.lock().unwrap().drain(..) {
            let _ = connection.shutdown(Shutdown::Both);
        }
    }
}

/// Client → broker, request by request; broker → client copied on a thread of its own.
fn forward_requests(mut client: TcpStream, upstream: TcpStream, shared: &Shared) {
    let (Ok(mut answers), Ok(mut to_client)) = (upstream.try_clone(), client.try_clone()) else {
        return;
    };
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut answers, &mut to_client);
        let _ = to_client.shutdown(Shutdown::Both);
    });
    let mut upstream = upstream;
    let mut holding_join = false;
    loop {
        let mut size = [0u8; 4];
        if client.read_exact(&mut size).is_err() {
            break;
        }
        let len = i32::from_be_bytes(size).max(0) as usize;
        if len > MAX_REQUEST_BYTES {
            break;
        }
        let mut request = vec![0u8; len];
        if client.read_exact(&mut request).is_err() {
            break;
        }
        if shared.hold_joins.load(Ordering::SeqCst) && api_key(&request) == Some(ApiKey::JoinGroup)
        {
            holding_join = true;
            shared.joins_held.fetch_add(1, Ordering::SeqCst);
            continue;
        }
        if shared.hold.load(Ordering::SeqCst) {
            if let Some(offsets) = commit_offsets(&request) {
                shared.held_offsets.lock().unwrap().extend(offsets);
                if let Ok(connection) = client.try_clone() {
                    shared.held_connections.lock().unwrap().push(connection);
                }
                continue;
            }
        }
        if upstream.write_all(&size).is_err() || upstream.write_all(&request).is_err() {
            break;
        }
    }
    if holding_join {
        shared.held_joins_closed.fetch_add(1, Ordering::SeqCst);
    }
    let _ = upstream.shutdown(Shutdown::Both);
}

/// The API key of `request`.
fn api_key(request: &[u8]) -> Option<ApiKey> {
    let key = i16::from_be_bytes([*request.first()?, *request.get(1)?]);
    ApiKey::try_from(key).ok()
}

/// The committed offsets of `request` when it is an OffsetCommit.
fn commit_offsets(request: &[u8]) -> Option<Vec<i64>> {
    if request.len() < 4 {
        return None;
    }
    let version = i16::from_be_bytes([request[2], request[3]]);
    if api_key(request)? != ApiKey::OffsetCommit {
        return None;
    }
    let mut body = Bytes::copy_from_slice(request);
    RequestHeader::decode(
        &mut body,
        ApiKey::OffsetCommit.request_header_version(version),
    )
    .ok()?;
    let commit = OffsetCommitRequest::decode(&mut body, version).ok()?;
    Some(
        commit
            .topics
            .iter()
            .flat_map(|topic| topic.partitions.iter().map(|p| p.committed_offset))
            .collect(),
    )
}
