//! HTTP request head parsing: a browser-like GET with 10 header fields, and the minimal request.
//!
//! Parsing splits the head off the connection buffer, so each iteration gets a fresh copy of the
//! request (made outside the timed region by `iter_batched`).

mod settings;

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use tidegate::codec::http_head::{parse_request_head, HeadLimits};

const BROWSER_GET: &[u8] = b"GET /demo/events?cursor=41&limit=100 HTTP/1.1\r\n\
Host: gateway.example.com\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n\
Accept: application/json, text/plain;q=0.9, */*;q=0.8\r\n\
Accept-Language: en-GB,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Referer: https://app.example.com/dashboard\r\n\
Origin: https://app.example.com\r\n\
Connection: keep-alive\r\n\
Cookie: session=3f9c1e0a7b2d4c58; theme=dark\r\n\
Cache-Control: no-cache\r\n\
\r\n";

const MINIMAL_GET: &[u8] = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";

/// The gateway's default limits (16 KiB, 64 fields).
const LIMITS: HeadLimits = HeadLimits {
    max_header_bytes: 16 * 1024,
    max_header_count: 64,
};

fn parse_head(c: &mut Criterion) {
    let mut group = c.benchmark_group("http_head/parse");
    for (name, raw) in [
        ("browser_get_10_headers", BROWSER_GET),
        ("minimal_get", MINIMAL_GET),
    ] {
        group.throughput(Throughput::Bytes(raw.len() as u64));
        group.bench_function(name, |b| {
            b.iter_batched(
                || BytesMut::from(raw),
                |mut buf| {
                    let head = parse_request_head(&mut buf, &LIMITS);
                    assert!(matches!(head, Ok(Some(_))), "benchmark request must parse");
                    black_box(head)
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
    targets = parse_head
}
criterion_main!(benches);
