//! WebSocket frames: encoding server text frames (16 B, 1 KiB, 64 KiB payloads) and decoding a
//! masked client text frame of the same sizes (unmasking + UTF-8 validation included).

mod settings;

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use tidegate::codec::ws::{
    encode_client_frame, encode_text, FrameDecoder, Opcode, WsEvent, WsLimits,
};

const SIZES_BYTES: [(&str, usize); 3] = [("16B", 16), ("1KiB", 1024), ("64KiB", 64 * 1024)];

/// The gateway's default limits (1 MiB frames, 4 MiB messages).
const LIMITS: WsLimits = WsLimits {
    max_frame_bytes: 1024 * 1024,
    max_message_bytes: 4 * 1024 * 1024,
};

/// ASCII text of `len` bytes (valid UTF-8, as a text frame requires).
fn text_payload(len: usize) -> Vec<u8> {
    b"{\"sensor\":\"t-17\",\"celsius\":21.5}"
        .iter()
        .copied()
        .cycle()
        .take(len)
        .collect()
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("ws/encode_text");
    for (name, len) in SIZES_BYTES {
        let payload = text_payload(len);
        let mut dst = BytesMut::with_capacity(len + 14);
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                dst.clear();
                encode_text(&mut dst, black_box(&payload));
                black_box(dst.len())
            })
        });
    }
    group.finish();
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("ws/decode_masked_text");
    for (name, len) in SIZES_BYTES {
        let mut frame = BytesMut::new();
        encode_client_frame(
            &mut frame,
            Opcode::Text,
            true,
            &text_payload(len),
            [0x37, 0xfa, 0x21, 0x3d],
        );
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_function(name, |b| {
            b.iter_batched(
                || (FrameDecoder::new(LIMITS), frame.clone()),
                |(mut decoder, mut buf)| {
                    let event = decoder.decode(&mut buf);
                    assert!(
                        matches!(event, Ok(Some(WsEvent::Text(_)))),
                        "frame must decode"
                    );
                    black_box(event)
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = settings::short_runs();
    targets = encode, decode
}
criterion_main!(benches);
