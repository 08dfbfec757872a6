use super::*;
use bytes::Bytes;
use std::future::Future;

fn msg(n: u64, size: usize) -> Message {
    Message {
        id: MessageId::Sequence(n),
        payload: Bytes::from(vec![b'x'; size]),
        kind: crate::message::PayloadKind::Unspecified,
        headers: Arc::from(Vec::new()),
        metadata: Arc::from(Vec::new()),
        timestamp_ms: 0,
    }
}

fn config(max_messages: usize, max_bytes: usize, policy: SlowClientPolicy) -> OutboundConfig {
    OutboundConfig {
        max_queued_messages: max_messages,
        max_queued_bytes: max_bytes,
        slow_client_policy: policy,
    }
}

/// A queue with these bounds, and the metrics it reports to.
fn queue(
    max_messages: usize,
    max_bytes: usize,
    policy: SlowClientPolicy,
) -> (OutboundQueue, Arc<ShardMetrics>) {
    let metrics = Arc::new(ShardMetrics::default());
    let queue = OutboundQueue::new(&config(max_messages, max_bytes, policy), metrics.clone());
    (queue, metrics)
}

fn ids(queue: &OutboundQueue) -> Vec<u64> {
    let mut out = Vec::new();
    queue.drain_into(usize::MAX, &mut out);
    out.iter().map(|m| m.id.sequence()).collect()
}

#[test]
fn drop_oldest_keeps_the_newest_within_the_message_bound() {
    let (q, metrics) = queue(3, 1 << 20, SlowClientPolicy::DropOldest);
    for n in 0..5 {
        q.push(msg(n, 10));
    }
    assert_eq!(
        ShardMetrics::get(&metrics.messages_dropped_slow_client_total),
        2
    );
    assert_eq!(ShardMetrics::get(&metrics.outbound_queued_messages), 3);
    assert_eq!(ids(&q), vec![2, 3, 4]);
    assert_eq!(ShardMetrics::get(&metrics.outbound_queued_messages), 0);
    assert_eq!(ShardMetrics::get(&metrics.outbound_queued_bytes), 0);
}

#[test]
fn byte_bound_applies_too() {
    let (q, _) = queue(100, 25, SlowClientPolicy::DropOldest);
    for n in 0..4 {
        q.push(msg(n, 10));
    }
    assert_eq!(ids(&q), vec![2, 3]);
}

#[test]
fn a_message_larger_than_the_byte_bound_is_still_delivered_alone() {
    let (q, _) = queue(100, 25, SlowClientPolicy::DropOldest);
    q.push(msg(0, 10));
    assert_eq!(q.push(msg(1, 100)), PushOutcome::DroppedOldest(1));
    assert_eq!(ids(&q), vec![1]);
}

#[test]
fn disconnect_policy_ends_the_stream_and_frees_the_queue() {
    let (q, metrics) = queue(2, 1 << 20, SlowClientPolicy::Disconnect);
    assert_eq!(q.push(msg(0, 1)), PushOutcome::Queued);
    assert_eq!(q.push(msg(1, 1)), PushOutcome::Queued);
    assert_eq!(q.push(msg(2, 1)), PushOutcome::Rejected);
    assert!(q.is_ended());
    assert!(q.is_empty());
    assert_eq!(
        ShardMetrics::get(&metrics.clients_disconnected_slow_total),
        1
    );
    assert_eq!(ShardMetrics::get(&metrics.outbound_queued_messages), 0);
    assert_eq!(q.push(msg(3, 1)), PushOutcome::Rejected);
}

#[test]
fn finished_stream_drains_before_reporting_the_end() {
    let (q, _) = queue(8, 1 << 20, SlowClientPolicy::DropOldest);
    q.push(msg(0, 1));
    q.end(QueueEnd::Finished);
    let waker = Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let mut ready = std::pin::pin!(q.ready());
    assert_eq!(ready.as_mut().poll(&mut cx), Poll::Ready(Ok(())));
    assert_eq!(ids(&q), vec![0]);
    let mut ready = std::pin::pin!(q.ready());
    assert_eq!(
        ready.as_mut().poll(&mut cx),
        Poll::Ready(Err(QueueEnd::Finished))
    );
}

#[test]
fn dropping_a_queue_with_messages_restores_the_gauges() {
    let (q, metrics) = queue(8, 1 << 20, SlowClientPolicy::DropOldest);
    q.push(msg(0, 7));
    drop(q);
    assert_eq!(ShardMetrics::get(&metrics.outbound_queued_messages), 0);
    assert_eq!(ShardMetrics::get(&metrics.outbound_queued_bytes), 0);
}

/// A direct path that takes `accept` writes whole, then hands every later one back.
struct FakeSink {
    accept: std::cell::Cell<usize>,
    written: RefCell<Vec<u64>>,
}

impl DirectSink for FakeSink {
    fn write_now(&self, messages: &[Message]) -> bool {
        if self.accept.get() == 0 {
            return false;
        }
        self.accept.set(self.accept.get() - 1);
        self.written
            .borrow_mut()
            .extend(messages.iter().map(|m| m.id.sequence()));
        true
    }
}

