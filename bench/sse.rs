//! SSE event encoding: a single-line JSON payload and a multi-line text payload (one `data:` line
//! per line), both with `id:` and `event:` fields as the SSE entrypoint writes them.

mod settings;

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tidegate::codec::sse::{encode_event, SseEvent};

/// 178 bytes of JSON on one line.
const SINGLE_LINE: &[u8] = br#"{"orderId":"a7c1-4f2e-9b3d","status":"shipped","items":[{"sku":"KB-104","qty":2},{"sku":"MS-220","qty":1}],"carrier":"postal","eta":"2025-12-02T10:00:00Z","note":"leave at door"}"#;

/// Twelve lines of about 40 bytes (491 in all): a log excerpt.
const MULTI_LINE: &[u8] = b"2025-11-29T15:47:01Z INFO accepted conn 1\n\
2025-11-29T15:47:01Z INFO route /demo ok\n\
2025-11-29T15:47:02Z INFO subscribed mock\n\
2025-11-29T15:47:02Z INFO delivered id 0\n\
2025-11-29T15:47:03Z INFO delivered id 1\n\
2025-11-29T15:47:03Z INFO delivered id 2\n\
2025-11-29T15:47:04Z WARN queue at 80%\n\
2025-11-29T15:47:04Z INFO delivered id 3\n\
2025-11-29T15:47:05Z INFO delivered id 4\n\
2025-11-29T15:47:05Z INFO heartbeat sent\n\
2025-11-29T15:47:06Z INFO delivered id 5\n\
2025-11-29T15:47:06Z INFO closing stream";

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("sse/encode_event");
    for (name, data) in [("single_line", SINGLE_LINE), ("multi_line_12", MULTI_LINE)] {
        let event = SseEvent {
            id: Some("1234567"),
            event: Some("message"),
            data,
            comments: &[],
        };
        let mut dst = BytesMut::with_capacity(2 * data.len() + 64);
        group.throughput(Throughput::Bytes(data.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                dst.clear();
                encode_event(&mut dst, black_box(&event));
                black_box(dst.len())
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = settings::short_runs();
    targets = encode
}
criterion_main!(benches);
