//! Security to the broker: SASL_PLAINTEXT with SCRAM against tansu started with
//! `--authentication`, and TLS (SSL) through a TLS front before tansu (tansu 0.6.0 cannot serve
//! TLS itself: its `--cert` and `--key` options exclude each other).

mod common;
#[path = "common/kafka.rs"]
mod kafka_broker;

use std::time::Duration;

use common::*;
use kafka_broker::*;
use tidegate::config::DriverChoice;
use tidegate::runtime::Gateway;

const TOPIC: &str = "secure";

/// `security` authenticating as alice with SASL `mechanism`.
fn sasl(mechanism: &str, password: &str) -> String {
    format!(
        "{{ protocol: SASL_PLAINTEXT, sasl: {{ mechanism: {mechanism}, username: alice, password: {password} }} }}"
    )
}

fn yaml_with(bootstrap: &str, security: &str) -> String {
    format!(
        r#"
apis:
  - id: secure
    name: Secure
    contextPaths: [/k]
    entrypoints:
      - type: sse
      - type: http-post
      - type: http-get
        configuration:
          messagesLimitDurationMs: 500
    endpoint:
      type: kafka
      configuration:
        bootstrapServers: {bootstrap}
        security: {security}
        consumer: {{ enabled: true, topics: [{TOPIC}] }}
        producer: {{ enabled: true, topics: [{TOPIC}], requestTimeoutMs: 2000 }}
    plans:
      - name: Keyless
        security: keyless
"#
    )
}

/// Starts a gateway on `bootstrap` with `security`, waits for its feed, and checks that `text`
/// POSTed to it comes back over SSE; `why` says what a failure to start means.
fn round_trip(
    bootstrap: &str,
    security: &str,
    text: &str,
    why: &str,
    driver: DriverChoice,
) -> Gateway {
    let gateway = start(test_config(&yaml_with(bootstrap, security), driver));
    let addr = gateway.local_addr();
    assert!(
        eventually(Duration::from_secs(60), || get(addr, "/k", &[]).status
            == 200),
        "the feed did not start {why}"
    );
    let (_, mut sse) = open_sse(addr, "/k", &[]);
    assert_eq!(
        post(addr, "/k", text, "Accept: application/json\r\n").status,
        202
    );
    let data = format!("data: {text}");
    let seen = read_sse_until(&mut sse, |t| t.contains(&data));
    assert!(seen.contains(&data), "{seen}");
    gateway
}

fn scram_credentials_authenticate_and_wrong_ones_are_refused(driver: DriverChoice) {
    let mut broker = Broker::start_persistent();
    broker.create_topic(TOPIC, 1);
    broker.create_user("alice", "secret", "scram256");
    broker.restart_with_authentication();

    let _gateway = round_trip(
        &broker.bootstrap(),
        &sasl("SCRAM-SHA-256", "secret"),
        "authenticated",
        "with valid credentials",
        driver,
    );

    let wrong = start(test_config(
        &yaml_with(&broker.bootstrap(), &sasl("SCRAM-SHA-256", "wrong")),
        driver,
    ));
    // First the refusal, by its kind: a gateway still connecting (or failing for another
    // reason) would answer 503 too.
    let metrics = wrong.kafka_metrics().expect("kafka metrics");
    assert!(
        eventually(Duration::from_secs(60), || {
            tidegate::metrics::ShardMetrics::get(&metrics.sasl_failures_total) > 0
        }),
        "no refused SASL authentication was counted"
    );
    assert_eq!(
        tidegate::metrics::ShardMetrics::get(&metrics.producers_connected),
        0
    );
    let response = post(
        wrong.local_addr(),
        "/k",
        "refused",
        "Accept: application/json\r\n",
    );
    assert_eq!(response.status, 503, "{}", response.text());
    assert_eq!(
        get(wrong.local_addr(), "/k", &[]).status,
        503,
        "no feed without valid credentials"
    );
    // Operators see the kind on the admin endpoint.
    let admin = wrong.admin_addr().expect("admin endpoint");
    let text = get(admin, "/metrics", &[]).text();
    assert!(
        text.lines().any(|line| line
            .strip_prefix("tidegate_kafka_sasl_failures_total ")
            .is_some_and(|n| n.parse::<u64>().unwrap() > 0)),
        "{text}"
    );
    // Once the producer's first attempt failed, publishes are refused with its reason's
    // category (the broker's address and the SASL library's error go to the log only).
    let mut answer = String::new();
    assert!(
        eventually(Duration::from_secs(30), || {
            answer = post(wrong.local_addr(), "/k", "refused", "").text();
            answer.contains("not connected to the Kafka brokers (broker refused credentials)")
        }),
        "the refusal does not say why: {answer}"
    );
    assert!(
        !answer.contains(&broker.bootstrap()) && !answer.to_lowercase().contains("sasl"),
        "{answer}"
    );
}
on_both_drivers!(
    scram_credentials_authenticate_and_wrong_ones_are_refused,
    scram_credentials_authenticate_and_wrong_ones_are_refused
);

