//! Hibernation of SSE streams (`sseHibernateMs`): a plain SSE stream with nothing to write ends
//! its reader and writer tasks and waits as plain state; the fan-out goes on writing its events,
//! heartbeats go out asleep, what the client sends is dropped asleep, and anything else (the
//! client leaving, a write the socket did not take whole, the API stopped, the gateway shutting
//! down) wakes it where it stopped. What a client sees must not change: every event in order,
//! heartbeats on a quiet stream, the `goaway` with the id to resume from.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::hibernation::{self, metric, Pick};
use common::slow_reader::connect_small_window;
use common::topic_api::backlog_topic_yaml;
use common::*;
use tidegate::config::DriverChoice;
use tidegate::runtime::Gateway;

const STREAMS: u64 = 3;

/// One shard; an in-memory topic with POST and SSE (heartbeat every `heartbeat_ms`); streams
/// hibernate after 100 ms, or never with `hibernate_ms: 0`.
fn yaml(heartbeat_ms: u64, hibernate_ms: u64) -> String {
    backlog_topic_yaml(
        &format!(
            "gateway:\n  limits: {{ maxBodyBytes: 4194304 }}\n  timeouts: {{ sseHibernateMs: {hibernate_ms}, streamStallMs: 600000, shutdownMs: 5000 }}"
        ),
        &format!(
            "      - type: http-post\n      - type: sse\n        configuration: {{ heartbeatIntervalInMs: {heartbeat_ms} }}"
        ),
        1000,
    )
}

/// What a failed wait shows.
const SHOWN: &[(&str, Pick)] = &[
    ("hibernating", |m| &m.sse_streams_hibernating),
    ("hibernations", |m| &m.sse_hibernations_total),
    ("wake-ups", |m| &m.sse_wakeups_total),
    ("streams", |m| &m.sse_streams_open),
];

fn wait_until(gateway: &Gateway, what: &str, ok: impl Fn(&Gateway) -> bool) {
    hibernation::wait_until(gateway, what, ok, SHOWN);
}

fn all_asleep(gateway: &Gateway, streams: u64) {
    wait_until(gateway, "streams asleep", |g| {
        metric(g, |m| &m.sse_streams_hibernating) == streams
    });
}

/// Opens `count` streams on the topic, each read past its `retry:` line.
fn open(addr: SocketAddr, count: u64) -> Vec<BufReader<TcpStream>> {
    (0..count)
        .map(|_| {
            let (head, mut reader) = open_sse(addr, "/topic", &[]);
            assert_eq!(head.status, 200);
            let first = read_sse_until(&mut reader, |text| text.contains("retry:"));
            assert!(first.contains("retry: 3000"), "{first:?}");
            reader
        })
        .collect()
}

