//! `config/browser.yaml` does what its comments say, over its TLS listener and with its
//! certificate: a page on a listed origin gets the CORS answers and its WebSocket (with the
//! subprotocol), a page on any other origin is refused with 403 and publishes nothing.
//! (tests/browser.rs runs the same setup in Chromium, with the test's own origins.)

mod common;

use std::io::{BufReader, Write};
use std::net::SocketAddr;
use std::path::Path;

use common::tls_client::{client_config, read_response, tls_connect, ClientOptions};
use common::Response;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use tidegate::config::{self, DriverChoice};

/// The example, on loopback ports of its own (the TLS listener's included).
fn serve_browser_example(driver: DriverChoice) -> tidegate::runtime::Gateway {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // Its certificate paths are relative to the repository root, where cargo runs tests.
    let example = config::load_file(&root.join("config/browser.yaml")).unwrap();
    let mut example = common::on_loopback(example, driver);
    let tls = example
        .gateway
        .tls
        .as_mut()
        .expect("the example has a TLS listener");
    tls.listen = "127.0.0.1:0".parse().unwrap();
    common::start(example)
}

/// Sends `head` (its blank line added) over TLS, trusting the example's certificate, and reads
/// the answer.
fn over_tls(addr: SocketAddr, head: &str) -> Response {
    let cert = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/tls/localhost-TEST-ONLY.pem");
    let cert = CertificateDer::from_pem_file(cert).expect("the example's certificate");
    let config = client_config(&cert, ClientOptions::default());
    let mut stream = tls_connect(addr, &config, "localhost").expect("TLS handshake");
    stream.write_all(format!("{head}\r\n").as_bytes()).unwrap();
    stream.flush().unwrap();
    read_response(&mut BufReader::new(stream))
}

/// A WebSocket upgrade from a page of `origin` asking for the example's subprotocol.
fn upgrade(origin: &str) -> String {
    format!(
        "GET /chat HTTP/1.1\r\nHost: localhost\r\nOrigin: {origin}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat.v1\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    )
}

fn browser_example_serves_its_origins_over_tls_and_refuses_others(driver: DriverChoice) {
    let gateway = serve_browser_example(driver);
    let tls = gateway.tls_addr().expect("TLS listener");

    let preflight = over_tls(
        tls,
        "OPTIONS /chat HTTP/1.1\r\nHost: localhost\r\nOrigin: https://app.example.com\r\n\
         Access-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: content-type\r\n",
    );
    assert_eq!(preflight.status, 204, "{preflight:?}");
    let allowed_origin = preflight.header("access-control-allow-origin");
    assert_eq!(allowed_origin, Some("https://app.example.com"));
    assert_eq!(preflight.header("access-control-max-age"), Some("600"));

    let allowed_post =
        "POST /chat HTTP/1.1\r\nHost: localhost\r\nOrigin: http://localhost:5173\r\n\
                        Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
    let posted = over_tls(tls, allowed_post);
    assert_eq!(posted.status, 202, "{}", posted.text());
    assert_eq!(
        posted.header("access-control-allow-origin"),
        Some("http://localhost:5173")
    );
    let exposed = posted.header("access-control-expose-headers").unwrap_or("");
    assert!(exposed.contains("X-Message-Id"), "{exposed}");
    assert_eq!(posted.header("x-message-id"), Some("1"));

    let refused = over_tls(
        tls,
        "POST /chat HTTP/1.1\r\nHost: localhost\r\nOrigin: https://elsewhere.example\r\n\
         Content-Length: 1\r\n\r\nx",
    );
    assert_eq!(refused.status, 403, "{}", refused.text());
    // The next message is the topic's second: the refused one was not published.
    let posted = over_tls(tls, allowed_post);
    assert_eq!(posted.header("x-message-id"), Some("2"), "{posted:?}");

    let opened = over_tls(tls, &upgrade("http://localhost:5173"));
    assert_eq!(opened.status, 101, "{opened:?}");
    assert_eq!(opened.header("sec-websocket-protocol"), Some("chat.v1"));
    let refused = over_tls(tls, &upgrade("https://elsewhere.example"));
    assert_eq!(refused.status, 403, "{}", refused.text());
    gateway.shutdown();
}
on_both_drivers!(
    browser_example_serves_its_origins_over_tls_and_refuses_others,
    browser_example_serves_its_origins_over_tls_and_refuses_others
);
