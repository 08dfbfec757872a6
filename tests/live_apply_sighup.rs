//! The binary applies its file live on SIGHUP: an API added to the file is served, one removed
//! from it answers 404, without a restart (file mode, no `management:` section); a changed
//! `gateway:` section waits for a restart, and the log says so.
//!
//! One driver: the binary as a process (SIGHUP), on the driver a deployment gets (`auto`);
//! live apply's I/O runs on both drivers in-process (tests/live_apply.rs).

mod common;

use std::time::Duration;

use common::binary::{gateway_yaml, Binary};
use common::live_apis::{api, status};

#[test]
fn sighup_deploys_and_removes_apis() {
    let gateway_section = gateway_yaml("");
    let one = api("one", "one", &["http-get", "http-post"], true);
    let binary = Binary::start(&format!("{gateway_section}apis:\n{one}"));
    let addr = binary.addr;
    assert_eq!(status(addr, "/one"), 204);
    assert_eq!(status(addr, "/two"), 404);

    let two = api("two", "two", &["http-get", "http-post"], true);
    std::fs::write(
        binary.config_path(),
        format!("{gateway_section}apis:\n{two}"),
    )
    .unwrap();
    binary.signal("HUP");
    let line = binary
        .wait_for_log(
            Duration::from_secs(20),
            "reloaded plans, applications, subscriptions and API keys, and the APIs",
        )
        .unwrap_or_else(|| panic!("no reload logged:\n{}", binary.log()));
    assert_eq!(line["fields"]["added"], "[\"two\"]", "{line}");
    assert_eq!(line["fields"]["removed"], "[\"one\"]", "{line}");
    assert_eq!(status(addr, "/two"), 204);
    assert_eq!(status(addr, "/one"), 404);
    let answer = common::post(addr, "/two", "hello", "");
    assert_eq!(answer.status, 202, "{}", answer.text());
    assert!(
        binary.find_log("only after a restart").is_none(),
        "{}",
        binary.log()
    );

    // A change to the `gateway:` section is not applied live, and the log says so; the APIs
    // are.
    let three = api("three", "three", &["http-get", "http-post"], true);
    let pinned = gateway_section.replace("shards: 2", "shards: 1");
    assert_ne!(pinned, gateway_section);
    std::fs::write(binary.config_path(), format!("{pinned}apis:\n{three}")).unwrap();
    binary.signal("HUP");
    let warning = binary
        .wait_for_log(Duration::from_secs(20), "only after a restart")
        .unwrap_or_else(|| panic!("no restart warning:\n{}", binary.log()));
    assert_eq!(warning["fields"]["not_applied"], "gateway", "{warning}");
    assert_eq!(status(addr, "/three"), 204);
}
