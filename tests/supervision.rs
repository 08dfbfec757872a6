//! Shard supervision: a panic in a task of one connection closes that connection only (and is
//! counted); a panic in a task the whole shard depends on takes the shard down visibly (`/health`
//! 503 naming it, its clients told to go away) and the `tidegate` process exits non-zero so that
//! its supervisor restarts it.
//!
//! Panics are injected through the test-only `fault-injection` feature (src/shard/fault.rs).

mod common;

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use common::admin::{health, metric_total, metrics_text, shard_metric};
use common::binary::{gateway_yaml, Binary};
use common::*;
use tidegate::config::DriverChoice;
use tidegate::shard::fault::Site;
use tungstenite::Message;

const WAIT: Duration = Duration::from_secs(30);

/// The Mock API of `mock_api_yaml` plus `more` APIs.
fn apis_yaml(more: &str) -> String {
    format!("{}{more}", mock_api_yaml(20))
}

fn in_memory_api(id: &str, path: &str, topic: &str) -> String {
    format!(
        r#"
  - id: {id}
    name: {id}
    contextPaths: [{path}]
    entrypoints:
      - type: http-post
      - type: sse
    endpoint:
      type: in-memory
      configuration:
        topic: {topic}
    plans:
      - name: Keyless
        security: keyless
"#
    )
}

/// Reads events from an SSE stream until `count` more ids arrived.
fn read_more_ids(reader: &mut std::io::BufReader<std::net::TcpStream>, count: usize) -> bool {
    let text = read_sse_until(reader, |t| t.matches("id:").count() >= count);
    text.matches("id:").count() >= count
}

fn health_is(admin: SocketAddr, status: u16) -> bool {
    health(admin).status == status
}

fn a_read_loop_panic_closes_only_its_connection(driver: DriverChoice) {
    let gateway = start_one_shard(&apis_yaml(""), driver);
    let (addr, admin) = (gateway.local_addr(), gateway.admin_addr().unwrap());
    let (_, mut victim) = open_sse(addr, "/mock", &[]);
    let (_, mut bystander) = open_sse(addr, "/mock", &[]);
    assert!(read_more_ids(&mut victim, 1) && read_more_ids(&mut bystander, 1));

    // An SSE client's bytes go to its read loop, a task of its own beside the connection's.
    victim
        .get_mut()
        .write_all(Site::ReadLoop.marker().as_bytes())
        .unwrap();
    assert!(
        eventually(WAIT, || metric_total(admin, "connection_panics_total") == 1),
        "the panic is counted as a connection's"
    );
    read_sse_until(&mut victim, |_| false);
    assert!(
        read_more_ids(&mut bystander, 3),
        "the other client on the same shard is still served"
    );
    assert_eq!(metric_total(admin, "shard_task_panics_total"), 0);
    assert_eq!(health(admin).status, 200);
    assert_eq!(get(addr, "/mock?limit=1", &[]).status, 200);
}
on_both_drivers!(
    read_loop_panic,
    a_read_loop_panic_closes_only_its_connection
);

fn a_generator_panic_closes_only_its_subscriber(driver: DriverChoice) {
    let faulty = mock_api_yaml(20)
        .replace("apis:\n", "")
        .replace("mock-api", "faulty")
        .replace("[/mock]", "[/faulty]")
        .replace("hello", Site::MockGenerator.marker());
    let gateway = start_one_shard(&apis_yaml(&faulty), driver);
    let (addr, admin) = (gateway.local_addr(), gateway.admin_addr().unwrap());
    let (mut bystander, _) =
        tungstenite::client::client(format!("ws://{addr}/mock"), connect(addr)).unwrap();
    assert!(matches!(bystander.read().unwrap(), Message::Text(_)));

    let (mut victim, _) =
        tungstenite::client::client(format!("ws://{addr}/faulty"), connect(addr)).unwrap();
    // Its connection ends (without a message: the generator panicked before its first).
    loop {
        match victim.read() {
            Ok(Message::Text(text)) => panic!("the faulty generator delivered {text}"),
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => continue,
        }
    }
    assert!(eventually(WAIT, || metric_total(
        admin,
        "connection_panics_total"
    ) == 1));
    for _ in 0..3 {
        assert!(matches!(bystander.read().unwrap(), Message::Text(_)));
    }
    assert_eq!(metric_total(admin, "shard_task_panics_total"), 0);
    assert_eq!(health(admin).status, 200);
}
on_both_drivers!(
    generator_panic,
    a_generator_panic_closes_only_its_subscriber
);