/// Sleeping streams receive what is published without waking (the fan-out writes for them),
/// send their heartbeats asleep, drop what their client sends asleep, end when their client
/// leaves, and end with a `goaway` naming the last event when the gateway shuts down.
fn sleeping_streams_behave_as_awake_ones(driver: DriverChoice) {
    let gateway = start_one_shard(&yaml(2000, 100), driver);
    let addr = gateway.local_addr();
    let mut streams = open(addr, STREAMS);
    all_asleep(&gateway, STREAMS);
    for round in 1..=5 {
        let payload = format!("message {round}");
        assert_eq!(post(addr, "/topic", &payload, "").status, 202);
        for stream in &mut streams {
            let text = read_sse_until(stream, |text| text.contains(&payload));
            assert!(
                text.contains(&format!("id: {round}\n")) && text.contains(&payload),
                "{text:?}"
            );
        }
    }
    // Delivered while asleep: written by the fan-out, no stream woken.
    wait_until(&gateway, "deliveries counted", |g| {
        metric(g, |m| &m.messages_delivered_total) == 5 * STREAMS
    });
    assert_eq!(metric(&gateway, |m| &m.sse_wakeups_total), 0);
    assert_eq!(metric(&gateway, |m| &m.sse_streams_hibernating), STREAMS);

    // A quiet stream gets its heartbeat (2 s after the last event), written asleep.
    let text = read_sse_until(&mut streams[0], |text| text.contains(":\n\n"));
    assert_eq!(text, ":\n\n");
    wait_until(&gateway, "heartbeats written asleep", |g| {
        metric(g, |m| &m.sse_heartbeats_asleep_total) >= STREAMS
    });
    assert_eq!(metric(&gateway, |m| &m.sse_wakeups_total), 0);

    // What a client sends is dropped as an awake stream drops it, without waking.
    streams[1].get_mut().write_all(b"ignored\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(metric(&gateway, |m| &m.sse_wakeups_total), 0);
    assert_eq!(post(addr, "/topic", "message 6", "").status, 202);
    let text = read_sse_until(&mut streams[1], |text| text.contains("message 6"));
    assert!(text.contains("id: 6\n"), "{text:?}");
    // Read by then: the event went after the dropped bytes, written by the fan-out.
    assert_eq!(metric(&gateway, |m| &m.sse_wakeups_total), 0);

    // A client that leaves wakes its stream, which ends.
    drop(streams.pop());
    wait_until(&gateway, "one stream fewer", |g| {
        metric(g, |m| &m.sse_streams_open) == STREAMS - 1
            && metric(g, |m| &m.sse_streams_hibernating) == STREAMS - 1
    });

    // Shutdown wakes the sleepers, which end with the id of the last event they got, written
    // by the fan-out while they slept.
    let stopper = std::thread::spawn(move || gateway.shutdown());
    for stream in &mut streams {
        let text = read_sse_until(stream, |_| false);
        assert!(
            text.contains(
                "event: goaway\ndata: gateway shutting down; reconnect with Last-Event-ID: 6\n"
            ),
            "{text:?}"
        );
    }
    stopper.join().unwrap();
}
on_both_drivers!(sleeping_streams, sleeping_streams_behave_as_awake_ones);

/// A sleeping stream whose client stops reading: the fan-out's write fills the socket and hands
/// the rest back, which wakes the stream; its writer finishes it and the later events queue for
/// it. Once the client reads, it gets every event whole and in order; then the stream sleeps
/// again.
fn a_stopped_sleeper_is_woken_and_loses_nothing(driver: DriverChoice) {
    let gateway = start_one_shard(&yaml(60000, 100), driver);
    let addr = gateway.local_addr();
    let mut socket = connect_small_window(addr, 4096);
    socket
        .write_all(b"GET /topic HTTP/1.1\r\nHost: test\r\nAccept: text/event-stream\r\n\r\n")
        .unwrap();
    let mut stream = BufReader::new(socket);
    let mut head = String::new();
    while !head.ends_with("\r\n\r\n") {
        assert!(stream.read_line(&mut head).unwrap() > 0, "{head:?}");
    }
    assert!(head.starts_with("HTTP/1.1 200"), "{head:?}");
    all_asleep(&gateway, 1);
    const EVENTS: usize = 24;
    let payloads: Vec<String> = (0..EVENTS)
        .map(|i| format!("{i:04} {}", "x".repeat(256 * 1024)))
        .collect();
    for payload in &payloads {
        assert_eq!(post(addr, "/topic", payload, "").status, 202);
    }
    wait_until(&gateway, "the sleeper woken by its full socket", |g| {
        metric(g, |m| &m.sse_wakeups_total) >= 1
    });
    let mut text = String::new();
    for payload in &payloads {
        let more = read_sse_until(&mut stream, |text| text.contains(payload.as_str()));
        text.push_str(&more);
    }
    let ids: Vec<&str> = text
        .lines()
        .filter_map(|line| line.strip_prefix("id: "))
        .collect();
    let expected: Vec<String> = (1..=EVENTS).map(|id| id.to_string()).collect();
    assert_eq!(ids, expected);
    // Then it sleeps again, and the fan-out writes for it once more.
    all_asleep(&gateway, 1);
    assert_eq!(post(addr, "/topic", "last", "").status, 202);
    let text = read_sse_until(&mut stream, |text| text.contains("data: last"));
    assert!(text.contains("id: 25\n"), "{text:?}");
}
on_both_drivers!(
    stopped_sleeper,
    a_stopped_sleeper_is_woken_and_loses_nothing
);

/// A live apply that stops the API wakes a sleeper, which ends as an awake stream would (a
/// `goaway` with the id to resume from); `sseHibernateMs: 0` keeps quiet streams awake.
fn stop_wakes_sleepers_and_zero_turns_it_off(driver: DriverChoice) {
    let gateway = start_one_shard(&yaml(60000, 100), driver);
    let addr = gateway.local_addr();
    let mut streams = open(addr, 1);
    all_asleep(&gateway, 1);
    assert_eq!(post(addr, "/topic", "one", "").status, 202);
    read_sse_until(&mut streams[0], |text| text.contains("data: one"));
    let stopped =
        yaml(60000, 100).replace("    name: Topic\n", "    name: Topic\n    state: stopped\n");
    let mut config = test_config(&stopped, driver);
    config.gateway = gateway.applied_config().gateway;
    let report = gateway.apply(config).expect("stop accepted");
    assert_eq!(report.stopped, ["topic"]);
    let text = read_sse_until(&mut streams[0], |_| false);
    assert!(
        text.contains("event: goaway\ndata: API stopped; reconnect with Last-Event-ID: 1\n"),
        "{text:?}"
    );
    wait_until(&gateway, "no stream left", |g| {
        metric(g, |m| &m.sse_streams_open) == 0 && metric(g, |m| &m.sse_streams_hibernating) == 0
    });

    let awake = start_one_shard(&yaml(60000, 0), driver);
    let addr = awake.local_addr();
    let mut streams = open(addr, 2);
    wait_until(&awake, "writers parked", |g| {
        metric(g, |m| &m.delivery_writers_parked) == 2
    });
    // Longer than the default `sseHibernateMs` (1000), which a 0 ignored would fall back to.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(metric(&awake, |m| &m.sse_hibernations_total), 0);
    assert_eq!(post(addr, "/topic", "awake", "").status, 202);
    for stream in &mut streams {
        read_sse_until(stream, |text| text.contains("data: awake"));
    }
}
on_both_drivers!(stop_and_off, stop_wakes_sleepers_and_zero_turns_it_off);

/// Heartbeats are no activity: with `sseHibernateMs` longer than the heartbeat interval an idle
/// stream still hibernates (every quiet window holds a heartbeat), and goes on receiving.
fn a_stream_that_only_sends_heartbeats_is_quiet(driver: DriverChoice) {
    let gateway = start_one_shard(&yaml(2000, 2500), driver);
    let addr = gateway.local_addr();
    let mut streams = open(addr, 1);
    all_asleep(&gateway, 1);
    assert_eq!(post(addr, "/topic", "still here", "").status, 202);
    read_sse_until(&mut streams[0], |text| text.contains("data: still here"));
}
on_both_drivers!(
    heartbeats_only,
    a_stream_that_only_sends_heartbeats_is_quiet
);
