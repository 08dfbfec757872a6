//! The admin endpoint serves clients side by side: a client that trickles its request (a byte
//! now and then) holds one connection slot until the whole-request deadline, never `/health`,
//! `/metrics` or the gateway's shutdown; connections beyond the bound are refused at once.

mod common;

use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use common::admin::{health, metrics_text, plain_metric};
use common::*;
use tidegate::config::DriverChoice;

const WAIT: Duration = Duration::from_secs(30);

/// A client that sends a request head one byte every 200 ms and never finishes it.
struct Trickler {
    stream: TcpStream,
    sent: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Trickler {
    fn start(admin: SocketAddr) -> Trickler {
        let stream = connect(admin);
        stream.set_read_timeout(Some(WAIT)).unwrap();
        let (sent, stop) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicBool::new(false)),
        );
        let mut writer = stream.try_clone().unwrap();
        let (count, halt) = (sent.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut bytes = b"GET /health HTTP/1.1\r\nX-Slow: "
                .iter()
                .chain(std::iter::repeat(&b'a'));
            while !halt.load(Ordering::Relaxed) {
                if writer.write_all(&[*bytes.next().unwrap()]).is_err() {
                    return;
                }
                count.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        let trickler = Trickler {
            stream,
            sent,
            stop,
            thread: Some(thread),
        };
        // Being served (its first bytes are in) before the test goes on.
        assert!(eventually(WAIT, || trickler.sent.load(Ordering::Relaxed) >= 3));
        trickler
    }
}

impl Drop for Trickler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn gateway(driver: DriverChoice) -> tidegate::runtime::Gateway {
    start(test_config(&mock_api_yaml(1000), driver))
}

fn health_answers_while_a_client_trickles(driver: DriverChoice) {
    let gateway = gateway(driver);
    let admin = gateway.admin_addr().unwrap();
    let _slow = Trickler::start(admin);
    let response = health(admin);
    assert_eq!(response.status, 200, "{}", response.text());
    let text = metrics_text(admin);
    assert!(
        plain_metric(&text, "admin_connections_open").is_some_and(|open| open >= 2),
        "{text}"
    );
}
on_both_drivers!(
    health_while_trickled,
    health_answers_while_a_client_trickles
);

#[test]
fn a_trickled_request_is_cut_off_at_the_whole_request_deadline() {
    // one driver: the admin endpoint runs on threads of its own, whatever the shards' driver.
    let gateway = gateway(DriverChoice::Epoll);
    let admin = gateway.admin_addr().unwrap();
    let slow = Trickler::start(admin);
    // The trickler would need half an hour to fill the head limit a byte at a time.
    let response = read_response(&mut BufReader::new(slow.stream.try_clone().unwrap()));
    assert_eq!(response.status, 408, "{}", response.text());
    assert!(response.text().contains("within"), "{}", response.text());
    assert_eq!(
        plain_metric(&metrics_text(admin), "admin_requests_timed_out_total"),
        Some(1)
    );
}

#[test]
fn connections_beyond_the_bound_are_refused_at_once() {
    // one driver: the admin endpoint runs on threads of its own, whatever the shards' driver.
    let gateway = gateway(DriverChoice::Epoll);
    let admin = gateway.admin_addr().unwrap();
    // Idle clients (a request never comes): those within the bound wait for the deadline (408),
    // the rest are refused at once (503).
    let idle: Vec<TcpStream> = (0..64).map(|_| connect(admin)).collect();
    let mut statuses = Vec::new();
    for stream in idle {
        stream.set_read_timeout(Some(WAIT)).unwrap();
        statuses.push(read_response(&mut BufReader::new(stream)).status);
    }
    let served = statuses.iter().filter(|&&s| s == 408).count();
    let refused = statuses.iter().filter(|&&s| s == 503).count();
    assert_eq!(served + refused, statuses.len(), "{statuses:?}");
    assert_eq!(
        served,
        tidegate::admin::ADMIN_LIMITS.max_connections,
        "{statuses:?}"
    );
    let text = metrics_text(admin);
    assert_eq!(
        plain_metric(&text, "admin_connections_rejected_total"),
        Some(refused as u64),
        "{text}"
    );
    assert_eq!(health(admin).status, 200);
}

#[test]
fn shutdown_does_not_wait_for_an_admin_client() {
    // one driver: the admin endpoint runs on threads of its own, whatever the shards' driver.
    let gateway = gateway(DriverChoice::Epoll);
    let admin = gateway.admin_addr().unwrap();
    let _slow = Trickler::start(admin);
    let stopper = std::thread::spawn(move || gateway.shutdown());
    assert!(
        eventually(WAIT, || stopper.is_finished()),
        "the shutdown waited on a trickling admin client"
    );
}
