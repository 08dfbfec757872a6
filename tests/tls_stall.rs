//! The stream stall timeout over TLS: a TLS SSE client that stops reading is declared stalled
//! after `streamStallMs`, and once it reads again it gets, decrypted and in order, the events it
//! had not read, the `goaway` with the id to resume from, and the end of the body: the records a
//! stalled write left unsent go out before the last words.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::slow_reader::{connect_small_window, sse_request};
use common::tls_client::{client_config, tls_over, ClientOptions, KeyKind, TestPki};
use common::topic_api::{backlog_topic_yaml, publish_backlog};
use common::{eventually, start_one_shard};
use tidegate::config::DriverChoice;
use tidegate::metrics::total;

fn stalled_tls_sse_reader_gets_goaway_after_its_backlog(driver: DriverChoice) {
    let pki = TestPki::new("tidegate test CA");
    let cert = pki.server_cert("server", &["gateway.test"], KeyKind::EcdsaP256);
    let gateway_yaml = format!(
        "gateway:\n  timeouts: {{ streamStallMs: 3000 }}\n  tls:\n    listen: 127.0.0.1:0\n    certificates:\n      - certFile: {}\n        keyFile: {}\n",
        cert.cert_file.display(),
        cert.key_file.display()
    );
    let yaml = backlog_topic_yaml(
        &gateway_yaml,
        "      - type: http-post\n      - type: sse",
        10_000,
    );
    let gateway = start_one_shard(&yaml, driver);
    // 10 MB: more than the kernel buffers of one connection hold.
    let payloads = (0..1000).map(|i: usize| {
        let mut payload = format!("{i:06}").into_bytes();
        payload.resize(10_000, b'x');
        payload
    });
    let ids = publish_backlog(gateway.local_addr(), "/topic", payloads);

    let client = client_config(&pki.ca_der(), ClientOptions::default());
    let tcp = connect_small_window(gateway.tls_addr().unwrap(), 4096);
    let mut stream = tls_over(tcp, &client, "gateway.test").unwrap();
    let request = sse_request(&format!("/topic?cursor={}", ids[0] - 1));
    stream.write_all(request.as_bytes()).unwrap();
    stream.flush().unwrap();
    assert!(
        eventually(Duration::from_secs(60), || total(gateway.metrics(), |m| {
            &m.streams_stalled_total
        }) == 1),
        "the TLS stream that stopped reading was never declared stalled"
    );
    // Reading again: every record decrypts, in order, up to the end of the body.
    let mut bytes = Vec::new();
    let mut chunk = vec![0; 64 * 1024];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
            Err(err) => panic!("reading the rest failed after {} bytes: {err}", bytes.len()),
        }
    }
    let text = String::from_utf8_lossy(&bytes);
    let goaway = text.rfind("event: goaway\n").expect("a goaway event");
    let mut delivered: Vec<u64> = text[..goaway]
        .lines()
        .filter_map(|line| line.strip_prefix("id: "))
        .map(|id| id.trim().parse().unwrap())
        .collect();
    // The goaway's own `id:` line comes just before it: the id to resume from.
    let resume_from = delivered.pop().expect("the goaway's id");
    assert!(!delivered.is_empty() && delivered.len() < ids.len());
    assert_eq!(delivered[..], ids[..delivered.len()], "in order, none lost");
    assert_eq!(Some(&resume_from), delivered.last());
    assert!(text.ends_with("0\r\n\r\n"), "the chunked body ends");
}
on_both_drivers!(
    stalled_tls_sse,
    stalled_tls_sse_reader_gets_goaway_after_its_backlog
);