/// Counts its wake-ups.
struct CountingWaker(std::sync::atomic::AtomicUsize);

impl std::task::Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

#[test]
fn a_parked_writer_is_written_for_without_a_wake_up_until_a_write_is_handed_back() {
    let (q, metrics) = queue(8, 1 << 20, SlowClientPolicy::DropOldest);
    let sink = Rc::new(FakeSink {
        accept: std::cell::Cell::new(1),
        written: RefCell::new(Vec::new()),
    });
    q.set_direct(Some(sink.clone()));
    let counter = Arc::new(CountingWaker(Default::default()));
    let waker = Waker::from(counter.clone());
    let mut cx = std::task::Context::from_waker(&waker);
    let wakes = || counter.0.load(std::sync::atomic::Ordering::Relaxed);

    let parked = q.park().expect("a queue with a direct path parks");
    assert_eq!(ShardMetrics::get(&metrics.delivery_writers_parked), 1);
    let mut ready = std::pin::pin!(q.ready());
    assert_eq!(ready.as_mut().poll(&mut cx), Poll::Pending);
    q.push_deferred(msg(0, 1));
    q.push_deferred(msg(1, 1));
    assert!(q.owes_flush());
    q.flush_direct(false);
    assert_eq!(*sink.written.borrow(), vec![0, 1], "one write, in order");
    assert_eq!(wakes(), 0, "the parked writer was not woken");
    assert_eq!(q.delivered(), Some(MessageId::Sequence(1)));
    assert!(q.is_empty());

    // The next write is handed back: the writer is woken, unparked, and `ready` resolves.
    q.push_deferred(msg(2, 1));
    q.flush_direct(false);
    assert_eq!(wakes(), 1);
    assert_eq!(ShardMetrics::get(&metrics.delivery_writers_parked), 0);
    assert_eq!(ready.as_mut().poll(&mut cx), Poll::Ready(Ok(())));
    assert_eq!(
        q.delivered(),
        Some(MessageId::Sequence(1)),
        "not yet written"
    );
    drop(parked);

    // Unparked, a deferred push wakes the writer at once and the message waits in the queue.
    let mut ready = std::pin::pin!(q.ready());
    assert_eq!(ready.as_mut().poll(&mut cx), Poll::Pending);
    q.push_deferred(msg(3, 1));
    assert!(!q.owes_flush());
    assert_eq!(wakes(), 2);
    assert_eq!(ids(&q), vec![3]);
}

#[test]
fn a_burst_larger_than_one_direct_write_goes_to_the_writer() {
    let (q, metrics) = queue(1024, 1 << 20, SlowClientPolicy::DropOldest);
    let sink = Rc::new(FakeSink {
        accept: std::cell::Cell::new(usize::MAX),
        written: RefCell::new(Vec::new()),
    });
    q.set_direct(Some(sink.clone()));
    let counter = Arc::new(CountingWaker(Default::default()));
    let waker = Waker::from(counter.clone());
    let mut cx = std::task::Context::from_waker(&waker);
    let wakes = || counter.0.load(std::sync::atomic::Ordering::Relaxed);

    // More queued than one write carries: one write, then the writer takes over.
    let parked = q.park().expect("parks");
    let mut ready = std::pin::pin!(q.ready());
    assert_eq!(ready.as_mut().poll(&mut cx), Poll::Pending);
    for seq in 0..300 {
        q.push_deferred(msg(seq, 1));
    }
    q.flush_direct(false);
    let written = sink.written.borrow().clone();
    assert_eq!(
        written,
        (0..256).collect::<Vec<_>>(),
        "one write of the oldest"
    );
    assert_eq!(wakes(), 1, "the writer was woken for the rest");
    assert_eq!(ShardMetrics::get(&metrics.delivery_writers_parked), 0);
    assert_eq!(ready.as_mut().poll(&mut cx), Poll::Ready(Ok(())));
    drop(parked);
    assert_eq!(
        ids(&q),
        (256..300).collect::<Vec<_>>(),
        "left for the writer"
    );

    // A producer that read a full batch and goes on: after this write the writer takes over.
    let parked = q.park().expect("parks again once drained");
    let mut ready = std::pin::pin!(q.ready());
    assert_eq!(ready.as_mut().poll(&mut cx), Poll::Pending);
    q.push_deferred(msg(300, 1));
    q.flush_direct(true);
    assert_eq!(sink.written.borrow().last(), Some(&300));
    assert_eq!(wakes(), 2);
    assert_eq!(ShardMetrics::get(&metrics.delivery_writers_parked), 0);
    assert_eq!(
        ready.as_mut().poll(&mut cx),
        Poll::Pending,
        "nothing left to write"
    );
    q.push_deferred(msg(301, 1));
    assert!(!q.owes_flush(), "unparked: pushes wake the writer");
    assert_eq!(wakes(), 3);
    drop(parked);
}
