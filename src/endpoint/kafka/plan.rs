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
use crate::config::webhook::WebhookOptions;
use crate::config::{
    ApiConfig, ApiState, Config, EndpointConfig, EntrypointConfig, SubscriptionStatus,
};
use crate::cross_shard::kafka_link::KafkaInUse;

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
    /// How long a producer stays connected once no started API uses it, so that what was under
    /// way when its last API went finishes on it: a publish still queued for the bridge, a
    /// webhook try that ends in a dead letter. The longest `requestTimeoutMs`, plus the longest
    /// webhook try (`connectTimeout` + `readTimeout`) of a Kafka API.
    pub producer_linger: Duration,
}

fn brokers(options: &KafkaOptions) -> Brokers {
    Brokers {
        servers: options.bootstrap_servers.clone(),
        security: options.security.clone(),
    }
}

/// Every webhook subscription's Kafka dead-letter topic, with the id of the API subscribed to
/// (closed and rejected subscriptions left out: they deliver nothing).
fn kafka_dead_letter_topics(config: &Config) -> impl Iterator<Item = (&str, &str)> {
    config.subscriptions.iter().filter_map(|subscription| {
        if matches!(
            subscription.status,
            SubscriptionStatus::Closed | SubscriptionStatus::Rejected
        ) {
            return None;
        }
        match subscription.push.as_ref()?.dlq.as_ref()? {
            DeadLetterTarget::Kafka { topic } => Some((subscription.api.as_str(), topic.as_str())),
            _ => None,
        }
    })
}

