//! The subscriber write path of one message reaching 1,000 WebSocket (or SSE) subscribers of a
//! shard: each subscriber's writer frames the message into its write batch and seals the batch
//! for `writev` (the socket write itself is not measured).
//!
//! `per_subscriber`: every writer checks UTF-8 and encodes the framing itself (the path before
//! `delivery::frame_cache`). `frame_once`: the first writer frames the message, the others take
//! the shared bytes from the shard's cache. Both run in one process, so their ratio is what to
//! read (issue 17: "frame a message once and share it").
//!
//! `end_waits`: one pass of a subscriber writer's loop polls its four end-of-stream waits
//! (shutdown, peer closed, credential ended, API retired), each a `LocalSignal` that 1,000 other
//! writers of the shard also wait on. `recreated`: the waits are made, polled and dropped on every
//! pass (taking and giving back a waiter slot each); `kept`: made once and polled again.

mod settings;

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tidegate::codec::sse::{data_lines, encode_event, encode_event_head, needs_base64, SseEvent};
use tidegate::codec::ws::{encode_frame_header, Opcode};
use tidegate::delivery::frame_cache::FrameCache;
use tidegate::message::{Message, MessageId, PayloadKind};
use tidegate::metrics::ShardMetrics;
use tidegate::server::write_batch::WriteBatch;
use tidegate::shard::LocalSignal;

const SUBSCRIBERS: usize = 1_000;
const SIZES_BYTES: [(&str, usize); 2] = [("100B", 100), ("4KiB", 4096)];

fn message(seq: u64, payload: &Bytes) -> Message {
    Message {
        id: MessageId::Sequence(seq),
        payload: payload.clone(),
        kind: PayloadKind::Unspecified,
        headers: Arc::from([]),
        metadata: Arc::from([]),
        timestamp_ms: 1_764_431_221_000,
    }
}

fn json_payload(len: usize) -> Bytes {
    b"{\"sensor\":\"t-17\",\"celsius\":21.5}"
        .iter()
        .copied()
        .cycle()
        .take(len)
        .collect::<Vec<u8>>()
        .into()
}

fn ws_header(dst: &mut BytesMut, message: &Message) {
    let opcode = if message.kind.is_text(&message.payload) {
        Opcode::Text
    } else {
        Opcode::Binary
    };
    encode_frame_header(dst, opcode, message.payload.len());
}

/// The SSE event of `message`, piecewise, as every subscriber wrote it before frame-once.
fn sse_per_subscriber(batch: &mut WriteBatch, scratch: &mut BytesMut, message: &Message) {
    let id = message.id.to_string();
    let comments: Vec<(String, String)> = Vec::new();
    scratch.clear();
    assert!(!needs_base64(&message.payload) && !message.payload.contains(&b'\r'));
    let event = SseEvent {
        id: Some(&id),
        event: Some("message"),
        data: &[],
        comments: &comments,
    };
    encode_event_head(scratch, &event);
    let lines = data_lines(&message.payload);
    let data_bytes: usize = lines
        .iter()
        .map(|line| if line.is_empty() { 5 } else { 7 + line.len() })
        .sum();
    batch.put_slice(format!("{:x}\r\n", scratch.len() + data_bytes + 1).as_bytes());
    batch.put_slice(scratch);
    for line in lines {
        batch.put_slice(b"data: ");
        batch.put_shared(&message.payload.slice(line));
        batch.put_slice(b"\n");
    }
    batch.put_slice(b"\n\r\n");
}

/// The same event, whole, as the first subscriber builds it for the cache.
fn sse_whole(dst: &mut BytesMut, message: &Message) {
    let id = message.id.to_string();
    let mut event = BytesMut::new();
    let data = &message.payload[..];
    let ev = SseEvent {
        id: Some(&id),
        event: Some("message"),
        data,
        comments: &[],
    };
    encode_event(&mut event, &ev);
    dst.extend_from_slice(format!("{:x}\r\n", event.len()).as_bytes());
    dst.extend_from_slice(&event);
    dst.extend_from_slice(b"\r\n");
}

