//! Webhook APIs and push subscriptions follow `Gateway::apply` (what a management deploy and a
//! SIGHUP in file mode call) without a restart: a webhook API deployed to a running gateway
//! delivers; redeploying the same set delivers nothing twice; a changed subscription restarts
//! from where it was (nothing lost, nothing repeated); a closed one stops; a removed one stops
//! while a new one starts.

mod common;

use std::time::Duration;

use common::eventually;
use common::webhook_api::{counters, publish, push, read, wait_active, yaml, ALLOW_LOOPBACK};
use common::webhook_receiver::Receiver;
use tidegate::config::DriverChoice;
use tidegate::runtime::Gateway;

/// A gateway that runs no webhook API yet.
const BEFORE: &str = r#"gateway:
  webhook:
    allowedNetworks: [127.0.0.0/8]
apis:
  - id: other
    name: Other
    contextPaths: [/other]
    entrypoints: [{ type: http-get }]
    endpoint: { type: mock }
    plans: [{ id: open, name: Open, security: keyless }]
"#;

const STRICT: &str = "      ordering: { mode: strict }\n";

fn apply(gateway: &Gateway, yaml: &str, driver: DriverChoice) {
    let report = gateway
        .apply(common::test_config(yaml, driver))
        .expect("apply accepted");
    assert!(report.restart_needed.is_empty(), "{report:?}");
}

fn bodies(receiver: &Receiver) -> Vec<String> {
    receiver.received().iter().map(|r| r.body_text()).collect()
}

fn deployed_live_redeployed_changed_closed_removed(driver: DriverChoice) {
    let (hook, witness, late) = (
        Receiver::answering(200),
        Receiver::answering(200),
        Receiver::answering(200),
    );
    let gateway = common::start(common::test_config(BEFORE, driver));
    let addr = gateway.local_addr();
    let hook_item = |configuration: &str, keys: &str| {
        push(
            "hook",
            &hook.url("/in"),
            &format!("{STRICT}{configuration}"),
            keys,
        )
    };
    let witness_item = push("witness", &witness.url("/in"), STRICT, "");
    let deployed = yaml(ALLOW_LOOPBACK, "", &(hook_item("", "") + &witness_item));

    // Deployed to the running gateway: deliveries arrive.
    apply(&gateway, &deployed, driver);
    wait_active(&gateway, "hook");
    wait_active(&gateway, "witness");
    publish(addr, "one");
    assert!(eventually(Duration::from_secs(15), || hook.count() == 1
        && witness.count() == 1));

    // The same set again: the runners are untouched, nothing is delivered twice.
    apply(&gateway, &deployed, driver);
    publish(addr, "two");
    assert!(eventually(Duration::from_secs(15), || witness.count() == 2));
    assert!(eventually(Duration::from_secs(15), || hook.count() == 2));
    assert_eq!(bodies(&hook), ["one", "two"]);

    // A changed subscription (a header added) restarts where it was: messages published just
    // before and after the change arrive once each, in order, the later ones with the header.
    publish(addr, "three");
    let changed = hook_item("      headers: { X-Version: \"2\" }\n", "");
    apply(
        &gateway,
        &yaml(ALLOW_LOOPBACK, "", &(changed.clone() + &witness_item)),
        driver,
    );
    publish(addr, "four");
    assert!(eventually(Duration::from_secs(15), || witness.count() == 4));
    assert!(eventually(Duration::from_secs(15), || hook.count() >= 4));
    assert_eq!(bodies(&hook), ["one", "two", "three", "four"]);
    let last = hook.received().pop().unwrap();
    assert_eq!(
        last.header("x-version"),
        Some("2"),
        "the new runner delivers"
    );

    // Closed: deliveries stop (the witness shows the message was there to take).
    let closed = hook_item(
        "      headers: { X-Version: \"2\" }\n",
        "    status: closed\n",
    );
    apply(
        &gateway,
        &yaml(ALLOW_LOOPBACK, "", &(closed.clone() + &witness_item)),
        driver,
    );
    let hook_counters = counters(&gateway, "hook");
    assert!(
        eventually(Duration::from_secs(10), || hook_counters.state() == 4),
        "closed"
    );
    publish(addr, "five");
    assert!(eventually(Duration::from_secs(15), || witness.count() == 5));

    // The witness removed and a new subscription added in one apply: the new one delivers,
    // the removed one and the closed one deliver nothing more.
    let late_item = push("late", &late.url("/in"), STRICT, "");
    apply(
        &gateway,
        &yaml(ALLOW_LOOPBACK, "", &(closed + &late_item)),
        driver,
    );
    wait_active(&gateway, "late");
    publish(addr, "six");
    assert!(eventually(Duration::from_secs(15), || late.count() == 1));
    assert_eq!(bodies(&late), ["six"]);
    assert_eq!(bodies(&witness), ["one", "two", "three", "four", "five"]);
    assert_eq!(bodies(&hook), ["one", "two", "three", "four"]);
    assert_eq!(read(&hook_counters.delivered), 4);
    assert!(
        gateway
            .webhook_metrics()
            .unwrap()
            .subscription("witness")
            .is_none(),
        "a removed subscription's series is gone"
    );
    gateway.shutdown();
}

on_both_drivers!(
    deployed_live_redeployed_changed_closed_removed,
    deployed_live_redeployed_changed_closed_removed
);
