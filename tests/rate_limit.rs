//! Plan policies over real sockets: a node-wide rate limit exact on two shards, 429 answers and
//! `X-RateLimit-*` headers on every entrypoint, a quota, counters per client address on a
//! keyless plan, and message rates (POST refused, WebSocket publisher slowed, deliveries paced
//! without loss).

mod common;

use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::admin::metrics_text;
use common::rate_limit::{concurrent_posts, limited_api_yaml, post_keep_alive};
use common::{connect, get, open_sse, start, test_config};
use tidegate::config::DriverChoice;
use tidegate::metrics::ShardMetrics;
use tidegate::runtime::Gateway;

fn rate_metric(gateway: &Gateway, name: &str) -> u64 {
    let text = metrics_text(gateway.admin_addr().unwrap());
    common::admin::plain_metric(&text, &format!("rate_limit_{name}"))
        .unwrap_or_else(|| panic!("no rate_limit_{name} in\n{text}"))
}

fn count(statuses: &[u16], status: u16) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

/// 8 clients, 4 on each of two shards, 10 POSTs each against a limit of 20 per window: exactly
/// 20 pass (per-shard counters would let 40 through).
fn limit_is_exact_across_two_shards(driver: DriverChoice) {
    // A window of ~11.6 days: the test does not cross into the next one.
    let yaml = limited_api_yaml("", "{ rateLimit: { limit: 20, periodSeconds: 1000000 } }");
    let gateway = start(test_config(&yaml, driver));
    let mut streams = Vec::new();
    for _ in 0..4 {
        streams.extend(common::shards::one_connection_per_shard(&gateway));
    }
    let statuses = concurrent_posts(gateway.local_addr(), streams, 8, 10, "/rl");
    assert_eq!(count(&statuses, 202), 20, "{statuses:?}");
    assert_eq!(count(&statuses, 429), 60, "{statuses:?}");
    for shard in gateway.metrics() {
        assert!(ShardMetrics::get(&shard.http_requests_total) >= 40);
    }
    assert_eq!(rate_metric(&gateway, "requests_refused_total"), 60);
}
on_both_drivers!(exact_on_two_shards, limit_is_exact_across_two_shards);

fn answers_carry_rate_limit_headers_and_429_says_when_to_retry(driver: DriverChoice) {
    let yaml = limited_api_yaml("", "{ rateLimit: { limit: 2, periodSeconds: 1000000 } }");
    let gateway = start(test_config(&yaml, driver));
    let mut stream = connect(gateway.local_addr());
    let first = post_keep_alive(&mut stream, "/rl", "a");
    assert_eq!(first.status, 202);
    assert_eq!(first.header("x-ratelimit-limit"), Some("2"));
    assert_eq!(first.header("x-ratelimit-remaining"), Some("1"));
    let reset: u64 = first.header("x-ratelimit-reset").unwrap().parse().unwrap();
    assert!((1..=1_000_000).contains(&reset), "{reset}");
    let second = post_keep_alive(&mut stream, "/rl", "b");
    assert_eq!(second.header("x-ratelimit-remaining"), Some("0"));
    let refused = post_keep_alive(&mut stream, "/rl", "c");
    assert_eq!(refused.status, 429);
    let retry: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=1_000_000).contains(&retry), "{retry}");
    assert_eq!(refused.header("x-ratelimit-limit"), Some("2"));
    assert_eq!(refused.header("x-ratelimit-remaining"), Some("0"));
    assert!(
        refused.text().starts_with("rate limit exceeded"),
        "{}",
        refused.text()
    );
    // The connection stays usable, and the other entrypoints count against the same limit.
    assert_eq!(get(gateway.local_addr(), "/rl", &[]).status, 429);
    let (sse, _) = open_sse(gateway.local_addr(), "/rl", &[]);
    assert_eq!(sse.status, 429);
    let upgrade = tungstenite::client::client(
        format!("ws://{}/rl", gateway.local_addr()),
        connect(gateway.local_addr()),
    );
    match upgrade {
        Err(tungstenite::handshake::HandshakeError::Failure(tungstenite::Error::Http(answer))) => {
            assert_eq!(answer.status().as_u16(), 429)
        }
        other => panic!(
            "the upgrade should be refused with 429: {:?}",
            other.map(|_| ())
        ),
    }
    // An API without policies is not counted.
    assert_eq!(post_keep_alive(&mut stream, "/free", "d").status, 202);
}
on_both_drivers!(
    answers_carry_rate_limit_headers_and_429_says_when_to_retry,
    answers_carry_rate_limit_headers_and_429_says_when_to_retry
);

