//! Compact Kafka ids (`encodeMessageId: true`, `message::kafka_compact_id`) against a real
//! broker: an SSE event's id is a few bytes per partition instead of `topic:partition:offset`
//! per partition in base64; a client resumes exactly with it (SSE `Last-Event-ID`, GET
//! `?cursor=`), and still with the form earlier versions handed out; a damaged id is a 400 that
//! says what is wrong.

mod common;
#[path = "common/kafka.rs"]
mod kafka_broker;

use std::collections::BTreeSet;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use common::*;
use kafka_broker::*;
use serde_json::json;
use tidegate::config::DriverChoice;
use tidegate::message::kafka_compact_id::{topic_tag, VERSION};
use tidegate::message::kafka_cursor::KafkaCursor;

/// 23 characters, as in the measurement that found the problem (issue 16).
const TOPIC: &str = "orders-eu-west-1.events";
const PARTITIONS: i32 = 3;
const RECORDS: usize = 30;

/// One SSE event as written: its whole text (fields and the blank line), its id and data.
struct Event {
    bytes: usize,
    id: String,
    data: String,
}

fn events(text: &str) -> Vec<Event> {
    text.split_inclusive("\n\n")
        .filter(|block| block.ends_with("\n\n"))
        .filter_map(|block| {
            let id = block.lines().find_map(|l| l.strip_prefix("id: "))?;
            let data = block.lines().find_map(|l| l.strip_prefix("data: "))?;
            Some(Event {
                bytes: block.len(),
                id: id.to_owned(),
                data: data.to_owned(),
            })
        })
        .collect()
}

fn read(addr: std::net::SocketAddr, headers: &[(&str, &str)], count: usize) -> Vec<Event> {
    let (head, mut reader) = open_sse(addr, "/k", headers);
    assert_eq!(head.status, 200, "{}", head.text());
    let text = read_sse_until(&mut reader, |text| events(text).len() >= count);
    let mut got = events(&text);
    assert!(got.len() >= count, "stream: {text}");
    got.truncate(count);
    got
}

/// The id earlier versions sent for the same position: every partition's
/// `topic:partition:nextOffset`, joined by `,`, in URL-safe base64.
fn old_form(id: &str) -> String {
    let entries = KafkaCursor::parse(id, &[TOPIC]).expect("a compact id parses");
    let text: Vec<String> = (0..PARTITIONS)
        .map(|partition| {
            let next = entries
                .iter()
                .find(|(_, p, _)| *p == partition)
                .map_or(0, |(_, _, next)| *next);
            format!("{TOPIC}:{partition}:{next}")
        })
        .collect();
    URL_SAFE_NO_PAD.encode(text.join(","))
}

fn started(broker: &Broker, driver: DriverChoice) -> tidegate::runtime::Gateway {
    broker.create_topic(TOPIC, PARTITIONS as u32);
    let records: Vec<_> = (0..RECORDS)
        .map(|n| json!({"value": format!("record-{n:02}-{}", "x".repeat(60)), "partition": n % 3}))
        .collect();
    broker.produce(TOPIC, &records);
    started_gateway(broker, TOPIC, "autoOffsetReset: earliest", driver)
}

