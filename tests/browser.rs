//! tidegate in a real browser: headless Chromium (tests/common/chromium.rs) loads pages from two
//! other origins over https (tests/common/page_server.rs, a test CA Chromium trusts) and runs
//! EventSource, `fetch` and WebSocket against an in-process gateway's TLS listener (https, wss).
//! The page on the allowed origin receives, polls and publishes on every entrypoint (a CORS
//! preflight, a WebSocket subprotocol and permessage-deflate both ways included); the page on
//! another origin is refused everything, and the test checks on the gateway that nothing it sent
//! was published. One browser serves every check (it takes
//! seconds to start).
//!
//! Needs Debian's `chromium` (tests/setup/chromium.sh, run by tests/run.sh): without it the
//! test fails, saying so, rather than passing unchecked.

mod common;

use std::net::SocketAddr;

use common::chromium::{Chromium, Tab};
use common::page_server::{PageServer, TestCerts};
use serde_json::{json, Value};
use tidegate::config::DriverChoice;

/// The page-side helpers (`window.tg`), evaluated in every page the test opens.
const CHECKS_JS: &str = include_str!("browser/checks.js");

/// What the page servers serve; the checks are evaluated into it.
const PAGE_HTML: &str =
    "<!doctype html><title>tidegate browser test</title><p>tidegate browser test";

/// The subprotocol the pages ask for (after one the gateway does not speak).
const SUBPROTOCOL: &str = "tidegate.v1";

/// Makes messages long enough to be compressed (permessage-deflate skips short ones).
const PADDING: &str = "a browser message long enough to be worth compressing, twice over; \
                       a browser message long enough to be worth compressing, twice over";

/// One in-memory topic behind every entrypoint a browser uses, over TLS (and the plaintext
/// listener the test itself reads from), open to pages of `allowed_origin` only.
fn gateway_yaml(certs: &TestCerts, allowed_origin: &str) -> String {
    format!(
        r#"
gateway:
  tls:
    listen: "127.0.0.1:0"
    certificates:
      - certFile: "{chain}"
        keyFile: "{key}"
apis:
  - id: chat
    name: Chat
    contextPaths: [/chat]
    cors:
      allowOrigin: ["{allowed_origin}"]
      maxAge: 600
    entrypoints:
      # A batch poll answers what is retained after 100 ms instead of waiting 5 s for more.
      - type: http-get
        configuration:
          messagesLimitDurationMs: 100
      - type: http-post
      - type: sse
      - type: websocket
        configuration:
          subprotocols: [{SUBPROTOCOL}]
          perMessageDeflate: {{ enabled: true }}
    endpoint:
      type: in-memory
      configuration:
        topic: chat
    plans:
      - name: Keyless
        security: keyless
"#,
        chain = certs.chain_file.display(),
        key = certs.key_file.display(),
    )
}

/// Where pages reach the API: its http(s) and ws(s) URLs.
struct ApiUrls {
    http: String,
    ws: String,
}

/// Evaluates `expression` in `tab`, failing the test with the page's console on an exception.
fn eval(browser: &mut Chromium, tab: &Tab, expression: &str) -> Value {
    browser
        .evaluate(tab, expression)
        .unwrap_or_else(|err| panic!("{expression}: {err}\npage log:\n{}", browser.log()))
}

/// Opens `page` in a new tab and installs the checks in it.
fn open_page(browser: &mut Chromium, page: &PageServer) -> Tab {
    let url = format!("{}/", page.origin);
    let tab = browser
        .open(&url)
        .unwrap_or_else(|err| panic!("{err}\n{}", browser.output()));
    assert_eq!(eval(browser, &tab, "location.origin"), page.origin.as_str());
    assert_eq!(eval(browser, &tab, CHECKS_JS), "installed");
    tab
}

/// The contents of every message the gateway's topic retains, read over its plaintext listener.
fn published(plain: SocketAddr) -> Vec<String> {
    let response = common::get(plain, "/chat?cursor=0", &[("accept", "application/json")]);
    assert_eq!(response.status, 200, "{}", response.text());
    contents(&response.json())
}

