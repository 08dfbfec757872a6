//! https callbacks: TLS from the shard (rustls, sans-IO) with the subscription's `ssl.caFile`,
//! one pooled TLS connection for several deliveries; a certificate the subscription does not
//! trust fails the try (dead-lettered here, with the reason).

mod common;
#[allow(dead_code, reason = "only the TLS front is used here")]
#[path = "common/tls_front.rs"]
mod tls_front;

use std::time::Duration;

use common::eventually;
use common::webhook_api::{
    counters, dead_letters, fast_retry, publish, push, read, start, wait_active, yaml,
    ALLOW_LOOPBACK,
};
use common::webhook_receiver::Receiver;
use tidegate::config::DriverChoice;

fn https_callbacks_use_the_configured_ca(driver: DriverChoice) {
    let receiver = Receiver::answering(200);
    let front = tls_front::TlsFront::start(receiver.addr, None);
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &front.cert_pem).unwrap();
    let url = format!("https://127.0.0.1:{}/secure", front.addr.port());
    let trusted = format!(
        "      ordering: {{ mode: strict }}\n      ssl: {{ caFile: {} }}\n",
        ca.display()
    );
    let untrusted = format!(
        "{}      dlq: {{ type: in-memory, topic: dead }}\n",
        fast_retry(1, 10, 2.0)
    );
    let subscriptions = push("tls", &url, &trusted, "") + &push("stranger", &url, &untrusted, "");
    let gateway = start(&yaml(ALLOW_LOOPBACK, "", &subscriptions), driver);
    wait_active(&gateway, "tls");
    wait_active(&gateway, "stranger");
    for n in 0..3 {
        publish(gateway.local_addr(), &format!("secret {n}"));
    }
    let tls = counters(&gateway, "tls");
    assert!(eventually(Duration::from_secs(15), || read(&tls.delivered) == 3));
    let bodies: Vec<String> = receiver.received().iter().map(|r| r.body_text()).collect();
    assert_eq!(bodies, ["secret 0", "secret 1", "secret 2"]);
    let carriers: std::collections::HashSet<usize> =
        receiver.received().iter().map(|r| r.connection).collect();
    assert_eq!(
        carriers.len(),
        1,
        "one pooled TLS connection carried all three"
    );
    let stranger = counters(&gateway, "stranger");
    assert!(eventually(Duration::from_secs(15), || read(
        &stranger.dead_lettered
    ) == 3));
    assert_eq!(read(&stranger.delivered), 0);
    let letters = dead_letters(gateway.local_addr());
    let error = letters[0]["headers"]["x-webhook-failure-error"][0]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(error.to_lowercase().contains("certificate"), "{error}");
    gateway.shutdown();
}

on_both_drivers!(
    https_callbacks_use_the_configured_ca,
    https_callbacks_use_the_configured_ca
);
