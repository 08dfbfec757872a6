//! The TLS listener (`gateway.tls`): every entrypoint over TLS next to the plaintext listener,
//! certificates chosen by SNI (ECDSA, Ed25519, RSA), TLS 1.2 and 1.3, ALPN `http/1.1`, client
//! certificates, the handshake deadline, garbage on the TLS port, and certificate reloads that
//! leave live streams alone.

#![allow(
    clippy::disallowed_types,
    reason = "a test: its clients and fakes run on plain threads, never on a shard"
)]
mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use common::admin::{metric_total, metrics_text, plain_metric};
use common::tls_client::{
    client_config, client_config_seeing_any_certificate, next_sse_data, read_fields, request,
    served_cert, tls_connect, ClientOptions, KeyKind, ServerCert, TestPki, TlsStream,
};
use common::{connect, eventually, get, post_on, start, test_config};
use tidegate::config::DriverChoice;
use tidegate::tls::peer::{hex, sha256_fingerprint};
use tungstenite::Message;

/// `gateway.tls` with `certs` (the first is the default) and `extra` lines (indented four
/// spaces), then a Mock API (`/mock`) and a chat API (`/chat`) over an in-memory topic.
fn yaml(certs: &[&ServerCert], extra: &str, header_read_ms: u64) -> String {
    let mut certificates = String::new();
    for cert in certs {
        certificates.push_str(&format!(
            "      - certFile: {}\n        keyFile: {}\n",
            cert.cert_file.display(),
            cert.key_file.display()
        ));
    }
    format!(
        r#"
gateway:
  timeouts:
    headerReadMs: {header_read_ms}
  tls:
    listen: 127.0.0.1:0
    certificates:
{certificates}{extra}
apis:
  - id: chat
    name: Chat
    contextPaths: [/chat]
    entrypoints:
      - type: http-post
      - type: sse
      - type: websocket
    endpoint:
      type: in-memory
      configuration:
        topic: chat
    plans:
      - name: Keyless
        security: keyless
  - id: mock
    name: Mock
    contextPaths: [/mock]
    entrypoints:
      - type: http-get
        configuration:
          messagesLimitCount: 2
          messagesLimitDurationMs: 1000
    endpoint:
      type: mock
      configuration:
        messageInterval: 10
        messageContent: hello
    plans:
      - name: Keyless
        security: keyless
"#
    )
}

/// Opens an SSE stream on `/chat` over `stream`; returns the reader once the 200 head is read.
fn open_sse(mut stream: TlsStream) -> BufReader<TlsStream> {
    stream
        .write_all(b"GET /chat HTTP/1.1\r\nHost: test\r\nAccept: text/event-stream\r\n\r\n")
        .unwrap();
    let mut reader = BufReader::new(stream);
    let mut status = String::new();
    reader.read_line(&mut status).unwrap();
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    read_fields(&mut reader);
    reader
}

/// True when the server refuses the connection: the handshake fails, or the first request gets
/// no answer (TLS 1.3 checks a client certificate after the client's handshake is done).
fn refused(stream: std::io::Result<TlsStream>) -> bool {
    let Ok(mut stream) = stream else {
        return true;
    };
    if stream
        .write_all(b"GET /mock HTTP/1.1\r\nHost: test\r\n\r\n")
        .is_err()
    {
        return true;
    }
    let mut byte = [0u8; 1];
    !matches!(stream.read(&mut byte), Ok(1))
}

