//! Producers (bridge thread only): one rskafka batch producer per topic-partition, so records
//! published at the same time by many clients share produce requests; each publish still gets
//! its own offset back once the broker acknowledged.

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

use super::bridge::connect;
use super::murmur2::partition_for_key;
use super::plan::ProducerSpec;
use crate::config::kafka::Compression;
use crate::cross_shard::kafka_link::{ProduceFailure, ProduceRequest};
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

/// Every configured producer, connected on first use.
pub(super) struct Producers {
    specs: Vec<ProducerSpec>,
    states: Vec<RefCell<Option<Rc<Connected>>>>,
    metrics: Arc<KafkaMetrics>,
}

/// A producer whose topic's partitions are known.
struct Connected {
    partitions: Vec<BatchProducer<RecordAggregator>>,
    round_robin: Cell<usize>,
}

impl Producers {
    pub(super) fn new(specs: &[ProducerSpec], metrics: Arc<KafkaMetrics>) -> Producers {
        Producers {
            specs: specs.to_vec(),
            states: specs.iter().map(|_| RefCell::new(None)).collect(),
            metrics,
        }
    }

    /// Produces one record and sends the outcome to the waiting shard.
    pub(super) async fn produce(&self, request: ProduceRequest) {
        let Some(spec) = self.specs.get(request.producer) else {
            let _ = request
                .reply
                .send(Err(ProduceFailure::Refused("unknown producer".to_owned())));
            return;
        };
        ShardMetrics::inc(&self.metrics.produce_in_flight);
        let timeout = spec.producer.request_timeout;
        let outcome =
            match tokio::time::timeout(timeout, self.produce_one(request.producer, &request)).await
            {
                Ok(outcome) => outcome,
                Err(_) => Err(ProduceFailure::Unavailable(format!(
                    "no acknowledgement within requestTimeoutMs ({} ms)",
                    timeout.as_millis()
                ))),
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
            .map_err(|error| ProduceFailure::Unavailable(error.to_string()))?;
        Ok((partition as i32, offset))
    }

    /// The producer's connection and partitions, set up on first use.
    async fn connected(&self, index: usize) -> Result<Rc<Connected>, ProduceFailure> {
        if let Some(connected) = self.states[index].borrow().clone() {
            return Ok(connected);
        }
        let spec = &self.specs[index];
        let client = connect(&spec.brokers, &self.metrics).await;
        let topic = &spec.producer.topic;
        let topics = client
            .list_topics()
            .await
            .map_err(|error| ProduceFailure::Unavailable(error.to_string()))?;
        let Some(found) = topics.iter().find(|t| t.name == *topic) else {
            return Err(ProduceFailure::Refused(format!(
                "topic '{topic}' does not exist"
            )));
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
                .map_err(|error| ProduceFailure::Unavailable(error.to_string()))?;
            partitions.push(
                BatchProducerBuilder::new(Arc::new(client))
                    .with_linger(LINGER)
                    .with_compression(compression)
                    .build(RecordAggregator::new(MAX_BATCH_BYTES)),
            );
        }
        if partitions.is_empty() {
            return Err(ProduceFailure::Refused(format!(
                "topic '{topic}' has no partitions"
            )));
        }
        let connected = Rc::new(Connected {
            partitions,
            round_robin: Cell::new(0),
        });
        // Another publish may have connected meanwhile: keep the first.
        let mut state = self.states[index].borrow_mut();
        Ok(state.get_or_insert(connected).clone())
    }
}
