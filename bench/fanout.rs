//! Fan-out of one message to 1,000 local subscribers: push a clone into each client's
//! `OutboundQueue`, then drain every queue, as a shard does when one endpoint message reaches
//! 1,000 connections. Cloning a `Message` shares its payload (`Bytes`) and field lists (`Arc`),
//! so this measures queue bookkeeping and metrics updates, not copying.

mod settings;

use std::hint::black_box;
use std::sync::Arc;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tidegate::config::OutboundConfig;
use tidegate::delivery::{OutboundQueue, PushOutcome};
use tidegate::message::{Message, MessageId, PayloadKind};
use tidegate::metrics::ShardMetrics;

const SUBSCRIBERS: usize = 1_000;

fn fan_out(c: &mut Criterion) {
    let metrics = Arc::new(ShardMetrics::default());
    let config = OutboundConfig::default();
    let queues: Vec<OutboundQueue> = (0..SUBSCRIBERS)
        .map(|_| OutboundQueue::new(&config, Arc::clone(&metrics)))
        .collect();
    let message = Message {
        id: MessageId::Sequence(7),
        payload: Bytes::from(vec![b'x'; 256]),
        kind: PayloadKind::Unspecified,
        headers: Arc::from([]),
        metadata: Arc::from([]),
        timestamp_ms: 1_764_431_221_000,
    };
    let mut drained = Vec::with_capacity(1);

    let mut group = c.benchmark_group("fanout");
    group.throughput(Throughput::Elements(SUBSCRIBERS as u64));
    group.bench_function("push_drain_1000_queues", |b| {
        b.iter(|| {
            for queue in &queues {
                let outcome = queue.push(message.clone());
                debug_assert_eq!(outcome, PushOutcome::Queued);
            }
            for queue in &queues {
                queue.drain_into(usize::MAX, &mut drained);
                black_box(drained.len());
                drained.clear();
            }
        })
    });
    group.finish();
    assert!(queues.iter().all(OutboundQueue::is_empty));
}

criterion_group! {
    name = benches;
    config = settings::short_runs();
    targets = fan_out
}
criterion_main!(benches);
