//! A JWKS URL served by a tiny HTTP server: fetched at start, refetched on an unknown `kid`
//! (key rotation), at most once per `minRefreshIntervalMs`, and waited for by the request.

#![allow(
    clippy::disallowed_types,
    reason = "a test: the JWKS server runs on a plain thread"
)]
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use super::algorithm::JwtAlgorithm::Rs256;
use super::refusal::JwtRefusal;
use super::test_tokens::*;
use super::verifier::{JwtKeys, JwtVerifier};

/// Serves the current document to every GET; counts the requests.
struct JwksServer {
    url: String,
    document: Arc<Mutex<String>>,
    fetches: Arc<AtomicUsize>,
}

impl JwksServer {
    fn start(document: &str) -> JwksServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        let document = Arc::new(Mutex::new(document.to_owned()));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (served, count) = (document.clone(), fetches.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                count.fetch_add(1, Ordering::SeqCst);
                let body = served.lock().unwrap().clone();
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        JwksServer {
            url,
            document,
            fetches,
        }
    }

    fn verifier(&self, min_refresh_ms: u64) -> JwtVerifier {
        let settings = plan(json!({
            "jwksUrl": self.url,
            "jwks": { "minRefreshIntervalMs": min_refresh_ms, "unknownKeyWaitMs": 10_000 },
        }));
        let keys = JwtKeys::start(&settings).unwrap();
        JwtVerifier::new(Arc::new(settings), keys)
    }
}

fn rsa2_token() -> String {
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(RSA2_PRIVATE.as_bytes()).unwrap();
    // verify_waiting checks the claims against the real clock.
    let claims = claims_at(super::verifier::unix_now());
    forge(r#"{"alg":"RS256","kid":"rsa-2"}"#, &claims, &key, Rs256)
}

fn rsa1_token() -> String {
    forge(
        r#"{"alg":"RS256","kid":"rsa-1"}"#,
        &good_claims(),
        &signing_key(Rs256),
        Rs256,
    )
}

fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn an_unknown_kid_refetches_and_the_rotated_key_is_accepted() {
    let server = JwksServer::start(JWKS);
    let verifier = server.verifier(0);
    eventually("the first fetch", || {
        verifier.verify(&rsa1_token(), NOW).is_ok()
    });
    let now = super::verifier::unix_now();
    assert!(matches!(
        verifier.verify(&rsa2_token(), now),
        Err(JwtRefusal::UnknownKey(_))
    ));
    // The issuer rotates: rsa-1 is gone, rsa-2 is new.
    *server.document.lock().unwrap() = JWKS_ROTATED.to_owned();
    let mut runtime = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .enable_timer()
        .build()
        .unwrap();
    let token = rsa2_token();
    let waited = runtime.block_on(verifier.verify_waiting(&token));
    assert_eq!(waited.unwrap().client_id, "app-1");
    assert_eq!(server.fetches.load(Ordering::SeqCst), 2);
    assert!(matches!(
        verifier.verify(&rsa1_token(), NOW),
        Err(JwtRefusal::UnknownKey(_))
    ));
}

#[test]
fn unknown_kid_refetches_are_rate_limited() {
    let server = JwksServer::start(JWKS);
    let verifier = server.verifier(3_600_000);
    eventually("the first fetch", || {
        verifier.verify(&rsa1_token(), NOW).is_ok()
    });
    let JwtKeys::Jwks(source) = JwtKeys::start(verifier.settings()).unwrap() else {
        panic!("a JWKS URL plan");
    };
    eventually("the second source's first fetch", || {
        source.fetches_completed() == 1
    });
    // Within minRefreshIntervalMs of the last fetch and none under way: refused at once.
    assert_eq!(source.request_refresh(), None);
    let mut runtime = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .enable_timer()
        .build()
        .unwrap();
    for _ in 0..20 {
        let refusal = runtime.block_on(verifier.verify_waiting(&rsa2_token()));
        assert!(matches!(refusal, Err(JwtRefusal::UnknownKey(_))));
    }
    assert_eq!(
        server.fetches.load(Ordering::SeqCst),
        2,
        "one fetch per source, no refetch"
    );
}
