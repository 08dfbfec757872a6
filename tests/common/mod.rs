//! Helpers shared by the integration tests: an in-process gateway on 127.0.0.1:0 and small
//! blocking clients (raw HTTP, WebSocket via tungstenite, SSE) that read real sockets.
#![allow(
    clippy::disallowed_types,
    reason = "test helpers run on plain threads, never on a shard"
)]
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use tidegate::config::{self, Config, DriverChoice};
use tidegate::runtime::Gateway;

pub mod admin;
pub mod attack_client;
pub mod binary;
pub mod broker_sockets;
pub mod chromium;
pub mod console_browser;
pub mod console_stack;
pub mod echo_api;
pub mod examples;
pub mod fake_kafka_sasl;
pub mod fake_mqtt;
pub mod hibernation;
pub mod hooked_store;
pub mod http_raw;
pub mod kafka_batches;
pub mod kafka_commit_hold;
pub mod live_apis;
pub mod log_capture;
pub mod managed_node;
pub mod management;
pub mod mosquitto;
pub mod mqtt_api;
pub mod mtls_gateway;
pub mod observe;
pub mod open_files;
pub mod page_server;
pub mod plans;
pub mod portal_api;
pub mod postgres;
pub mod rate_limit;
pub mod redis;
pub mod served_node;
pub mod shards;
pub mod slow_reader;
pub mod sse_replay;
pub mod store_conformance;
pub mod test_ca;
pub mod tls_client;
pub mod topic_api;
pub mod webhook_api;
pub mod webhook_brokers;
pub mod webhook_managed;
pub mod webhook_receiver;
pub mod ws_client;
pub mod ws_raw;

/// Runs `$body` (a fn taking a `DriverChoice`) once per I/O driver, as two tests
/// (`$name::io_uring` and `$name::epoll`); attributes before `$name` (`#[ignore = "..."]`) go on
/// both. Every test that starts a gateway runs this way:
/// [`start`] refuses `auto`, and tests/every_io_test_on_both_drivers.rs lists any test that
/// names one driver without saying why.
#[macro_export]
macro_rules! on_both_drivers {
    ($(#[$attr:meta])* $name:ident, $body:ident) => {
        mod $name {
            $(#[$attr])*
            #[test]
            fn io_uring() {
                super::$body(tidegate::config::DriverChoice::IoUring)
            }
            $(#[$attr])*
            #[test]
            fn epoll() {
                super::$body(tidegate::config::DriverChoice::Epoll)
            }
        }
    };
}

/// A quick Mock API on `/mock` (one message every `interval_ms`), with all three entrypoints.
pub fn mock_api_yaml(interval_ms: u64) -> String {
    format!(
        r#"
apis:
  - id: mock-api
    name: Mock API
    contextPaths: [/mock]
    entrypoints:
      - type: http-get
        configuration:
          messagesLimitCount: 100
          messagesLimitDurationMs: 1000
      - type: websocket
        configuration:
          publisher: {{ enabled: false }}
      - type: sse
        configuration:
          heartbeatIntervalInMs: 2000
    endpoint:
      type: mock
      configuration:
        messageInterval: {interval_ms}
        messageContent: hello
    plans:
      - name: Keyless
        security: keyless
"#
    )
}

/// Parses `yaml` and points it at 127.0.0.1:0 with two shards on `driver`.
pub fn test_config(yaml: &str, driver: DriverChoice) -> Config {
    let config =
        config::load_str(yaml, "test").unwrap_or_else(|err| panic!("test config invalid:\n{err}"));
    on_loopback(config, driver)
}

/// Points `config` at 127.0.0.1:0 (gateway and admin) with two unpinned shards on `driver`.
pub fn on_loopback(mut config: Config, driver: DriverChoice) -> Config {
    config.gateway.listen = "127.0.0.1:0".parse().unwrap();
    config.gateway.shards = std::num::NonZeroUsize::new(2);
    config.gateway.driver = driver;
    config.gateway.pin_shards = false;
    config.gateway.admin_listen = Some("127.0.0.1:0".parse().unwrap());
    config
}

/// Starts a gateway on the driver its configuration names: `io-uring` or `epoll`, as
/// `on_both_drivers!` hands them to a test. `auto` is refused: it is io_uring wherever io_uring
/// works, so a test on it would leave the epoll driver untested. A test that must run on one
/// driver uses [`start_on_one_driver`] and says why.
pub fn start(config: Config) -> Gateway {
    assert_ne!(
        config.gateway.driver,
        DriverChoice::Auto,
        "a test gateway names its driver: run the test with on_both_drivers! and pass the \
         driver it hands over (or use start_on_one_driver with the reason)"
    );
    Gateway::start(config).expect("gateway starts")
}

/// Starts a gateway on whatever driver `config` names, `auto` included, for the few tests that
/// cannot or need not run on both drivers; `why` says which and is kept for the reader.
pub fn start_on_one_driver(config: Config, why: &str) -> Gateway {
    assert!(!why.is_empty(), "say why this test runs on one driver");
    Gateway::start(config).expect("gateway starts")
}

/// The configuration file's name for `driver` (`gateway.driver`).
pub fn driver_name(driver: DriverChoice) -> &'static str {
    match driver {
        DriverChoice::IoUring => "io-uring",
        DriverChoice::Epoll => "epoll",
        DriverChoice::Auto => "auto",
    }
}

/// Connects with read/write timeouts so a broken test fails instead of hanging.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

/// A parsed HTTP response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// Reads a status line and headers.
fn read_head(reader: &mut BufReader<TcpStream>) -> Response {
    let mut line = String::new();
    reader.read_line(&mut line).expect("status line");
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .unwrap_or_else(|| panic!("bad status line {line:?}"))
        .parse()
        .unwrap();
    Response {
        status,
        headers: read_fields(reader),
        body: Vec::new(),
    }
}

/// Reads header fields up to the blank line that ends them.
fn read_fields(reader: &mut BufReader<TcpStream>) -> Vec<(String, String)> {
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            return headers;
        }
        let (name, value) = line.split_once(':').unwrap();
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
}

/// Reads one response (Content-Length, chunked, or until close) from a buffered reader.
pub fn read_response(reader: &mut BufReader<TcpStream>) -> Response {
    let head = read_head(reader);
    read_body(reader, head)
}

/// Reads the fields and body of a response whose status line (with `status`) the caller read.
pub fn read_response_after_status(reader: &mut BufReader<TcpStream>, status: u16) -> Response {
    let headers = read_fields(reader);
    let head = Response {
        status,
        headers,
        body: Vec::new(),
    };
    read_body(reader, head)
}

/// Reads the body that `response`'s head announces.
fn read_body(reader: &mut BufReader<TcpStream>, mut response: Response) -> Response {
    let status = response.status;
    if let Some(len) = response.header("content-length") {
        let mut body = vec![0; len.parse().unwrap()];
        reader.read_exact(&mut body).unwrap();
        response.body = body;
    } else if response
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).unwrap();
            let size = usize::from_str_radix(size.trim(), 16).unwrap();
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).unwrap();
            if size == 0 {
                break;
            }
            response.body.extend_from_slice(&chunk[..size]);
        }
    } else if status != 101 && status != 204 {
        reader.read_to_end(&mut response.body).unwrap();
    }
    response
}