/// The options of `api`'s webhook entrypoint, if it has one.
fn webhook_of(api: &ApiConfig) -> Option<&WebhookOptions> {
    api.entrypoints
        .iter()
        .find_map(|entrypoint| match entrypoint {
            EntrypointConfig::Webhook(options) => Some(options),
            _ => None,
        })
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
        for (api, topic) in kafka_dead_letter_topics(config) {
            let api = config.apis.iter().find(|candidate| candidate.id == api);
            if let Some(EndpointConfig::Kafka(options)) = api.map(|api| &api.endpoint) {
                plan.add_dead_letter_topic(options, topic);
            }
        }
        let longest_write = plan
            .producers
            .iter()
            .map(|spec| spec.producer.request_timeout)
            .max()
            .unwrap_or_default();
        let longest_try = config
            .apis
            .iter()
            .filter(|api| matches!(api.endpoint, EndpointConfig::Kafka(_)))
            .filter_map(|api| webhook_of(api))
            .map(|webhook| webhook.connect_timeout + webhook.read_timeout)
            .max()
            .unwrap_or_default();
        plan.producer_linger = longest_write + longest_try;
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

    /// The feeds and producers the started APIs of `config` use: a feed one reads, a producer
    /// one writes through, or its webhook subscriptions' dead letters do. The others hold no
    /// broker connection (a feed whose APIs were all removed or stopped stops, leaving its
    /// consumer group; a producer disconnects) and start again when an API using them is
    /// deployed or started.
    pub fn in_use(&self, config: &Config) -> KafkaInUse {
        let mut used = KafkaInUse {
            feeds: vec![false; self.feeds.len()],
            producers: vec![false; self.producers.len()],
        };
        let started_kafka = |id: &str| {
            config
                .apis
                .iter()
                .find(|api| api.id == id)
                .filter(|api| api.state == ApiState::Started)
                .and_then(|api| match &api.endpoint {
                    EndpointConfig::Kafka(options) => Some((api, options)),
                    _ => None,
                })
        };
        for api in config
            .apis
            .iter()
            .filter(|api| api.state == ApiState::Started)
        {
            let EndpointConfig::Kafka(options) = &api.endpoint else {
                continue;
            };
            if let Some(index) = self.feed_index(options) {
                used.feeds[index] = true;
            }
            if let Some(index) = self.producer_index(options) {
                used.producers[index] = true;
            }
        }
        for (api, topic) in kafka_dead_letter_topics(config) {
            // Only a subscription that has a runner writes dead letters (`webhook::live`).
            let index = started_kafka(api)
                .filter(|(api, _)| webhook_of(api).is_some())
                .and_then(|(_, options)| self.dead_letter_producer(options, topic));
            if let Some(index) = index {
                used.producers[index] = true;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Two started APIs sharing a feed and a producer, a stopped one with its own, and a webhook
    /// subscription dead-lettering to Kafka.
    fn config(orders_state: &str, dead_letter_api: &str) -> Config {
        let api = |id: &str, state: &str, topic: &str| {
            format!(
                "  - id: {id}\n    name: {id}\n    state: {state}\n    contextPaths: [/{id}]\n    entrypoints:\n      - type: http-get\n      - type: http-post\n      - type: webhook\n    endpoint:\n      type: kafka\n      configuration:\n        bootstrapServers: kafka:9092\n        consumer: {{ enabled: true, topics: [{topic}] }}\n        producer: {{ enabled: true, topics: [{topic}] }}\n    plans:\n      - {{ id: push, name: Push, security: keyless }}\n"
            )
        };
        let yaml = format!(
            "apis:\n{}{}{}applications:\n  - {{ id: app, name: App }}\nsubscriptions:\n  - id: hook\n    api: {dead_letter_api}\n    plan: push\n    application: app\n    type: push\n    configuration:\n      callbackUrl: https://hooks.example.com/in\n      dlq: {{ type: kafka, topic: dead }}\n",
            api("orders", orders_state, "orders"),
            api("orders-copy", orders_state, "orders"),
            api("audit", "stopped", "audit"),
        );
        crate::config::load_str(&yaml, "t").expect("valid")
    }

    /// `config` with its subscriptions closed.
    fn closed(mut config: Config) -> Config {
        for subscription in &mut config.subscriptions {
            subscription.status = SubscriptionStatus::Closed;
        }
        config
    }

    /// `config` with no webhook entrypoint.
    fn without_webhooks(mut config: Config) -> Config {
        for api in &mut config.apis {
            api.entrypoints
                .retain(|entrypoint| !matches!(entrypoint, EntrypointConfig::Webhook(_)));
        }
        config
    }

    #[test]
    fn the_feeds_and_producers_of_started_apis_and_their_dead_letters_are_in_use() {
        let started = config("started", "orders");
        let plan = KafkaPlan::new(&started);
        // orders (shared by two APIs) and audit; the dead letters' producer comes last.
        assert_eq!(plan.feeds.len(), 2);
        assert_eq!(plan.producers.len(), 3);
        let used = plan.in_use(&started);
        assert_eq!(used.feeds, [true, false]);
        assert_eq!(used.producers, [true, false, true]);

        // Everything stopped: nothing runs, the dead letters of a stopped API included.
        let stopped = config("stopped", "orders");
        let unused = plan.in_use(&stopped);
        assert_eq!(unused.feeds, [false, false]);
        assert_eq!(unused.producers, [false, false, false]);
        // A webhook to the stopped audit API does not keep its dead letters' producer either.
        let audit = config("started", "audit");
        assert_eq!(
            KafkaPlan::new(&audit).in_use(&audit).producers,
            [true, false, false]
        );

        // A closed subscription, or an API without a webhook entrypoint, writes no dead letters.
        let closed = closed(config("started", "orders"));
        assert_eq!(plan.in_use(&closed).producers, [true, false, false]);
        let no_webhook = without_webhooks(config("started", "orders"));
        assert_eq!(plan.in_use(&no_webhook).producers, [true, false, false]);

        // What an apply runs before the shards switch: the old set and the new one.
        assert_eq!(unused.clone().union(&used), used);
        assert_eq!(used.clone().union(&unused), used);
        assert_eq!(KafkaInUse::default().union(&used), used);
        let one = KafkaInUse {
            feeds: vec![true, false],
            producers: vec![false],
        };
        let other = KafkaInUse {
            feeds: vec![false, true, false],
            producers: vec![false, true],
        };
        let both = KafkaInUse {
            feeds: vec![true, true, false],
            producers: vec![false, true],
        };
        assert_eq!(one.clone().union(&other), both);
        assert_eq!(other.union(&one), both);
    }

    #[test]
    fn a_producer_lingers_for_the_longest_write_and_webhook_try() {
        // requestTimeoutMs 10 s by default; a webhook try 3 s + 10 s by default.
        let plan = KafkaPlan::new(&config("started", "orders"));
        assert_eq!(plan.producer_linger, Duration::from_secs(23));
        let mut no_webhook = without_webhooks(config("started", "orders"));
        no_webhook.subscriptions.clear();
        assert_eq!(
            KafkaPlan::new(&no_webhook).producer_linger,
            Duration::from_secs(10)
        );
        assert_eq!(KafkaPlan::default().producer_linger, Duration::ZERO);
    }
}