fn every_entrypoint_over_tls_next_to_plaintext(driver: DriverChoice) {
    let pki = TestPki::new("tidegate test CA");
    let cert = pki.server_cert("server", &["gateway.test"], KeyKind::EcdsaP256);
    let gateway = start(test_config(&yaml(&[&cert], "", 10_000), driver));
    let tls = gateway.tls_addr().expect("TLS listener");
    let client = client_config(&pki.ca_der(), ClientOptions::default());

    // GET, keep-alive: two requests on one TLS connection; ALPN says http/1.1.
    let mut stream = tls_connect(tls, &client, "gateway.test").unwrap();
    assert_eq!(stream.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
    for _ in 0..2 {
        let answer = request(&mut stream, "GET", "/mock", b"");
        assert_eq!(answer.status, 200, "{}", answer.text());
        assert!(answer.text().contains("hello"), "{}", answer.text());
    }
    // The plaintext listener serves at the same time.
    assert_eq!(get(gateway.local_addr(), "/mock", &[]).status, 200);

    // SSE and WebSocket subscribers over TLS see what a TLS POST and a TLS WebSocket publish.
    let mut sse = open_sse(tls_connect(tls, &client, "gateway.test").unwrap());
    let ws_stream = tls_connect(tls, &client, "gateway.test").unwrap();
    let (mut ws, response) =
        tungstenite::client::client("wss://gateway.test/chat", ws_stream).expect("wss upgrade");
    assert_eq!(response.status().as_u16(), 101);
    // Both subscribed before the publish: retry until the SSE stream sees a message.
    let mut poster = tls_connect(tls, &client, "gateway.test").unwrap();
    let posted = request(&mut poster, "POST", "/chat", b"over-tls");
    assert!((200..300).contains(&posted.status), "{}", posted.text());
    assert_eq!(next_sse_data(&mut sse), "over-tls");
    let over_ws = loop {
        match ws.read().expect("a WebSocket message") {
            Message::Text(text) => break text.to_string(),
            Message::Binary(bytes) => break String::from_utf8_lossy(&bytes).into_owned(),
            _ => continue,
        }
    };
    assert!(over_ws.contains("over-tls"), "{over_ws}");
    ws.send(Message::Text("from-wss".into())).unwrap();
    assert_eq!(next_sse_data(&mut sse), "from-wss");
    // A large message crosses several TLS records and is delivered whole.
    let large = "x".repeat(100_000);
    let posted = request(&mut poster, "POST", "/chat", large.as_bytes());
    assert!((200..300).contains(&posted.status));
    assert_eq!(next_sse_data(&mut sse), large);
    assert!(metric_total(gateway.admin_addr().unwrap(), "tls_handshakes_total") >= 4);
}
on_both_drivers!(
    every_entrypoint,
    every_entrypoint_over_tls_next_to_plaintext
);

fn sni_chooses_the_certificate_on_tls_1_2_and_1_3(driver: DriverChoice) {
    let pki = TestPki::new("tidegate test CA");
    let default = pki.server_cert(
        "default",
        &["default.test", "127.0.0.1"],
        KeyKind::EcdsaP256,
    );
    let ed = pki.server_cert("ed", &["ed.test"], KeyKind::Ed25519);
    let rsa = pki.server_cert("rsa", &["*.rsa.test"], KeyKind::Rsa2048);
    let gateway = start(test_config(
        &yaml(&[&default, &ed, &rsa], "", 10_000),
        driver,
    ));
    let tls = gateway.tls_addr().unwrap();
    for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
        let options = ClientOptions {
            versions: vec![version],
            ..ClientOptions::default()
        };
        let client = client_config(&pki.ca_der(), options);
        // An IP address is not sent as SNI: the first certificate is the default.
        for (name, expected) in [
            ("ed.test", &ed),
            ("api.rsa.test", &rsa),
            ("default.test", &default),
            ("127.0.0.1", &default),
        ] {
            let mut stream = tls_connect(tls, &client, name)
                .unwrap_or_else(|err| panic!("{name} on {version:?}: {err}"));
            assert_eq!(served_cert(&stream), expected.der, "{name} on {version:?}");
            assert_eq!(stream.conn.protocol_version(), Some(version.version));
            assert_eq!(request(&mut stream, "GET", "/mock", b"").status, 200);
        }
    }
    // A name no certificate covers gets the default too.
    let any = client_config_seeing_any_certificate();
    let stream = tls_connect(tls, &any, "unknown.test").unwrap();
    assert_eq!(served_cert(&stream), default.der, "unknown SNI");
    // ALPN: a client that speaks only h2 is refused (RFC 7301 no_application_protocol).
    let h2_only = client_config(
        &pki.ca_der(),
        ClientOptions {
            alpn: vec![b"h2".to_vec()],
            ..ClientOptions::default()
        },
    );
    assert!(refused(tls_connect(tls, &h2_only, "default.test")));
}
on_both_drivers!(sni, sni_chooses_the_certificate_on_tls_1_2_and_1_3);

fn min_version_tls_1_3_refuses_tls_1_2(driver: DriverChoice) {
    let pki = TestPki::new("tidegate test CA");
    let cert = pki.server_cert("server", &["gateway.test"], KeyKind::EcdsaP256);
    let extra = "    minVersion: TLSv1.3\n";
    let gateway = start(test_config(&yaml(&[&cert], extra, 10_000), driver));
    let tls = gateway.tls_addr().unwrap();
    let only = |version| {
        let options = ClientOptions {
            versions: vec![version],
            ..ClientOptions::default()
        };
        client_config(&pki.ca_der(), options)
    };
    assert!(refused(tls_connect(
        tls,
        &only(&rustls::version::TLS12),
        "gateway.test"
    )));
    let mut stream = tls_connect(tls, &only(&rustls::version::TLS13), "gateway.test").unwrap();
    assert_eq!(request(&mut stream, "GET", "/mock", b"").status, 200);
    assert!(
        metric_total(
            gateway.admin_addr().unwrap(),
            "tls_handshake_failures_total"
        ) >= 1
    );
}
on_both_drivers!(min_version, min_version_tls_1_3_refuses_tls_1_2);

