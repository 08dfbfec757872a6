//! The `gateway:` section of the mTLS tests: loopback listeners and a TLS listener whose
//! certificate comes from the test CA and which asks clients for certificates of that CA.

use super::tls_client::{KeyKind, TestPki};

/// The section, `shards` shards on `driver` (`auto`, `io-uring` or `epoll`), ending with its
/// last line so that `apis:` can follow.
pub fn mtls_gateway_section(pki: &TestPki, shards: usize, driver: &str) -> String {
    let cert = pki.server_cert("server", &["gateway.test"], KeyKind::EcdsaP256);
    let ca_file = pki.write_ca("clients-ca.pem");
    format!(
        r#"
gateway:
  listen: 127.0.0.1:0
  adminListen: 127.0.0.1:0
  shards: {shards}
  pinShards: false
  driver: {driver}
  tls:
    listen: 127.0.0.1:0
    certificates:
      - certFile: {}
        keyFile: {}
    clientAuth: request
    clientCaFile: {}
"#,
        cert.cert_file.display(),
        cert.key_file.display(),
        ca_file.display()
    )
}
