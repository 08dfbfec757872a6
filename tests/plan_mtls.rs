//! mTLS plans over the TLS listener: the client certificate (verified against `clientCaFile`)
//! is matched to an application by fingerprint or subject, on GET, POST, SSE and the WebSocket
//! upgrade; a certificate no application names, or none at all, is 401; a live stream ends when
//! its subscription is closed by a reload.

mod common;

use std::io::{BufReader, Write};
use std::path::Path;
use std::sync::Arc;

use common::mtls_gateway::mtls_gateway_section;
use common::tls_client::{client_config, request, tls_connect, ClientOptions, TestPki, TlsStream};
use common::{get, start};
use rustls::ClientConfig;
use tidegate::config::{self, DriverChoice};
use tidegate::runtime::Gateway;
use tidegate::tls::peer::{hex, sha256_fingerprint};

struct Setup {
    pki: TestPki,
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    gateway: Gateway,
    /// (file head: gateway section), for rewrites.
    head: String,
}

/// The gateway section (TLS listener asking for client certificates) and an API `chat` with an
/// mtls plan; `tail` is the applications and subscriptions.
fn setup(driver: DriverChoice, pki: TestPki, tail: &str) -> Setup {
    let driver = match driver {
        DriverChoice::IoUring => "io-uring",
        DriverChoice::Epoll => "epoll",
        _ => "auto",
    };
    let gateway = mtls_gateway_section(&pki, 2, driver);
    let head = format!(
        r#"
{gateway}apis:
  - id: chat
    name: Chat
    contextPaths: [/chat]
    entrypoints:
      - type: http-get
        configuration: {{ messagesLimitDurationMs: 200 }}
      - type: http-post
      - type: sse
      - type: websocket
    endpoint:
      type: in-memory
      configuration: {{ topic: chat }}
    plans:
      - {{ id: certs, name: Certificates, security: mtls }}
"#,
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.yaml");
    std::fs::write(&path, head.clone() + tail).unwrap();
    let gateway = start(config::load_file(&path).unwrap_or_else(|e| panic!("{e}")));
    Setup {
        pki,
        _dir: dir,
        path,
        gateway,
        head,
    }
}

fn with_cert(pki: &TestPki, name: &str) -> Arc<ClientConfig> {
    let options = ClientOptions {
        identity: Some(pki.client_cert(name)),
        ..ClientOptions::default()
    };
    client_config(&pki.ca_der(), options)
}

fn without_cert(pki: &TestPki) -> Arc<ClientConfig> {
    client_config(&pki.ca_der(), ClientOptions::default())
}

fn connect(setup: &Setup, config: &Arc<ClientConfig>) -> TlsStream {
    tls_connect(setup.gateway.tls_addr().unwrap(), config, "gateway.test").unwrap()
}

/// GET, POST, SSE and WebSocket upgrade statuses over TLS with `config`.
fn statuses(setup: &Setup, config: &Arc<ClientConfig>) -> [u16; 4] {
    let get = request(&mut connect(setup, config), "GET", "/chat", b"").status;
    let post = request(&mut connect(setup, config), "POST", "/chat", b"hi").status;
    let mut sse = connect(setup, config);
    sse.write_all(b"GET /chat HTTP/1.1\r\nHost: test\r\nAccept: text/event-stream\r\n\r\n")
        .unwrap();
    let sse = read_head_status(&mut BufReader::new(sse));
    let url = "ws://gateway.test/chat";
    let ws = match tungstenite::client::client(url, connect(setup, config)) {
        Ok(_) => 101,
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(response))) => {
            response.status().as_u16()
        }
        Err(err) => panic!("WebSocket handshake failed: {err}"),
    };
    [get, post, sse, ws]
}

