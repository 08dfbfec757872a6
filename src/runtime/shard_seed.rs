//! Everything one shard thread needs, gathered on the main thread and moved into the thread,
//! where the shard's endpoints, router and state are built on its own runtime. The node-wide
//! handles travel as one [`ShardHandles`], which the built [`Shard`] keeps as it is.

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::{mpsc, Arc};

use super::deployment::Deployments;
use super::shard::{self, RunningShard, ShardListeners};
use super::shard_apply::{self, ShardDeployer};
use std::cell::RefCell;

use crate::config::Config;
use crate::cross_shard::kafka_link::KafkaLink;
use crate::cross_shard::{GatewayHealth, Signal};
use crate::delivery::ReplyBudget;
use crate::deployed::Router;
use crate::endpoint::kafka::{KafkaLocals, KafkaPlan};
use crate::endpoint::{EndpointContext, LocalTopics};
use crate::observe::api_metrics::ApiMetrics;
use crate::observe::log_writer::AccessLogSink;
use crate::observe::{ShardAccessLog, ShardObserver};
use crate::security::ShardSecurity;
use crate::shard::supervisor::{self, Supervisor};
use crate::shard::{
    panic_message, run_on_driver, Alarms, Driver, LocalSignal, Shard, ShardHandles,
};
use crate::webhook::ShardWebhooks;

/// One shard before it runs.
pub(super) struct ShardSeed {
    /// Its handles to node-wide state (id, counters, doorbell, rate limiter, security registry,
    /// webhook node), kept in the shard.
    pub(super) handles: ShardHandles,
    pub(super) config: Config,
    pub(super) listeners: ShardListeners,
    /// This shard's per-API metrics.
    pub(super) api_metrics: Arc<ApiMetrics>,
    /// The access log's queue, when enabled.
    pub(super) access_log: Option<AccessLogSink>,
    pub(super) stop: Arc<Signal>,
    /// Where the shard's supervisor reports a dead shard.
    pub(super) health: Arc<GatewayHealth>,
    /// The deployed APIs and their node-wide resources (topic logs, MQTT feeds).
    pub(super) deployments: Arc<Deployments>,
    /// The Kafka bridge, when an API uses Kafka.
    pub(super) kafka_link: Option<KafkaLink>,
    pub(super) kafka_plan: Arc<KafkaPlan>,
    /// The core to pin the thread to (`gateway.pinShards`).
    pub(super) core: Option<core_affinity::CoreId>,
}

impl ShardSeed {
    /// Runs the shard on this thread until it stops; `started` hears which driver it got (or
    /// why it could not start). A panic that escapes the supervisor (in building the shard, or
    /// in a task spawned around it) still reports the shard dead instead of ending it silently.
    pub(super) fn run(self, started: mpsc::Sender<(usize, std::io::Result<Driver>)>) {
        let (id, health) = (self.handles.id, self.health.clone());
        // AssertUnwindSafe: after a panic nothing of the shard is used again; the thread ends.
        let ran =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.run_shard(started)));
        if let Err(payload) = ran {
            let panic = panic_message(payload.as_ref());
            tracing::error!(shard = id, %panic, "a shard thread panicked; the shard is down");
            health.report_dead(id, "shard thread");
        }
    }

    fn run_shard(self, started: mpsc::Sender<(usize, std::io::Result<Driver>)>) {
        if let Some(core) = self.core {
            core_affinity::set_for_current(core);
        }
        let id = self.handles.id;
        run_on_driver(
            self.config.gateway.driver,
            |result| {
                let _ = started.send((id, result));
            },
            move || {
                let (running, listeners, stop) = self.grow();
                shard::run(running, listeners, stop)
            },
        );
    }

    /// Builds the shard's state on its runtime: Kafka sides, then local topics, endpoints and
    /// router from the deployment in force.
    fn grow(self) -> (Rc<RunningShard>, ShardListeners, Arc<Signal>) {
        let handles = self.handles;
        let policy = self.config.gateway.outbound.slow_client_policy;
        let kafka = KafkaLocals::new(
            handles.id,
            self.kafka_link,
            self.kafka_plan,
            policy,
            handles.metrics.clone(),
        );
        let context = EndpointContext {
            shard: handles.id,
            metrics: handles.metrics.clone(),
            policy,
            shutdown: Rc::new(LocalSignal::new()),
            kafka,
            mqtt_feeds: HashMap::new(),
        };
        let shutdown = context.shutdown.clone();
        supervisor::install(Supervisor {
            shard: handles.id,
            metrics: handles.metrics.clone(),
            health: self.health,
            shutdown: context.shutdown.clone(),
        });
        let access_log = self
            .access_log
            .map(|sink| ShardAccessLog::new(sink, &self.config.gateway.access_log));
        let webhooks = ShardWebhooks::new(handles.webhook_node.clone());
        let security = Rc::new(ShardSecurity::new(handles.registry.clone()));
        let gateway = self.config.gateway;
        let reply_budget = ReplyBudget::new(
            gateway.limits.max_get_reply_bytes_per_shard,
            handles.metrics.clone(),
        );
        let shard = Rc::new(Shard {
            handles,
            gateway,
            router: RefCell::new(Rc::new(Router::new(&[]))),
            topics: RefCell::new(LocalTopics::new()),
            shutdown,
            alarms: Rc::new(Alarms::new()),
            reply_budget,
            observer: ShardObserver {
                api_metrics: self.api_metrics,
                access_log,
            },
            security,
            webhooks,
        });
        let deployer = ShardDeployer::new(self.deployments, context);
        let running = Rc::new(RunningShard::new(shard, deployer));
        shard_apply::apply_current(&running, false);
        (running, self.listeners, self.stop)
    }
}
