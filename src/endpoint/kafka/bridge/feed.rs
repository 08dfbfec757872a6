//! Starting a feed on the bridge thread: its layout (the topics' partitions, in slot order), one
//! connection per partition, and a fetch session (`fetch_session.rs`) per partition appending to
//! the feed's node buffer. The catch-up readers (`catch_up.rs`) and group members (`group.rs`)
//! open their partitions and run their sessions the same way.
//!
//! Each partition loop of a shared feed has its own connection: brokers answer the requests of
//! one connection in order, so long-polling fetches sharing a connection would wait for each
//! other. rskafka gives every `PartitionClient` a connection of its own to the partition's
//! leader, so the feed's partitions come from one `Client`, whose one connection serves metadata:
//! a feed holds `1 + partitions` broker connections, whatever its number of clients (a
//! `Client` per partition would add an idle bootstrap connection each).

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use rskafka::client::partition::{OffsetAt, PartitionClient, UnknownTopicHandling};
use rskafka::client::Client;
use tokio::sync::watch;

use super::connect::connect;
use super::ends::FeedPartitions;
use super::fetch_session::{offset_at, Head, Pacing, Session, FETCH_MAX_WAIT_MS, RETRY_DELAY};
use crate::config::kafka::AutoOffsetReset;
use crate::cross_shard::kafka_link::KafkaFeed;
use crate::endpoint::kafka::plan::FeedSpec;
use crate::message::kafka_cursor::TopicPartition;
use crate::metrics::{KafkaMetrics, ShardMetrics};

/// Runs a shared feed until `stop` says so: learns its partitions and start offsets, then
/// fetches every partition. Its partition connections go into `connections` once all are open
/// (the bridge asks the brokers through them whether a client's position lies past their log's
/// end), and leave it when the feed stops.
pub(super) async fn run_feed(
    spec: FeedSpec,
    feed: Arc<KafkaFeed>,
    metrics: Arc<KafkaMetrics>,
    connections: FeedPartitions,
    mut stop: watch::Receiver<bool>,
) {
    // Told to stop before the brokers answered: it just ends.
    let started = tokio::select! {
        biased;
        _ = stop.wait_for(|stop| *stop) => None,
        started = open(&spec, &feed, &metrics) => Some(started),
    };
    let Some((client, slots, partitions, next)) = started else {
        return;
    };
    *connections.borrow_mut() = partitions.clone();
    let head = Rc::new(RefCell::new(Head {
        encoded: spec.consumer.encode_message_id,
        slots: slots.clone(),
        next,
    }));
    let mut loops = Vec::new();
    for (index, partition) in partitions.into_iter().enumerate() {
        let session = Session {
            head: head.clone(),
            log: feed.log.clone(),
            metrics: metrics.clone(),
            max_wait_ms: FETCH_MAX_WAIT_MS,
            pacing: Pacing::of(&feed, &spec),
            ends: Some(feed.clone()),
        };
        ShardMetrics::inc(&metrics.fetch_loops_running);
        let stop = stop.clone();
        loops.push(tokio::task::spawn_local(async move {
            session
                .fetch_partition(&partition, index, || *stop.borrow())
                .await;
        }));
    }
    // A feed told to stop meanwhile sets no start: it answers 503 until it runs again.
    if !*stop.borrow() {
        feed.set_start(Arc::new(head.borrow().cursor()));
    }
    tracing::info!(partitions = slots.len(), "Kafka feed started");
    // Keeps the metadata connection for the feed's life (its loops end when it is stopped).
    for task in loops {
        let _ = task.await;
    }
    connections.borrow_mut().clear();
    drop(client);
}

/// What a feed fetches with: its brokers' client, its partitions in slot order, one connection
/// to each (see the module comment) and the offset each starts at (`autoOffsetReset`).
type Opened = (
    Client,
    Arc<[TopicPartition]>,
    Vec<Rc<PartitionClient>>,
    Vec<i64>,
);

