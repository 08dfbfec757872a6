//! Builds the rustls server configuration of the TLS listener from what `config::tls_listener`
//! read: certificates chosen by SNI, the allowed versions, ALPN `http/1.1`, and the client
//! certificate verifier.

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, DnsName, ServerName};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig};

use crate::config::{ClientAuth, TlsListenerConfig, TlsMaterial, TlsVersion};

/// The only application protocol served (the gateway speaks HTTP/1.1; WebSocket upgrades from it).
pub const ALPN_HTTP_1_1: &[u8] = b"http/1.1";

/// The server configuration for `listener` with the certificates of `material` (the files read
/// at load, or again at a reload).
pub fn build(
    listener: &TlsListenerConfig,
    material: &TlsMaterial,
) -> Result<Arc<ServerConfig>, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: &[&rustls::SupportedProtocolVersion] = match listener.min_version {
        TlsVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
        TlsVersion::Tls13 => &[&rustls::version::TLS13],
    };
    let builder =
        ServerConfig::builder_with_provider(provider.clone()).with_protocol_versions(versions)?;
    let builder = match listener.client_auth {
        ClientAuth::None => builder.with_no_client_auth(),
        auth => {
            let mut roots = RootCertStore::empty();
            for ca in &material.client_cas {
                roots.add(ca.clone())?;
            }
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
            let verifier = match auth {
                ClientAuth::Request => verifier.allow_unauthenticated(),
                _ => verifier,
            };
            let verifier = verifier
                .build()
                .map_err(|error| rustls::Error::General(error.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let certificates = material
        .certificates
        .iter()
        .map(|identity| identity.certified_key(&provider).map(Arc::new))
        .collect::<Result<Vec<_>, _>>()?;
    let mut config = builder.with_cert_resolver(Arc::new(SniCertificates { certificates }));
    config.alpn_protocols = vec![ALPN_HTTP_1_1.to_vec()];
    Ok(Arc::new(config))
}

/// Chooses the first configured certificate valid for the client's SNI name (wildcards
/// included); the first certificate when there is no name or none matches.
#[derive(Debug)]
struct SniCertificates {
    certificates: Vec<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for SniCertificates {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let default = self.certificates.first().cloned();
        let Some(name) = hello.server_name() else {
            return default;
        };
        let Ok(name) = DnsName::try_from(name) else {
            return default;
        };
        let name = ServerName::DnsName(name.to_owned());
        self.certificates
            .iter()
            .find(|key| valid_for(key.end_entity_cert().ok(), &name))
            .cloned()
            .or(default)
    }
}

fn valid_for(cert: Option<&CertificateDer<'_>>, name: &ServerName<'_>) -> bool {
    cert.and_then(|der| webpki::EndEntityCert::try_from(der).ok())
        .is_some_and(|cert| cert.verify_is_valid_for_subject_name(name).is_ok())
}
