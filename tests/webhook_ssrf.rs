//! The SSRF guard: without `gateway.webhook.allowedNetworks`, callbacks to private, link-local
//! (cloud metadata) and loopback addresses are refused, a host name that resolves to loopback
//! included (the check is on the resolved address); allow-listing loopback lets the same
//! host name through.

mod common;

use std::time::Duration;

use common::eventually;
use common::webhook_api::{
    counters, dead_letters, fast_retry, publish, push, read, start, wait_active, yaml,
    ALLOW_LOOPBACK,
};
use common::webhook_receiver::Receiver;
use tidegate::config::DriverChoice;

fn inward_callbacks_are_refused_unless_allowed(driver: DriverChoice) {
    let receiver = Receiver::answering(200);
    let port = receiver.addr.port();
    let configuration = format!(
        "{}      dlq: {{ type: in-memory, topic: dead }}\n",
        fast_retry(1, 10, 2.0)
    );
    let targets = [
        ("private", "http://10.0.0.1:9/in".to_owned()),
        (
            "metadata",
            "http://169.254.169.254/latest/meta-data/".to_owned(),
        ),
        ("loopback6", format!("http://[::1]:{port}/in")),
        ("named", format!("http://localhost:{port}/in")),
    ];
    let subscriptions: String = targets
        .iter()
        .map(|(id, url)| push(id, url, &configuration, ""))
        .collect();
    let gateway = start(&yaml("", "", &subscriptions), driver);
    for (id, _) in &targets {
        wait_active(&gateway, id);
    }
    publish(gateway.local_addr(), "secret-stealer");
    for (id, _) in &targets {
        let counters = counters(&gateway, id);
        assert!(
            eventually(Duration::from_secs(15), || read(&counters.dead_lettered)
                == 1),
            "{id} was not refused"
        );
        assert_eq!(read(&counters.delivered), 0, "{id}");
    }
    assert_eq!(receiver.count(), 0, "nothing reached the loopback receiver");
    let letters = dead_letters(gateway.local_addr());
    assert_eq!(letters.len(), 4);
    for letter in &letters {
        let error = letter["headers"]["x-webhook-failure-error"][0]
            .as_str()
            .unwrap();
        assert!(
            error.contains("refused") && error.contains("allowedNetworks"),
            "{error}"
        );
        assert!(
            letter["headers"]["x-webhook-failure-status"].is_null(),
            "no answer, no status"
        );
    }
    let metrics = gateway.webhook_metrics().unwrap();
    assert!(read(&metrics.ssrf_refusals) >= 4);
    gateway.shutdown();

    // The same host name, loopback allow-listed: delivered.
    let configuration = fast_retry(1, 10, 2.0);
    let named = push(
        "named",
        &format!("http://localhost:{port}/in"),
        &configuration,
        "",
    );
    let gateway = start(&yaml(ALLOW_LOOPBACK, "", &named), driver);
    wait_active(&gateway, "named");
    publish(gateway.local_addr(), "welcome");
    assert!(eventually(Duration::from_secs(15), || receiver.count() == 1));
    gateway.shutdown();
}

on_both_drivers!(
    inward_callbacks_are_refused_unless_allowed,
    inward_callbacks_are_refused_unless_allowed
);
