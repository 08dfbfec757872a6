//! Store content the node refuses is refused (logged, counted) once, not again under every newer
//! generation that shows the same content: neither when a write lands between the follower's two
//! reads (the generation, then the content: the refused content shows up under the older
//! generation, then again under the newer one), nor when a write that leaves the desired content
//! as it was (an undeployed draft) moves the generation. `management_follower` failed under load
//! on the first: it saw `apply_failures_total` 2 for one bad deployment.

#![allow(
    clippy::disallowed_types,
    reason = "a test: its clients and fakes run on plain threads, never on a shard"
)]
mod common;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tidegate::config::{self, Config};
use tidegate::manage::follower::{Follower, FollowerMetrics, FollowerSetup};
use tidegate::manage::store::{target, AuditEvent, Kind, MemoryStore, Store};

use common::eventually;
use common::hooked_store::{HookedStore, ReadHook};
use common::managed_node::{create_and_deploy, mock_api};

const WAIT: Duration = Duration::from_secs(60);

type Write = Box<dyn FnOnce(&MemoryStore) + Send>;

/// Runs a write, once armed, right after the follower read a generation at least the armed
/// one: the race between the two reads, every time.
#[derive(Default)]
struct WriteBetweenReads {
    armed: Mutex<Option<(u64, Write)>>,
    /// Every generation the follower read, in order.
    reads: Mutex<Vec<u64>>,
}

impl ReadHook for WriteBetweenReads {
    fn after_generation(&self, inner: &MemoryStore, generation: u64) {
        let mut armed = self.armed.lock().unwrap();
        self.reads.lock().unwrap().push(generation);
        if armed.as_ref().is_some_and(|(from, _)| generation >= *from) {
            let (_, write) = armed.take().unwrap();
            write(inner);
        }
    }
}

impl WriteBetweenReads {
    /// True once the follower finished a poll that read `generation` or a newer one (it read
    /// the generation again after that poll).
    fn polled(&self, generation: u64) -> bool {
        let reads = self.reads.lock().unwrap();
        reads.iter().filter(|&&read| read >= generation).count() >= 2
    }
}

/// An API document for `definition`, not deployed yet.
fn body(definition: &Value) -> Value {
    json!({
        "definition": definition,
        "lifecycleState": "published",
        "visibility": "public",
        "state": "started",
        "deployedRevision": null,
    })
}

/// Creates the API (the generation moves, the desired content does not); returns its version.
fn create(store: &dyn Store, definition: &Value) -> u64 {
    let id = definition["id"].as_str().unwrap();
    let audit = AuditEvent::now("t", "api.create", &target(Kind::Api, id));
    let created = store.put(Kind::Api, id, &body(definition), None, &audit);
    created.unwrap().version
}

fn deploy(store: &dyn Store, definition: &Value, version: u64) {
    let id = definition["id"].as_str().unwrap();
    let audit = AuditEvent::now("t", "api.deploy", &target(Kind::Api, id));
    store
        .deploy(id, &body(definition), version, None, &audit)
        .unwrap();
}

#[test]
fn refused_content_is_refused_once_whatever_moves_the_generation() {
    let file = config::load_str(
        "apis: []\nmanagement: { store: { pollIntervalMs: 50 } }\n",
        "t",
    )
    .unwrap();
    let store = Arc::new(HookedStore::<WriteBetweenReads>::default());
    let metrics = Arc::new(FollowerMetrics::default());
    let applied: Arc<Mutex<Vec<Config>>> = Arc::default();
    let record = applied.clone();
    let follower = Follower::start(
        FollowerSetup {
            store: store.clone(),
            gateway: Value::Null,
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
    let failures = || metrics.apply_failures_total.load(Ordering::Relaxed);

    create_and_deploy(store.as_ref(), &mock_api("orders", "/orders"));
    assert!(eventually(WAIT, || count() == 1));

    // `bad` (the same context path as `orders`) is created, and deployed between the follower's
    // read of the generation that created it and its read of the content.
    let mut bad = mock_api("bad", "/orders");
    bad["name"] = json!("bad");
    {
        let mut armed = store.hook.armed.lock().unwrap();
        let version = create(&store.inner, &bad);
        let created = store.inner.generation().unwrap();
        *armed = Some((created, Box::new(move |inner| deploy(inner, &bad, version))));
    }
    assert!(eventually(WAIT, || failures() >= 1));
    // A draft while the bad deployment stays: a newer generation, the same desired content.
    create(store.as_ref(), &mock_api("draft", "/draft"));
    let draft = store.inner.generation().unwrap();
    assert!(eventually(WAIT, || store.hook.polled(draft)));

    // Back to what the node runs: once that generation is taken, every earlier one was seen.
    let doc = store.get(Kind::Api, "bad").unwrap().unwrap();
    let audit = AuditEvent::now("t", "api.delete", "api:bad");
    store.delete(Kind::Api, "bad", doc.version, &audit).unwrap();
    let generation = store.generation().unwrap();
    assert!(eventually(WAIT, || metrics
        .generation_applied
        .load(Ordering::Relaxed)
        == generation));
    assert_eq!(failures(), 1, "one bad deployment, refused once");
    assert_eq!(count(), 1, "nothing applied but `orders`");
    drop(follower);
}
