//! The harness counts right: against a fake server that drops and duplicates known messages,
//! and against the real gateway (in-process) on every entrypoint, where nothing may be lost.

#![allow(
    clippy::disallowed_types,
    reason = "a test: its clients and fakes run on plain threads, never on a shard"
)]
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use tidegate::codec::ws::{accept_key, encode_text};
use tidegate_load::drivers::{self, CaseOutcome};
use tidegate_load::error::LoadError;
use tidegate_load::publisher::PubProtocol;
use tidegate_load::report::Report;
use tidegate_load::run::{run, Workload};
use tidegate_load::servers::{tidegate_config, Driver, ServerKind, ServerOptions};
use tidegate_load::subscriber::SubProtocol;

fn workload(
    target: SocketAddr,
    sub: SubProtocol,
    publish: PubProtocol,
    sub_path: &str,
    pub_path: &str,
) -> Workload {
    Workload {
        target,
        sub,
        sub_path: sub_path.into(),
        subscribers: 5,
        publish,
        pub_path: pub_path.into(),
        publishers: 2,
        rate_per_s: 400.0,
        size_bytes: 64,
        warmup: Duration::from_millis(200),
        duration: Duration::from_millis(800),
        threads: 2,
        source_ips: 3,
        get_limit: 1000,
        max_in_flight: 100,
        sub_addr: None,
        sub_tls: None,
        headers: Vec::new(),
    }
}

/// What the fake server did on purpose.
#[derive(Default)]
struct Faults {
    received: AtomicU64,
    dropped: AtomicU64,
    duplicated: AtomicU64,
}

/// A blocking server: WebSocket upgrades subscribe; each POST body goes to every subscriber,
/// except that message n (in arrival order) is dropped when n % 10 == 3 and sent twice when
/// n % 7 == 0.
fn fake_server() -> (SocketAddr, Arc<Faults>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let faults = Arc::new(Faults::default());
    let subscribers: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
    let counters = faults.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (subscribers, faults) = (subscribers.clone(), counters.clone());
            std::thread::spawn(move || serve_fake(stream, &subscribers, &faults));
        }
    });
    (addr, faults)
}

fn serve_fake(mut stream: TcpStream, subscribers: &Mutex<Vec<TcpStream>>, faults: &Faults) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let head_end = loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break end + 4;
            }
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
        let header = |name: &str| {
            head.lines()
                .find_map(|line| line.strip_prefix(&format!("{name}:")))
                .map(|value| value.trim().to_owned())
        };
        if head.contains("upgrade: websocket") {
            let key = String::from_utf8_lossy(&buf[..head_end])
                .lines()
                .find_map(|l| {
                    l.strip_prefix("Sec-WebSocket-Key:")
                        .map(|k| k.trim().to_owned())
                })
                .unwrap();
            let accept = accept_key(key.as_bytes());
            let answer = format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n");
            stream.write_all(answer.as_bytes()).unwrap();
            let mut subs = subscribers.lock().unwrap();
            subs.push(stream);
            return;
        }
        let len: usize = header("content-length").unwrap().parse().unwrap();
        while buf.len() < head_end + len {
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body: Vec<u8> = buf.drain(..head_end + len).skip(head_end).collect();
        let n = faults.received.fetch_add(1, Ordering::SeqCst);
        let copies = if n % 10 == 3 {
            faults.dropped.fetch_add(1, Ordering::SeqCst);
            0
        } else if n % 7 == 0 {
            faults.duplicated.fetch_add(1, Ordering::SeqCst);
            2
        } else {
            1
        };
        let mut frame = BytesMut::new();
        encode_text(&mut frame, &body);
        for sub in subscribers.lock().unwrap().iter_mut() {
            for _ in 0..copies {
                sub.write_all(&frame).unwrap();
            }
        }
        stream
            .write_all(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
            .unwrap();
    }
}

#[test]
fn losses_and_duplicates_are_counted_exactly() {
    let (addr, faults) = fake_server();
    let w = workload(addr, SubProtocol::Ws, PubProtocol::Post, "/sub", "/pub");
    let outcome = run(&w, None).expect("run completes");
    let c = &outcome.counts;
    let received = faults.received.load(Ordering::SeqCst);
    let dropped = faults.dropped.load(Ordering::SeqCst);
    let duplicated = faults.duplicated.load(Ordering::SeqCst);
    let subs = w.subscribers as u64;
    // 400 msg/s for 1 s in all, warm-up included.
    assert_eq!(c.published, 400);
    assert_eq!((c.acknowledged, received), (400, 400));
    assert_eq!(c.subscribers_ready, subs);
    assert_eq!(c.deliveries_expected, 400 * subs);
    assert_eq!(c.lost, dropped * subs, "{c:?}");
    assert_eq!(c.duplicates, duplicated * subs, "{c:?}");
    assert_eq!(c.delivered, (400 - dropped) * subs, "{c:?}");
    assert_eq!((c.reordered, c.foreign), (0, 0));
    assert!(dropped >= 39 && duplicated >= 50, "the fake did its faults");
    // Latency is recorded for delivered messages due after warm-up only.
    let measured = outcome.latency.count();
    assert!(
        measured > 0 && measured < c.delivered,
        "{measured} of {}",
        c.delivered
    );
}

