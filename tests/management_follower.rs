//! The follower on its own, with a recording applier: it applies what the store deploys (and
//! only when the generation moves), refuses content that does not validate, and during a store
//! outage applies nothing, reads `store_up` 0, then catches up.

#![allow(
    clippy::disallowed_types,
    reason = "a test: its clients and fakes run on plain threads, never on a shard"
)]
mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tidegate::config::{self, Config};
use tidegate::manage::follower::{Follower, FollowerMetrics, FollowerSetup};
use tidegate::manage::store::{AuditEvent, Kind, MemoryStore, Store, StoreError};

use common::eventually;
use common::hooked_store::{HookedStore, ReadHook};
use common::managed_node::{create_and_deploy, mock_api};

const WAIT: Duration = Duration::from_secs(60);

/// Switches the store's reads off (`Unavailable`) while writes go on, as another node's would.
#[derive(Default)]
struct Outage {
    down: AtomicBool,
}

impl ReadHook for Outage {
    fn before_read(&self, _inner: &MemoryStore) -> Result<(), StoreError> {
        if self.down.load(Ordering::Relaxed) {
            Err(StoreError::Unavailable("switched off".to_owned()))
        } else {
            Ok(())
        }
    }
}

fn api_ids(config: &Config) -> Vec<String> {
    config.apis.iter().map(|api| api.id.clone()).collect()
}

#[test]
fn applies_changes_once_refuses_invalid_content_and_rides_out_an_outage() {
    let file = config::load_str(
        "gateway: { adminListen: 127.0.0.1:18082 }\napis: []\nmanagement: { store: { pollIntervalMs: 50 } }\n",
        "t",
    )
    .unwrap();
    let store = Arc::new(HookedStore::<Outage>::default());
    let metrics = Arc::new(FollowerMetrics::default());
    let applied: Arc<Mutex<Vec<Config>>> = Arc::default();
    let record = applied.clone();
    let follower = Follower::start(
        FollowerSetup {
            store: store.clone(),
            gateway: json!({"adminListen": "127.0.0.1:18082"}),
            management: file.management.clone().unwrap(),
            applied_generation: Some(store.generation().unwrap()),
            metrics: metrics.clone(),
        },
        Box::new(move |config| {
            record.lock().unwrap().push(config);
            Ok(())
        }),
    )
    .unwrap();
    let count = || applied.lock().unwrap().len();
    let last_ids = || api_ids(applied.lock().unwrap().last().unwrap());

    create_and_deploy(store.as_ref(), &mock_api("orders", "/orders"));
    assert!(eventually(WAIT, || count() >= 1));
    assert_eq!(last_ids(), vec!["orders"]);
    let config = applied.lock().unwrap().last().unwrap().clone();
    assert!(
        config.management.is_some(),
        "the node's management section is kept"
    );
    // Nothing written: nothing applied again (several polls pass).
    let applies = count();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(count(), applies);

    // A deployed definition that does not validate is refused and counted, never applied.
    let mut bad = mock_api("bad", "/orders"); // the same context path as `orders`
    bad["name"] = json!("bad");
    create_and_deploy(store.as_ref(), &bad);
    assert!(eventually(WAIT, || metrics
        .apply_failures_total
        .load(Ordering::Relaxed)
        == 1));
    assert_eq!(count(), applies);
    let doc = store.get(Kind::Api, "bad").unwrap().unwrap();
    store
        .delete(
            Kind::Api,
            "bad",
            doc.version,
            &AuditEvent::now("t", "api.delete", "api:bad"),
        )
        .unwrap();
    // The store is back to what the node runs: its generation is taken, nothing applied again.
    let generation = store.generation().unwrap();
    assert!(eventually(WAIT, || metrics
        .generation_applied
        .load(Ordering::Relaxed)
        == generation));
    assert_eq!(count(), applies);

    // Outage: nothing applied, store_up 0; back: caught up, store_up 1.
    store.hook.down.store(true, Ordering::Relaxed);
    create_and_deploy(store.as_ref(), &mock_api("stock", "/stock"));
    assert!(eventually(WAIT, || metrics
        .store_up
        .load(Ordering::Relaxed)
        == 0));
    assert_eq!(count(), applies);
    store.hook.down.store(false, Ordering::Relaxed);
    assert!(eventually(WAIT, || last_ids() == vec!["orders", "stock"]));
    assert_eq!(metrics.store_up.load(Ordering::Relaxed), 1);
    drop(follower);
}
