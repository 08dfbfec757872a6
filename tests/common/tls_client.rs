//! TLS on the gateway's listener, from the client side: a test CA (rcgen) issuing server
//! certificates (ECDSA, Ed25519, RSA) into files the gateway reads and client certificates, and a
//! blocking rustls client with HTTP/1.1 and WebSocket over it.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, SignatureAlgorithm,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, StreamOwned, SupportedProtocolVersion};

use super::Response;

/// The RSA key the RSA test certificates use (ring cannot generate RSA keys). Test-only.
const RSA_TEST_KEY: &str = include_str!("../data/rsa-test-key.pem");

/// Which key a certificate gets.
#[derive(Debug, Clone, Copy)]
pub enum KeyKind {
    EcdsaP256,
    Ed25519,
    Rsa2048,
}

/// A certificate written to files for `gateway.tls.certificates`.
pub struct ServerCert {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub der: CertificateDer<'static>,
}

/// A test certificate authority and a directory for the files it writes.
pub struct TestPki {
    issuer: CertifiedIssuer<'static, KeyPair>,
    pub dir: tempfile::TempDir,
}

impl TestPki {
    pub fn new(name: &str) -> TestPki {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().expect("CA key");
        TestPki {
            issuer: CertifiedIssuer::self_signed(params, key).expect("CA certificate"),
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn ca_der(&self) -> CertificateDer<'static> {
        self.issuer.der().clone()
    }

    /// Writes the CA certificate (PEM) to `name` in the directory.
    pub fn write_ca(&self, name: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, self.issuer.pem()).unwrap();
        path
    }

    /// A server certificate for `names` with a `kind` key, written to `<stem>.pem` and
    /// `<stem>.key` (replacing what was there: a renewal).
    pub fn server_cert(&self, stem: &str, names: &[&str], kind: KeyKind) -> ServerCert {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names.clone()).expect("parameters");
        params
            .distinguished_name
            .push(DnType::CommonName, &names[0]);
        let key = match kind {
            KeyKind::EcdsaP256 => KeyPair::generate().unwrap(),
            KeyKind::Ed25519 => KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap(),
            KeyKind::Rsa2048 => {
                let alg: &'static SignatureAlgorithm = &rcgen::PKCS_RSA_SHA256;
                KeyPair::from_pem_and_sign_algo(RSA_TEST_KEY, alg).unwrap()
            }
        };
        let cert = params.signed_by(&key, &*self.issuer).expect("certificate");
        let cert_file = self.dir.path().join(format!("{stem}.pem"));
        let key_file = self.dir.path().join(format!("{stem}.key"));
        // Written whole to a new name and renamed, as a certificate manager replaces files.
        replace(&cert_file, cert.pem().as_bytes());
        replace(&key_file, key.serialize_pem().as_bytes());
        ServerCert {
            cert_file,
            key_file,
            der: cert.der().clone(),
        }
    }

    /// A client certificate for `name` (chain, key).
    pub fn client_cert(
        &self,
        name: &str,
    ) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        let mut params = CertificateParams::new(vec![name.to_owned()]).expect("parameters");
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let key = KeyPair::generate().expect("client key");
        let cert = params.signed_by(&key, &*self.issuer).expect("certificate");
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        (vec![cert.der().clone()], key)
    }
}

fn replace(path: &std::path::Path, bytes: &[u8]) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// How a test client connects.
pub struct ClientOptions {
    pub versions: Vec<&'static SupportedProtocolVersion>,
    pub alpn: Vec<Vec<u8>>,
    pub identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            versions: vec![&rustls::version::TLS13, &rustls::version::TLS12],
            alpn: vec![b"http/1.1".to_vec()],
            identity: None,
        }
    }
}

/// A client configuration trusting `ca`.
pub fn client_config(ca: &CertificateDer<'static>, options: ClientOptions) -> Arc<ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&options.versions)
        .unwrap()
        .with_root_certificates(roots);
    let mut config = match options.identity {
        Some((chain, key)) => builder.with_client_auth_cert(chain, key).unwrap(),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = options.alpn;
    Arc::new(config)
}

pub type TlsStream = StreamOwned<ClientConnection, TcpStream>;

/// Connects to `addr` asking for `name` (SNI) and completes the handshake.
pub fn tls_connect(
    addr: SocketAddr,
    config: &Arc<ClientConfig>,
    name: &str,
) -> std::io::Result<TlsStream> {
    tls_over(super::connect(addr), config, name)
}

/// Completes a client handshake on an open socket (e.g. one with a small receive window).
pub fn tls_over(
    tcp: TcpStream,
    config: &Arc<ClientConfig>,
    name: &str,
) -> std::io::Result<TlsStream> {
    tcp.set_write_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let name = ServerName::try_from(name.to_owned()).unwrap();
    let conn = ClientConnection::new(config.clone(), name).unwrap();
    let mut stream = StreamOwned::new(conn, tcp);
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock)?;
    }
    // TLS 1.3: the server's certificate check of a client certificate comes after the client's
    // Finished, so a refusal shows on the first read; a round trip surfaces it here.
    Ok(stream)
}

/// The certificate the server presented.
pub fn served_cert(stream: &TlsStream) -> CertificateDer<'static> {
    stream.conn.peer_certificates().unwrap()[0].clone()
}

/// Sends a request (`Host: test`) and reads the answer (Content-Length or chunked body).
pub fn request(stream: &mut TlsStream, method: &str, target: &str, body: &[u8]) -> Response {
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: test\r\n");
    if method == "POST" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    stream.flush().unwrap();
    read_response(&mut BufReader::new(stream))
}

/// Reads one answer from a buffered stream.
pub fn read_response<R: BufRead>(reader: &mut R) -> Response {
    let mut line = String::new();
    reader.read_line(&mut line).expect("status line");
    let status = line
        .split_whitespace()
        .nth(1)
        .unwrap_or_else(|| panic!("bad status line {line:?}"))
        .parse()
        .unwrap();
    let mut response = Response {
        status,
        headers: read_fields(reader),
        body: Vec::new(),
    };
    if let Some(len) = response.header("content-length") {
        let mut body = vec![0; len.parse().unwrap()];
        reader.read_exact(&mut body).unwrap();
        response.body = body;
    } else if response.header("transfer-encoding").is_some() {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).unwrap();
            let size = usize::from_str_radix(size.trim(), 16).unwrap();
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).unwrap();
            if size == 0 {
                break;
            }
            response.body.extend_from_slice(&chunk[..size]);
        }
    }
    response
}

/// Header fields up to the blank line.
pub fn read_fields<R: BufRead>(reader: &mut R) -> Vec<(String, String)> {
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            return headers;
        }
        let (name, value) = line.split_once(':').unwrap();
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
}

/// Reads SSE lines until one starts with `data:`; returns its payload.
pub fn next_sse_data<R: BufRead>(reader: &mut R) -> String {
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line).expect("SSE line");
        assert!(n > 0, "the SSE stream ended");
        if let Some(data) = line.strip_prefix("data:") {
            return data.trim().to_owned();
        }
    }
}

/// A client configuration that accepts whatever certificate the server presents (to see which
/// one it chose for a name no certificate covers). Signatures are still checked.
pub fn client_config_seeing_any_certificate() -> Arc<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