fn tls_to_a_broker_whose_certificate_is_trusted_through_a_tls_front(driver: DriverChoice) {
    let mut broker = Broker::start_persistent();
    broker.create_topic(TOPIC, 1);
    let dir = tempfile::tempdir().unwrap();
    let (front, trusted) = broker.restart_behind_tls_trusted(dir.path());

    let security = format!(
        "{{ protocol: SSL, ssl: {{ trustStore: {{ type: PEM, path: '{}' }} }} }}",
        trusted.display()
    );
    let _gateway = round_trip(
        &front.addr.to_string(),
        &security,
        "over-tls",
        "over TLS",
        driver,
    );

    // A gateway that does not trust the certificate cannot talk to the broker.
    let other = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let untrusted = dir.path().join("untrusted.pem");
    std::fs::write(&untrusted, other.cert.pem()).unwrap();
    let security = format!(
        "{{ protocol: SSL, ssl: {{ trustStore: {{ path: '{}' }} }} }}",
        untrusted.display()
    );
    let refused = start(test_config(
        &yaml_with(&front.addr.to_string(), &security),
        driver,
    ));
    // First the failed handshakes: a gateway still connecting would answer 503 too.
    let metrics = refused.kafka_metrics().expect("kafka metrics");
    assert!(
        eventually(Duration::from_secs(60), || {
            tidegate::metrics::ShardMetrics::get(&metrics.fetch_errors_total) > 0
        }),
        "the failed connections are not counted"
    );
    assert_eq!(
        tidegate::metrics::ShardMetrics::get(&metrics.producers_connected),
        0
    );
    assert_eq!(
        post(
            refused.local_addr(),
            "/k",
            "refused",
            "Accept: application/json\r\n"
        )
        .status,
        503
    );
}
on_both_drivers!(
    tls_to_a_broker_whose_certificate_is_trusted_through_a_tls_front,
    tls_to_a_broker_whose_certificate_is_trusted_through_a_tls_front
);

/// A gateway's `security` presenting the key store `key_store` through a front that requires
/// client certificates, trusting the front's certificate file `trusted`.
fn mtls(trusted: &std::path::Path, key_store: &str) -> String {
    format!(
        "{{ protocol: SSL, ssl: {{ trustStore: {{ path: '{}' }}{key_store} }} }}",
        trusted.display()
    )
}

fn a_broker_requiring_client_certificates_accepts_the_key_store_it_issued_only(
    driver: DriverChoice,
) {
    let mut broker = Broker::start_persistent();
    broker.create_topic(TOPIC, 1);
    let client_ca = ClientCa::new();
    let (front, cert_pem) = broker.restart_behind_mtls(&client_ca);
    let bootstrap = front.addr.to_string();
    let dir = tempfile::tempdir().unwrap();
    let trusted = dir.path().join("trusted.pem");
    std::fs::write(&trusted, cert_pem).unwrap();
    let (cert, key) = client_ca.issue("gateway");
    let (cert_path, key_path) = (dir.path().join("client.crt"), dir.path().join("client.key"));
    std::fs::write(&cert_path, cert).unwrap();
    std::fs::write(&key_path, key).unwrap();

    let key_store = format!(
        ", keyStore: {{ type: PEM, certPath: '{}', keyPath: '{}' }}",
        cert_path.display(),
        key_path.display()
    );
    let _gateway = round_trip(
        &bootstrap,
        &mtls(&trusted, &key_store),
        "with-client-cert",
        "with a client certificate",
        driver,
    );

    // Without a certificate, or with one from another authority, the front refuses the handshake.
    let (other_cert, other_key) = ClientCa::new().issue("gateway");
    let other_store =
        format!(", keyStore: {{ certContent: {other_cert:?}, keyContent: {other_key:?} }}");
    for key_store in ["", other_store.as_str()] {
        let refused = start(test_config(
            &yaml_with(&bootstrap, &mtls(&trusted, key_store)),
            driver,
        ));
        let addr = refused.local_addr();
        // First the refused handshakes, then the answers: a gateway that simply had not
        // connected yet would answer 503 too.
        let metrics = refused.kafka_metrics().expect("kafka metrics");
        assert!(
            eventually(Duration::from_secs(60), || {
                tidegate::metrics::ShardMetrics::get(&metrics.fetch_errors_total) > 0
            }),
            "the failed connections are not counted"
        );
        let response = post(addr, "/k", "refused", "Accept: application/json\r\n");
        assert_eq!(response.status, 503, "{}", response.text());
        assert_eq!(
            get(addr, "/k", &[]).status,
            503,
            "no feed without a valid certificate"
        );
    }
}
on_both_drivers!(
    a_broker_requiring_client_certificates_accepts_the_key_store_it_issued_only,
    a_broker_requiring_client_certificates_accepts_the_key_store_it_issued_only
);
