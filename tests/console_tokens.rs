//! The console's Tokens page in a real browser (headless Chromium over the DevTools protocol,
//! as tests/console_wizard.rs): signed in with the token printed at first start, an operator
//! creates a token of their own (shown once), revokes the printed one (which signs them out,
//! since it was theirs), signs in with the new one, and is told why the last one cannot go; then
//! creates a viewer's token, signs in with it, and is told that it may only read.
//!
//! Needs Debian's `chromium` (tests/setup/chromium.sh, run by tests/run.sh).

mod common;

use common::console_browser::ConsoleBrowser;
use common::console_stack::{ConsoleStack, TOKEN};
use tidegate::config::TokenRole;

#[test]
fn the_tokens_page_rotates_the_printed_token_and_keeps_the_last_one() {
    let stack = ConsoleStack::start_with_store_token();
    let mut browser = ConsoleBrowser::open(&stack.console_url(), "tokens");
    browser.sign_in("signed-in", TOKEN);
    browser.step(
        "tokens",
        "tgTest.click('Tokens').then(() => tgTest.heading('Tokens'))
           .then(() => tgTest.text('initial'))",
    );
    // A bad name is refused on its field, with the server's words.
    let refused = browser.step(
        "bad-name",
        "tgTest.fill('Name', 'seed').then(() => tgTest.click('Create token'))
           .then(() => tgTest.text('gateway\\'s own name'))
           .then(() => tgTest.text('token request is invalid')).then(() => tgTest.status())",
    );
    assert!(
        refused
            .as_str()
            .unwrap()
            .contains("token request is invalid"),
        "{refused}"
    );
    let created = browser.step(
        "created",
        "tgTest.fill('Name', 'ops').then(() => tgTest.click('Create token'))
           .then(() => tgTest.text('shown once')).then(() => tgTest.text('Revoke ops'))
           .then(() => document.querySelector('code.secret').textContent)",
    );
    let new_token = created.as_str().expect("the clear token").to_owned();
    let cleared = browser.step(
        "field-error-cleared",
        "Promise.resolve(document.body.innerText.includes('gateway\\'s own name'))",
    );
    assert_eq!(cleared, false, "the earlier refusal is no longer shown");
    assert!(new_token.len() >= 32, "{created}");
    let stored: Vec<String> = stack
        .store
        .tokens()
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(stored, ["initial", "ops"]);

    // Revoking the token this tab signed in with signs it out.
    browser.step(
        "revoke-initial",
        "tgTest.click('Revoke initial').then(() => tgTest.confirm())
           .then(() => tgTest.heading('Sign in'))",
    );
    assert_eq!(stack.store.tokens().unwrap().len(), 1);
    browser.sign_in("signed-in-again", &new_token);
    browser.step(
        "tokens-again",
        "tgTest.click('Tokens').then(() => tgTest.heading('Tokens'))",
    );
    let kept = browser.step(
        "last-kept",
        "tgTest.click('Revoke ops').then(() => tgTest.confirm())
           .then(() => tgTest.text('create another first')).then(() => tgTest.status())",
    );
    assert!(
        kept.as_str().unwrap().contains("stays valid as long"),
        "{kept}"
    );
    assert_eq!(stack.store.tokens().unwrap().len(), 1);

    // A viewer's token: created with its role and listed so; signed in with it, the pages read
    // and a change is refused with the server's words.
    let viewer = browser.step(
        "viewer-created",
        "tgTest.fill('Name', 'grafana').then(() => tgTest.fill('Role', 'viewer'))
           .then(() => tgTest.click('Create token')).then(() => tgTest.text('Revoke grafana'))
           .then(() => tgTest.text('viewer'))
           .then(() => document.querySelector('code.secret').textContent)",
    );
    let viewer = viewer.as_str().expect("the clear token").to_owned();
    let roles: Vec<(String, TokenRole)> = stack
        .store
        .tokens()
        .unwrap()
        .into_iter()
        .map(|t| (t.name, t.role))
        .collect();
    assert_eq!(
        roles,
        [
            ("grafana".to_owned(), TokenRole::Viewer),
            ("ops".to_owned(), TokenRole::Admin)
        ]
    );
    browser.step(
        "viewer-signed-out",
        "tgTest.click('Sign out').then(() => tgTest.heading('Sign in'))",
    );
    browser.sign_in("viewer-signed-in", &viewer);
    let refused = browser.step(
        "viewer-refused",
        "tgTest.click('Tokens').then(() => tgTest.heading('Tokens')).then(() => tgTest.text('ops'))
           .then(() => tgTest.click('Revoke grafana')).then(() => tgTest.confirm())
           .then(() => tgTest.text('may only read')).then(() => tgTest.status())",
    );
    assert!(
        refused.as_str().unwrap().contains("may only read"),
        "{refused}"
    );
    assert_eq!(stack.store.tokens().unwrap().len(), 2);
    let log = browser.log();
    for bad in ["exception", "Content Security Policy", "Refused to"] {
        assert!(!log.contains(bad), "the page logged {bad}:\n{log}");
    }
}