fn a_shard_wide_panic_takes_its_shard_down_visibly(driver: DriverChoice) {
    let topic = Site::TopicDelivery.marker();
    let yaml = apis_yaml(&in_memory_api("faulty", "/faulty", topic));
    let gateway = start(test_config(&yaml, driver));
    let (addr, admin) = (gateway.local_addr(), gateway.admin_addr().unwrap());
    let (_, mut subscriber) = open_sse(addr, "/faulty", &[]);
    assert!(eventually(WAIT, || tidegate::metrics::total(
        gateway.metrics(),
        |m| &m.sse_streams_open
    ) == 1));
    let text = metrics_text(admin);
    let dead = (0..2)
        .find(|&shard| shard_metric(&text, "sse_streams_open", shard) == Some(1))
        .unwrap();
    assert_eq!(health(admin).status, 200);

    // The message rings the subscriber's shard, whose topic delivery task then panics.
    let response = post(addr, "/faulty", "boom", "");
    assert_eq!(response.status, 202, "{}", response.text());

    assert!(
        eventually(WAIT, || health_is(admin, 503)),
        "/health reports the dead shard"
    );
    let body = health(admin).json();
    assert_eq!(body["status"], "down", "{body}");
    assert_eq!(body["deadShards"][0]["shard"], dead, "{body}");
    assert!(
        body["deadShards"][0]["task"]
            .as_str()
            .unwrap()
            .contains("delivery"),
        "{body}"
    );
    assert_eq!(metric_total(admin, "shard_task_panics_total"), 1);
    // Its clients are told to go away (and reconnect to a live shard)...
    let rest = read_sse_until(&mut subscriber, |t| t.contains("goaway"));
    assert!(rest.contains("event: goaway"), "{rest:?}");
    // ...and once it has drained, only the live shard accepts.
    let text_open = |shard| shard_metric(&metrics_text(admin), "connections_open", shard);
    assert!(eventually(WAIT, || text_open(dead) == Some(0)));
    for _ in 0..4 {
        assert_eq!(get(addr, "/mock?limit=1", &[]).status, 200);
    }
}
on_both_drivers!(
    shard_wide_panic,
    a_shard_wide_panic_takes_its_shard_down_visibly
);

#[test]
fn a_dead_shard_makes_the_binary_exit_non_zero() {
    let topic = Site::TopicDelivery.marker();
    let yaml = format!(
        "{}apis:{}",
        gateway_yaml("  timeouts:\n    shutdownMs: 5000\n"),
        in_memory_api("faulty", "/faulty", topic)
    );
    // one driver: the exit status needs the binary (`auto`); panics run on both drivers above.
    let mut binary = Binary::start(&yaml);
    let (_, mut subscriber) = open_sse(binary.addr, "/faulty", &[]);
    read_sse_until(&mut subscriber, |t| t.contains("retry:"));
    let response = post(binary.addr, "/faulty", "boom", "");
    assert_eq!(response.status, 202, "{}", response.text());
    let status = binary.wait_exit(WAIT);
    let log = binary.log();
    let status = status.unwrap_or_else(|| panic!("the binary kept running:\n{log}"));
    assert_eq!(status.code(), Some(1), "{log}");
    let down = binary.find_log("a shard is down").expect(&log);
    assert!(
        down["fields"]["task"]
            .as_str()
            .unwrap()
            .contains("delivery"),
        "{log}"
    );
}
