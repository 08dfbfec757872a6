//! The access log: one line per request and per stream end, with the fields the docs promise,
//! never a query string, errors kept by sampling, per-API opt-out, file rotation, and a
//! destination that does not read never stalling requests (its lines are dropped and counted).

mod common;

use std::time::Duration;

use common::admin::{metrics_text, plain_metric};
use common::observe::{json_lines, log_lines, wait_for_lines};
use common::topic_api::chat_yaml;
use common::ws_client::next_data;
use common::{connect, eventually, get, open_sse, post, read_sse_until, start};
use serde_json::Value;
use tidegate::config::DriverChoice;
use tungstenite::Message;

const ALL_ENTRYPOINTS: &str = "      - type: http-get
      - type: http-post
      - type: sse
      - type: websocket
        configuration:
          publisher: { enabled: true }
";

fn gateway_section(access_log: &str) -> String {
    format!("gateway:\n  accessLog: {access_log}\n")
}

/// The line whose `entrypoint` is `name`.
fn line_of<'a>(lines: &'a [Value], name: &str) -> &'a Value {
    lines
        .iter()
        .find(|line| line["entrypoint"] == name)
        .unwrap_or_else(|| panic!("no {name} line in {lines:#?}"))
}

fn every_entrypoint_and_a_404_get_a_line(driver: DriverChoice) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    let section = format!(
        "{{ enabled: true, format: json, path: {} }}",
        path.display()
    );
    let yaml = chat_yaml(&gateway_section(&section), ALL_ENTRYPOINTS);
    let gateway = start(common::test_config(&yaml, driver));
    let addr = gateway.local_addr();

    let (head, mut sse) = open_sse(
        addr,
        "/chat?api-key=SECRET-SSE",
        &[("User-Agent", "sse-tester/1"), ("X-Request-Id", "sse-1")],
    );
    assert_eq!(head.status, 200);
    let stream = connect(addr);
    let (mut ws, _) =
        tungstenite::client::client(format!("ws://{addr}/chat?access_token=SECRET-WS"), stream)
            .expect("handshake");
    // Both subscriptions are in place once the SSE stream said `retry:` and the 101 came.
    read_sse_until(&mut sse, |text| text.contains("retry:"));
    let posted = post(
        addr,
        "/chat?api-key=SECRET-POST",
        "first",
        "User-Agent: poster/2\r\nX-Request-Id: post-1\r\n",
    );
    assert_eq!(posted.status, 202);
    assert!(matches!(next_data(&mut ws), common::ws_client::Data::Text(text) if text == "first"));
    ws.send(Message::text("second")).unwrap();
    read_sse_until(&mut sse, |text| text.matches("data:").count() >= 2);
    drop(sse);
    ws.close(None).unwrap();
    while ws.read().is_ok() {}
    let accept = [("Accept", "application/json")];
    let polled = get(addr, "/chat?access_token=SECRET-GET&limit=10", &accept);
    assert_eq!(polled.status, 200);
    let items = polled.json()["items"].as_array().unwrap().len() as u64;
    let missing = get(
        addr,
        "/nowhere?api-key=SECRET-404",
        &[("User-Agent", "lost")],
    );
    assert_eq!(missing.status, 404);

    let lines = json_lines(&path, 5);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        !text.contains("SECRET"),
        "a query string was logged:\n{text}"
    );
    assert!(!text.contains('?'), "a query string was logged:\n{text}");

    let post_line = line_of(&lines, "http-post");
    assert_eq!(post_line["api"], "chat");
    assert_eq!(post_line["method"], "POST");
    assert_eq!(post_line["path"], "/chat");
    assert_eq!(post_line["status"], 202);
    assert_eq!(post_line["request_id"], "post-1");
    assert_eq!(post_line["user_agent"], "poster/2");
    assert_eq!(post_line["messages_in"], 1);
    assert_eq!(post_line["messages_out"], 0);
    assert!(post_line["bytes_in"].as_u64().unwrap() >= 5);
    assert!(post_line["bytes_out"].as_u64().unwrap() > 0);
    assert!(post_line["client"]
        .as_str()
        .unwrap()
        .starts_with("127.0.0.1:"));
    assert!(post_line["duration_ms"].as_f64().unwrap() >= 0.0);
    assert!(post_line["time"].as_str().unwrap().ends_with('Z'));
    // The API's keyless plan let it in: no application or subscription to name.
    assert_eq!(post_line["plan"], "Keyless");
    assert!(post_line.get("subscription").is_none());

    let sse_line = line_of(&lines, "sse");
    assert_eq!(sse_line["status"], 200);
    assert_eq!(sse_line["request_id"], "sse-1");
    assert_eq!(sse_line["path"], "/chat");
    assert_eq!(sse_line["messages_out"], 2);
    assert!(sse_line["bytes_out"].as_u64().unwrap() > 0);

    let ws_line = line_of(&lines, "websocket");
    assert_eq!(ws_line["status"], 101);
    assert_eq!(ws_line["method"], "GET");
    assert_eq!(ws_line["messages_in"], 1);
    assert!(ws_line["messages_out"].as_u64().unwrap() >= 1);
    assert!(ws_line["bytes_in"].as_u64().unwrap() > 0);
    assert_eq!(ws_line["request_id"].as_str().unwrap().len(), 16);

    let get_line = line_of(&lines, "http-get");
    assert_eq!(get_line["status"], 200);
    assert_eq!(get_line["messages_out"], items);

    let lost = line_of(&lines, "none");
    assert_eq!(lost["api"], "-");
    assert_eq!(lost["status"], 404);
    assert_eq!(lost["path"], "/nowhere");
    assert_eq!(lost["user_agent"], "lost");
    gateway.shutdown();
}
on_both_drivers!(
    every_entrypoint_and_a_404,
    every_entrypoint_and_a_404_get_a_line
);

