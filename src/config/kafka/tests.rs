//! The Kafka endpoint's configuration rules.

use crate::config::{load_str, EndpointConfig};

fn endpoint(configuration: &str) -> Result<EndpointConfig, String> {
    let yaml = format!(
        "apis:\n  - id: k\n    name: K\n    contextPaths: [/k]\n    entrypoints: [{{type: sse}}]\n    endpoint:\n      type: kafka\n      configuration: {configuration}\n    plans: [{{name: Keyless, security: keyless}}]\n"
    );
    load_str(&yaml, "t")
        .map(|config| config.apis[0].endpoint.clone())
        .map_err(|err| err.to_string())
}

#[test]
fn a_full_configuration_is_typed() {
    let EndpointConfig::Kafka(options) = endpoint(
        "{bootstrapServers: 'a:9092, b:9093', consumer: {enabled: true, topics: [ty, tx, tx], autoOffsetReset: earliest}, producer: {enabled: true, topics: [tx], compressionType: zstd}}",
    )
    .unwrap() else {
        panic!("not kafka")
    };
    assert_eq!(options.bootstrap_servers, vec!["a:9092", "b:9093"]);
    let consumer = options.consumer.unwrap();
    assert_eq!(consumer.topics, vec!["tx", "ty"]);
    assert_eq!(
        consumer.auto_offset_reset,
        crate::config::kafka::AutoOffsetReset::Earliest
    );
    assert!(consumer.encode_message_id);
    assert_eq!(
        options.producer.unwrap().compression,
        crate::config::kafka::Compression::Zstd
    );
}

#[test]
fn every_problem_is_reported() {
    let error = endpoint(
        "{bootstrapServers: nohost, security: {protocol: SSL, ssl: {trustStore: {path: /nonexistent.pem}}}, consumer: {enabled: true, groupId: ' ', autoOffsetReset: middle}, producer: {enabled: true, topics: [a, b], compressionType: brotli}}",
    )
    .unwrap_err();
    for expected in [
        "'nohost' is not host:port",
        "cannot read '/nonexistent.pem'",
        "consumer.topics: required",
        "groupId: must not be empty",
        "'middle' is not one of: latest, earliest",
        "exactly one topic",
        "'brotli' is not one of",
    ] {
        assert!(
            error.contains(expected),
            "missing {expected:?} in:\n{error}"
        );
    }
}

#[test]
fn an_endpoint_that_does_nothing_is_refused() {
    let error = endpoint("{bootstrapServers: 'a:1'}").unwrap_err();
    assert!(error.contains("would do nothing"), "{error}");
}

#[test]
fn a_consumer_group_is_accepted_with_every_security_protocol() {
    let EndpointConfig::Kafka(options) =
        endpoint("{bootstrapServers: 'a:1', consumer: {enabled: true, topics: [t], groupId: g}}")
            .unwrap()
    else {
        panic!("not kafka")
    };
    assert_eq!(options.consumer.unwrap().group_id.as_deref(), Some("g"));
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, certificate_and_key().0).unwrap();
    let EndpointConfig::Kafka(options) = endpoint(&format!(
        "{{bootstrapServers: 'a:1', security: {{protocol: SASL_SSL, sasl: {{mechanism: SCRAM-SHA-512, username: u, password: p}}, ssl: {{trustStore: {{path: '{}'}}}}}}, consumer: {{enabled: true, topics: [t], groupId: g}}}}",
        ca.display()
    ))
    .unwrap() else {
        panic!("not kafka")
    };
    assert_eq!(options.consumer.unwrap().group_id.as_deref(), Some("g"));
    assert!(options.security.sasl.is_some() && options.security.tls_trust_pem.is_some());
}

/// A self-signed certificate and its key, PEM.
fn certificate_and_key() -> (String, String) {
    let certified = rcgen::generate_simple_self_signed(vec!["gateway".to_owned()]).unwrap();
    (certified.cert.pem(), certified.signing_key.serialize_pem())
}

