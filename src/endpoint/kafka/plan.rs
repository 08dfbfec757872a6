//! Which feeds and producers the bridge runs, derived once from the configuration.
//!
//! APIs whose consumers are configured identically (same brokers, security, topics, buffer)
//! share one feed, so a topic read by two such APIs is still fetched once per node; producers
//! are shared the same way.

use std::time::Duration;

use crate::config::kafka::{
    Compression, KafkaConsumer, KafkaOptions, KafkaProducer, KafkaSecurity,
};
use crate::config::push_model::DeadLetterTarget;
use crate::config::{ApiState, Config, EndpointConfig};

/// How long a dead letter waits for the brokers' acknowledgement when the API has no producer
/// (the producer's `requestTimeoutMs` default).
const DEAD_LETTER_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The brokers and how to reach them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Brokers {
    /// `bootstrapServers`, as `host:port`: where the first connection goes.
    pub servers: Vec<String>,
    /// TLS and SASL, as configured (APIs share a feed or producer only with the same).
    pub security: KafkaSecurity,
}

/// One consumed feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedSpec {
    /// The brokers it is fetched from.
    pub brokers: Brokers,
    /// What it reads and how: topics, consumer group, node buffer bounds, offset reset.
    pub consumer: KafkaConsumer,
}

/// One producer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerSpec {
    /// The brokers it writes to.
    pub brokers: Brokers,
    /// The topic it writes to, its compression and how long a record may wait for the brokers.
    pub producer: KafkaProducer,
}

/// Every feed and producer of a configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KafkaPlan {
    /// By feed index.
    pub feeds: Vec<FeedSpec>,
    /// By producer index.
    pub producers: Vec<ProducerSpec>,
}

fn brokers(options: &KafkaOptions) -> Brokers {
    Brokers {
        servers: options.bootstrap_servers.clone(),
        security: options.security.clone(),
    }
}

impl KafkaPlan {
    /// The plan of `config`'s started and stopped APIs alike (indices stay stable).
    pub fn new(config: &Config) -> KafkaPlan {
        let mut plan = KafkaPlan::default();
        for api in &config.apis {
            let EndpointConfig::Kafka(options) = &api.endpoint else {
                continue;
            };
            if let Some(consumer) = &options.consumer {
                let spec = FeedSpec {
                    brokers: brokers(options),
                    consumer: consumer.clone(),
                };
                if !plan.feeds.contains(&spec) {
                    plan.feeds.push(spec);
                }
            }
            if let Some(producer) = &options.producer {
                let spec = ProducerSpec {
                    brokers: brokers(options),
                    producer: producer.clone(),
                };
                if !plan.producers.contains(&spec) {
                    plan.producers.push(spec);
                }
            }
        }
        // Push subscriptions' Kafka dead-letter topics, on their API's brokers.
        for subscription in &config.subscriptions {
            let Some(DeadLetterTarget::Kafka { topic }) = subscription
                .push
                .as_ref()
                .and_then(|push| push.dlq.as_ref())
            else {
                continue;
            };
            let api = config.apis.iter().find(|api| api.id == subscription.api);
            if let Some(EndpointConfig::Kafka(options)) = api.map(|api| &api.endpoint) {
                plan.add_dead_letter_topic(options, topic);
            }
        }
        plan
    }

    /// Adds a producer for webhook dead letters to `topic` on the brokers of an API configured
    /// with `options` (unless one writes there already); it takes the API producer's settings
    /// when the API has one.
    pub fn add_dead_letter_topic(&mut self, options: &KafkaOptions, topic: &str) {
        let brokers = brokers(options);
        if self.topic_producer(&brokers, topic).is_some() {
            return;
        }
        let producer = KafkaProducer {
            topic: topic.to_owned(),
            ..options.producer.clone().unwrap_or(KafkaProducer {
                topic: String::new(),
                compression: Compression::None,
                request_timeout: DEAD_LETTER_REQUEST_TIMEOUT,
            })
        };
        self.producers.push(ProducerSpec { brokers, producer });
    }

    /// The producer writing `topic` on the brokers of an API configured with `options`.
    pub fn dead_letter_producer(&self, options: &KafkaOptions, topic: &str) -> Option<usize> {
        self.topic_producer(&brokers(options), topic)
    }

    fn topic_producer(&self, brokers: &Brokers, topic: &str) -> Option<usize> {
        self.producers
            .iter()
            .position(|spec| spec.brokers == *brokers && spec.producer.topic == topic)
    }

    /// True when no API uses Kafka.
    pub fn is_empty(&self) -> bool {
        self.feeds.is_empty() && self.producers.is_empty()
    }

    /// The feed of an API configured with `options`.
    pub fn feed_index(&self, options: &KafkaOptions) -> Option<usize> {
        let consumer = options.consumer.as_ref()?;
        let brokers = brokers(options);
        self.feeds
            .iter()
            .position(|spec| spec.brokers == brokers && spec.consumer == *consumer)
    }

    /// Per feed: whether an API of `config` that is started reads it. The others do not fetch
    /// (a feed whose APIs were all removed or stopped stops, leaving its consumer group, and
    /// starts again when one is deployed or started).
    pub fn feeds_in_use(&self, config: &Config) -> Vec<bool> {
        let mut used = vec![false; self.feeds.len()];
        for api in config
            .apis
            .iter()
            .filter(|api| api.state == ApiState::Started)
        {
            let EndpointConfig::Kafka(options) = &api.endpoint else {
                continue;
            };
            if let Some(index) = self.feed_index(options) {
                used[index] = true;
            }
        }
        used
    }

    /// The producer of an API configured with `options`.
    pub fn producer_index(&self, options: &KafkaOptions) -> Option<usize> {
        let producer = options.producer.as_ref()?;
        let brokers = brokers(options);
        self.producers
            .iter()
            .position(|spec| spec.brokers == brokers && spec.producer == *producer)
    }
}
