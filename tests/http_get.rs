//! HTTP GET entrypoint over real sockets: cursors, negotiation, limits, keep-alive, pipelining.

mod common;

use std::io::{BufReader, Write};

use common::*;
use tidegate::config::DriverChoice;

fn cursor_resumes_without_gap_or_duplicate(driver: DriverChoice) {
    let gateway = start(test_config(&mock_api_yaml(20), driver));
    let addr = gateway.local_addr();
    let first = get(addr, "/mock?limit=3", &[("Accept", "application/json")]).json();
    assert_eq!(item_ids(&first), vec![0, 1, 2]);
    let cursor = first["pagination"]["nextCursor"]
        .as_str()
        .unwrap()
        .to_owned();
    let second = get(
        addr,
        &format!("/mock?limit=3&cursor={cursor}"),
        &[("Accept", "application/json")],
    )
    .json();
    assert_eq!(item_ids(&second), vec![3, 4, 5]);
    assert_eq!(second["pagination"]["nextCursor"], "5");
}
on_both_drivers!(cursor_resume, cursor_resumes_without_gap_or_duplicate);

fn content_negotiation_json_xml_text_and_400(driver: DriverChoice) {
    let gateway = start(test_config(&mock_api_yaml(10), driver));
    let addr = gateway.local_addr();

    let json = get(addr, "/mock?limit=1", &[("Accept", "*/*")]);
    assert!(json
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    assert_eq!(json.json()["items"][0]["content"], "hello");

    let xml = get(addr, "/mock?limit=1", &[("Accept", "application/xml")]);
    assert!(xml.header("content-type").unwrap().contains("xml"));
    assert!(
        xml.text().contains("<content><![CDATA[hello]]></content>"),
        "{}",
        xml.text()
    );

    let text = get(addr, "/mock?limit=1", &[]);
    assert!(text
        .header("content-type")
        .unwrap()
        .starts_with("text/plain"));
    assert!(text.text().contains("hello"), "{}", text.text());

    let refused = get(addr, "/mock?limit=1", &[("Accept", "image/png")]);
    assert_eq!(refused.status, 400);
    assert!(
        refused.text().contains("application/json"),
        "the 400 names what is supported: {}",
        refused.text()
    );
}
on_both_drivers!(
    content_negotiation_json_xml_text_and_400,
    content_negotiation_json_xml_text_and_400
);

fn bad_query_parameters_are_400_with_a_reason(driver: DriverChoice) {
    let gateway = start(test_config(&mock_api_yaml(10), driver));
    let addr = gateway.local_addr();
    let bad_limit = get(addr, "/mock?limit=zero", &[]);
    assert_eq!(bad_limit.status, 400);
    assert!(bad_limit.text().contains("limit"), "{}", bad_limit.text());
    let bad_cursor = get(addr, "/mock?cursor=abc", &[]);
    assert_eq!(bad_cursor.status, 400);
    assert!(
        bad_cursor.text().contains("cursor"),
        "{}",
        bad_cursor.text()
    );
}
on_both_drivers!(
    bad_query_parameters_are_400_with_a_reason,
    bad_query_parameters_are_400_with_a_reason
);

fn limits_are_enforced(driver: DriverChoice) {
    let yaml = mock_api_yaml(10).replace(
        "apis:",
        "gateway:\n  limits:\n    maxHeaderBytes: 1024\n    maxHeaderCount: 8\n    maxBodyBytes: 16\napis:",
    );
    let gateway = start(test_config(&yaml, driver));
    let addr = gateway.local_addr();

    let big_header = format!(
        "GET /mock HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n",
        "a".repeat(2000)
    );
    assert_eq!(raw(addr, big_header.as_bytes()).status, 431);

    let mut many = String::from("GET /mock HTTP/1.1\r\nHost: t\r\n");
    for i in 0..20 {
        many.push_str(&format!("X-{i}: v\r\n"));
    }
    many.push_str("\r\n");
    assert_eq!(raw(addr, many.as_bytes()).status, 431);

    let body = "GET /mock HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n";
    assert_eq!(raw(addr, body.as_bytes()).status, 413);

    let ambiguous =
        "GET /mock HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_eq!(raw(addr, ambiguous.as_bytes()).status, 400);

    let bad_chunk =
        "GET /mock?limit=1 HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
    assert_eq!(raw(addr, bad_chunk.as_bytes()).status, 400);

    let garbage = "hello there\r\n\r\n";
    assert_eq!(raw(addr, garbage.as_bytes()).status, 400);

    let no_host = "GET /mock HTTP/1.1\r\nAccept: */*\r\n\r\n";
    assert_eq!(raw(addr, no_host.as_bytes()).status, 400);

    let http2 = "GET /mock HTTP/2.0\r\nHost: t\r\n\r\n";
    assert_eq!(raw(addr, http2.as_bytes()).status, 505);
}
on_both_drivers!(limits, limits_are_enforced);

fn keep_alive_and_pipelining(driver: DriverChoice) {
    let gateway = start(test_config(&mock_api_yaml(5), driver));
    let mut stream = connect(gateway.local_addr());
    // Two pipelined requests in one write, then a third after reading both.
    let two = "GET /mock?limit=1 HTTP/1.1\r\nHost: t\r\nAccept: application/json\r\n\r\nGET /nope HTTP/1.1\r\nHost: t\r\n\r\n";
    stream.write_all(two.as_bytes()).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let first = read_response(&mut reader);
    assert_eq!(first.status, 200);
    assert_eq!(item_ids(&first.json()), vec![0]);
    let second = read_response(&mut reader);
    assert_eq!(second.status, 404);
    stream.write_all(b"GET /mock?limit=2&cursor=0 HTTP/1.1\r\nHost: t\r\nAccept: application/json\r\nConnection: close\r\n\r\n").unwrap();
    let third = read_response(&mut reader);
    assert_eq!(item_ids(&third.json()), vec![1, 2]);
    assert_eq!(third.header("connection"), Some("close"));
}
on_both_drivers!(pipelining, keep_alive_and_pipelining);

fn other_methods_get_405_with_allow(driver: DriverChoice) {
    let gateway = start(test_config(&mock_api_yaml(10), driver));
    let response = raw(
        gateway.local_addr(),
        b"POST /mock HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi",
    );
    assert_eq!(response.status, 405);
    assert!(response.text().contains("GET"));
}
on_both_drivers!(
    other_methods_get_405_with_allow,
    other_methods_get_405_with_allow
);

fn stopped_api_answers_404_like_an_unknown_path(driver: DriverChoice) {
    let yaml = mock_api_yaml(10).replace(
        "    contextPaths: [/mock]",
        "    state: stopped\n    contextPaths: [/mock]",
    );
    let gateway = start(test_config(&yaml, driver));
    let response = get(gateway.local_addr(), "/mock", &[]);
    assert_eq!(response.status, 404);
    assert_eq!(response.text(), "No context-path matches the request URI.");
}
on_both_drivers!(
    stopped_api_answers_404_like_an_unknown_path,
    stopped_api_answers_404_like_an_unknown_path
);

fn heads_and_bodies_split_across_reads(driver: DriverChoice) {
    let gateway = start(test_config(&mock_api_yaml(5), driver));
    let addr = gateway.local_addr();
    // A head delivered in pieces, with pauses so each piece is its own read.
    let mut stream = connect(addr);
    for piece in [
        "GET /mock?li",
        "mit=1 HTTP/1.1\r\nHo",
        "st: t\r\nAccept: application/json\r\n",
        "\r\n",
    ] {
        stream.write_all(piece.as_bytes()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let response = read_response(&mut BufReader::new(stream));
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(item_ids(&response.json()), vec![0]);
    // A 10 KB head (under maxHeaderBytes) spans several reads.
    let cookie = "a".repeat(10_000);
    let big = get(
        addr,
        "/mock?limit=1",
        &[("Accept", "application/json"), ("Cookie", &cookie)],
    );
    assert_eq!(big.status, 200, "{}", big.text());
    // A chunked body in pieces: read, then the request is answered (405: no POST entrypoint).
    let mut stream = connect(addr);
    for piece in [
        "POST /mock HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n",
        "5\r\nhel",
        "lo\r\n",
        "0\r\n\r\n",
    ] {
        stream.write_all(piece.as_bytes()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(read_response(&mut BufReader::new(stream)).status, 405);
}
on_both_drivers!(split_reads, heads_and_bodies_split_across_reads);