/// An SSL endpoint configuration with `key_store` (YAML flow mapping) beside a trust store.
fn with_key_store(key_store: &str) -> Result<EndpointConfig, String> {
    let (cert, _) = certificate_and_key();
    endpoint(&format!(
        "{{bootstrapServers: 'a:1', security: {{protocol: SSL, ssl: {{trustStore: {{content: {cert:?}}}, keyStore: {key_store}}}}}, consumer: {{enabled: true, topics: [t]}}}}"
    ))
}

#[test]
fn a_pem_key_store_is_read_from_files_or_content() {
    let (cert, key) = certificate_and_key();
    let dir = tempfile::tempdir().unwrap();
    let (cert_path, key_path) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
    std::fs::write(&cert_path, &cert).unwrap();
    std::fs::write(&key_path, &key).unwrap();
    for key_store in [
        format!(
            "{{type: PEM, certPath: '{}', keyPath: '{}'}}",
            cert_path.display(),
            key_path.display()
        ),
        format!("{{certContent: {cert:?}, keyContent: {key:?}}}"),
    ] {
        let Ok(EndpointConfig::Kafka(options)) = with_key_store(&key_store) else {
            panic!("refused: {:?}", with_key_store(&key_store))
        };
        assert!(options.security.tls_identity.is_some(), "{key_store}");
    }
}

#[test]
fn a_bad_key_store_is_refused_with_what_to_write() {
    let (cert, key) = certificate_and_key();
    let (_, other_key) = certificate_and_key();
    for (key_store, expected) in [
        (
            "{type: PKCS12, path: ks.p12, password: s}".to_owned(),
            "openssl pkcs12 -in keystore.p12",
        ),
        ("{type: JKS, path: ks.jks}".to_owned(), "keytool -importkeystore"),
        (
            "{certPath: /nonexistent/c.pem, keyPath: /nonexistent/k.pem}".to_owned(),
            "keyStore.certPath: cannot read '/nonexistent/c.pem'",
        ),
        (
            format!("{{certContent: {cert:?}}}"),
            "keyStore.keyPath: required",
        ),
        (
            format!("{{certContent: {key:?}, keyContent: {key:?}}}"),
            "keyStore.certContent: holds no PEM certificate",
        ),
        (
            format!("{{certContent: {cert:?}, keyContent: {cert:?}}}"),
            "keyStore.keyContent: holds no PEM private key",
        ),
        (
            format!("{{certContent: {cert:?}, keyContent: \"-----BEGIN ENCRYPTED PRIVATE KEY-----\\nAAAA\\n-----END ENCRYPTED PRIVATE KEY-----\\n\"}}"),
            "the private key is encrypted",
        ),
        (
            format!("{{certContent: {cert:?}, keyContent: {other_key:?}}}"),
            "does not belong to the first certificate",
        ),
        (
            format!("{{certContent: {cert:?}, keyContent: {key:?}, password: x}}"),
            "keyStore.password: not used with `type: PEM`",
        ),
    ] {
        let error = with_key_store(&key_store).unwrap_err();
        assert!(error.contains(expected), "{key_store}: missing {expected:?} in:\n{error}");
    }
}

#[test]
fn topic_pattern_replaces_topics_and_must_compile() {
    let with = |consumer: &str| {
        format!(
            "apis:\n  - id: k\n    name: K\n    contextPaths: [/k]\n    entrypoints: [{{ type: sse }}]\n    endpoint:\n      type: kafka\n      configuration:\n        bootstrapServers: 127.0.0.1:9092\n        consumer: {{ enabled: true, {consumer} }}\n    plans: [{{ name: Keyless, security: keyless }}]\n"
        )
    };
    let config = crate::config::load_str(&with("topicPattern: 'orders\\..*'"), "t").unwrap();
    let crate::config::EndpointConfig::Kafka(options) = &config.apis[0].endpoint else {
        panic!("not kafka");
    };
    let consumer = options.consumer.as_ref().unwrap();
    assert_eq!(consumer.topic_pattern.as_deref(), Some("^(?:orders\\..*)$"));
    let both = crate::config::load_str(&with("topics: [a], topicPattern: 'b.*'"), "t").unwrap_err();
    assert!(
        both.to_string()
            .contains("either `topics` or `topicPattern`"),
        "{both}"
    );
    let grouped = crate::config::load_str(&with("topicPattern: 'orders\\..*', groupId: g"), "t");
    assert!(grouped.is_ok(), "{grouped:?}");
    let broken = crate::config::load_str(&with("topicPattern: 'orders('"), "t").unwrap_err();
    assert!(
        broken
            .to_string()
            .contains("not a valid regular expression"),
        "{broken}"
    );
}

