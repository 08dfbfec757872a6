//! What an error answer tells a client, and what only the log gets: a short reason with its
//! category, a request id (`X-Request-Id`, and in 5xx bodies), and never a
//! broker's address, a library's error text or a broker's reason-code name. The details are
//! logged under the same request id.

mod common;

use std::process::Command;
use std::time::Duration;

use common::log_capture::captured_log;
use common::mosquitto::Mosquitto;
use common::mqtt_api::api_yaml;
use common::*;
use tidegate::config::DriverChoice;

const WAIT: Duration = Duration::from_secs(30);

const POSTING: &str = "      - type: http-post";

/// 16 lowercase hex digits.
fn is_request_id(id: &str) -> bool {
    id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// POSTs until the 503 names `category`; panics with the last answer if it never does.
fn post_until(addr: std::net::SocketAddr, category: &str) -> Response {
    let mut last = None;
    let named = eventually(WAIT, || {
        let response = post(addr, "/m", "hello", "");
        let found = response.status == 503 && response.text().contains(category);
        last = Some(response);
        found
    });
    let last = last.expect("at least one answer");
    assert!(
        named,
        "the answer never named '{category}': {} {}",
        last.status,
        last.text()
    );
    last
}

/// The answer carries a gateway-made id in its header and its body, and leaks none of `secrets`.
fn assert_shape(response: &Response, secrets: &[&str]) -> String {
    let id = response
        .header("x-request-id")
        .unwrap_or_else(|| panic!("no X-Request-Id: {response:?}"))
        .to_owned();
    assert!(is_request_id(&id), "{id}");
    let text = response.text();
    assert!(text.contains(&format!("request id {id}")), "{text}");
    for secret in secrets {
        assert!(!text.contains(secret), "the body leaks '{secret}': {text}");
    }
    id
}

fn an_unreachable_broker_is_named_without_its_address(driver: DriverChoice) {
    captured_log();
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = "        producer:\n          topic: up/x\n";
    let gateway = start(test_config(&api_yaml(port, POSTING, endpoint), driver));
    let response = post_until(gateway.local_addr(), "broker unreachable");
    assert!(
        response.text().contains("not connected to the MQTT broker"),
        "{}",
        response.text()
    );
    let port = port.to_string();
    let id = assert_shape(
        &response,
        &["127.0.0.1", &port, "os error", "refused", "cannot connect"],
    );
    // The operator finds the details under the id the client was given.
    let log = captured_log();
    let line = log
        .lines()
        .find(|line| line.contains(&id))
        .unwrap_or_else(|| panic!("no log line with request id {id}:\n{log}"));
    assert!(line.contains(&format!("127.0.0.1:{port}")), "{line}");
}
on_both_drivers!(
    an_unreachable_broker_is_named_without_its_address,
    an_unreachable_broker_is_named_without_its_address
);

fn refused_credentials_are_named_without_the_reason_code(driver: DriverChoice) {
    captured_log();
    let dir = tempfile::tempdir().unwrap();
    let passwords = dir.path().join("passwords");
    let made = Command::new("mosquitto_passwd")
        .args(["-b", "-c"])
        .arg(&passwords)
        .args(["alice", "secret"])
        .status()
        .expect("mosquitto_passwd");
    assert!(made.success());
    let broker = Mosquitto::start_with(&format!(
        "allow_anonymous false\npassword_file {}\n",
        passwords.display()
    ));
    for version in ["5", "\"3.1.1\""] {
        let endpoint = format!(
            "        protocolVersion: {version}\n        username: alice\n        password: wrong\n        producer:\n          topic: up/x\n"
        );
        let gateway = start(test_config(
            &api_yaml(broker.port, POSTING, &endpoint),
            driver,
        ));
        let response = post_until(gateway.local_addr(), "broker refused credentials");
        let port = broker.port.to_string();
        assert_shape(
            &response,
            &[
                "127.0.0.1",
                &port,
                "BadUserNamePassword",
                "NotAuthorized",
                "alice",
            ],
        );
    }
    // With the right password the same API publishes.
    let endpoint = "        username: alice\n        password: secret\n        producer:\n          topic: up/x\n";
    let gateway = start(test_config(
        &api_yaml(broker.port, POSTING, endpoint),
        driver,
    ));
    assert!(
        eventually(WAIT, || post(gateway.local_addr(), "/m", "hello", "")
            .status
            == 202),
        "broker log:\n{}",
        broker.log()
    );
}
on_both_drivers!(
    refused_credentials_are_named_without_the_reason_code,
    refused_credentials_are_named_without_the_reason_code
);

fn client_errors_keep_their_reason_and_carry_the_request_id(driver: DriverChoice) {
    let gateway = start(test_config(&mock_api_yaml(1000), driver));
    let addr = gateway.local_addr();
    let first = raw(
        addr,
        b"GET /nowhere HTTP/1.1\r\nHost: t\r\nX-Request-Id: chosen-by-client\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(first.status, 404);
    // A client's mistake is explained as before: the body is the reason alone.
    assert_eq!(first.text(), "No context-path matches the request URI.");
    // A sane id of the client's own is kept (tests/request_id.rs: which ones are replaced).
    let id = first.header("x-request-id").expect("X-Request-Id");
    assert_eq!(id, "chosen-by-client");
    let second = get(addr, "/nowhere", &[]);
    let other = second.header("x-request-id").expect("X-Request-Id");
    assert!(is_request_id(other) && other != id, "{id} {other}");
    // Answers to heads that never parsed carry one too.
    let malformed = raw(addr, b"GET /a/../b HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(malformed.status, 400);
    assert!(malformed.header("x-request-id").is_some_and(is_request_id));
}
on_both_drivers!(
    client_errors_keep_their_reason_and_carry_the_request_id,
    client_errors_keep_their_reason_and_carry_the_request_id
);
