//! A shard's side of a live apply: when the deployment set's version changes, the shard builds
//! its new routing table on its own runtime and swaps it in.
//!
//! - An API whose definition did not change keeps the same `Rc<Api>` (nothing of it is touched).
//! - A new or changed API gets a new `Rc<Api>`; it shares the previous version's endpoint when the
//!   endpoint's configuration is unchanged (same broker connection, same in-memory topic side),
//!   else gets a new one, started at once.
//! - A previous version no longer routed is drained (`deployed::drain`): all of its entrypoints when
//!   the API was stopped or removed, or when its endpoint changed; otherwise only the entrypoint
//!   types the new definition no longer declares. Streams of the entrypoints it still declares stay
//!   on the previous version (its options, its shared endpoint) until they end or reconnect.
//! - An endpoint no routed API uses any more is closed (MQTT: DISCONNECT).
//! - The push subscriptions' runners follow the new set (`webhook::live`).

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use std::sync::Arc;

use super::deployment::Deployments;
use super::shard::RunningShard;
use crate::config::{ApiState, EntrypointConfig};
use crate::deployed::drain::{REDEPLOYED, STOPPED};
use crate::deployed::SharedEndpoint;
use crate::deployed::{Api, Router};
use crate::endpoint::kafka::KafkaLocals;
use crate::endpoint::{Endpoint, EndpointContext, LocalTopic};
use crate::observe::api_metrics::EntrypointKind;
use crate::shard::{LocalSignal, Shard};

/// The entrypoint kinds a drain can end.
const KINDS: [EntrypointKind; 4] = [
    EntrypointKind::HttpGet,
    EntrypointKind::HttpPost,
    EntrypointKind::Sse,
    EntrypointKind::WebSocket,
];

/// One shard's view of the deployment set.
pub struct ShardDeployer {
    deployments: Arc<Deployments>,
    /// What endpoints are built from (its MQTT feeds replaced with each version's).
    context: RefCell<EndpointContext>,
    /// The version this shard serves.
    applied: Cell<u64>,
    /// Earlier versions of APIs no longer routed, whose kept streams may still run on them.
    superseded: RefCell<Vec<Weak<Api>>>,
}

impl ShardDeployer {
    /// A deployer that has applied nothing yet.
    pub fn new(deployments: Arc<Deployments>, context: EndpointContext) -> ShardDeployer {
        ShardDeployer {
            deployments,
            context: RefCell::new(context),
            applied: Cell::new(0),
            superseded: RefCell::new(Vec::new()),
        }
    }
}

/// The shard task that applies every new version as soon as it is published, until shutdown.
pub(super) async fn follow(running: Rc<RunningShard>) {
    let shard = &running.shard;
    let doorbell = running.deployer.deployments.doorbell(shard.id);
    loop {
        monoio::select! {
            _ = shard.shutdown.wait() => return,
            _ = doorbell.rung() => {}
        }
        apply_current(&running, true);
    }
}

