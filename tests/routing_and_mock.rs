//! Routing (longest context path, several paths per API), HTTP timeouts, and Mock options.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::*;
use tidegate::config::DriverChoice;

const TWO_APIS: &str = r#"
gateway:
  timeouts:
    headerReadMs: 300
    keepAliveIdleMs: 300
apis:
  - id: outer
    name: Outer
    contextPaths: [/a, /also-outer]
    entrypoints:
      - type: http-get
        configuration: { messagesLimitDurationMs: 200, headersInPayload: true, metadataInPayload: true }
    endpoint:
      type: mock
      configuration:
        messageInterval: 10
        messageContent: outer
        messageCount: 3
        headers: { x-source: mock }
        metadata: { region: eu }
    plans: [{ name: Keyless, security: keyless }]
  - id: inner
    name: Inner
    contextPaths: [/a/b]
    entrypoints:
      - type: http-get
        configuration: { messagesLimitDurationMs: 200 }
      - type: sse
        configuration: { heartbeatIntervalInMs: 2000 }
    endpoint:
      type: mock
      configuration: { messageInterval: 10, messageContent: inner, messageCount: 2 }
    plans: [{ name: Keyless, security: keyless }]
"#;

fn contents(addr: std::net::SocketAddr, path: &str) -> Vec<String> {
    let body = get(addr, path, &[("Accept", "application/json")]).json();
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["content"].as_str().unwrap().to_owned())
        .collect()
}

fn longest_context_path_wins_and_every_path_of_an_api_routes_to_it(driver: DriverChoice) {
    let gateway = start(test_config(TWO_APIS, driver));
    let addr = gateway.local_addr();
    assert_eq!(contents(addr, "/a/b?limit=1"), ["inner"]);
    assert_eq!(contents(addr, "/a/b/deeper?limit=1"), ["inner"]);
    assert_eq!(contents(addr, "/a?limit=1"), ["outer"]);
    assert_eq!(
        contents(addr, "/a/bc?limit=1"),
        ["outer"],
        "/a/b must not match /a/bc"
    );
    assert_eq!(contents(addr, "/also-outer?limit=1"), ["outer"]);
}
on_both_drivers!(
    longest_context_path_wins_and_every_path_of_an_api_routes_to_it,
    longest_context_path_wins_and_every_path_of_an_api_routes_to_it
);

fn mock_message_count_headers_and_metadata(driver: DriverChoice) {
    let gateway = start(test_config(TWO_APIS, driver));
    let addr = gateway.local_addr();
    let body = get(addr, "/a?limit=10", &[("Accept", "application/json")]).json();
    assert_eq!(
        item_ids(&body),
        vec![0, 1, 2],
        "messageCount: 3 ends the stream, the poll returns early"
    );
    assert_eq!(body["items"][0]["headers"]["x-source"][0], "mock");
    assert_eq!(body["items"][0]["metadata"]["region"], "eu");

    // SSE: the finite stream ends with a goaway event and the end of the chunked body.
    let (_, mut reader) = open_sse(addr, "/a/b", &[]);
    let text = read_sse_until(&mut reader, |_| false);
    assert_eq!(text.matches("data: inner").count(), 2, "{text}");
    assert!(
        text.contains("event: goaway\ndata: end of stream"),
        "{text}"
    );
}
on_both_drivers!(
    mock_message_count_headers_and_metadata,
    mock_message_count_headers_and_metadata
);

fn timeouts(driver: DriverChoice) {
    let gateway = start(test_config(TWO_APIS, driver));
    let addr = gateway.local_addr();
    // A head that never completes is answered 408 after headerReadMs.
    let mut slow = connect(addr);
    slow.write_all(b"GET /a HTTP/1.1\r\nHost: t\r\n").unwrap();
    let response = read_response(&mut std::io::BufReader::new(slow));
    assert_eq!(response.status, 408);
    // An idle keep-alive connection is closed after keepAliveIdleMs.
    let mut idle = connect(addr);
    idle.write_all(b"GET /a?limit=1 HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut reader = std::io::BufReader::new(idle.try_clone().unwrap());
    assert_eq!(read_response(&mut reader).status, 200);
    idle.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut rest = Vec::new();
    assert_eq!(
        reader.read_to_end(&mut rest).unwrap(),
        0,
        "closed by the gateway, nothing more sent"
    );
}
on_both_drivers!(http_timeouts, timeouts);

fn http_1_0_requests_are_answered_and_closed(driver: DriverChoice) {
    let gateway = start(test_config(TWO_APIS, driver));
    let response = raw(
        gateway.local_addr(),
        b"GET /a?limit=1 HTTP/1.0\r\nAccept: application/json\r\n\r\n",
    );
    assert_eq!(response.status, 200);
    assert_eq!(item_ids(&response.json()), vec![0]);
}
on_both_drivers!(
    http_1_0_requests_are_answered_and_closed,
    http_1_0_requests_are_answered_and_closed
);

fn upgrade_requests_with_a_body_are_refused_and_never_smuggle_a_second_request(
    driver: DriverChoice,
) {
    let gateway = start(test_config(TWO_APIS, driver));
    let inner = "GET /a?limit=1 HTTP/1.1\r\nHost: t\r\n\r\n";
    let request = format!(
        "GET /nowhere HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nContent-Length: {}\r\n\r\n{inner}",
        inner.len()
    );
    let mut stream = connect(gateway.local_addr());
    stream.write_all(request.as_bytes()).unwrap();
    let mut reader = std::io::BufReader::new(stream);
    let response = read_response(&mut reader);
    assert_eq!(response.status, 400);
    let mut rest = Vec::new();
    reader.read_to_end(&mut rest).unwrap();
    assert!(
        rest.is_empty(),
        "no second response: {}",
        String::from_utf8_lossy(&rest)
    );
}
on_both_drivers!(
    upgrade_requests_with_a_body_are_refused_and_never_smuggle_a_second_request,
    upgrade_requests_with_a_body_are_refused_and_never_smuggle_a_second_request
);

fn a_mock_cursor_at_the_end_of_the_id_space_ends_the_stream_cleanly(driver: DriverChoice) {
    let gateway = start(test_config(
        TWO_APIS.replace("        messageCount: 3\n", "").as_str(),
        driver,
    ));
    let response = get(
        gateway.local_addr(),
        "/a?cursor=18446744073709551614",
        &[("Accept", "application/json")],
    );
    assert_eq!(response.status, 200);
    assert_eq!(response.json()["items"][0]["id"], "18446744073709551615");
    // The shard is still alive.
    assert_eq!(get(gateway.local_addr(), "/a?limit=1", &[]).status, 200);
}
on_both_drivers!(
    a_mock_cursor_at_the_end_of_the_id_space_ends_the_stream_cleanly,
    a_mock_cursor_at_the_end_of_the_id_space_ends_the_stream_cleanly
);
