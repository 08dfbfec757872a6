//! Subscribers over TLS: the client configuration (trusting one CA file, ALPN `http/1.1`), for the
//! engine to drive a rustls session per connection sans-IO, measuring what TLS adds to fan-out.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::ClientConfig;

/// A client configuration trusting the certificates in `ca_file` (PEM).
pub fn client_config(ca_file: &Path) -> std::io::Result<Arc<ClientConfig>> {
    let invalid = |what: String| std::io::Error::new(std::io::ErrorKind::InvalidData, what);
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_file)
        .map_err(|err| invalid(format!("{}: {err}", ca_file.display())))?
    {
        let cert = cert.map_err(|err| invalid(format!("{}: {err}", ca_file.display())))?;
        roots
            .add(cert)
            .map_err(|err| invalid(format!("{}: {err}", ca_file.display())))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| invalid(err.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