/// Swaps in the current version if this shard does not serve it yet. `live`: the shard is
/// running, so new endpoints start now (at build time `shard::run` starts them).
pub(super) fn apply_current(running: &RunningShard, live: bool) {
    let (shard, deployer) = (&running.shard, &running.deployer);
    let deployment = deployer.deployments.current();
    if deployment.version == deployer.applied.get() {
        return;
    }
    {
        let mut topics = shard.topics.borrow_mut();
        topics.retain(|name, _| deployment.topics.iter().any(|log| log.name() == name));
        for log in &deployment.topics {
            if !topics.contains_key(log.name()) {
                let policy = shard.gateway.outbound.slow_client_policy;
                let local = LocalTopic::new(shard.id, log.clone(), policy, shard.metrics.clone());
                topics.insert(log.name().to_owned(), Rc::new(local));
            }
        }
    }
    {
        let mut context = deployer.context.borrow_mut();
        context.mqtt_feeds = deployment.mqtt_feeds.clone();
        if let Some((link, plan)) = &deployment.late_kafka {
            if !context.kafka.is_linked() {
                let policy = shard.gateway.outbound.slow_client_policy;
                context.kafka = KafkaLocals::new(
                    shard.id,
                    Some(link.clone()),
                    plan.clone(),
                    policy,
                    shard.metrics.clone(),
                );
            }
        }
    }
    let old = shard.router();
    let mut apis: Vec<Rc<Api>> = Vec::new();
    let started = deployment
        .apis
        .iter()
        .filter(|api| api.state == ApiState::Started);
    for config in started {
        let previous = old.api(&config.id);
        if let Some(previous) = previous.filter(|previous| previous.config == *config) {
            apis.push(previous.clone());
            continue;
        }
        let shared = previous.filter(|previous| previous.config.endpoint == config.endpoint);
        let endpoint = match shared {
            Some(previous) => previous.shared_endpoint.clone(),
            None => {
                let close = Rc::new(LocalSignal::new());
                let context = deployer.context.borrow();
                let topics = shard.topics.borrow();
                let endpoint =
                    Endpoint::new(&config.endpoint, &config.id, &topics, &context, &close);
                if live {
                    endpoint.start();
                }
                SharedEndpoint {
                    endpoint: Rc::new(endpoint),
                    close,
                }
            }
        };
        let series = shard.observer.api_metrics.register(config);
        apis.push(Rc::new(Api::new(config, series, endpoint)));
    }
    // Every earlier version still alive: the routed ones and those kept streams still use.
    let mut earlier: Vec<Rc<Api>> = old.apis().cloned().collect();
    earlier.extend(
        deployer
            .superseded
            .borrow()
            .iter()
            .filter_map(Weak::upgrade),
    );
    let mut superseded = Vec::new();
    for previous in earlier {
        if apis.iter().any(|api| Rc::ptr_eq(api, &previous)) {
            continue;
        }
        let endpoint_used = apis
            .iter()
            .any(|api| Rc::ptr_eq(&api.endpoint, &previous.endpoint));
        match apis.iter().find(|api| api.id == previous.id) {
            None => previous.drain.retire_all(STOPPED),
            Some(_) if !endpoint_used => previous.drain.retire_all(REDEPLOYED),
            Some(next) => {
                for kind in KINDS
                    .into_iter()
                    .filter(|kind| !declares(&next.config.entrypoints, *kind))
                {
                    previous.drain.retire(kind, REDEPLOYED);
                }
            }
        }
        if !endpoint_used {
            previous.shared_endpoint.close.fire();
        }
        if KINDS.iter().any(|kind| !previous.drain.is_retired(*kind)) {
            superseded.push(Rc::downgrade(&previous));
        }
    }
    *deployer.superseded.borrow_mut() = superseded;
    *shard.router.borrow_mut() = Rc::new(Router::new(&apis));
    crate::webhook::follow(shard, &deployment.push, live);
    deployer.applied.set(deployment.version);
    deployer
        .deployments
        .acknowledge(shard.id, deployment.version);
    tracing::debug!(
        shard = shard.id,
        version = deployment.version,
        "deployment applied"
    );
}

/// Closes the broker connections of every routed API's endpoint (at shutdown).
pub(super) fn close_endpoints(shard: &Shard) {
    for api in shard.router().apis() {
        api.shared_endpoint.close.fire();
    }
}

fn declares(entrypoints: &[EntrypointConfig], kind: EntrypointKind) -> bool {
    entrypoints.iter().any(|entrypoint| {
        let declared = match entrypoint {
            EntrypointConfig::HttpGet(_) => EntrypointKind::HttpGet,
            EntrypointConfig::HttpPost(_) => EntrypointKind::HttpPost,
            EntrypointConfig::Sse(_) => EntrypointKind::Sse,
            EntrypointConfig::WebSocket(_) => EntrypointKind::WebSocket,
            // Push deliveries hold no client connection to drain.
            EntrypointConfig::Webhook(_) => return false,
        };
        kind == declared
    })
}
