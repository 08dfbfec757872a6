//! With `groupScope: subscription` a configured Kafka feed is not read itself: each subscription a
//! client names gets a feed and a consumer group of its own, opened on the node for its first
//! client and kept open by the clients' leases (`cross_shard::kafka_subscriptions`). This is
//! this shard's side of those feeds, one `LocalFeed` (a fan-out of the subscription's buffer)
//! per open subscription, held by the configured feed's `LocalFeed`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use super::local_feed::LocalFeed;
use crate::cross_shard::kafka_link::{BridgeCommand, KafkaFeed, KafkaLink, SubscriptionJoin};
use crate::cross_shard::kafka_subscriptions::{Lease, Refused};
use crate::endpoint::{EndpointError, Fault};

/// Longest subscription name (it becomes part of a Kafka consumer group id).
const MAX_SUBSCRIPTION_NAME: usize = 64;

/// This shard's side of each open subscription's feed, by subscription name.
#[derive(Default)]
pub(super) struct SubscriptionFeeds {
    open: RefCell<HashMap<String, Rc<LocalFeed>>>,
}

impl SubscriptionFeeds {
    /// The feed of subscription `name` (`groupScope: subscription`), opened on the node (and
    /// its group joined) for its first client; the lease keeps it open.
    pub(super) fn open(
        &self,
        configured: &LocalFeed,
        link: &KafkaLink,
        name: Option<&str>,
    ) -> Result<(Rc<LocalFeed>, Lease), EndpointError> {
        let name = subscription_name(name)?;
        let Some(groups) = link
            .subscription_groups
            .get(configured.index)
            .and_then(Option::as_ref)
        else {
            return Err(EndpointError::Unavailable(Fault::new(
                "this API's subscription consumer groups are not running",
            )));
        };
        let ask_bridge = |feed: &Arc<KafkaFeed>| {
            let join = SubscriptionJoin {
                groups: groups.clone(),
                subscription: name.to_owned(),
                feed: feed.clone(),
            };
            link.send(BridgeCommand::JoinSubscription(join))
        };
        let lease = groups.acquire(name, ask_bridge).map_err(|refused| match refused {
            Refused::Full { max } => EndpointError::Unavailable(Fault::new(format!(
                "this gateway node already has {max} subscription consumer groups open for this API (`consumer.maxSubscriptionGroups`); retry later"
            ))),
            Refused::NotOpened(_) => EndpointError::Unavailable(Fault::new(
                "the gateway's queue to Kafka is full; retry shortly"),
            ),
        })?;
        let mut open = self.open.borrow_mut();
        open.retain(|_, feed| !feed.shared.usage.is_closed());
        let local = match open.get(name) {
            Some(local) if Arc::ptr_eq(&local.shared, lease.feed()) => local.clone(),
            _ => {
                let local = LocalFeed::new(
                    configured.index,
                    configured.shard,
                    lease.feed().clone(),
                    configured.consumer.clone(),
                    configured.policy,
                    configured.metrics.clone(),
                );
                open.insert(name.to_owned(), local.clone());
                local
            }
        };
        Ok((local, lease))
    }
}

/// The subscription a client named, checked to be usable in a consumer group id.
fn subscription_name(name: Option<&str>) -> Result<&str, EndpointError> {
    let Some(name) = name else {
        return Err(EndpointError::BadRequest(
            "this API consumes with one Kafka consumer group per subscription: name yours with the `X-Subscription` header or the `subscription` query parameter, e.g. ?subscription=billing".to_owned(),
        ));
    };
    let valid = !name.is_empty()
        && name.len() <= MAX_SUBSCRIPTION_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !valid {
        return Err(EndpointError::BadRequest(format!(
            "subscription '{}' is not valid: use 1 to {MAX_SUBSCRIPTION_NAME} letters, digits, '.', '_' or '-'",
            name.chars().take(MAX_SUBSCRIPTION_NAME).collect::<String>()
        )));
    }
    Ok(name)
}