/// The gateway configuration the harness generates for `--serve tidegate` (`/load/in` takes POST
/// and WebSocket publishes; `/load` serves WebSocket, SSE and GET) on `driver`, on a free port.
fn gateway_yaml(driver: Driver) -> String {
    let options = ServerOptions {
        tidegate_bin: "unused".into(),
        nginx_bin: "unused".into(),
        threads: 2,
        get_window_ms: 50,
        driver,
        ws_deflate: Default::default(),
    };
    tidegate_config("127.0.0.1:0".parse().unwrap(), &options)
}

/// The gateway in this process, from the generated configuration.
fn start_gateway(driver: Driver) -> Result<tidegate::runtime::Gateway, String> {
    let config = tidegate::config::load_str(&gateway_yaml(driver), "test").unwrap();
    tidegate::runtime::Gateway::start(config).map_err(|err| err.to_string())
}

fn nothing_is_lost_through_the_gateway(sub: SubProtocol, publish: PubProtocol) {
    let gateway = start_gateway(Driver::Auto).unwrap();
    let w = workload(gateway.local_addr(), sub, publish, "/load", "/load/in");
    let outcome = run(&w, None).expect("run completes");
    let c = &outcome.counts;
    assert_eq!(c.published, 400, "{c:?}");
    assert_eq!(c.acknowledged, 400, "{c:?} {:?}", outcome.publisher_errors);
    assert_eq!(c.subscribers_ready, 5);
    assert_eq!(c.delivered, 400 * 5, "{c:?} {:?}", outcome.errors);
    assert_eq!(
        (c.lost, c.duplicates, c.reordered, c.foreign),
        (0, 0, 0, 0),
        "{c:?}"
    );
    assert!(outcome.latency.count() > 0);
}

#[test]
fn post_to_websocket_subscribers() {
    nothing_is_lost_through_the_gateway(SubProtocol::Ws, PubProtocol::Post);
}

#[test]
fn post_to_sse_subscribers() {
    nothing_is_lost_through_the_gateway(SubProtocol::Sse, PubProtocol::Post);
}

#[test]
fn post_to_get_pollers() {
    nothing_is_lost_through_the_gateway(SubProtocol::Get, PubProtocol::Post);
}

#[test]
fn websocket_publish_to_websocket_subscribers() {
    nothing_is_lost_through_the_gateway(SubProtocol::Ws, PubProtocol::Ws);
}

/// The `drivers` comparison end to end at a tiny workload, with the gateway in this process on
/// each driver: every case runs (or io_uring is reported refused), nothing is lost, and the table
/// has one row per driver × publisher shape.
#[test]
fn drivers_compares_both_drivers_for_both_publisher_shapes() {
    let base = Workload {
        subscribers: 10,
        publishers: 1,
        rate_per_s: 50.0,
        warmup: Duration::from_millis(200),
        duration: Duration::from_millis(500),
        threads: 1,
        max_in_flight: 1000,
        ..workload(
            "127.0.0.1:0".parse().unwrap(),
            SubProtocol::Ws,
            PubProtocol::Post,
            "/load",
            "/load/in",
        )
    };
    let rows = drivers::compare(&base, 20, |case, w| {
        let gateway = match start_gateway(case.driver) {
            Ok(gateway) => gateway,
            Err(err) => {
                assert_eq!(case.driver, Driver::IoUring, "{err}");
                let why = drivers::refusal(&err).expect("only io_uring may be refused");
                return Ok(CaseOutcome::Refused(why));
            }
        };
        let w = Workload {
            target: gateway.local_addr(),
            ..w
        };
        assert_eq!(
            (w.publishers, w.max_in_flight),
            (case.shape.publishers, case.shape.max_in_flight)
        );
        let outcome = run(&w, None)?;
        gateway.shutdown();
        let c = &outcome.counts;
        assert_eq!(c.published, 35, "{case:?} {c:?}");
        assert_eq!(c.acknowledged, 35, "{case:?} {c:?}");
        assert_eq!(c.subscribers_ready, 10, "{case:?}");
        assert_eq!(c.delivered, 35 * 10, "{case:?} {c:?} {:?}", outcome.errors);
        assert_eq!((c.lost, c.duplicates), (0, 0), "{case:?} {c:?}");
        let label = case.label();
        Ok::<_, LoadError>(CaseOutcome::Measured(Box::new(Report::new(
            &label,
            Some(ServerKind::Tidegate),
            &w,
            &outcome,
        ))))
    })
    .expect("every case runs");
    let table = drivers::table(&base, &rows);
    let body: Vec<&str> = table
        .lines()
        .filter(|line| line.starts_with("| ") && !line.starts_with("| publishers"))
        .collect();
    assert_eq!(body.len(), 4, "{table}");
    for shape in [
        "1 publisher, pipelining (≤ 1000 unanswered)",
        "20 publishers, each waiting for every answer",
    ] {
        for driver in ["io_uring", "epoll"] {
            let row = format!("| {shape} | {driver} |");
            assert_eq!(
                body.iter().filter(|line| line.starts_with(&row)).count(),
                1,
                "{row} in\n{table}"
            );
        }
    }
}
