//! Producers (bridge thread only): one rskafka batch producer per topic-partition, so records
//! published at the same time by many clients share produce requests; each publish still gets
//! its own offset back once the broker acknowledged. A producer connects while a started API
//! writes through it (`KafkaPlan::in_use`: from the bridge's start, or from the apply that
//! deploys or starts such an API) and keeps trying until it is connected; a publish before that
//! is answered at once with the last reason it could not (as MQTT publishes are while
//! disconnected), not after `requestTimeoutMs`. When the last such API stops or goes, the
//! producer stays connected for `KafkaPlan::producer_linger` (what was under way finishes on it:
//! a publish queued for the bridge, a webhook try that ends in a dead letter), then lets go of
//! its connections, unless an API uses it again meanwhile.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rskafka::chrono::{DateTime, Utc};
use rskafka::client::partition::{Compression as WireCompression, UnknownTopicHandling};
use rskafka::client::producer::aggregator::RecordAggregator;
use rskafka::client::producer::{BatchProducer, BatchProducerBuilder};
use rskafka::record::Record;
use tokio::sync::Notify;

use super::connect::try_connect;
use crate::config::kafka::Compression;
use crate::cross_shard::kafka_link::{ProduceFailure, ProduceRequest};
use crate::endpoint::fault::error_chain;
use crate::endpoint::kafka::murmur2::partition_for_key;
use crate::endpoint::kafka::plan::ProducerSpec;
use crate::endpoint::kafka::produce_failure::produce_failure;
use crate::endpoint::{BrokerFailure, BrokerProblem, Fault};
use crate::metrics::{KafkaMetrics, ShardMetrics};

/// Most bytes of records in one produce request.
const MAX_BATCH_BYTES: usize = 1024 * 1024;
/// How long a batch waits for more records before it is sent.
const LINGER: Duration = Duration::from_millis(2);

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Pause between two attempts to connect a producer.
const RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// Every configured producer.
pub(super) struct Producers {
    specs: Vec<ProducerSpec>,
    states: Vec<RefCell<State>>,
    /// By producer: its connecting task while it runs (finished once connected).
    running: Vec<RefCell<Option<tokio::task::AbortHandle>>>,
    /// By producer: whether a started API uses it (`set`).
    wanted: Vec<Cell<bool>>,
    /// By producer: how many times it went out of use; a stop waiting out the linger goes
    /// ahead only if this has not moved (it was not used and let go again meanwhile).
    released: Vec<Cell<u64>>,
    /// How long a producer out of use stays connected.
    linger: Duration,
    /// Woken when a producer's state changes (publishes wait for the first attempt).
    changed: Vec<Notify>,
    metrics: Arc<KafkaMetrics>,
}

/// Where one producer stands.
enum State {
    /// Not in use: no started API writes through it.
    Stopped,
    /// Not connected yet; why the last attempt failed, once one did.
    Connecting(Option<BrokerFailure>),
    Connected(Rc<Connected>),
}

/// A producer whose topic's partitions are known.
struct Connected {
    partitions: Vec<BatchProducer<RecordAggregator>>,
    round_robin: Cell<usize>,
}

impl Producers {
    /// The producers of `specs`, none in use yet (`set` starts them); one out of use stays
    /// connected for `linger`.
    pub(super) fn new(
        specs: &[ProducerSpec],
        linger: Duration,
        metrics: Arc<KafkaMetrics>,
    ) -> Rc<Producers> {
        ShardMetrics::add(&metrics.producers, specs.len() as u64);
        Rc::new(Producers {
            specs: specs.to_vec(),
            states: specs.iter().map(|_| RefCell::new(State::Stopped)).collect(),
            running: specs.iter().map(|_| RefCell::new(None)).collect(),
            wanted: specs.iter().map(|_| Cell::new(false)).collect(),
            released: specs.iter().map(|_| Cell::new(0)).collect(),
            linger,
            changed: specs.iter().map(|_| Notify::new()).collect(),
            metrics,
        })
    }

    /// Connects the producers `used` marks that are not running, each in a task of its own (on
    /// the bridge's `LocalSet`); the others, once out of use for `linger`, disconnect (a
    /// publish that comes later is refused with 503).
    pub(super) fn set(self: &Rc<Self>, used: &[bool]) {
        for index in 0..self.specs.len() {
            let wanted = used.get(index).copied().unwrap_or(false);
            let was_wanted = self.wanted[index].replace(wanted);
            if wanted && self.running[index].borrow().is_none() {
                self.start(index);
            } else if was_wanted && !wanted {
                let released = self.released[index].get() + 1;
                self.released[index].set(released);
                let producers = self.clone();
                tokio::task::spawn_local(async move {
                    tokio::time::sleep(producers.linger).await;
                    let still_released = producers.released[index].get() == released;
                    if still_released && !producers.wanted[index].get() {
                        producers.stop(index);
                    }
                });
            }
        }
    }

    fn start(self: &Rc<Self>, index: usize) {
        *self.states[index].borrow_mut() = State::Connecting(None);
        let producers = self.clone();
        let task = tokio::task::spawn_local(async move { producers.keep_connecting(index).await });
        *self.running[index].borrow_mut() = Some(task.abort_handle());
    }

    /// Disconnects producer `index`: publishes under way on its connections still finish.
    fn stop(&self, index: usize) {
        if let Some(task) = self.running[index].borrow_mut().take() {
            task.abort();
        }
        let was = std::mem::replace(&mut *self.states[index].borrow_mut(), State::Stopped);
        if matches!(was, State::Connected(_)) {
            ShardMetrics::sub(&self.metrics.producers_connected, 1);
        }
        self.changed[index].notify_waiters();
    }

