//! Deliveries carry Standard Webhooks signatures that the specification's reference verifier
//! (the PyPI `standardwebhooks` package, run from the tests' venv: tests/setup/standardwebhooks.sh)
//! accepts, retries included; during a rotation (two secrets) each secret alone verifies them,
//! and an unrelated secret does not.

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use base64::Engine;
use common::eventually;
use common::webhook_api::{fast_retry, publish, push, start, wait_active, yaml, ALLOW_LOOPBACK};
use common::webhook_receiver::{Received, Receiver, Step};
use tidegate::config::DriverChoice;

fn secret(fill: u8) -> String {
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode([fill; 32])
    )
}

fn python() -> PathBuf {
    let cache = std::env::var_os("TIDEGATE_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/tidegate")
        });
    let path = cache.join("venv/bin/python");
    assert!(
        path.exists(),
        "{} is missing: run tests/setup/standardwebhooks.sh (tests/run.sh does)",
        path.display()
    );
    path
}

/// One line per delivery from the reference verifier with `secret`.
fn verify(received: &[Received], secret: &str) -> Vec<String> {
    let deliveries: Vec<serde_json::Value> = received
        .iter()
        .map(|r| {
            let headers: serde_json::Map<String, serde_json::Value> = r
                .headers
                .iter()
                .map(|(n, v)| (n.clone(), serde_json::Value::from(v.clone())))
                .collect();
            serde_json::json!({
                "body_b64": base64::engine::general_purpose::STANDARD.encode(&r.body),
                "headers": headers,
            })
        })
        .collect();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/webhook/verify.py");
    let mut child = Command::new(python())
        .arg(script)
        .arg(secret)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python runs");
    let input = serde_json::to_vec(&deliveries).unwrap();
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "verify.py failed");
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn signatures_verify_with_each_secret_of_a_rotation(driver: DriverChoice) {
    let (new, old, stranger) = (secret(1), secret(2), secret(3));
    let receiver = Receiver::start(&[Step::Status(500)], Step::Status(200));
    let configuration = format!(
        "{}      ordering: {{ mode: strict }}\n      secrets: [\"{new}\", \"{old}\"]\n",
        fast_retry(3, 1100, 1.0)
    );
    let config = yaml(
        ALLOW_LOOPBACK,
        "",
        &push("signed", &receiver.url("/in"), &configuration, ""),
    );
    let gateway = start(&config, driver);
    wait_active(&gateway, "signed");
    publish(gateway.local_addr(), "{\"order\": 1}");
    publish(gateway.local_addr(), "plain text, not JSON: é ✓");
    assert!(
        eventually(Duration::from_secs(20), || receiver.count() >= 3),
        "received {}",
        receiver.count()
    );
    let received = receiver.received();
    assert_eq!(
        received[0].header("webhook-id"),
        received[1].header("webhook-id"),
        "a retry keeps its id"
    );
    assert_ne!(
        received[0].header("webhook-timestamp"),
        received[1].header("webhook-timestamp"),
        "each try is signed when it is sent (the retry waited over a second)"
    );
    for r in &received {
        let signature = r.header("webhook-signature").expect("signed");
        assert_eq!(
            signature.split(' ').count(),
            2,
            "two secrets, two signatures: {signature}"
        );
    }
    assert_eq!(verify(&received, &new), ["ok", "ok", "ok"]);
    assert_eq!(verify(&received, &old), ["ok", "ok", "ok"]);
    let strangers = verify(&received, &stranger);
    assert!(
        strangers.iter().all(|line| line.starts_with("bad")),
        "{strangers:?}"
    );
    gateway.shutdown();
}

on_both_drivers!(
    signatures_verify_with_each_secret_of_a_rotation,
    signatures_verify_with_each_secret_of_a_rotation
);
