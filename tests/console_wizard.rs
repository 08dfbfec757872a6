//! The web console in a real browser: headless Chromium (tests/common/chromium.rs, driven over
//! the DevTools protocol) loads the console from tidegate's console listener and uses it as a
//! person would, by labels and button texts (tests/console/driver.js). A screenshot of each step
//! is written to `target/console-screenshots/`.
//!
//! Needs Debian's `chromium` (tests/setup/chromium.sh, run by tests/run.sh): without it the
//! test fails, saying so, rather than passing unchecked.

mod common;

use std::net::SocketAddr;

use common::console_browser::ConsoleBrowser;
use common::console_stack::{ConsoleStack, TOKEN};
use serde_json::json;
use tidegate::console::Console;

/// Every module loads under the console's Content-Security-Policy (a syntax error, a missing
/// file or a blocked script would leave the page without its sign-in form), and a console
/// without a management API says so instead of failing silently.
#[test]
fn the_console_loads_under_its_csp_and_says_when_the_management_api_is_missing() {
    let console = Console::start(SocketAddr::from(([127, 0, 0, 1], 0)), None).unwrap();
    let url = format!("http://{}/", console.local_addr());
    let mut browser = ConsoleBrowser::open(&url, "no-backend");
    let heading = browser.step("sign-in", "tgTest.heading('Sign in')");
    assert_eq!(heading, "Sign in to the tidegate console");
    let status = browser.step(
        "sign-in-refused",
        "tgTest.fill('Admin token', 'anything')
           .then(() => tgTest.click('Sign in'))
           .then(() => tgTest.text('management API is not running'))
           .then(() => tgTest.status())",
    );
    assert!(
        status
            .as_str()
            .unwrap()
            .contains("enable the `management` section"),
        "{status}"
    );
    browser.step(
        "portal",
        "tgTest.click('Developer portal').then(() => tgTest.heading('Developer portal'))
           .then(() => tgTest.text('management API is not running'))",
    );
    let log = browser.log();
    for bad in ["exception", "Content Security Policy", "Refused to"] {
        assert!(!log.contains(bad), "the page logged {bad}:\n{log}");
    }
}

/// The seed's walk through the console, end to end: sign in, create the quickstart API with the
/// wizard (Mock, HTTP GET and WebSocket, keyless, Save & Deploy), then a plain HTTP client gets
/// the four mock messages from the gateway, then the Danger Zone stops the API (the gateway
/// answers 404) and starts it again (served again).
#[test]
fn the_wizard_creates_and_deploys_the_quickstart_api_and_the_danger_zone_stops_and_starts_it() {
    let stack = ConsoleStack::start();
    let mut browser = ConsoleBrowser::open(&stack.console_url(), "wizard");
    browser.step("sign-in", "tgTest.heading('Sign in')");
    browser.sign_in("signed-in", TOKEN);
    browser.step(
        "create-api",
        "tgTest.click('Create API').then(() => tgTest.heading('Step 1'))",
    );
    browser.step(
        "details",
        "tgTest.fill('API name', 'Quickstart message API')
           .then(() => tgTest.fill('API id', 'qs-message-api'))
           .then(() => tgTest.click('Next')).then(() => tgTest.heading('Step 2'))",
    );
    browser.step(
        "introspect",
        "tgTest.click('Introspect Messages From Event-Driven Backend')
           .then(() => tgTest.text('Entrypoints: how clients reach the API'))",
    );
    browser.step(
        "entrypoints",
        "tgTest.check('HTTP GET', true).then(() => tgTest.check('WebSocket', true))
           .then(() => tgTest.fill('Context paths', '/qs-message-api'))",
    );
    browser.step(
        "to-endpoint",
        "tgTest.click('Next').then(() => tgTest.heading('Step 3'))",
    );
    browser.step(
        "endpoint-mock",
        "tgTest.check('Mock', true)
           .then(() => tgTest.fill('Interval between messages (ms)', '1000'))
           .then(() => tgTest.fill('Message content', 'mock message'))
           .then(() => tgTest.text('the WebSocket entrypoint only delivers'))",
    );
    browser.step(
        "to-plans",
        "tgTest.click('Next').then(() => tgTest.heading('Step 4'))",
    );
    let validated = browser.step(
        "validate-plans",
        "tgTest.click('Validate my plans').then(() => tgTest.text('Your plans are valid'))
           .then(() => tgTest.status())",
    );
    assert_eq!(validated, "Your plans are valid (1 plan).");
    browser.step(
        "summary",
        "tgTest.click('Next').then(() => tgTest.heading('Step 5'))",
    );
    browser.step(
        "save-and-deploy",
        "tgTest.click('Save & Deploy API')
           .then(() => tgTest.heading('Your API is created and deployed'))",
    );
    // What the wizard stored is the quickstart API of the embedded default.
    let stored = stack.api_definition("qs-message-api");
    assert_eq!(
        stored["entrypoints"],
        json!([
            {"type": "http-get"},
            {"type": "websocket", "configuration": {"publisher": {"enabled": false}}},
        ])
    );
    assert_eq!(stored["endpoint"], json!({"type": "mock"}));
    assert_eq!(
        stored["plans"],
        json!([{"id": "keyless", "name": "Default Keyless (UNSECURED)", "security": "keyless"}])
    );

    // A plain HTTP client: the mock's first four messages in the 5 s batch.
    let batch = stack.eventually_served("/qs-message-api");
    let items = batch["items"].as_array().unwrap();
    assert_eq!(items.len(), 4, "{batch}");
    assert!(
        items.iter().all(|item| item["content"] == "mock message"),
        "{batch}"
    );

    browser.step(
        "open-in-management",
        "tgTest.click('Open my API in API Management')
           .then(() => tgTest.heading('Quickstart message API'))",
    );
    browser.step(
        "danger-zone",
        "tgTest.click('Danger Zone').then(() => tgTest.heading('Danger Zone'))",
    );
    // Deleting a started API is refused, and the page says the server's reason.
    let refusal = browser.step(
        "delete-refused",
        "tgTest.click('Delete').then(() => tgTest.confirm())
           .then(() => tgTest.text('stop it first')).then(() => tgTest.status())",
    );
    assert!(
        refusal
            .as_str()
            .unwrap()
            .contains("is started; stop it first"),
        "{refusal}"
    );
    browser.step(
        "stop",
        "tgTest.click('Stop').then(() => tgTest.confirm()).then(() => tgTest.text('Start the API'))",
    );
    stack.eventually_status("/qs-message-api", 404);
    browser.step(
        "start",
        "tgTest.click('Start').then(() => tgTest.confirm()).then(() => tgTest.text('Stop the API'))",
    );
    let again = stack.eventually_served("/qs-message-api");
    assert_eq!(again["items"].as_array().unwrap().len(), 4, "{again}");
}