fn contents(batch: &Value) -> Vec<String> {
    batch["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| item["content"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Asserts that DevTools report the answers `expected` to `tab`'s `request` (method and URL),
/// statuses the page itself may not be allowed to see.
fn assert_statuses(
    browser: &mut Chromium,
    tab: &Tab,
    (method, url): (&str, &str),
    expected: &[u64],
    what: &str,
) {
    let seen = |browser: &Chromium| browser.response_statuses(tab, method, url) == expected;
    assert!(
        browser.eventually(seen),
        "{what}: {method} {url} answered {:?}, expected {expected:?}",
        browser.response_statuses(tab, method, url)
    );
}

/// The body of a JSON POST from `from`.
fn json_body(from: &str) -> String {
    json!({"from": from, "padding": PADDING}).to_string()
}

/// The JavaScript for a JSON POST of `json_body(from)` to `url` (a preflighted request).
fn json_post(url: &str, from: &str) -> String {
    let body = json_body(from);
    format!(
        "tg.request({url:?}, {{method: 'POST', headers: {{'content-type': 'application/json'}}, \
         body: {body:?}}})"
    )
}

/// The page on the allowed origin: EventSource and WebSocket receive what a preflighted JSON
/// POST published (its `X-Message-Id` readable), the WebSocket publishes, a batch poll sees both.
fn allowed_page(browser: &mut Chromium, page: &PageServer, api: &ApiUrls, plain: SocketAddr) {
    let tab = open_page(browser, page);
    let (https, wss) = (&api.http, &api.ws);
    let opened = eval(browser, &tab, &format!("tg.openSse({https:?})"));
    assert_eq!(opened, "open", "{}", browser.log());
    let ws = eval(
        browser,
        &tab,
        &format!("tg.openWs({wss:?}, ['other.v9', {SUBPROTOCOL:?}])"),
    );
    assert_eq!(ws["opened"], true, "{ws}\n{}", browser.log());
    assert_eq!(ws["protocol"], SUBPROTOCOL, "the negotiated subprotocol");
    let extensions = ws["extensions"].as_str().unwrap_or_default();
    assert!(
        extensions.starts_with("permessage-deflate"),
        "Chromium offers permessage-deflate and the gateway takes it: {extensions:?}"
    );

    let posted = eval(browser, &tab, &json_post(https, "allowed post"));
    assert_eq!(posted["status"], 202, "{posted}\n{}", browser.log());
    let id = posted["messageId"]
        .as_str()
        .unwrap_or_else(|| panic!("X-Message-Id not exposed to the page: {posted}"));
    assert_statuses(
        browser,
        &tab,
        ("OPTIONS", https),
        &[204],
        "the JSON POST's preflight",
    );
    let seen = eval(browser, &tab, "tg.waitFor('sse', 'allowed post')");
    assert_eq!(
        seen["id"], id,
        "the SSE event carries the POST's message id"
    );
    // Deflated by the gateway, inflated by Chromium.
    let frame = eval(browser, &tab, "tg.waitFor('ws', 'allowed post')");
    assert_eq!(frame, json_body("allowed post").as_str());

    let ws_text = format!("allowed websocket {PADDING}");
    eval(browser, &tab, &format!("tg.sendWs({ws_text:?})"));
    let event = eval(browser, &tab, "tg.waitFor('sse', 'allowed websocket')");
    assert_eq!(
        event["data"],
        ws_text.as_str(),
        "deflated by Chromium, inflated by the gateway"
    );
    let echoed = eval(browser, &tab, "tg.waitFor('ws', 'allowed websocket')");
    assert_eq!(
        echoed,
        ws_text.as_str(),
        "the topic's WebSocket subscribers include the sender"
    );

    let polled = eval(browser, &tab, &format!("tg.request('{https}?cursor=0')"));
    assert_eq!(polled["status"], 200, "{polled}\n{}", browser.log());
    let batch: Value = serde_json::from_str(polled["body"].as_str().unwrap()).unwrap();
    let expected = [json_body("allowed post"), ws_text];
    assert_eq!(contents(&batch), expected, "the page's batch poll");
    assert_eq!(published(plain), expected, "what the gateway published");
    eval(browser, &tab, "tg.close()");
}

/// The page on an origin that is not allowed: every request fails in the page, the gateway
/// answers 403 (the upgrade included) and publishes nothing.
fn refused_page(browser: &mut Chromium, page: &PageServer, api: &ApiUrls, plain: SocketAddr) {
    let before = published(plain);
    let tab = open_page(browser, page);
    let (https, wss) = (&api.http, &api.ws);

    let poll = format!("{https}?cursor=0");
    let polled = eval(browser, &tab, &format!("tg.request({poll:?})"));
    assert!(polled["error"].is_string(), "GET: {polled}");
    assert_statuses(browser, &tab, ("GET", &poll), &[403], "the batch poll");
    let posted = eval(browser, &tab, &json_post(https, "refused json post"));
    assert!(posted["error"].is_string(), "JSON POST: {posted}");
    assert_statuses(
        browser,
        &tab,
        ("OPTIONS", https),
        &[403],
        "the JSON POST's preflight is refused, so the POST is never sent",
    );
    // A text/plain POST is "simple": the browser sends it without a preflight.
    let simple = eval(
        browser,
        &tab,
        &format!("tg.request({https:?}, {{method: 'POST', body: 'refused simple post'}})"),
    );
    assert!(simple["error"].is_string(), "text/plain POST: {simple}");
    assert_statuses(
        browser,
        &tab,
        ("POST", https),
        &[403],
        "the simple POST reached the gateway and was refused; the JSON POST was never sent",
    );

    let sse = browser.evaluate(&tab, &format!("tg.openSse({https:?})"));
    assert!(
        matches!(&sse, Err(err) if err.contains("EventSource failed")),
        "EventSource: {sse:?}"
    );
    assert_statuses(browser, &tab, ("GET", https), &[403], "the EventSource");
    let ws = eval(
        browser,
        &tab,
        &format!("tg.openWs({wss:?}, [{SUBPROTOCOL:?}])"),
    );
    assert_eq!(ws["opened"], false, "WebSocket: {ws}");
    let refused = |browser: &Chromium| {
        (browser.websocket_errors(&tab, wss).iter()).any(|error| error.ends_with("403"))
    };
    assert!(
        browser.eventually(refused),
        "the upgrade is refused with 403: {:?}",
        browser.websocket_errors(&tab, wss)
    );

    assert_eq!(
        published(plain),
        before,
        "nothing the refused page sent was published"
    );
    let upgrade = common::raw(
        plain,
        format!(
            "GET /chat HTTP/1.1\r\nHost: {plain}\r\nOrigin: {}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
            page.origin
        )
        .as_bytes(),
    );
    assert_eq!(upgrade.status, 403, "{}", upgrade.text());
}

fn chromium_on_another_origin_uses_every_entrypoint_and_others_are_refused(driver: DriverChoice) {
    let certs = TestCerts::new();
    let allowed = PageServer::start(PAGE_HTML, Some(certs.server_config()));
    let refused = PageServer::start(PAGE_HTML, Some(certs.server_config()));
    let yaml = gateway_yaml(&certs, &allowed.origin);
    let gateway = common::start(common::test_config(&yaml, driver));
    let plain = gateway.local_addr();
    let tls = gateway.tls_addr().expect("the TLS listener");
    let api = ApiUrls {
        http: format!("https://{tls}/chat"),
        ws: format!("wss://{tls}/chat"),
    };
    let mut browser = Chromium::start(&[certs.chromium_trust_flag()]);
    allowed_page(&mut browser, &allowed, &api, plain);
    refused_page(&mut browser, &refused, &api, plain);
    drop(browser);
    gateway.shutdown();
}
on_both_drivers!(
    chromium_on_another_origin_uses_every_entrypoint_and_others_are_refused,
    chromium_on_another_origin_uses_every_entrypoint_and_others_are_refused
);