    /// Connects producer `index`, retrying until it is connected.
    async fn keep_connecting(&self, index: usize) {
        loop {
            match self.connect(index).await {
                Ok(connected) => {
                    ShardMetrics::inc(&self.metrics.producers_connected);
                    *self.states[index].borrow_mut() = State::Connected(connected);
                    self.changed[index].notify_waiters();
                    return;
                }
                Err(why) => {
                    let topic = &self.specs[index].producer.topic;
                    tracing::warn!(%why, %topic, "the Kafka producer cannot connect; retrying");
                    ShardMetrics::inc(&self.metrics.produce_errors_total);
                    *self.states[index].borrow_mut() = State::Connecting(Some(why));
                    self.changed[index].notify_waiters();
                    tokio::time::sleep(RECONNECT_DELAY).await;
                }
            }
        }
    }

    /// Produces one record and sends the outcome to the waiting shard.
    pub(super) async fn produce(&self, request: ProduceRequest) {
        let Some(spec) = self.specs.get(request.producer) else {
            let _ = request.reply.send(Err(ProduceFailure::Refused(
                Fault::new("the Kafka brokers refused the record").with_detail("unknown producer"),
            )));
            return;
        };
        ShardMetrics::inc(&self.metrics.produce_in_flight);
        let timeout = spec.producer.request_timeout;
        let outcome =
            match tokio::time::timeout(timeout, self.produce_one(request.producer, &request)).await
            {
                Ok(outcome) => outcome,
                Err(_) => Err(ProduceFailure::Unavailable(Fault::new(format!(
                "the Kafka brokers did not acknowledge the record within requestTimeoutMs ({} ms)",
                timeout.as_millis()
            )))),
            };
        ShardMetrics::sub(&self.metrics.produce_in_flight, 1);
        match &outcome {
            Ok(_) => ShardMetrics::inc(&self.metrics.records_produced_total),
            Err(_) => ShardMetrics::inc(&self.metrics.produce_errors_total),
        }
        let _ = request.reply.send(outcome);
    }

    async fn produce_one(
        &self,
        index: usize,
        request: &ProduceRequest,
    ) -> Result<(i32, i64), ProduceFailure> {
        let connected = self.connected(index).await?;
        let count = connected.partitions.len();
        let partition = match &request.key {
            Some(key) => partition_for_key(key, count),
            None => {
                let next = connected.round_robin.get();
                connected.round_robin.set(next.wrapping_add(1));
                next % count
            }
        };
        let headers: BTreeMap<String, Vec<u8>> = request
            .headers
            .iter()
            .map(|(name, value)| (name.clone(), value.as_bytes().to_vec()))
            .collect();
        let record = Record {
            key: request.key.as_ref().map(|key| key.to_vec()),
            value: Some(request.payload.to_vec()),
            headers,
            timestamp: DateTime::<Utc>::from_timestamp_millis(now_ms()).unwrap_or_default(),
        };
        let offset = connected.partitions[partition]
            .produce(record)
            .await
            .map_err(|error| produce_failure(&error))?;
        Ok((partition as i32, offset))
    }

    /// The producer's connection, or why a publish cannot be sent now. Before the first
    /// attempt ended (the gateway just started), waits for it.
    async fn connected(&self, index: usize) -> Result<Rc<Connected>, ProduceFailure> {
        loop {
            let changed = self.changed[index].notified();
            match &*self.states[index].borrow() {
                State::Connected(connected) => return Ok(connected.clone()),
                State::Stopped => {
                    return Err(ProduceFailure::Unavailable(Fault::new(
                        "the Kafka producer is not running: no started API writes through it",
                    )))
                }
                State::Connecting(Some(failure)) => {
                    return Err(ProduceFailure::Unavailable(Fault::not_connected(
                        "Kafka brokers",
                        failure,
                    )))
                }
                State::Connecting(None) => {}
            }
            changed.await;
        }
    }

    /// One attempt to connect producer `index` and learn its topic's partitions.
    async fn connect(&self, index: usize) -> Result<Rc<Connected>, BrokerFailure> {
        let spec = &self.specs[index];
        let client =
            try_connect(&spec.brokers, spec.producer.request_timeout, &self.metrics).await?;
        let topic = &spec.producer.topic;
        let unreachable = |error: rskafka::client::error::Error| {
            BrokerFailure::new(BrokerProblem::Unreachable, error_chain(&error))
        };
        let topics = client.list_topics().await.map_err(unreachable)?;
        let Some(found) = topics.iter().find(|t| t.name == *topic) else {
            let detail = format!("topic '{topic}' does not exist");
            return Err(BrokerFailure::new(BrokerProblem::TopicMissing, detail));
        };
        let mut ids: Vec<i32> = found.partitions.iter().copied().collect();
        ids.sort_unstable();
        let compression = match spec.producer.compression {
            Compression::None => WireCompression::NoCompression,
            Compression::Gzip => WireCompression::Gzip,
            Compression::Lz4 => WireCompression::Lz4,
            Compression::Snappy => WireCompression::Snappy,
            Compression::Zstd => WireCompression::Zstd,
        };
        let mut partitions = Vec::with_capacity(ids.len());
        for id in ids {
            let client = client
                .partition_client(topic.clone(), id, UnknownTopicHandling::Retry)
                .await
                .map_err(unreachable)?;
            partitions.push(
                BatchProducerBuilder::new(Arc::new(client))
                    .with_linger(LINGER)
                    .with_compression(compression)
                    .build(RecordAggregator::new(MAX_BATCH_BYTES)),
            );
        }
        if partitions.is_empty() {
            let detail = format!("topic '{topic}' has no partitions");
            return Err(BrokerFailure::new(BrokerProblem::TopicMissing, detail));
        }
        Ok(Rc::new(Connected {
            partitions,
            round_robin: Cell::new(0),
        }))
    }
}
