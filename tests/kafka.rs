//! The Kafka endpoint against a real Kafka-protocol broker (tansu, started per test on a free
//! loopback port) with an independent client (confluent-kafka): broadcast consumption on GET,
//! SSE and WebSocket, cursors and resume (on the same and on another gateway), producing.

mod common;
#[path = "common/kafka.rs"]
mod kafka_broker;

use std::collections::{BTreeMap, HashSet};
use std::io::BufReader;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::*;
use kafka_broker::*;
use serde_json::{json, Value};
use tidegate::config::DriverChoice;
use tidegate::runtime::Gateway;
use tungstenite::{Message, WebSocket};

const TOPIC: &str = "orders";
const JSON: &[(&str, &str)] = &[("Accept", "application/json")];

/// A gateway on `broker` whose feed has started.
fn gateway(broker: &Broker, extra_consumer: &str, driver: DriverChoice) -> Gateway {
    started_gateway(broker, TOPIC, extra_consumer, driver)
}

/// One GET poll: `(items, nextCursor)`.
fn poll(addr: SocketAddr, cursor: &str, limit: usize) -> (Vec<Value>, String) {
    let response = get(addr, &format!("/k?limit={limit}&cursor={cursor}"), JSON);
    assert_eq!(response.status, 200, "{}", response.text());
    let body = response.json();
    let items = body["items"].as_array().cloned().unwrap_or_default();
    let next = body["pagination"]["nextCursor"]
        .as_str()
        .expect("nextCursor")
        .to_owned();
    (items, next)
}

/// The cursor of "now": an empty poll's nextCursor.
fn head_cursor(addr: SocketAddr) -> String {
    let response = get(addr, "/k?limit=1", JSON);
    assert_eq!(response.status, 200, "{}", response.text());
    response.json()["pagination"]["nextCursor"]
        .as_str()
        .expect("nextCursor")
        .to_owned()
}

/// Polls from `cursor` until `count` items arrived; returns them and the last cursor.
fn poll_until(
    addr: SocketAddr,
    mut cursor: String,
    count: usize,
    limit: usize,
) -> (Vec<Value>, String) {
    let mut items = Vec::new();
    for _ in 0..200 {
        if items.len() >= count {
            break;
        }
        let (batch, next) = poll(addr, &cursor, limit);
        items.extend(batch);
        cursor = next;
    }
    assert_eq!(items.len(), count, "items: {items:?}");
    (items, cursor)
}

/// `partition → values in delivery order`.
fn by_partition(pairs: impl IntoIterator<Item = (i64, String)>) -> BTreeMap<i64, Vec<String>> {
    let mut map: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for (partition, value) in pairs {
        map.entry(partition).or_default().push(value);
    }
    map
}

/// 30 records over 3 partitions: value `p{partition}-{n}`, key `k{n}`.
fn produce_30(broker: &Broker, from: usize) -> Vec<(i64, i64)> {
    let records: Vec<Value> = (from..from + 30)
        .map(|n| json!({"value": format!("p{}-{n}", n % 3), "partition": n % 3, "key": format!("k{n}"), "headers": {"h": format!("v{n}")}}))
        .collect();
    broker.produce(TOPIC, &records)
}

fn expected_30(from: usize) -> BTreeMap<i64, Vec<String>> {
    by_partition((from..from + 30).map(|n| ((n % 3) as i64, format!("p{}-{n}", n % 3))))
}

struct SseEvent {
    id: String,
    data: String,
    comments: BTreeMap<String, String>,
}

fn parse_sse(text: &str) -> Vec<SseEvent> {
    text.split("\n\n")
        .filter_map(|block| {
            let mut event = SseEvent {
                id: String::new(),
                data: String::new(),
                comments: BTreeMap::new(),
            };
            let mut is_message = false;
            for line in block.lines() {
                if let Some(comment) = line.strip_prefix(": ") {
                    if let Some((k, v)) = comment.split_once(": ") {
                        event.comments.insert(k.to_owned(), v.to_owned());
                    }
                } else if let Some(id) = line.strip_prefix("id: ") {
                    event.id = id.to_owned();
                } else if let Some(data) = line.strip_prefix("data: ") {
                    event.data = data.to_owned();
                } else if line == "event: message" {
                    is_message = true;
                }
            }
            is_message.then_some(event)
        })
        .collect()
}