fn quota_counts_every_entrypoint_and_their_answers_say_what_is_left(driver: DriverChoice) {
    let yaml = limited_api_yaml("", "{ quota: { limit: 4, period: day } }").replace(
        "      - type: http-get\n",
        "      - type: http-get\n        configuration: { messagesLimitDurationMs: 50 }\n",
    );
    let gateway = start(test_config(&yaml, driver));
    let addr = gateway.local_addr();
    let posted = common::post(addr, "/rl", "x", "");
    assert_eq!(posted.status, 202);
    assert_eq!(posted.header("x-ratelimit-remaining"), Some("3"));
    let polled = get(addr, "/rl", &[]);
    assert_eq!(polled.status, 200);
    assert_eq!(polled.header("x-ratelimit-remaining"), Some("2"));
    let (sse, _stream) = open_sse(addr, "/rl", &[]);
    assert_eq!(sse.status, 200);
    assert_eq!(sse.header("x-ratelimit-remaining"), Some("1"));
    let (_socket, upgraded) =
        tungstenite::client::client(format!("ws://{addr}/rl"), connect(addr)).expect("101");
    let remaining = upgraded.headers().get("x-ratelimit-remaining").unwrap();
    assert_eq!(remaining.to_str().unwrap(), "0");
    let refused = common::post(addr, "/rl", "y", "");
    assert_eq!(refused.status, 429);
    assert!(
        refused.text().starts_with("quota exceeded"),
        "{}",
        refused.text()
    );
    assert_eq!(rate_metric(&gateway, "quota_refused_total"), 1);
}
on_both_drivers!(
    quota_counts_every_entrypoint_and_their_answers_say_what_is_left,
    quota_counts_every_entrypoint_and_their_answers_say_what_is_left
);

/// Connects from `source` (any 127.0.0.0/8 address is this host).
fn connect_from(source: &str, addr: SocketAddr) -> TcpStream {
    let stream = common::attack_client::connect_from(source, addr);
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    stream
}

fn a_keyless_plan_counts_each_client_address_apart(driver: DriverChoice) {
    let yaml = limited_api_yaml("", "{ rateLimit: { limit: 1, periodSeconds: 1000000 } }");
    let gateway = start(test_config(&yaml, driver));
    let addr = gateway.local_addr();
    let mut one = connect_from("127.0.0.1", addr);
    assert_eq!(post_keep_alive(&mut one, "/rl", "a").status, 202);
    assert_eq!(post_keep_alive(&mut one, "/rl", "b").status, 429);
    let mut other = connect_from("127.0.0.2", addr);
    assert_eq!(post_keep_alive(&mut other, "/rl", "c").status, 202);
    assert_eq!(post_keep_alive(&mut other, "/rl", "d").status, 429);
}
on_both_drivers!(
    a_keyless_plan_counts_each_client_address_apart,
    a_keyless_plan_counts_each_client_address_apart
);

fn epoch_second() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn posts_over_the_publish_rate_are_refused(driver: DriverChoice) {
    let yaml = limited_api_yaml("", "{ messageRate: { publishPerSecond: 3 } }");
    let gateway = start(test_config(&yaml, driver));
    let mut stream = connect(gateway.local_addr());
    let first_second = epoch_second();
    let mut statuses = Vec::new();
    while count(&statuses, 429) == 0 && statuses.len() < 500 {
        let answer = post_keep_alive(&mut stream, "/rl", "m");
        if answer.status == 429 {
            assert!(
                answer.text().starts_with("publish rate exceeded"),
                "{}",
                answer.text()
            );
            assert_eq!(answer.header("retry-after"), Some("1"));
        }
        statuses.push(answer.status);
    }
    let seconds = epoch_second() - first_second + 1;
    let accepted = count(&statuses, 202) as u64;
    assert_eq!(count(&statuses, 429), 1, "{statuses:?}");
    // At most 3 per one-second window, over the windows the requests spanned.
    assert!(
        accepted >= 3 && accepted <= 3 * seconds,
        "{accepted} accepted in {seconds} windows"
    );
    assert_eq!(rate_metric(&gateway, "publishes_refused_total"), 1);
}
on_both_drivers!(
    posts_over_the_publish_rate_are_refused,
    posts_over_the_publish_rate_are_refused
);

/// Reads SSE data lines until `n` arrived; returns them.
fn sse_data(reader: &mut std::io::BufReader<TcpStream>, n: usize) -> Vec<String> {
    let text = common::read_sse_until(reader, |text| {
        text.lines()
            .filter(|line| line.starts_with("data:"))
            .count()
            >= n
    });
    text.lines()
        .filter_map(|line| line.strip_prefix("data: ").or(line.strip_prefix("data:")))
        .map(str::to_owned)
        .collect()
}

