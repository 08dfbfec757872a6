//! The node-wide deployment set: which APIs the shards serve, with the node-wide resources they
//! need, as one immutable, versioned snapshot replaced as a whole by a live apply (like
//! `security::Registry`).
//!
//! The resources are created here, off the shards, before the snapshot is published: in-memory
//! topic logs (kept by topic name across versions, so an in-memory topic's retained messages
//! survive a redeploy) and MQTT node feeds (kept by API id while the API's endpoint is unchanged).
//! Publishing rings every shard's deployment doorbell; each shard swaps its routing table on its
//! own runtime (`shard_apply`) and acknowledges the version, which `Gateway::apply` waits for.

#![allow(
    clippy::disallowed_types,
    reason = "live apply publishes a new snapshot off the shards; a shard takes the read lock once per new version (an atomic compare otherwise)"
)]
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::config::{ApiConfig, ApiState, Config, EndpointConfig, SubscriptionConfig};
use crate::cross_shard::kafka_link::KafkaLink;
use crate::cross_shard::mqtt_feed::MqttFeed;
use crate::cross_shard::{Doorbell, GatewayHealth, TopicLog};
use crate::endpoint::kafka::KafkaPlan;

/// How often `wait_applied` looks at the shards' acknowledgements.
const ACK_POLL: Duration = Duration::from_millis(2);

/// One version of the deployed API set.
pub struct Deployment {
    /// Bumped by every publish; the first is 1.
    pub version: u64,
    /// Every API of the set, started or stopped, in configuration order.
    pub apis: Vec<ApiConfig>,
    /// Every in-memory topic the set names.
    pub topics: Vec<Arc<TopicLog>>,
    /// Every MQTT consumer's node feed, by API id.
    pub mqtt_feeds: HashMap<String, Arc<MqttFeed>>,
    /// The push subscriptions of the set: each shard runs the webhook deliveries of those it
    /// owns (`webhook::live`).
    pub push: Vec<SubscriptionConfig>,
    /// The Kafka bridge a live apply started (the gateway started without Kafka APIs), for the
    /// shards to link to.
    pub late_kafka: Option<(KafkaLink, Arc<KafkaPlan>)>,
}

/// The current deployment and the shards' progress towards it.
pub struct Deployments {
    current: RwLock<Arc<Deployment>>,
    version: AtomicU64,
    /// The version each shard serves now.
    applied: Vec<AtomicU64>,
    /// Rung when a version is published (one per shard).
    doorbells: Vec<Arc<Doorbell>>,
    /// The shards' topic doorbells, which every topic log rings.
    topic_doorbells: Vec<Arc<Doorbell>>,
    /// Spreads the owners of new MQTT feeds over the shards.
    next_owner: AtomicUsize,
    /// One apply at a time (the store follower and SIGHUP may race).
    pub(super) apply_lock: Mutex<()>,
}

impl Deployments {
    /// Version 1: the APIs and push subscriptions of the configuration the gateway starts with.
    pub fn new(config: &Config, topic_doorbells: Vec<Arc<Doorbell>>) -> Arc<Deployments> {
        let shards = topic_doorbells.len();
        let deployments = Deployments {
            current: RwLock::new(Arc::new(Deployment {
                version: 0,
                apis: Vec::new(),
                topics: Vec::new(),
                mqtt_feeds: HashMap::new(),
                push: Vec::new(),
                late_kafka: None,
            })),
            version: AtomicU64::new(0),
            applied: (0..shards).map(|_| AtomicU64::new(0)).collect(),
            doorbells: (0..shards).map(|_| Doorbell::new()).collect(),
            topic_doorbells,
            next_owner: AtomicUsize::new(0),
            apply_lock: Mutex::new(()),
        };
        let mut first = deployments.next(&config.apis);
        first.push = push_subscriptions(config);
        deployments.publish(first);
        Arc::new(deployments)
    }

    /// The deployment in force.
    pub fn current(&self) -> Arc<Deployment> {
        self.current
            .read()
            .unwrap_or_else(|poison| poison.into_inner())
            .clone()
    }