/// SSE event payloads grouped by the partition each names.
fn events_by_partition(events: &[SseEvent]) -> BTreeMap<i64, Vec<String>> {
    by_partition(
        events
            .iter()
            .map(|e| (partition_of(&e.data), e.data.clone())),
    )
}

fn read_events(reader: &mut BufReader<TcpStream>, count: usize) -> Vec<SseEvent> {
    let text = read_sse_until(reader, |text| parse_sse(text).len() >= count);
    let mut events = parse_sse(&text);
    assert!(events.len() >= count, "stream: {text}");
    // One write may carry more; a client that stops here resumes from the last one it kept.
    events.truncate(count);
    events
}

fn ws(addr: SocketAddr, path: &str) -> WebSocket<TcpStream> {
    tungstenite::client::client(format!("ws://{addr}{path}"), connect(addr))
        .expect("handshake")
        .0
}

fn next_text(socket: &mut WebSocket<TcpStream>) -> String {
    loop {
        match socket.read().expect("read") {
            Message::Text(text) => return text.to_string(),
            Message::Close(frame) => panic!("closed: {frame:?}"),
            _ => continue,
        }
    }
}

fn partition_of(value: &str) -> i64 {
    value[1..2].parse().unwrap()
}

fn broadcast_reaches_get_sse_and_websocket_in_partition_order(driver: DriverChoice) {
    let broker = Broker::start();
    broker.create_topic(TOPIC, 3);
    let gateway = gateway(&broker, "", driver);
    let addr = gateway.local_addr();
    let cursor = head_cursor(addr);
    let (_head, mut sse) = open_sse(addr, "/k", &[]);
    let mut socket = ws(addr, "/k");

    let acks = produce_30(&broker, 0);
    let expected = expected_30(0);

    let events = read_events(&mut sse, 30);
    let got = events_by_partition(&events);
    assert_eq!(got, expected, "SSE order per partition");
    for event in &events {
        let n: usize = event.data[3..].parse().unwrap();
        assert_eq!(event.comments["topic"], TOPIC);
        assert_eq!(event.comments["key"], format!("k{n}"));
        assert_eq!(
            event.comments["h"],
            format!("v{n}"),
            "record header as comment"
        );
        let partition: i64 = event.comments["partition"].parse().unwrap();
        let offset: i64 = event.comments["offset"].parse().unwrap();
        assert_eq!(
            (partition, offset),
            acks[n],
            "metadata matches the broker's ack"
        );
    }

    let texts: Vec<String> = (0..30).map(|_| next_text(&mut socket)).collect();
    assert_eq!(
        by_partition(texts.iter().map(|t| (partition_of(t), t.clone()))),
        expected,
        "WebSocket order per partition"
    );

    let (items, _) = poll_until(addr, cursor, 30, 100);
    let got = by_partition(items.iter().map(|item| {
        let content = item["content"].as_str().unwrap().to_owned();
        assert_eq!(item["metadata"]["topic"], TOPIC);
        assert_eq!(
            item["headers"]["h"][0].as_str().unwrap(),
            format!("v{}", &content[3..])
        );
        (
            item["metadata"]["partition"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap(),
            content,
        )
    }));
    assert_eq!(got, expected, "GET order per partition");
}
on_both_drivers!(
    broadcast_in_partition_order,
    broadcast_reaches_get_sse_and_websocket_in_partition_order
);

fn cursors_resume_with_no_gap_and_no_duplicate_on_every_entrypoint(driver: DriverChoice) {
    let broker = Broker::start();
    broker.create_topic(TOPIC, 3);
    let gateway = gateway(&broker, "encodeMessageId: false", driver);
    let addr = gateway.local_addr();
    let start = head_cursor(addr);
    produce_30(&broker, 0);
    // A cursor naming a partition this API does not read is refused, not served from zero.
    let foreign = get(addr, "/k?cursor=payments:0:3", JSON);
    assert_eq!(foreign.status, 400, "{}", foreign.text());
    assert!(
        foreign.text().contains("'payments' partition 0"),
        "{}",
        foreign.text()
    );

    // GET: polls of 7 from the start see each record once.
    let (items, end) = poll_until(addr, start.clone(), 30, 7);
    let values: Vec<String> = items
        .iter()
        .map(|i| i["content"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        values.iter().collect::<HashSet<_>>().len(),
        30,
        "no duplicate"
    );
    assert!(
        end.contains("orders:0:10"),
        "plain cursor (encodeMessageId: false): {end}"
    );
    assert_eq!(poll(addr, &end, 100).0.len(), 0, "nothing after the end");

    // SSE: read 10 from the start, reconnect with Last-Event-ID, get exactly the other 20.
    let (_, mut sse) = open_sse(addr, &format!("/k?cursor={start}"), &[]);
    let first = read_events(&mut sse, 10);
    drop(sse);
    let last_id = first.last().unwrap().id.clone();
    let (_, mut sse) = open_sse(addr, "/k", &[("Last-Event-ID", &last_id)]);
    let rest = read_events(&mut sse, 20);
    let mut all: Vec<String> = first
        .iter()
        .chain(rest.iter())
        .map(|e| e.data.clone())
        .collect();
    assert_eq!(
        by_partition(all.iter().map(|v| (partition_of(v), v.clone()))),
        expected_30(0)
    );
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 30, "no duplicate across the reconnect");

    // WebSocket: resume from the 10th event's id, then a new record arrives live.
    let mut socket = ws(addr, &format!("/k?cursor={last_id}"));
    let resumed: Vec<String> = (0..20).map(|_| next_text(&mut socket)).collect();
    assert_eq!(
        resumed.iter().collect::<HashSet<_>>(),
        rest.iter().map(|e| &e.data).collect::<HashSet<_>>()
    );
    broker.produce(TOPIC, &[record_to("p1-live", 1)]);
    assert_eq!(next_text(&mut socket), "p1-live");
}
on_both_drivers!(
    cursors_resume_with_no_gap_and_no_duplicate_on_every_entrypoint,
    cursors_resume_with_no_gap_and_no_duplicate_on_every_entrypoint
);

fn a_cursor_from_another_gateway_resumes_exactly_after_it(driver: DriverChoice) {
    let broker = Broker::start();
    broker.create_topic(TOPIC, 3);
    let first = gateway(&broker, "", driver);
    let start = head_cursor(first.local_addr());
    produce_30(&broker, 0);
    let (_, cursor) = poll_until(first.local_addr(), start, 30, 100);
    first.shutdown();

    // Produced while no gateway runs; the next gateway's buffer starts after them.
    produce_30(&broker, 30);
    let second = gateway(&broker, "", driver);
    let addr = second.local_addr();
    let (items, _) = poll_until(addr, cursor.clone(), 30, 100);
    let got = by_partition(items.iter().map(|i| {
        let v = i["content"].as_str().unwrap().to_owned();
        (partition_of(&v), v)
    }));
    assert_eq!(
        got,
        expected_30(30),
        "exactly the records after the cursor, in order"
    );
    let metrics = second.kafka_metrics().expect("kafka metrics");
    assert!(
        tidegate::metrics::ShardMetrics::get(&metrics.fetch_requests_total) > 0,
        "served by fetches"
    );

    // SSE with the same old cursor gets the same records (a catch-up fetch of its own).
    let (_, mut sse) = open_sse(addr, "/k", &[("Last-Event-ID", &cursor)]);
    let events = read_events(&mut sse, 30);
    assert_eq!(events_by_partition(&events), expected_30(30));
}
on_both_drivers!(
    a_cursor_from_another_gateway_resumes_exactly_after_it,
    a_cursor_from_another_gateway_resumes_exactly_after_it
);

fn earliest_without_cursor_starts_at_the_first_record(driver: DriverChoice) {
    let broker = Broker::start();
    broker.create_topic(TOPIC, 3);
    produce_30(&broker, 0);
    let gateway = gateway(&broker, "autoOffsetReset: earliest", driver);
    let (_, mut sse) = open_sse(gateway.local_addr(), "/k", &[]);
    let events = read_events(&mut sse, 30);
    assert_eq!(events_by_partition(&events), expected_30(0));
}
on_both_drivers!(
    earliest_without_cursor_starts_at_the_first_record,
    earliest_without_cursor_starts_at_the_first_record
);

fn post_and_websocket_publish_reach_an_outside_consumer_with_key_and_headers(driver: DriverChoice) {
    let broker = Broker::start();
    broker.create_topic(TOPIC, 3);
    let gateway = gateway(&broker, "", driver);
    let addr = gateway.local_addr();

    let response = post(
        addr,
        "/k",
        "from-post",
        "Accept: application/json\r\nX-Message-Key: customer-42\r\nX-Trace: abc\r\n",
    );
    assert_eq!(response.status, 202, "{}", response.text());
    let reply = response.json();
    let partition = reply["partition"].as_i64().expect("partition in the reply");
    let offset = reply["offset"].as_i64().expect("offset in the reply");
    assert_eq!(
        response.header("X-Kafka-Offset"),
        Some(offset.to_string().as_str())
    );

    // The same key through librdkafka's murmur2 partitioner lands on the same partition.
    let acks = broker.produce(
        TOPIC,
        &[json!({"value": "from-python", "key": "customer-42"})],
    );
    assert_eq!(
        acks[0].0, partition,
        "key → partition by Kafka's murmur2 hash"
    );

    let mut socket = ws(addr, "/k?key=ws-key");
    socket.send(Message::text("from-websocket")).unwrap();

    let records = broker.consume(TOPIC, 3);
    let posted = records
        .iter()
        .find(|r| r["value"] == "from-post")
        .expect("posted record");
    assert_eq!(posted["key"], "customer-42");
    assert_eq!(
        posted["headers"]["X-Trace"], "abc",
        "request headers as record headers"
    );
    assert!(
        posted["headers"].get("X-Message-Key").is_none(),
        "the key is not a header"
    );
    assert_eq!(
        (posted["partition"].as_i64(), posted["offset"].as_i64()),
        (Some(partition), Some(offset))
    );
    let from_ws = records
        .iter()
        .find(|r| r["value"] == "from-websocket")
        .expect("websocket record");
    assert_eq!(from_ws["key"], "ws-key");
}
on_both_drivers!(
    post_and_websocket_publish_reach_an_outside_consumer_with_key_and_headers,
    post_and_websocket_publish_reach_an_outside_consumer_with_key_and_headers
);

fn a_topic_pattern_reads_every_matching_topic_and_no_other(driver: DriverChoice) {
    let broker = Broker::start();
    for topic in ["orders.eu", "orders.us", "other"] {
        broker.create_topic(topic, 1);
        broker.produce(topic, &[json!({"value": format!("from-{topic}")})]);
    }
    let yaml = kafka_api_yaml(
        &broker.bootstrap(),
        "orders.eu",
        "autoOffsetReset: earliest",
    )
    .replacen(
        "          topics: [orders.eu]\n",
        "          topicPattern: 'orders\\..*'\n",
        1,
    );
    let gateway = start(test_config(&yaml, driver));
    let addr = gateway.local_addr();
    let mut values = Vec::new();
    assert!(
        eventually(Duration::from_secs(60), || {
            let response = get(addr, "/k?limit=3", JSON);
            values = match response.status {
                200 => response.json()["items"]
                    .as_array()
                    .map(|items| {
                        items
                            .iter()
                            .map(|i| i["content"].as_str().unwrap_or("").to_owned())
                            .collect()
                    })
                    .unwrap_or_default(),
                _ => Vec::new(),
            };
            values.len() >= 2
        }),
        "the pattern's topics were not read: {values:?}"
    );
    values.sort();
    assert_eq!(values, ["from-orders.eu", "from-orders.us"]);
}
on_both_drivers!(
    a_topic_pattern_reads_every_matching_topic_and_no_other,
    a_topic_pattern_reads_every_matching_topic_and_no_other
);
