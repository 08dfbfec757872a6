//! A web page on an origin of its own, for the browser tests: a tiny static server on
//! 127.0.0.1:0 (https with a test certificate, or plain http) that answers every request with
//! one HTML page. Its origin differs from the gateway's by port, which is all CORS looks at.
//!
//! Also the test certificate authority: one CA, a certificate for `127.0.0.1` and `localhost`
//! issued by it (PEM files in a temporary directory, for a gateway's TLS listener), and the hash
//! Chromium's `--ignore-certificate-errors-spki-list` takes to trust it without an NSS database.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, PublicKeyData,
    SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A test CA and a server certificate it issued for 127.0.0.1 and localhost.
pub struct TestCerts {
    /// The server certificate chain (leaf, then CA) and its key, as PEM files.
    pub chain_file: PathBuf,
    pub key_file: PathBuf,
    /// The CA certificate, as a PEM file (for clients that take a CA file).
    pub ca_file: PathBuf,
    chain: Vec<CertificateDer<'static>>,
    key_der: Vec<u8>,
    ca_spki: Vec<u8>,
    _dir: tempfile::TempDir,
}

impl TestCerts {
    /// A fresh CA and server certificate, written to a temporary directory.
    pub fn new() -> TestCerts {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "tidegate browser test CA");
        let ca_key = KeyPair::generate().expect("CA key");
        let ca_spki = ca_key.subject_public_key_info();
        let ca = CertifiedIssuer::self_signed(ca_params, ca_key).expect("CA certificate");

        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).expect("parameters");
        params
            .subject_alt_names
            .push(SanType::IpAddress([127, 0, 0, 1].into()));
        params
            .distinguished_name
            .push(DnType::CommonName, "127.0.0.1");
        let key = KeyPair::generate().expect("server key");
        let cert = params.signed_by(&key, &*ca).expect("server certificate");

        let dir = tempfile::tempdir().expect("certificate directory");
        let chain_file = dir.path().join("server-chain.pem");
        let key_file = dir.path().join("server-key.pem");
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&chain_file, format!("{}{}", cert.pem(), ca.pem())).unwrap();
        std::fs::write(&key_file, key.serialize_pem()).unwrap();
        std::fs::write(&ca_file, ca.pem()).unwrap();
        TestCerts {
            chain_file,
            key_file,
            ca_file,
            chain: vec![cert.der().clone(), ca.der().clone()],
            key_der: key.serialize_der(),
            ca_spki,
            _dir: dir,
        }
    }

    /// Chromium's flag that makes it accept certificates chaining to this CA (base64 of the
    /// SHA-256 of the CA's SubjectPublicKeyInfo); honoured with `--user-data-dir`.
    pub fn chromium_trust_flag(&self) -> String {
        let suite = rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256;
        let sha256 = suite.tls13().unwrap().common.hash_provider;
        let digest = sha256.hash(&self.ca_spki);
        let hash = base64::engine::general_purpose::STANDARD.encode(digest.as_ref());
        format!("--ignore-certificate-errors-spki-list={hash}")
    }

    /// A rustls server configuration presenting the server certificate (HTTP/1.1 only).
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()));
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), key)
            .expect("server config");
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }
}

/// Serves `html` for every path until dropped. `origin` is its URL without a path.
pub struct PageServer {
    pub addr: SocketAddr,
    pub origin: String,
    stop: Arc<AtomicBool>,
}

impl PageServer {
    /// Over https with `tls`, or plain http with `None`.
    pub fn start(html: &str, tls: Option<Arc<rustls::ServerConfig>>) -> PageServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let html: Arc<str> = html.into();
        std::thread::spawn(move || {
            while !stopping.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (tls, html) = (tls.clone(), html.clone());
                        std::thread::spawn(move || serve(stream, tls, &html));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        PageServer {
            addr,
            origin: format!("{scheme}://{addr}"),
            stop,
        }
    }
}

impl Drop for PageServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Answers the requests on one connection (blocking, bounded by read timeouts): the page for a
/// GET of any path, no body read, then close.
fn serve(stream: TcpStream, tls: Option<Arc<rustls::ServerConfig>>, html: &str) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(10)));
    match tls {
        Some(config) => {
            let Ok(connection) = rustls::ServerConnection::new(config) else {
                return;
            };
            answer(rustls::StreamOwned::new(connection, stream), html);
        }
        None => answer(stream, html),
    }
}

fn answer(mut stream: impl Read + Write, html: &str) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(n) if head.len() + n <= 64 * 1024 => head.extend_from_slice(&buf[..n]),
            Ok(_) => return,
            Err(err) if err.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return,
        }
    }
    let (status, body) = if head.starts_with(b"GET /favicon.ico ") {
        ("404 Not Found", "")
    } else {
        ("200 OK", html)
    };
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\n\
         content-length: {}\r\ncache-control: no-store\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes());
    let _ = stream.flush();
}