#[test]
fn subscription_groups_are_typed_with_their_bounds() {
    let EndpointConfig::Kafka(options) = endpoint(
        "{bootstrapServers: 'a:9092', consumer: {enabled: true, topics: [t], groupId: orders, groupScope: subscription, maxSubscriptionGroups: 7, subscriptionIdleTimeoutMs: 2500}}",
    )
    .unwrap() else {
        panic!("not kafka")
    };
    let groups = options.consumer.unwrap().subscription_groups.unwrap();
    assert_eq!(groups.max, 7);
    assert_eq!(groups.idle_timeout, std::time::Duration::from_millis(2500));

    let EndpointConfig::Kafka(options) = endpoint(
        "{bootstrapServers: 'a:9092', consumer: {enabled: true, topics: [t], groupId: orders}}",
    )
    .unwrap() else {
        panic!("not kafka")
    };
    assert_eq!(
        options.consumer.unwrap().subscription_groups,
        None,
        "one group per API unless asked"
    );
}

#[test]
fn subscription_groups_need_a_group_id_and_sane_bounds() {
    let error = endpoint(
        "{bootstrapServers: 'a:9092', consumer: {enabled: true, topics: [t], groupScope: subscription, maxSubscriptionGroups: 0, subscriptionIdleTimeoutMs: 0}}",
    )
    .unwrap_err();
    for expected in [
        "consumer.groupScope: `groupScope: subscription` needs `groupId`",
        "consumer.maxSubscriptionGroups",
        "consumer.subscriptionIdleTimeoutMs",
    ] {
        assert!(error.contains(expected), "{expected} missing from: {error}");
    }
    let error = endpoint(
        "{bootstrapServers: 'a:9092', consumer: {enabled: true, topics: [t], groupId: g, groupScope: client}}",
    )
    .unwrap_err();
    assert!(error.contains("'client' is not one of: api"), "{error}");
}

#[test]
fn the_session_timeout_is_typed_within_its_bounds() {
    let consumer = |extra: &str| {
        endpoint(&format!(
            "{{bootstrapServers: 'a:9092', consumer: {{enabled: true, topics: [t], groupId: g{extra}}}}}"
        ))
        .map(|endpoint| match endpoint {
            EndpointConfig::Kafka(options) => options.consumer.unwrap(),
            _ => panic!("not kafka"),
        })
    };
    assert_eq!(
        consumer("").unwrap().session_timeout,
        std::time::Duration::from_secs(10)
    );
    assert_eq!(
        consumer(", sessionTimeoutMs: 6000")
            .unwrap()
            .session_timeout,
        std::time::Duration::from_secs(6)
    );
    for refused in ["999", "1800001"] {
        let error = consumer(&format!(", sessionTimeoutMs: {refused}")).unwrap_err();
        assert!(
            error.contains("consumer.sessionTimeoutMs: must be between 1000 and 1800000 (ms)"),
            "{error}"
        );
    }
}

#[test]
fn a_node_id_makes_the_group_membership_static() {
    let yaml = |gateway: &str| {
        format!(
            "{gateway}apis:\n  - id: k\n    name: K\n    contextPaths: [/k]\n    entrypoints: [{{type: sse}}]\n    endpoint:\n      type: kafka\n      configuration: {{bootstrapServers: 'a:9092', consumer: {{enabled: true, topics: [t], groupId: g}}}}\n    plans: [{{name: Keyless, security: keyless}}]\n"
        )
    };
    let instance = |yaml: &str| match &load_str(yaml, "t").unwrap().apis[0].endpoint {
        EndpointConfig::Kafka(options) => {
            options.consumer.as_ref().unwrap().group_instance_id.clone()
        }
        _ => panic!("not kafka"),
    };
    assert_eq!(
        instance(&yaml("gateway:\n  nodeId: edge-1\n")).as_deref(),
        Some("tidegate-edge-1")
    );
    assert_eq!(instance(&yaml("")), None);
}
