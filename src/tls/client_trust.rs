//! What tidegate's own TLS clients (to an MQTT broker, to PostgreSQL, to Kafka brokers) trust:
//! the authorities of a configured `caFile`, or else the Mozilla roots (webpki-roots, built in:
//! the result does not depend on the host's certificate store); with ring and rustls's safe
//! default versions; and the client certificate they present when asked.

use std::path::Path;
use std::sync::Arc;

use rustls::client::WantsClientCert;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, ConfigBuilder, RootCertStore, WantsVerifier};

use crate::config::ClientIdentity;

/// A client configuration builder on ring with the safe default protocol versions.
pub fn client_builder() -> Result<ConfigBuilder<ClientConfig, WantsVerifier>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| format!("TLS setup failed: {err}"))
}

/// `client_builder` verifying servers against `ca_file`'s certificates, or the Mozilla roots.
pub fn verifying_builder(
    ca_file: Option<&Path>,
) -> Result<ConfigBuilder<ClientConfig, WantsClientCert>, String> {
    Ok(client_builder()?.with_root_certificates(roots(ca_file)?))
}

/// Finishes `builder`, presenting `identity` when the server asks for a client certificate.
pub fn presenting(
    builder: ConfigBuilder<ClientConfig, WantsClientCert>,
    identity: Option<&ClientIdentity>,
) -> Result<ClientConfig, String> {
    match identity {
        Some(identity) => identity
            .install(builder)
            .map_err(|err| format!("unusable client certificate: {err}")),
        None => Ok(builder.with_no_client_auth()),
    }
}

/// The authorities of `ca_file` (every PEM certificate in it), or the Mozilla roots.
pub fn roots(ca_file: Option<&Path>) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    let Some(path) = ca_file else {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        return Ok(roots);
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|err| format!("cannot read caFile {}: {err}", path.display()))?;
    for cert in certs {
        let cert = cert.map_err(|err| format!("bad certificate in {}: {err}", path.display()))?;
        roots
            .add(cert)
            .map_err(|err| format!("unusable certificate in {}: {err}", path.display()))?;
    }
    Ok(roots)
}