fn a_websocket_publisher_over_its_rate_is_slowed_not_refused(driver: DriverChoice) {
    let yaml = limited_api_yaml("", "{ messageRate: { publishPerSecond: 4 } }");
    let gateway = start(test_config(&yaml, driver));
    let addr = gateway.local_addr();
    let (head, mut reader) = open_sse(addr, "/free", &[]);
    assert_eq!(head.status, 200);
    let mut socket = common::ws_client::ws_open(addr, "/rl");
    let started = Instant::now();
    let sent: Vec<String> = (0..12).map(|i| format!("m{i}")).collect();
    for message in &sent {
        socket
            .send(tungstenite::Message::text(message.clone()))
            .unwrap();
    }
    let received = sse_data(&mut reader, 12);
    assert_eq!(received, sent, "every message published, in order");
    // 12 messages at most 4 per one-second window span at least 3 windows.
    assert!(
        started.elapsed() > Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert!(rate_metric(&gateway, "publishers_paused_total") >= 1);
    drop(socket);
}
on_both_drivers!(
    a_websocket_publisher_over_its_rate_is_slowed_not_refused,
    a_websocket_publisher_over_its_rate_is_slowed_not_refused
);

fn deliveries_over_their_rate_are_paced_without_loss(driver: DriverChoice) {
    let yaml = limited_api_yaml("", "{ messageRate: { deliverPerSecond: 5 } }");
    let gateway = start(test_config(&yaml, driver));
    let addr = gateway.local_addr();
    let (paced_head, mut paced) = open_sse(addr, "/rl", &[]);
    assert_eq!(paced_head.status, 200);
    let (_, mut free) = open_sse(addr, "/free", &[]);
    let started = Instant::now();
    let sent: Vec<String> = (0..20).map(|i| format!("m{i}")).collect();
    let mut stream = connect(addr);
    for message in &sent {
        assert_eq!(post_keep_alive(&mut stream, "/free", message).status, 202);
    }
    assert_eq!(sse_data(&mut free, 20), sent);
    assert_eq!(sse_data(&mut paced, 20), sent, "paced, nothing lost");
    // 20 messages at most 5 per one-second window span at least 4 windows.
    assert!(
        started.elapsed() > Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(rate_metric(&gateway, "deliveries_paced_total") >= 1);
}
on_both_drivers!(
    deliveries_over_their_rate_are_paced_without_loss,
    deliveries_over_their_rate_are_paced_without_loss
);

/// config/rate-limit.yaml does what its comments say: 5 POSTs per 10 s window, then 429.
fn the_rate_limit_example_refuses_the_sixth_post_of_a_window(driver: DriverChoice) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/rate-limit.yaml");
    let config = tidegate::config::load_file(&path).expect("the example loads");
    let gateway = start(common::on_loopback(config, driver));
    let mut stream = connect(gateway.local_addr());
    let statuses: Vec<u16> = (0..11)
        .map(|_| post_keep_alive(&mut stream, "/orders", "hi").status)
        .collect();
    // Eleven quick POSTs span at most two 10 s windows, 5 admitted in each.
    let first_refused = statuses.iter().position(|s| *s == 429).expect("a 429");
    assert!((5..=10).contains(&first_refused), "{statuses:?}");
    let refused = post_keep_alive(&mut stream, "/orders", "hi");
    if refused.status == 429 {
        assert_eq!(refused.header("x-ratelimit-limit"), Some("5"));
        assert!(refused.header("retry-after").is_some());
    }
}
on_both_drivers!(
    the_rate_limit_example_refuses_the_sixth_post_of_a_window,
    the_rate_limit_example_refuses_the_sixth_post_of_a_window
);

/// `overflow: drop`: a burst over `deliverPerSecond` is not queued for later; what is over the
/// rate is dropped and counted, and every message is either delivered or counted as dropped.
fn deliveries_over_their_rate_are_dropped_when_configured(driver: DriverChoice) {
    let yaml = limited_api_yaml(
        "",
        "{ messageRate: { deliverPerSecond: 5, overflow: drop } }",
    );
    let gateway = start(test_config(&yaml, driver));
    let addr = gateway.local_addr();
    let (head, mut paced) = open_sse(addr, "/rl", &[]);
    assert_eq!(head.status, 200);
    let (_, mut free) = open_sse(addr, "/free", &[]);
    let sent: Vec<String> = (0..20).map(|i| format!("m{i}")).collect();
    // One write of 20 pipelined POSTs: the burst reaches the gateway at once.
    let mut stream = connect(addr);
    let burst: String = sent
        .iter()
        .map(|m| {
            format!(
                "POST /free HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n{m}",
                m.len()
            )
        })
        .collect();
    std::io::Write::write_all(&mut stream, burst.as_bytes()).unwrap();
    let mut answers = std::io::BufReader::new(stream);
    for _ in &sent {
        assert_eq!(common::read_response(&mut answers).status, 202);
    }
    assert_eq!(sse_data(&mut free, 20), sent);
    let delivered = || tidegate::metrics::total(gateway.metrics(), |m| &m.messages_delivered_total);
    let accounted = common::eventually(Duration::from_secs(30), || {
        delivered() + rate_metric(&gateway, "deliveries_dropped_total") == 40
    });
    assert!(accounted, "every message delivered or counted as dropped");
    let dropped = rate_metric(&gateway, "deliveries_dropped_total") as usize;
    // A burst within at most two one-second windows: at most 5 delivered in each.
    assert!(dropped >= 10, "{dropped} dropped");
    let received = sse_data(&mut paced, 20 - dropped);
    assert_eq!(received.len(), 20 - dropped);
    let mut rest = sent.iter();
    assert!(
        received.iter().all(|got| rest.any(|m| m == got)),
        "delivered in order: {received:?}"
    );
}
on_both_drivers!(
    deliveries_over_their_rate_are_dropped_when_configured,
    deliveries_over_their_rate_are_dropped_when_configured
);
