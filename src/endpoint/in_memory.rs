//! The in-memory endpoint: named topics living in the gateway, for broker-less pub/sub.
//!
//! Every shard has a `LocalTopic` per topic: publishing appends to the topic's shared retention
//! ring (`cross_shard::TopicLog`), and a `delivery::Fanout` serves this shard's subscribers from
//! that ring as cursors (resume with `?cursor=` / `Last-Event-ID`).

use std::rc::Rc;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use crate::config::SlowClientPolicy;
use crate::cross_shard::TopicLog;
use crate::delivery::fanout::{Fanout, RingSource};
use crate::endpoint::PublishError;
use crate::message::{Fields, Message, MessageId, PayloadKind};
use crate::metrics::ShardMetrics;

/// One topic as seen from one shard.
pub struct LocalTopic {
    log: Arc<TopicLog>,
    metadata: Fields,
    fanout: Rc<Fanout>,
    metrics: Arc<ShardMetrics>,
}

impl LocalTopic {
    /// The shard-local side of `log`.
    pub fn new(
        shard: usize,
        log: Arc<TopicLog>,
        policy: SlowClientPolicy,
        metrics: Arc<ShardMetrics>,
    ) -> LocalTopic {
        let metadata: Fields = Arc::from(vec![("topic".to_owned(), log.name().to_owned())]);
        let source = RingSource {
            log: log.clone(),
            shard,
        };
        LocalTopic {
            log,
            metadata,
            fanout: Rc::new(Fanout::new(source, policy, metrics.clone())),
            metrics,
        }
    }

    /// The shared log behind this topic.
    pub fn log(&self) -> &Arc<TopicLog> {
        &self.log
    }

    /// Publishes one message of `kind`; returns its position.
    pub fn publish(
        &self,
        payload: Bytes,
        kind: PayloadKind,
        headers: Fields,
    ) -> Result<MessageId, PublishError> {
        let message = Message {
            id: MessageId::Sequence(0),
            payload,
            kind,
            headers,
            metadata: self.metadata.clone(),
            timestamp_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
        };
        let position = self
            .log
            .append(message)
            .map_err(|too_large| PublishError::TooLarge {
                max_bytes: too_large.max_bytes,
            })?;
        ShardMetrics::inc(&self.metrics.messages_published_total);
        Ok(MessageId::Sequence(position))
    }

    /// This shard's subscribers of the topic.
    pub fn fanout(&self) -> &Rc<Fanout> {
        &self.fanout
    }
}