    /// The version in force (one atomic load: what shards compare on each doorbell).
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// Shard `shard`'s deployment doorbell.
    pub fn doorbell(&self, shard: usize) -> Arc<Doorbell> {
        self.doorbells[shard].clone()
    }

    /// The next version for `apis`, with its resources: the current version's topic logs and
    /// MQTT feeds where they still fit, new ones where needed, and the current push
    /// subscriptions. Not yet in force.
    pub fn next(&self, apis: &[ApiConfig]) -> Deployment {
        let current = self.current();
        let shards = self.applied.len();
        let mut topics: Vec<Arc<TopicLog>> = Vec::new();
        let mut mqtt_feeds = HashMap::new();
        for api in apis {
            match &api.endpoint {
                EndpointConfig::InMemory(options) => {
                    if topics.iter().any(|log| log.name() == options.topic) {
                        continue;
                    }
                    // Kept by name: its retained messages outlive any redeploy (a new retention
                    // for an existing topic takes effect at the next restart).
                    let kept = current
                        .topics
                        .iter()
                        .find(|log| log.name() == options.topic);
                    topics.push(kept.cloned().unwrap_or_else(|| {
                        Arc::new(TopicLog::new(
                            &options.topic,
                            options.max_retained_messages,
                            options.max_retained_bytes,
                            &self.topic_doorbells,
                        ))
                    }));
                }
                EndpointConfig::Mqtt(options) => {
                    // A stopped API holds no broker subscription: starting it again makes a
                    // new feed.
                    let Some(consumer) = options
                        .consumer
                        .as_ref()
                        .filter(|_| api.state == ApiState::Started)
                    else {
                        continue;
                    };
                    let unchanged = current
                        .apis
                        .iter()
                        .any(|old| old.id == api.id && old.endpoint == api.endpoint);
                    let kept = current.mqtt_feeds.get(&api.id).filter(|_| unchanged);
                    let feed = kept.cloned().unwrap_or_else(|| {
                        let owner = self.next_owner.fetch_add(1, Ordering::Relaxed) % shards;
                        Arc::new(MqttFeed::new(
                            &api.id,
                            consumer.max_retained_messages,
                            consumer.max_retained_bytes,
                            shards,
                            owner,
                            consumer.acknowledge_after_delivery,
                        ))
                    });
                    mqtt_feeds.insert(api.id.clone(), feed);
                }
                _ => {}
            }
        }
        Deployment {
            version: 0,
            apis: apis.to_vec(),
            topics,
            mqtt_feeds,
            push: current.push.clone(),
            late_kafka: current.late_kafka.clone(),
        }
    }

    /// Puts `deployment` in force under the next version and rings every shard; returns it.
    pub fn publish(&self, mut deployment: Deployment) -> u64 {
        let mut current = self
            .current
            .write()
            .unwrap_or_else(|poison| poison.into_inner());
        let version = current.version + 1;
        deployment.version = version;
        *current = Arc::new(deployment);
        self.version.store(version, Ordering::Release);
        drop(current);
        for doorbell in &self.doorbells {
            doorbell.ring();
        }
        version
    }

    /// Shard `shard` serves `version` now.
    pub fn acknowledge(&self, shard: usize, version: u64) {
        self.applied[shard].fetch_max(version, Ordering::AcqRel);
    }

    /// Waits until every live shard serves `version` (a dead shard serves nothing), up to
    /// `timeout`; false when the time ran out.
    pub fn wait_applied(&self, version: u64, health: &GatewayHealth, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let dead = health.snapshot().dead;
            let behind = self.applied.iter().enumerate().any(|(shard, applied)| {
                applied.load(Ordering::Acquire) < version
                    && dead.iter().all(|fault| fault.shard != shard)
            });
            if !behind {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(ACK_POLL);
        }
    }
}

/// The push subscriptions of `config` (those a webhook entrypoint delivers).
pub(super) fn push_subscriptions(config: &Config) -> Vec<SubscriptionConfig> {
    config
        .subscriptions
        .iter()
        .filter(|subscription| subscription.push.is_some())
        .cloned()
        .collect()
}