/// Starts a gateway with one shard, so that every connection meets the same shard's state
/// (budgets, queues, the broker connection).
pub fn start_one_shard(yaml: &str, driver: DriverChoice) -> Gateway {
    let mut config = test_config(yaml, driver);
    config.gateway.shards = std::num::NonZeroUsize::new(1);
    start(config)
}

/// Sends one GET and reads the response on a fresh connection.
pub fn get(addr: SocketAddr, target: &str, headers: &[(&str, &str)]) -> Response {
    let mut stream = connect(addr);
    let mut request = format!("GET {target} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    read_response(&mut BufReader::new(stream))
}

/// Sends one POST on `stream` (kept alive) and reads the response.
pub fn post_on(
    stream: &mut TcpStream,
    target: &str,
    body: impl AsRef<[u8]>,
    extra: &str,
) -> Response {
    let body = body.as_ref();
    let head = format!(
        "POST {target} HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n{extra}\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    read_response(&mut BufReader::new(stream.try_clone().unwrap()))
}

/// Sends one POST on a fresh connection (closed after) and reads the response; `extra` holds
/// more header lines, each ending in `\r\n`.
pub fn post(addr: SocketAddr, target: &str, body: impl AsRef<[u8]>, extra: &str) -> Response {
    post_on(
        &mut connect(addr),
        target,
        body,
        &format!("Connection: close\r\n{extra}"),
    )
}

/// Sends raw bytes and reads one response.
pub fn raw(addr: SocketAddr, request: &[u8]) -> Response {
    let mut stream = connect(addr);
    stream.write_all(request).unwrap();
    read_response(&mut BufReader::new(stream))
}

/// The `items[].id` of a JSON batch, as numbers.
pub fn item_ids(body: &serde_json::Value) -> Vec<u64> {
    body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {body}"))
        .iter()
        .map(|item| {
            item["id"]
                .as_str()
                .expect("id is a string")
                .parse()
                .unwrap()
        })
        .collect()
}

/// Waits until `f` is true or `timeout` passes; returns whether it became true.
pub fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    f()
}

/// Opens an SSE stream and returns the reader positioned after the response head.
pub fn open_sse(
    addr: SocketAddr,
    target: &str,
    extra: &[(&str, &str)],
) -> (Response, BufReader<TcpStream>) {
    let mut stream = connect(addr);
    let mut request =
        format!("GET {target} HTTP/1.1\r\nHost: test\r\nAccept: text/event-stream\r\n");
    for (name, value) in extra {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut reader = BufReader::new(stream);
    let head = read_head(&mut reader);
    (head, reader)
}

/// Reads the de-chunked SSE body until `done(text so far)` is true, the stream ends, or a minute
/// passed (heartbeats keep a stream that delivers nothing alive: the caller's assertion then
/// fails with what arrived, instead of the test hanging).
pub fn read_sse_until(
    reader: &mut BufReader<TcpStream>,
    mut done: impl FnMut(&str) -> bool,
) -> String {
    let mut text = String::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        if std::time::Instant::now() > deadline {
            return text;
        }
        let mut size = String::new();
        if reader.read_line(&mut size).unwrap_or(0) == 0 {
            return text;
        }
        let size = usize::from_str_radix(size.trim(), 16).expect("chunk size");
        let mut chunk = vec![0; size + 2];
        reader.read_exact(&mut chunk).unwrap();
        if size == 0 {
            return text;
        }
        text.push_str(std::str::from_utf8(&chunk[..size]).unwrap());
        if done(&text) {
            return text;
        }
    }
}