fn write_path(c: &mut Criterion) {
    let metrics = Arc::new(ShardMetrics::default());
    let mut batches: Vec<WriteBatch> = (0..SUBSCRIBERS).map(|_| WriteBatch::new()).collect();
    let mut scratch = BytesMut::new();
    for (size_name, len) in SIZES_BYTES {
        let payload = json_payload(len);
        let mut group = c.benchmark_group(format!("delivery/{size_name}_to_1000"));
        group.throughput(Throughput::Elements(SUBSCRIBERS as u64));
        let mut seq = 0;
        group.bench_function("ws_per_subscriber", |b| {
            b.iter(|| {
                seq += 1;
                let message = message(seq, &payload);
                for batch in &mut batches {
                    let mine = message.clone();
                    ws_header(batch.tail_mut(), &mine);
                    batch.put_shared(&mine.payload);
                    batch.seal();
                    black_box(batch.len());
                    batch.clear();
                }
            })
        });
        let mut cache = FrameCache::<()>::default();
        group.bench_function("ws_frame_once", |b| {
            b.iter(|| {
                seq += 1;
                let message = message(seq, &payload);
                for batch in &mut batches {
                    let mine = message.clone();
                    let framed = cache.framed(&mine, (), &metrics, |dst| {
                        ws_header(dst, &mine);
                        dst.extend_from_slice(&mine.payload);
                    });
                    batch.put_shared(&framed);
                    batch.seal();
                    black_box(batch.len());
                    batch.clear();
                }
            })
        });
        group.bench_function("sse_per_subscriber", |b| {
            b.iter(|| {
                seq += 1;
                let message = message(seq, &payload);
                for batch in &mut batches {
                    let mine = message.clone();
                    sse_per_subscriber(batch, &mut scratch, &mine);
                    batch.seal();
                    black_box(batch.len());
                    batch.clear();
                }
            })
        });
        let mut cache = FrameCache::<bool>::default();
        group.bench_function("sse_frame_once", |b| {
            b.iter(|| {
                seq += 1;
                let message = message(seq, &payload);
                for batch in &mut batches {
                    let mine = message.clone();
                    let framed = cache.framed(&mine, true, &metrics, |dst| sse_whole(dst, &mine));
                    batch.put_shared(&framed);
                    batch.seal();
                    black_box(batch.len());
                    batch.clear();
                }
            })
        });
        group.finish();
    }
}

/// Checks, before measuring, that both ways write the same bytes.
fn same_bytes() {
    let metrics = Arc::new(ShardMetrics::default());
    let mut cache = FrameCache::<bool>::default();
    for (_, len) in SIZES_BYTES {
        let message = message(1, &json_payload(len));
        let mut piecewise = WriteBatch::new();
        sse_per_subscriber(&mut piecewise, &mut BytesMut::new(), &message);
        let framed = cache.framed(&message, true, &metrics, |dst| sse_whole(dst, &message));
        let mut whole = WriteBatch::new();
        whole.put_shared(&framed);
        let (a, b) = (piecewise.take_parts().concat(), whole.take_parts().concat());
        assert_eq!(a, b, "the SSE event differs for {len} bytes");
    }
}

fn end_waits(c: &mut Criterion) {
    const OTHERS: usize = 1_000;
    let signals: Vec<LocalSignal> = (0..4).map(|_| LocalSignal::new()).collect();
    let mut cx = Context::from_waker(Waker::noop());
    // The shard's other writers, parked on the same signals.
    let mut others: Vec<_> = signals
        .iter()
        .flat_map(|signal| (0..OTHERS).map(move |_| Box::pin(signal.wait())))
        .collect();
    for wait in &mut others {
        assert_eq!(wait.as_mut().poll(&mut cx), Poll::Pending);
    }
    let mut group = c.benchmark_group("delivery/end_waits_4_signals");
    group.throughput(Throughput::Elements(1));
    group.bench_function("recreated", |b| {
        b.iter(|| {
            for signal in &signals {
                let mut wait = pin!(signal.wait());
                black_box(wait.as_mut().poll(&mut cx).is_pending());
            }
        })
    });
    let mut kept: Vec<_> = signals.iter().map(|s| Box::pin(s.wait())).collect();
    group.bench_function("kept", |b| {
        b.iter(|| {
            for wait in &mut kept {
                black_box(wait.as_mut().poll(&mut cx).is_pending());
            }
        })
    });
    group.finish();
    drop(others);
}

fn benches(c: &mut Criterion) {
    same_bytes();
    write_path(c);
    end_waits(c);
}

criterion_group! {
    name = delivery;
    config = settings::short_runs();
    targets = benches
}
criterion_main!(delivery);
