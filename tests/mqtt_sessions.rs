//! Gateway restarts leave no broker sessions behind (issue 16): a client id generated per process
//! gets a session that ends with its connection, and `gateway.nodeId` gives stable client ids
//! whose sessions the next start picks up again. Counted broker-side, from mosquitto's
//! `$SYS/broker/clients/disconnected` (sessions kept for clients that are not connected).

mod common;

use std::process::Command;
use std::time::Duration;

use common::mosquitto::Mosquitto;
use common::mqtt_api::*;
use common::*;
use tidegate::config::DriverChoice;

const RESTARTS: usize = 3;

/// The broker's count of kept sessions whose client is not connected, once `$SYS` has it.
fn disconnected_sessions(broker: &Mosquitto) -> Option<u64> {
    let output = Command::new("mosquitto_sub")
        .args(["-h", "127.0.0.1", "-p", &broker.port.to_string()])
        .args([
            "-t",
            "$SYS/broker/clients/disconnected",
            "-C",
            "1",
            "-W",
            "5",
        ])
        .output()
        .expect("run mosquitto_sub");
    String::from_utf8_lossy(&output.stdout).trim().parse().ok()
}

/// Sessions of test clients that connect once, after the gateway stopped, and leave their
/// (persistent) session behind.
const SENTINELS: u64 = 10;

/// Waits until the broker reports `expected` disconnected sessions of the gateway, and says what
/// it last reported otherwise. `$SYS` values are retained and refreshed every second, so a read
/// may show an older state: `SENTINELS` persistent sessions made now, after the gateway stopped,
/// mark a fresh one (no state before them had that many).
fn assert_sessions_settle_at(broker: &Mosquitto, expected: u64, context: &str) {
    let sentinels: Vec<_> = (0..SENTINELS)
        .map(|n| {
            Command::new("mosquitto_sub")
                .args(["-h", "127.0.0.1", "-p", &broker.port.to_string()])
                .args([
                    "-c",
                    "-i",
                    &format!("sentinel-{n}"),
                    "-q",
                    "1",
                    "-t",
                    "sentinel",
                    "-E",
                ])
                .spawn()
                .expect("run mosquitto_sub")
        })
        .collect();
    for mut sentinel in sentinels {
        assert!(sentinel.wait().expect("mosquitto_sub ends").success());
    }
    let mut last = None;
    let settled = eventually(Duration::from_secs(20), || {
        last = disconnected_sessions(broker)
            .filter(|n| *n >= SENTINELS)
            .map(|n| n - SENTINELS);
        last == Some(expected)
    });
    assert!(
        settled,
        "{context}: the broker keeps {last:?} sessions of disconnected clients, expected {expected}; log:\n{}",
        broker.log()
    );
}

/// Starts the gateway on `yaml`, subscribes a client (so the node subscribes at the broker),
/// waits for that subscription, and stops the gateway.
fn run_once(yaml: &str, broker: &Mosquitto, driver: DriverChoice) {
    let gateway = start(test_config(yaml, driver));
    let client = ws(gateway.local_addr(), "/m");
    wait_subscribed(&gateway, broker);
    drop(client);
    drop(gateway);
}

fn restarts_with_generated_client_ids_leave_no_sessions(driver: DriverChoice) {
    let broker = Mosquitto::start_with("sys_interval 1\n");
    let yaml = api_yaml(
        broker.port,
        CONSUMING,
        "        consumer:\n          topic: s/#\n",
    );
    for _ in 0..RESTARTS {
        run_once(&yaml, &broker, driver);
    }
    assert_sessions_settle_at(&broker, 0, "after three restarts without nodeId");
}
on_both_drivers!(
    restarts_with_generated_client_ids_leave_no_sessions,
    restarts_with_generated_client_ids_leave_no_sessions
);

fn a_node_id_gives_stable_sessions_that_restarts_resume(driver: DriverChoice) {
    let broker = Mosquitto::start_with("sys_interval 1\n");
    let yaml = format!(
        "gateway:\n  nodeId: edge-1\n{}",
        api_yaml(
            broker.port,
            CONSUMING,
            "        consumer:\n          topic: s/#\n          qos: 1\n"
        )
    );
    run_once(&yaml, &broker, driver);
    let kept = eventually_some(|| disconnected_sessions(&broker).filter(|n| *n > 0))
        .expect("a stable client id keeps its session after the gateway stops");
    for _ in 1..RESTARTS {
        run_once(&yaml, &broker, driver);
    }
    assert_sessions_settle_at(&broker, kept, "restarts with nodeId reuse their sessions");
    assert!(
        broker.log().contains("tidegate-edge-1-mqtt-api-"),
        "client ids derive from the node id; log:\n{}",
        broker.log()
    );
}
on_both_drivers!(
    a_node_id_gives_stable_sessions_that_restarts_resume,
    a_node_id_gives_stable_sessions_that_restarts_resume
);

/// Polls `f` until it gives a value (20 s at most).
fn eventually_some<T>(mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let mut found = None;
    eventually(Duration::from_secs(20), || {
        found = f();
        found.is_some()
    });
    found
}
