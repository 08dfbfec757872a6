//! A push subscription follows its status on reload (SIGHUP): `paused` holds deliveries and
//! `accepted` resumes them where they stopped (nothing skipped); `closed` stops them for good.
//! A second subscription on the same topic witnesses that the messages were there to take.

mod common;

use std::time::Duration;

use common::eventually;
use common::webhook_api::{counters, publish, push, read, wait_active, yaml, ALLOW_LOOPBACK};
use common::webhook_receiver::Receiver;
use tidegate::config::{self, DriverChoice};

fn file_yaml(hook: &Receiver, witness: &Receiver, status: &str) -> String {
    let strict = "      ordering: { mode: strict }\n";
    let subscriptions = push(
        "hook",
        &hook.url("/in"),
        strict,
        &format!("    status: {status}\n"),
    ) + &push("witness", &witness.url("/in"), strict, "");
    yaml(ALLOW_LOOPBACK, "", &subscriptions)
}

fn bodies(receiver: &Receiver) -> Vec<String> {
    receiver.received().iter().map(|r| r.body_text()).collect()
}

fn paused_then_resumed_then_closed(driver: DriverChoice) {
    let (hook, witness) = (Receiver::answering(200), Receiver::answering(200));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.yaml");
    std::fs::write(&path, file_yaml(&hook, &witness, "accepted")).unwrap();
    let config = common::on_loopback(config::load_file(&path).unwrap(), driver);
    let gateway = common::start(config);
    wait_active(&gateway, "hook");
    wait_active(&gateway, "witness");
    let addr = gateway.local_addr();
    publish(addr, "one");
    assert!(eventually(Duration::from_secs(15), || hook.count() == 1));

    std::fs::write(&path, file_yaml(&hook, &witness, "paused")).unwrap();
    gateway.reload_security(&path).expect("reload");
    let counters = counters(&gateway, "hook");
    assert!(
        eventually(Duration::from_secs(5), || counters.state() == 2),
        "paused"
    );
    publish(addr, "two");
    publish(addr, "three");
    assert!(eventually(Duration::from_secs(15), || witness.count() == 3));
    assert_eq!(bodies(&hook), ["one"], "nothing delivered while paused");

    std::fs::write(&path, file_yaml(&hook, &witness, "accepted")).unwrap();
    gateway.reload_security(&path).expect("reload");
    assert!(eventually(Duration::from_secs(15), || hook.count() == 3));
    assert_eq!(
        bodies(&hook),
        ["one", "two", "three"],
        "resumed where it stopped"
    );

    std::fs::write(&path, file_yaml(&hook, &witness, "closed")).unwrap();
    gateway.reload_security(&path).expect("reload");
    assert!(
        eventually(Duration::from_secs(5), || counters.state() == 4),
        "closed"
    );
    publish(addr, "four");
    assert!(eventually(Duration::from_secs(15), || witness.count() == 4));
    assert_eq!(
        bodies(&hook),
        ["one", "two", "three"],
        "nothing delivered once closed"
    );
    assert_eq!(read(&counters.delivered), 3);
    gateway.shutdown();
}

on_both_drivers!(
    paused_then_resumed_then_closed,
    paused_then_resumed_then_closed
);
