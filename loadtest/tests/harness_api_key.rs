//! `--header` carries an API key: against the in-process gateway with the load-test topic behind
//! an api-key plan, a run with the key's header on every request loses nothing, and the same run
//! without it gets no subscriber in (each is answered 401), so the header is what let them in.

use std::net::SocketAddr;
use std::time::Duration;

use tidegate_load::error::LoadError;
use tidegate_load::publisher::PubProtocol;
use tidegate_load::run::{run, Workload};
use tidegate_load::subscriber::SubProtocol;

/// The public demo key of config/plan-api-key.yaml and its hash.
const KEY: &str = "H9Q5hLQ_kqqAh6mgWTM8CC9SibkBET8IYdT6Je7C_OA";
const KEY_HASH: &str = "sha256:9b4ab9e3ebcfee2edef3ad9cd2f24e0fe15cdd94af07d0f0b99668da8b4da4d5";

/// One API on `/load` (POST publishes, WebSocket, SSE and GET subscribe, as in
/// config/plan-api-key.yaml: a key belongs to one subscription, so publishers and subscribers
/// sharing one key share one API) behind an api-key plan, one application subscribed with `KEY`.
fn api_key_gateway() -> tidegate::runtime::Gateway {
    let yaml = format!(
        r#"
gateway:
  listen: "127.0.0.1:0"
  adminListen: off
  shards: 2
apis:
  - id: load
    name: Load
    contextPaths: [/load]
    entrypoints:
      - type: http-post
      - type: websocket
      - type: sse
      - type: http-get
        configuration:
          messagesLimitDurationMs: 50
    endpoint:
      type: in-memory
      configuration:
        topic: load
        maxRetainedMessages: 100000
    plans:
      - id: gold
        name: Gold
        security: api-key
applications:
  - id: bench
    name: Bench
subscriptions:
  - id: bench-gold
    api: load
    plan: gold
    application: bench
    status: accepted
    apiKeys:
      - hash: "{KEY_HASH}"
"#
    );
    let config = tidegate::config::load_str(&yaml, "test").unwrap();
    tidegate::runtime::Gateway::start(config).unwrap()
}

fn workload(target: SocketAddr, sub: SubProtocol, headers: Vec<String>) -> Workload {
    Workload {
        target,
        sub,
        sub_path: "/load".into(),
        subscribers: 5,
        publish: PubProtocol::Post,
        pub_path: "/load".into(),
        publishers: 2,
        rate_per_s: 400.0,
        size_bytes: 64,
        warmup: Duration::from_millis(200),
        duration: Duration::from_millis(800),
        threads: 2,
        source_ips: 3,
        get_limit: 1000,
        max_in_flight: 100,
        sub_addr: None,
        sub_tls: None,
        headers,
    }
}

fn the_key_lets_every_request_in(sub: SubProtocol) {
    let gateway = api_key_gateway();
    let header = vec![format!("X-Gravitee-Api-Key: {KEY}")];
    let outcome = run(&workload(gateway.local_addr(), sub, header), None).expect("run completes");
    let c = &outcome.counts;
    assert_eq!(c.subscribers_ready, 5, "{:?}", outcome.errors);
    assert_eq!(c.published, 400, "{c:?}");
    assert_eq!(c.acknowledged, 400, "{c:?} {:?}", outcome.publisher_errors);
    assert_eq!(c.delivered, 400 * 5, "{c:?} {:?}", outcome.errors);
    assert_eq!((c.lost, c.duplicates), (0, 0), "{c:?}");

    let refused = run(&workload(gateway.local_addr(), sub, Vec::new()), None);
    assert!(
        matches!(&refused, Err(LoadError::Setup(msg)) if msg.contains("no subscriber")),
        "without the key: {:?}",
        refused.map(|o| o.counts)
    );
}

#[test]
fn websocket_subscribers_and_post_publishers_send_the_key() {
    the_key_lets_every_request_in(SubProtocol::Ws);
}

#[test]
fn sse_subscribers_and_post_publishers_send_the_key() {
    the_key_lets_every_request_in(SubProtocol::Sse);
}

#[test]
fn get_pollers_and_post_publishers_send_the_key() {
    the_key_lets_every_request_in(SubProtocol::Get);
}
