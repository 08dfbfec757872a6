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
