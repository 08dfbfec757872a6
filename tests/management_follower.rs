//! The follower on its own, with a recording applier: it applies what the store deploys (and
//! only when the generation moves), refuses content that does not validate, and during a store
//! outage applies nothing, reads `store_up` 0, then catches up.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tidegate::config::{self, Config};
use tidegate::manage::follower::{Follower, FollowerMetrics, FollowerSetup};
use tidegate::manage::store::{
    AuditEvent, Bound, Document, Kind, MemoryStore, Revision, Store, StoreError,
};

use common::eventually;
use common::managed_node::{create_and_deploy, mock_api};

const WAIT: Duration = Duration::from_secs(60);

/// A memory store that can be switched off (every call `Unavailable`).
#[derive(Default)]
struct Switchable {
    inner: MemoryStore,
    down: AtomicBool,
}

impl Switchable {
    fn check(&self) -> Result<(), StoreError> {
        if self.down.load(Ordering::Relaxed) {
            Err(StoreError::Unavailable("switched off".to_owned()))
        } else {
            Ok(())
        }
    }
}

impl Store for Switchable {
    fn generation(&self) -> Result<u64, StoreError> {
        self.check()?;
        self.inner.generation()
    }
    fn list(&self, kind: Kind) -> Result<Vec<Document>, StoreError> {
        self.check()?;
        self.inner.list(kind)
    }
    fn get(&self, kind: Kind, id: &str) -> Result<Option<Document>, StoreError> {
        self.inner.get(kind, id)
    }
    fn put(
        &self,
        kind: Kind,
        id: &str,
        body: &Value,
        expected: Option<u64>,
        audit: &AuditEvent,
    ) -> Result<Document, StoreError> {
        self.inner.put(kind, id, body, expected, audit)
    }
    fn create_bounded(
        &self,
        kind: Kind,
        id: &str,
        body: &Value,
        bound: Bound<'_>,
        audit: &AuditEvent,
    ) -> Result<Document, StoreError> {
        self.inner.create_bounded(kind, id, body, bound, audit)
    }
    fn delete(
        &self,
        kind: Kind,
        id: &str,
        expected: u64,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.inner.delete(kind, id, expected, audit)
    }
    fn add_revision(
        &self,
        api: &str,
        definition: &Value,
        author: &str,
        comment: Option<&str>,
    ) -> Result<Revision, StoreError> {
        self.inner.add_revision(api, definition, author, comment)
    }
    fn deploy(
        &self,
        api: &str,
        body: &Value,
        expected: u64,
        comment: Option<&str>,
        audit: &AuditEvent,
    ) -> Result<(Revision, Document), StoreError> {
        self.inner.deploy(api, body, expected, comment, audit)
    }
    fn revisions(&self, api: &str) -> Result<Vec<Revision>, StoreError> {
        self.inner.revisions(api)
    }
    fn revision(&self, api: &str, number: u64) -> Result<Option<Revision>, StoreError> {
        self.check()?;
        self.inner.revision(api, number)
    }
    fn audit(&self, target: Option<&str>, limit: usize) -> Result<Vec<AuditEvent>, StoreError> {
        self.inner.audit(target, limit)
    }
    fn tokens(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.inner.tokens()
    }
    fn add_token(&self, name: &str, hash: &str) -> Result<(), StoreError> {
        self.inner.add_token(name, hash)
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
    let store = Arc::new(Switchable::default());
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
    store.down.store(true, Ordering::Relaxed);
    create_and_deploy(store.as_ref(), &mock_api("stock", "/stock"));
    assert!(eventually(WAIT, || metrics
        .store_up
        .load(Ordering::Relaxed)
        == 0));
    assert_eq!(count(), applies);
    store.down.store(false, Ordering::Relaxed);
    assert!(eventually(WAIT, || last_ids() == vec!["orders", "stock"]));
    assert_eq!(metrics.store_up.load(Ordering::Relaxed), 1);
    drop(follower);
}
