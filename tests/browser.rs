//! tidegate in a real browser: headless Chromium (tests/common/chromium.rs) runs EventSource,
//! `fetch` and WebSocket against an in-process gateway, and the test asserts what the page saw
//! and what the gateway published. One browser serves every check (it takes seconds to start).
//!
//! Needs Debian's `chromium` (tests/setup/chromium.sh, run by tests/run.sh): without it the
//! test fails, saying so, rather than passing unchecked.

mod common;

use std::net::SocketAddr;

use common::chromium::{Chromium, Tab};
use common::page_server::{PageServer, TestCerts};
use common::topic_api::chat_yaml;
use serde_json::Value;
use tidegate::config::DriverChoice;

/// The page-side helpers (`window.tg`), evaluated in every page the test opens.
const CHECKS_JS: &str = include_str!("browser/checks.js");

/// The page the test's other origins serve; the checks are evaluated into it.
const PAGE_HTML: &str =
    "<!doctype html><title>tidegate browser test</title><p>tidegate browser test";

/// One in-memory topic behind every entrypoint a browser uses.
fn gateway_yaml() -> String {
    chat_yaml(
        "",
        "      - type: http-get
      - type: http-post
      - type: sse
      - type: websocket",
    )
}

/// Evaluates `expression` in `tab`, failing the test with the page's console on an exception.
fn eval(browser: &mut Chromium, tab: &Tab, expression: &str) -> Value {
    browser
        .evaluate(tab, expression)
        .unwrap_or_else(|err| panic!("{expression}: {err}\npage log:\n{}", browser.log()))
}

/// The contents of every message retained by the gateway's topic, read over plain HTTP.
fn published(addr: SocketAddr) -> Vec<String> {
    let response = common::get(addr, "/chat?cursor=0", &[("accept", "application/json")]);
    assert_eq!(response.status, 200, "{}", response.text());
    response.json()["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| item["content"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// A page of the gateway's own origin (plain http): EventSource, fetch GET and POST, and
/// WebSocket all reach the same topic.
fn same_origin_plaintext(browser: &mut Chromium, addr: SocketAddr) {
    // Any path the gateway does not serve gives a document of its origin (its 404 body).
    let base = format!("http://{addr}");
    let tab = browser
        .open(&format!("{base}/page"))
        .unwrap_or_else(|err| panic!("{err}\n{}", browser.output()));
    eval(browser, &tab, CHECKS_JS);
    assert_eq!(eval(browser, &tab, "tg.openSse('/chat')"), "open");
    let ws = eval(browser, &tab, &format!("tg.openWs('ws://{addr}/chat')"));
    assert_eq!(ws["opened"], true, "{ws}\n{}", browser.log());

    let posted = eval(
        browser,
        &tab,
        r#"tg.request('/chat', {method: 'POST', headers: {'content-type': 'application/json'},
            body: JSON.stringify({from: 'same-origin post'})})"#,
    );
    assert_eq!(posted["status"], 202, "{posted}\n{}", browser.log());
    let id = posted["messageId"].as_str().expect("X-Message-Id readable");
    let seen = eval(browser, &tab, "tg.waitFor('sse', 'same-origin post')");
    assert_eq!(
        seen["id"], id,
        "the SSE event carries the POST's message id"
    );
    eval(browser, &tab, "tg.waitFor('ws', 'same-origin post')");

    eval(browser, &tab, "tg.sendWs('same-origin websocket')");
    eval(browser, &tab, "tg.waitFor('sse', 'same-origin websocket')");

    let polled = eval(browser, &tab, "tg.request('/chat?cursor=0')");
    assert_eq!(polled["status"], 200, "{polled}");
    let body: Value = serde_json::from_str(polled["body"].as_str().unwrap()).unwrap();
    let contents: Vec<&str> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|item| item["content"].as_str())
        .collect();
    assert_eq!(
        contents,
        [r#"{"from":"same-origin post"}"#, "same-origin websocket"],
        "the batch poll sees both publishes, in order"
    );
    assert_eq!(published(addr), contents);
    eval(browser, &tab, "tg.close()");
}

/// The test page over https, its certificate trusted through the test CA's SPKI hash.
fn https_page(browser: &mut Chromium, page: &PageServer) {
    let tab = browser
        .open(&format!("{}/", page.origin))
        .unwrap_or_else(|err| panic!("{err}\n{}", browser.output()));
    assert_eq!(eval(browser, &tab, "location.origin"), page.origin.as_str());
    assert_eq!(
        eval(browser, &tab, "document.title"),
        "tidegate browser test"
    );
}

#[test]
fn chromium_uses_every_entrypoint() {
    let gateway = common::start(common::test_config(&gateway_yaml(), DriverChoice::Auto));
    let addr = gateway.local_addr();
    let certs = TestCerts::new();
    let page = PageServer::start(PAGE_HTML, Some(certs.server_config()));
    let mut browser = Chromium::start(&[certs.chromium_trust_flag()]);
    https_page(&mut browser, &page);
    same_origin_plaintext(&mut browser, addr);
    drop(browser);
    gateway.shutdown();
}