fn sampling_keeps_errors_and_an_api_may_opt_out(driver: DriverChoice) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    let section = format!(
        "{{ enabled: true, format: text, path: {}, sampleRate: 0 }}",
        path.display()
    );
    let mut yaml = chat_yaml(&gateway_section(&section), "      - type: http-post\n");
    yaml.push_str(
        "  - id: quiet
    name: Quiet
    contextPaths: [/quiet]
    accessLog: { enabled: false }
    entrypoints: [{ type: http-post }]
    endpoint: { type: in-memory, configuration: { topic: q } }
    plans: [{ name: K, security: keyless }]
",
    );
    let gateway = start(common::test_config(&yaml, driver));
    let addr = gateway.local_addr();
    for _ in 0..5 {
        assert_eq!(post(addr, "/chat", "m", "").status, 202);
        assert_eq!(post(addr, "/quiet", "m", "").status, 202);
        // 405 on an API that opted out: not logged either.
        assert_eq!(get(addr, "/quiet", &[]).status, 405);
    }
    for _ in 0..3 {
        assert_eq!(get(addr, "/missing", &[]).status, 404);
    }
    wait_for_lines(&path, 3);
    // A fence: once this error's line is there, every earlier request's line would be too.
    assert_eq!(get(addr, "/fence", &[]).status, 404);
    let lines = wait_for_lines(&path, 4);
    assert_eq!(lines.len(), 4, "{lines:#?}");
    for line in &lines {
        assert!(
            line.contains(" api=- entrypoint=none method=GET path=/"),
            "{line}"
        );
        assert!(line.contains(" status=404 "), "{line}");
        assert!(line.starts_with("time="), "{line}");
    }
    assert!(lines[3].contains("path=/fence"));
    gateway.shutdown();
}
on_both_drivers!(
    sampling_keeps_errors_and_an_api_may_opt_out,
    sampling_keeps_errors_and_an_api_may_opt_out
);

fn a_renamed_log_file_is_reopened(driver: DriverChoice) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    let section = format!("{{ enabled: true, path: {} }}", path.display());
    let yaml = chat_yaml(&gateway_section(&section), "      - type: http-post\n");
    let gateway = start(common::test_config(&yaml, driver));
    let addr = gateway.local_addr();
    assert_eq!(get(addr, "/before", &[]).status, 404);
    wait_for_lines(&path, 1);
    let rotated = dir.path().join("access.log.1");
    std::fs::rename(&path, &rotated).unwrap();
    // The writer looks at the path at most once a second: keep logging until a line lands in
    // the new file.
    let reopened = eventually(Duration::from_secs(20), || {
        assert_eq!(get(addr, "/after", &[]).status, 404);
        !log_lines(&path).is_empty()
    });
    assert!(reopened, "no new file at {}", path.display());
    assert!(log_lines(&rotated)[0].contains("\"/before\""));
    assert!(log_lines(&path)
        .iter()
        .all(|line| line.contains("\"/after\"")));
    gateway.shutdown();
}
on_both_drivers!(
    a_renamed_log_file_is_reopened,
    a_renamed_log_file_is_reopened
);

fn a_destination_nobody_reads_never_stalls_requests_and_drops_are_counted(driver: DriverChoice) {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("nobody-reads");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    let section = format!(
        "{{ enabled: true, path: {}, queueLines: 4 }}",
        fifo.display()
    );
    let yaml = chat_yaml(&gateway_section(&section), "      - type: http-post\n");
    let gateway = start(common::test_config(&yaml, driver));
    let addr = gateway.local_addr();
    let requests = 40;
    for _ in 0..requests {
        assert_eq!(post(addr, "/chat", "m", "").status, 202);
        assert_eq!(get(addr, "/missing", &[]).status, 404);
    }
    let admin = gateway.admin_addr().unwrap();
    // A request's line is handed over just after its answer is written: wait for the last one.
    let dropped = |text: &str| plain_metric(text, "access_log_lines_dropped_total").unwrap();
    let all_counted = eventually(Duration::from_secs(20), || {
        dropped(&metrics_text(admin)) == 2 * requests - 4
    });
    let text = metrics_text(admin);
    // The writer waits in open() before taking any line: the queue alone holds lines.
    assert!(all_counted, "dropped {}:\n{text}", dropped(&text));
    assert_eq!(plain_metric(&text, "access_log_lines_queued"), Some(4));
    assert_eq!(
        plain_metric(&text, "access_log_lines_written_total"),
        Some(0)
    );
    gateway.shutdown();
}
on_both_drivers!(
    a_destination_nobody_reads_never_stalls_requests_and_drops_are_counted,
    a_destination_nobody_reads_never_stalls_requests_and_drops_are_counted
);