fn read_head_status(reader: &mut BufReader<TlsStream>) -> u16 {
    use std::io::BufRead;
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

const APPLICATIONS: &str = r#"
applications:
  - { id: shop, name: Shop, certificate: { subject: "CN=app-shop" } }
subscriptions:
  - { id: shop-certs, api: chat, plan: certs, application: shop }
"#;

fn a_client_certificate_selects_its_application(driver: DriverChoice) {
    let setup = setup(driver, TestPki::new("tidegate test CA"), APPLICATIONS);
    let pki = &setup.pki;
    assert_eq!(
        statuses(&setup, &with_cert(pki, "app-shop")),
        [200, 202, 200, 101]
    );
    // Issued by the CA, but no application names it; no certificate at all.
    assert_eq!(statuses(&setup, &with_cert(pki, "app-stranger")), [401; 4]);
    assert_eq!(statuses(&setup, &without_cert(pki)), [401; 4]);
    let refused = request(
        &mut connect(&setup, &without_cert(pki)),
        "GET",
        "/chat",
        b"",
    );
    assert_eq!(
        refused.header("www-authenticate"),
        Some("ClientCertificate realm=\"chat\"")
    );
    // The plaintext listener has no client certificate.
    assert_eq!(get(setup.gateway.local_addr(), "/chat", &[]).status, 401);
}
on_both_drivers!(
    a_client_certificate_selects_its_application,
    a_client_certificate_selects_its_application
);

fn a_pinned_fingerprint_matches_that_certificate_only(driver: DriverChoice) {
    let pki = TestPki::new("tidegate test CA");
    let identity = pki.client_cert("app-pinned");
    let fingerprint = hex(&sha256_fingerprint(&identity.0[0]));
    let tail = format!(
        "applications:\n  - {{ id: pinned, name: Pinned, certificate: {{ fingerprintSha256: \"{fingerprint}\" }} }}\nsubscriptions:\n  - {{ id: s, api: chat, plan: certs, application: pinned }}\n"
    );
    let setup = setup(driver, pki, &tail);
    let options = ClientOptions {
        identity: Some(identity),
        ..ClientOptions::default()
    };
    let pinned = client_config(&setup.pki.ca_der(), options);
    assert_eq!(statuses(&setup, &pinned), [200, 202, 200, 101]);
    // Another certificate with the same subject is not the pinned one.
    assert_eq!(
        statuses(&setup, &with_cert(&setup.pki, "app-pinned")),
        [401; 4]
    );
}
on_both_drivers!(
    a_pinned_fingerprint_matches_that_certificate_only,
    a_pinned_fingerprint_matches_that_certificate_only
);

/// Closing the subscription by a reload ends the live stream of that certificate.
fn closing_the_subscription_ends_a_certificate_stream(driver: DriverChoice) {
    let setup = setup(driver, TestPki::new("tidegate test CA"), APPLICATIONS);
    let mut stream = connect(&setup, &with_cert(&setup.pki, "app-shop"));
    stream
        .write_all(b"GET /chat HTTP/1.1\r\nHost: test\r\nAccept: text/event-stream\r\n\r\n")
        .unwrap();
    let mut reader = BufReader::new(stream);
    let head = read_response_head(&mut reader);
    assert_eq!(head, 200);
    let closed = APPLICATIONS.replace("application: shop }", "application: shop, status: closed }");
    std::fs::write(&setup.path, setup.head.clone() + &closed).unwrap();
    setup
        .gateway
        .reload_security(Path::new(&setup.path))
        .unwrap();
    let mut text = String::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !text.contains("event: goaway") && std::time::Instant::now() < deadline {
        use std::io::Read;
        let mut buf = [0u8; 4096];
        match reader.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => text.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    assert!(text.contains("credential no longer valid"), "{text}");
}
on_both_drivers!(
    closing_the_subscription_ends_a_certificate_stream,
    closing_the_subscription_ends_a_certificate_stream
);

fn read_response_head(reader: &mut BufReader<TlsStream>) -> u16 {
    let status = read_head_status(reader);
    let _ = common::tls_client::read_fields(reader);
    status
}