/// Connects a feed, retrying until its brokers answer. A run after a stop keeps the layout
/// (`KafkaFeed::start`) clients' cursors were given in.
async fn open(spec: &FeedSpec, feed: &KafkaFeed, metrics: &KafkaMetrics) -> Opened {
    let client = connect(&spec.brokers, metrics).await;
    let slots = match feed.layout() {
        Some(slots) => slots,
        None => layout_retrying(&client, spec, RETRY_DELAY * 5).await,
    };
    let at = match spec.consumer.auto_offset_reset {
        AutoOffsetReset::Latest => OffsetAt::Latest,
        AutoOffsetReset::Earliest => OffsetAt::Earliest,
    };
    // Every partition gets its own connection, set up before the feed is announced, so a
    // started feed has all its fetch streams.
    let mut partitions = Vec::new();
    let mut next = Vec::new();
    for slot in slots.iter() {
        let partition = Rc::new(partition_client(&client, slot).await);
        next.push(offset_at(&partition, at).await);
        partitions.push(partition);
    }
    (client, slots, partitions, next)
}

/// For a feed read only through its subscriptions' feeds (`groupScope: subscription`): learns
/// its partitions so that clients' cursors can be read in that layout (each subscription's feed
/// has the same one), then ends.
pub(super) async fn learn_layout(spec: FeedSpec, feed: Arc<KafkaFeed>, metrics: Arc<KafkaMetrics>) {
    let client = connect(&spec.brokers, &metrics).await;
    let slots = layout_retrying(&client, &spec, RETRY_DELAY * 5).await;
    let head = Head {
        encoded: spec.consumer.encode_message_id,
        next: vec![0; slots.len()],
        slots,
    };
    feed.set_start(Arc::new(head.cursor()));
}

/// `layout`, retried every `pause` until the brokers answer it.
pub(super) async fn layout_retrying(
    client: &Client,
    spec: &FeedSpec,
    pause: Duration,
) -> Arc<[TopicPartition]> {
    loop {
        match layout(client, spec).await {
            Ok(slots) => return slots,
            Err(why) => {
                tracing::warn!(%why, "cannot read the Kafka topics' partitions; retrying");
                tokio::time::sleep(pause).await;
            }
        }
    }
}

/// The topics' partitions, in slot order (topics sorted, then partitions).
async fn layout(client: &Client, spec: &FeedSpec) -> Result<Arc<[TopicPartition]>, String> {
    let topics = client.list_topics().await.map_err(|e| e.to_string())?;
    let names = match &spec.consumer.topic_pattern {
        None => spec.consumer.topics.clone(),
        Some(pattern) => {
            // Checked when the configuration was loaded.
            let pattern = regex::Regex::new(pattern).map_err(|e| e.to_string())?;
            let mut names: Vec<String> = topics
                .iter()
                .map(|t| t.name.clone())
                .filter(|name| !name.starts_with("__") && pattern.is_match(name))
                .collect();
            names.sort();
            if names.is_empty() {
                return Err(format!("no topic matches topicPattern {pattern}"));
            }
            names
        }
    };
    let mut slots = Vec::new();
    for name in &names {
        let Some(topic) = topics.iter().find(|t| t.name == *name) else {
            return Err(format!("topic '{name}' does not exist"));
        };
        let topic_name: Arc<str> = Arc::from(name.as_str());
        let mut partitions: Vec<i32> = topic.partitions.iter().copied().collect();
        partitions.sort_unstable();
        for partition in partitions {
            slots.push(TopicPartition {
                topic: topic_name.clone(),
                partition,
            });
        }
    }
    Ok(slots.into())
}

/// The partition's own connection to its leader (see the module comment), retried until the
/// brokers give one.
pub(super) async fn partition_client(client: &Client, slot: &TopicPartition) -> PartitionClient {
    loop {
        match client
            .partition_client(
                slot.topic.to_string(),
                slot.partition,
                UnknownTopicHandling::Retry,
            )
            .await
        {
            Ok(partition) => return partition,
            Err(error) => {
                tracing::warn!(%error, topic = %slot.topic, partition = slot.partition, "no client for the partition; retrying");
                tokio::time::sleep(RETRY_DELAY).await;
            }
        }
    }
}