/// The gateway's DEBUG log lines in this test binary.
fn debug_log() -> Arc<Mutex<Vec<u8>>> {
    static BUFFER: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    BUFFER
        .get_or_init(|| {
            let buffer = Arc::new(Mutex::new(Vec::new()));
            let writer = buffer.clone();
            let _ = tracing_subscriber::fmt()
                .with_env_filter("tidegate=debug")
                .with_ansi(false)
                .with_writer(move || LogWriter(writer.clone()))
                .try_init();
            buffer
        })
        .clone()
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn client_certificates_required_and_requested(driver: DriverChoice) {
    let log = debug_log();
    let pki = TestPki::new("tidegate test CA");
    let cert = pki.server_cert("server", &["gateway.test"], KeyKind::EcdsaP256);
    let ca_file = pki.write_ca("clients-ca.pem");
    let other_ca = TestPki::new("another CA");
    for mode in ["require", "request"] {
        let extra = format!(
            "    clientAuth: {mode}\n    clientCaFile: {}\n",
            ca_file.display()
        );
        let gateway = start(test_config(&yaml(&[&cert], &extra, 10_000), driver));
        let tls = gateway.tls_addr().unwrap();
        let with = |identity| {
            let options = ClientOptions {
                identity,
                ..ClientOptions::default()
            };
            client_config(&pki.ca_der(), options)
        };
        // Without a certificate: refused when required, served when only requested.
        let without = tls_connect(tls, &with(None), "gateway.test");
        assert_eq!(refused(without), mode == "require", "{mode}");
        // A certificate from another CA is refused in both modes.
        let stranger = with(Some(other_ca.client_cert("stranger")));
        assert!(
            refused(tls_connect(tls, &stranger, "gateway.test")),
            "{mode}"
        );
        // One the CA issued is served, and the gateway holds its fingerprint.
        let (chain, key) = pki.client_cert(&format!("app-{mode}"));
        let fingerprint = hex(&sha256_fingerprint(&chain[0]));
        let mut stream = tls_connect(tls, &with(Some((chain, key))), "gateway.test").unwrap();
        assert_eq!(request(&mut stream, "GET", "/mock", b"").status, 200);
        assert!(
            eventually(Duration::from_secs(60), || String::from_utf8_lossy(
                &log.lock().unwrap()
            )
            .contains(&fingerprint)),
            "the client certificate's fingerprint {fingerprint} is known to the connection"
        );
    }
}
on_both_drivers!(
    client_certificates,
    client_certificates_required_and_requested
);

fn a_handshake_never_started_is_closed_at_the_deadline(driver: DriverChoice) {
    let pki = TestPki::new("tidegate test CA");
    let cert = pki.server_cert("server", &["gateway.test"], KeyKind::EcdsaP256);
    let gateway = start(test_config(&yaml(&[&cert], "", 300), driver));
    let mut silent = connect(gateway.tls_addr().unwrap());
    let mut byte = [0u8; 1];
    // The read timeout (15 s) is far beyond the deadline: the gateway closes first.
    assert!(matches!(silent.read(&mut byte), Ok(0)));
    let admin = gateway.admin_addr().unwrap();
    assert!(eventually(Duration::from_secs(60), || metric_total(
        admin,
        "tls_handshake_timeouts_total"
    ) == 1));
}
on_both_drivers!(
    handshake_deadline,
    a_handshake_never_started_is_closed_at_the_deadline
);

fn plaintext_http_on_the_tls_port_is_refused(driver: DriverChoice) {
    let pki = TestPki::new("tidegate test CA");
    let cert = pki.server_cert("server", &["gateway.test"], KeyKind::EcdsaP256);
    let gateway = start(test_config(&yaml(&[&cert], "", 10_000), driver));
    let tls = gateway.tls_addr().unwrap();
    for garbage in [
        &b"GET /mock HTTP/1.1\r\nHost: test\r\n\r\n"[..],
        &[0x16, 0x03, 0x01, 0xff, 0xff, 0, 0, 0][..],
        &[0u8; 64][..],
    ] {
        let mut raw = connect(tls);
        raw.write_all(garbage).unwrap();
        let mut answer = Vec::new();
        let _ = raw.read_to_end(&mut answer);
        assert!(!answer.starts_with(b"HTTP/"), "no plaintext answer");
    }
    let admin = gateway.admin_addr().unwrap();
    assert!(eventually(Duration::from_secs(60), || metric_total(
        admin,
        "tls_handshake_failures_total"
    ) >= 3));
    // The listener still serves TLS.
    let client = client_config(&pki.ca_der(), ClientOptions::default());
    let mut stream = tls_connect(tls, &client, "gateway.test").unwrap();
    assert_eq!(request(&mut stream, "GET", "/mock", b"").status, 200);
}
on_both_drivers!(garbage, plaintext_http_on_the_tls_port_is_refused);

fn reload_serves_new_certificates_and_keeps_live_streams(driver: DriverChoice) {
    let pki = TestPki::new("tidegate test CA");
    let old = pki.server_cert("server", &["gateway.test"], KeyKind::EcdsaP256);
    let gateway = start(test_config(&yaml(&[&old], "", 10_000), driver));
    let (tls, admin) = (gateway.tls_addr().unwrap(), gateway.admin_addr().unwrap());
    let client = client_config(&pki.ca_der(), ClientOptions::default());
    let stream = tls_connect(tls, &client, "gateway.test").unwrap();
    assert_eq!(served_cert(&stream), old.der);
    let mut sse = open_sse(stream);

    // Renewed in place: the watcher notices within about a second.
    let new = pki.server_cert("server", &["gateway.test"], KeyKind::Ed25519);
    assert_ne!(new.der, old.der);
    assert!(eventually(Duration::from_secs(20), || {
        let stream = tls_connect(tls, &client, "gateway.test").unwrap();
        served_cert(&stream) == new.der
    }));
    let text = metrics_text(admin);
    assert_eq!(
        plain_metric(&text, "tls_certificate_reloads_total"),
        Some(1)
    );
    // The stream opened before the reload still receives.
    let mut plain = connect(gateway.local_addr());
    let posted = post_on(&mut plain, "/chat", "after-reload", "");
    assert!((200..300).contains(&posted.status));
    assert_eq!(next_sse_data(&mut sse), "after-reload");

    // A broken key is refused: the renewed certificate stays in use.
    std::fs::write(&new.key_file, "not a key").unwrap();
    gateway.reload_tls();
    assert!(eventually(Duration::from_secs(20), || plain_metric(
        &metrics_text(admin),
        "tls_certificate_reload_failures_total"
    )
    .is_some_and(|failures| failures >= 1)));
    let stream = tls_connect(tls, &client, "gateway.test").unwrap();
    assert_eq!(served_cert(&stream), new.der);
}
on_both_drivers!(
    reload,
    reload_serves_new_certificates_and_keeps_live_streams
);

#[test]
fn check_reports_bad_tls_files_by_key() {
    let pki = TestPki::new("tidegate test CA");
    let good = pki.server_cert("good", &["gateway.test"], KeyKind::EcdsaP256);
    let other = pki.server_cert("other", &["other.test"], KeyKind::EcdsaP256);
    let missing = ServerCert {
        cert_file: pki.dir.path().join("missing.pem"),
        key_file: good.key_file.clone(),
        der: good.der.clone(),
    };
    let mismatched = ServerCert {
        cert_file: good.cert_file.clone(),
        key_file: other.key_file.clone(),
        der: good.der.clone(),
    };
    let text = yaml(
        &[&missing, &mismatched],
        "    clientAuth: require\n",
        10_000,
    );
    let error = tidegate::config::load_str(&text, "tls.yaml")
        .unwrap_err()
        .to_string();
    for expected in [
        "gateway.tls.certificates[0].certFile",
        "cannot read",
        "gateway.tls.certificates[1]",
        "does not belong to the first certificate",
        "gateway.tls.clientCaFile",
    ] {
        assert!(error.contains(expected), "{expected:?} in:\n{error}");
    }
}

fn a_handshake_in_progress_holds_a_connection_slot(driver: DriverChoice) {
    let pki = TestPki::new("tidegate test CA");
    let cert = pki.server_cert("server", &["gateway.test"], KeyKind::EcdsaP256);
    let text = yaml(&[&cert], "", 60_000).replace(
        "gateway:\n",
        "gateway:\n  limits:\n    maxConnectionsPerShard: 1\n",
    );
    let mut config = test_config(&text, driver);
    config.gateway.shards = std::num::NonZeroUsize::new(1);
    let gateway = start(config);
    let (tls, admin) = (gateway.tls_addr().unwrap(), gateway.admin_addr().unwrap());
    // Opens TCP and never says hello: its handshake is pending, its slot taken.
    let _silent = connect(tls);
    assert!(eventually(Duration::from_secs(60), || metric_total(
        admin,
        "connections_open"
    ) == 1));
    let client = client_config(&pki.ca_der(), ClientOptions::default());
    assert!(refused(tls_connect(tls, &client, "gateway.test")));
    assert_eq!(metric_total(admin, "connections_rejected_total"), 1);
}
on_both_drivers!(
    connection_bound,
    a_handshake_in_progress_holds_a_connection_slot
);
