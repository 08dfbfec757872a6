//! Defects found by attacking the hardened gateway as an internet client and a newcomer would:
//! each test sends the bytes (or runs the command) that showed the defect, over a real socket or
//! against the real binary.

mod common;

use std::io::{Read, Write};
use std::process::Command;

use common::http_raw::RawConn;
use common::*;
use tidegate::config::DriverChoice;

/// What the 400 for a misshapen request line must teach the client.
const REQUEST_LINE_SHAPE: &str = "METHOD /path HTTP/1.1";

fn gateway(driver: DriverChoice) -> tidegate::runtime::Gateway {
    start(test_config(&mock_api_yaml(5), driver))
}

/// The status and body of the answer to `request` on a fresh connection.
fn answer(addr: std::net::SocketAddr, request: &str) -> Response {
    let mut conn = RawConn::open(addr);
    conn.send(request.as_bytes());
    conn.response()
}

/// A request line that is not `METHOD SP target SP HTTP/x.y` (two spaces, a lowercase or
/// missing protocol name) is a malformed request (400, RFC 9112 §3), not an unsupported HTTP
/// version: a 505 sends the client looking for a version problem it does not have.
fn a_misshapen_request_line_is_400_not_505(driver: DriverChoice) {
    let gateway = gateway(driver);
    let addr = gateway.local_addr();
    for request_line in [
        "GET /mock  HTTP/1.1",
        "GET /mock http/1.1",
        "GET /mock HTTP/1",
        "GET /mock FTP/1.1",
    ] {
        let response = answer(addr, &format!("{request_line}\r\nHost: t\r\n\r\n"));
        assert_eq!(
            response.status,
            400,
            "{request_line:?}: {}",
            response.text()
        );
        assert!(
            response.text().contains(REQUEST_LINE_SHAPE),
            "{request_line:?}: the body should show the expected shape: {}",
            response.text()
        );
        assert!(
            response.header("x-request-id").is_some(),
            "{request_line:?}"
        );
    }
    // A well-formed request line naming another version is still 505.
    for version in ["HTTP/2.0", "HTTP/1.2", "HTTP/0.9"] {
        let response = answer(addr, &format!("GET /mock {version}\r\nHost: t\r\n\r\n"));
        assert_eq!(response.status, 505, "{version}: {}", response.text());
    }
}
on_both_drivers!(
    misshapen_request_line,
    a_misshapen_request_line_is_400_not_505
);

/// Everything the server sends on a fresh connection after `request`, until it closes.
fn raw_exchange(addr: std::net::SocketAddr, request: &str) -> String {
    let mut stream = connect(addr);
    stream.write_all(request.as_bytes()).unwrap();
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).unwrap();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The first answer's head, and whatever follows its blank line.
fn split_first_head(answer: &str) -> (&str, &str) {
    answer
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no complete head in {answer:?}"))
}

/// RFC 9110 §9.3.2: the answer to HEAD has no content. An error body after a HEAD answer is
/// read by the client (or a proxy pooling the connection) as the start of the next answer:
/// the two sides then disagree about every answer that follows.
fn a_head_request_gets_no_error_body(driver: DriverChoice) {
    let gateway = gateway(driver);
    let addr = gateway.local_addr();
    for target in ["/mock", "/nowhere"] {
        let answer = raw_exchange(
            addr,
            &format!(
                "HEAD {target} HTTP/1.1\r\nHost: t\r\n\r\n\
                 GET /nowhere HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
            ),
        );
        let (head, rest) = split_first_head(&answer);
        assert!(head.starts_with("HTTP/1.1 40"), "{target}: {head}");
        assert!(head.contains("X-Request-Id"), "{target}: {head}");
        assert!(
            rest.starts_with("HTTP/1.1 404"),
            "{target}: the next answer must follow the HEAD answer's head at once: {rest:?}"
        );
    }
}
on_both_drivers!(head_without_error_body, a_head_request_gets_no_error_body);

/// RFC 9110 §15.5.6: a 405 must list the methods the resource serves in `Allow`; and a HEAD
/// answer has no content there either.
#[test]
fn the_admin_endpoint_405_carries_allow_and_no_body_for_head() {
    // one driver: the admin endpoint runs on threads of its own, whatever the shards' driver.
    let gateway = gateway(DriverChoice::Epoll);
    let admin = gateway.admin_addr().expect("admin endpoint on");
    for method in ["POST", "DELETE", "HEAD"] {
        let answer = raw_exchange(
            admin,
            &format!("{method} /health HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n"),
        );
        let (head, rest) = split_first_head(&answer);
        assert!(head.starts_with("HTTP/1.1 405"), "{method}: {head}");
        assert!(head.contains("\r\nAllow: GET\r\n"), "{method}: {head}");
        if method == "HEAD" {
            assert_eq!(rest, "", "{method}: no content after a HEAD answer");
        } else {
            assert!(rest.contains("GET /health"), "{method}: {rest}");
        }
    }
}

/// A configuration whose YAML expands past the parser's node budget (anchors and aliases, the
/// "billion laughs", or a file with hundreds of thousands of values) is refused with a sentence
/// that says what is wrong, not the parser's internal `Nodes { nodes: 250001 }`.
#[test]
fn a_config_over_the_yaml_budget_is_refused_in_words() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("laughs.yaml");
    let mut yaml = String::from("a: &a [x, x, x, x, x, x, x, x, x]\n");
    let mut previous = 'a';
    for name in 'b'..='h' {
        let items = vec![format!("*{previous}"); 9].join(", ");
        yaml.push_str(&format!("{name}: &{name} [{items}]\n"));
        previous = name;
    }
    yaml.push_str("apis: []\n");
    std::fs::write(&path, yaml).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_tidegate"))
        .arg("check")
        .arg(&path)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains('{'), "no parser internals: {stderr}");
    assert!(
        stderr.contains("aliases") && stderr.contains("250000"),
        "the message names the bound and what counts against it: {stderr}"
    );
}
