//! A client whose position lay past the log's end, and that no catch-up reader can take once the
//! brokers said where it resumes (`consumer.maxCatchUps` readers busy), ends "unavailable, retry
//! later" (`QueueEnd::Unavailable`, answered `broker_unavailable` like the same refusal before
//! a stream opens), not as a slow client ("you fell behind").

use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::config::OutboundConfig;
use crate::cross_shard::kafka_link::{BridgeCommand, KafkaLink};
use crate::delivery::{OutboundQueue, QueueEnd};
use crate::endpoint::kafka::local_feed::LocalFeed;
use crate::endpoint::kafka::tests::{cursor, feed, RECORDS};

fn queue(feed: &LocalFeed) -> Rc<OutboundQueue> {
    Rc::new(OutboundQueue::new(
        &OutboundConfig::default(),
        feed.metrics.clone(),
    ))
}

#[test]
fn a_client_past_the_end_that_no_reader_can_take_ends_unavailable_not_slow() {
    let runtime = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .enable_timer()
        .build();
    runtime.expect("a monoio runtime").block_on(async {
        // The node buffer holds [5, 7] onwards; the feed allows 4 catch-up readers.
        let feed = feed([5, 7], RECORDS, 100);
        let (link, bridge) = KafkaLink::new(vec![feed.shared.clone()], vec![None]);
        // Four readers busy with older positions, none of which holds another's.
        let busy: Vec<_> = [[0, 7], [1, 6], [2, 5], [3, 4]]
            .into_iter()
            .map(|at| {
                feed.catch_up(&link, Arc::new(cursor(at)), queue(&feed))
                    .unwrap_or_else(|_| panic!("a reader for {at:?}"))
            })
            .collect();
        // A client past the log's end on partition 0: the bridge asks the brokers.
        let client = queue(&feed);
        let _routed = feed
            .route_checking_end(&link, Arc::new(cursor([50, 7])), client.clone())
            .unwrap_or_else(|_| panic!("the client waits for the check"));
        let check = bridge
            .try_iter()
            .find_map(|command| match command {
                BridgeCommand::CheckEnds(check) => Some(check),
                _ => None,
            })
            .expect("an ends check for the bridge");
        assert_eq!(check.next, [50, 7]);
        // The log restarted: partition 0 resumes at its start, older than the node buffer, and
        // every catch-up reader is busy.
        check.reply.send(Some(vec![0, 0])).unwrap();
        let end = monoio::time::timeout(Duration::from_secs(60), client.ready())
            .await
            .expect("the client's stream ended");
        assert_eq!(
            end,
            Err(QueueEnd::Unavailable),
            "no reader free: retry later, not a slow client"
        );
        let refused = feed
            .metrics
            .kafka_catch_ups_refused_total
            .load(Ordering::Relaxed);
        assert_eq!(refused, 1, "counted as a maxCatchUps refusal");
        drop(busy);
    });
}
