//! HTTP GET batch rendering: JSON bodies of 1, 100 and 500 messages, and XML of 100.

mod settings;

use std::hint::black_box;
use std::sync::Arc;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tidegate::codec::batch::{render_batch, BatchFormat, BatchOptions};
use tidegate::message::{Message, MessageId, PayloadKind};

/// `count` messages with a ~70-byte JSON payload each, like a Mock endpoint stream.
fn messages(count: usize) -> Vec<Message> {
    (0..count as u64)
        .map(|n| Message {
            id: MessageId::Sequence(n),
            payload: Bytes::from(format!(
                r#"{{"seq":{n},"sensor":"t-17","celsius":21.5,"at":"2025-11-29T15:47:01Z"}}"#
            )),
            kind: PayloadKind::Unspecified,
            headers: Arc::from([]),
            metadata: Arc::from([]),
            timestamp_ms: 1_764_431_221_000 + n,
        })
        .collect()
}

fn render(c: &mut Criterion) {
    let mut group = c.benchmark_group("batch/render");
    let cases = [
        ("json_1", BatchFormat::Json, 1),
        ("json_100", BatchFormat::Json, 100),
        ("json_500", BatchFormat::Json, 500),
        ("xml_100", BatchFormat::Xml, 100),
    ];
    for (name, format, count) in cases {
        let items = messages(count);
        let cursor = (count - 1).to_string();
        group.throughput(Throughput::Elements(count as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                black_box(render_batch(
                    format,
                    black_box(&items),
                    Some(&cursor),
                    500,
                    &BatchOptions::default(),
                ))
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = settings::short_runs();
    targets = render
}
criterion_main!(benches);