fn compact_ids_resume_exactly_take_fewer_bytes_and_the_old_form_still_resumes(
    driver: DriverChoice,
) {
    let broker = Broker::start();
    let gateway = started(&broker, driver);
    let addr = gateway.local_addr();
    let all = read(addr, &[], RECORDS);

    // Bytes per event, as sent and as the old id would have made them.
    let (mut compact, mut old) = (0usize, 0usize);
    for event in &all {
        let old_id = old_form(&event.id);
        assert!(
            event.id.len() * 3 < old_id.len(),
            "id {} ({} B) is not compact next to {old_id} ({} B)",
            event.id,
            event.id.len(),
            old_id.len()
        );
        compact += event.bytes;
        old += event.bytes - event.id.len() + old_id.len();
    }
    let ratio = compact as f64 / old as f64;
    println!(
        "SSE event bytes ({PARTITIONS} partitions, topic of {} characters, payload of {} B, \
         metadata comments on; last id {} B, was {} B): compact id {:.1} B/event, old id \
         {:.1} B/event, ratio {ratio:.2}",
        TOPIC.len(),
        all[0].data.len(),
        all[RECORDS - 1].id.len(),
        old_form(&all[RECORDS - 1].id).len(),
        compact as f64 / all.len() as f64,
        old as f64 / all.len() as f64,
    );
    assert!(ratio < 0.8, "ratio {ratio:.2}");

    // Resumed after the 10th event with its id, and with the old form of it: the other 20.
    let rest: BTreeSet<String> = all[10..].iter().map(|e| e.data.clone()).collect();
    let id = all[9].id.clone();
    let old_id = old_form(&id);
    for last_event_id in [&id, &old_id] {
        let resumed: BTreeSet<String> = read(addr, &[("Last-Event-ID", last_event_id)], 20)
            .into_iter()
            .map(|e| e.data)
            .collect();
        assert_eq!(resumed, rest, "resumed from {last_event_id}");
    }
    // GET with either form as `?cursor=`: the same 20.
    for cursor in [&id, &old_id] {
        let contents: BTreeSet<String> = read_contents(addr, &format!("&cursor={cursor}"), &[], 20)
            .into_iter()
            .collect();
        assert_eq!(contents, rest, "GET from {cursor}");
    }
}
on_both_drivers!(
    compact_ids_resume_exactly_take_fewer_bytes_and_the_old_form_still_resumes,
    compact_ids_resume_exactly_take_fewer_bytes_and_the_old_form_still_resumes
);

/// The base64 of a compact id's bytes.
fn id_of(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn a_damaged_compact_id_is_a_400_saying_what_is_wrong(driver: DriverChoice) {
    let broker = Broker::start();
    let gateway = started(&broker, driver);
    let addr = gateway.local_addr();
    let tag = topic_tag(TOPIC).to_be_bytes();
    // One entry: partition 0, next offset 3 (zigzag 6).
    let whole = [&[VERSION][..], &tag, &[1, 0, 6]].concat();
    let cut = &whole[..whole.len() - 1];
    let mut newer = whole.clone();
    newer[0] = VERSION + 1;
    let other_topic = [
        &[VERSION][..],
        &topic_tag("payments").to_be_bytes(),
        &[1, 0, 2],
    ]
    .concat();
    let cases = [
        (id_of(cut), "cut short or damaged"),
        (id_of(&newer), "format this gateway does not know"),
        (id_of(&other_topic), "names a topic this API does not read"),
    ];
    let json = [("Accept", "application/json")];
    for (id, says) in &cases {
        let response = get(addr, &format!("/k?cursor={id}"), &json);
        assert_eq!(response.status, 400, "GET {id}: {}", response.text());
        assert!(
            response.text().contains(says),
            "GET {id}: {}",
            response.text()
        );
        let (head, mut reader) = open_sse(addr, "/k", &[("Last-Event-ID", id)]);
        assert_eq!(head.status, 400, "SSE {id}");
        let length: usize = head.header("content-length").unwrap().parse().unwrap();
        let mut body = vec![0; length];
        std::io::Read::read_exact(&mut reader, &mut body).unwrap();
        let body = String::from_utf8_lossy(&body);
        assert!(body.contains(says), "SSE {id}: {body}");
    }
    // The whole id resumes: partition 0 from offset 3, the others from 0.
    let contents = read_contents(
        addr,
        &format!("&cursor={}", id_of(&whole)),
        &[],
        RECORDS - 3,
    );
    assert_eq!(contents.len(), RECORDS - 3, "{contents:?}");
}
on_both_drivers!(
    a_damaged_compact_id_is_a_400_saying_what_is_wrong,
    a_damaged_compact_id_is_a_400_saying_what_is_wrong
);
