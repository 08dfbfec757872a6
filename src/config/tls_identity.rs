//! TLS client certificates ("key stores"): the PEM certificate chain and private key a gateway
//! presents to a broker that asks for one (Kafka `security.ssl.keyStore`, MQTT `tls.certFile` and
//! `tls.keyFile`). Read and checked when the configuration loads: the chain must hold a
//! certificate, the key must be an unencrypted RSA, ECDSA or Ed25519 key in PKCS#8, PKCS#1 or
//! SEC1 form, and it must belong to the first certificate.

use rustls::client::WantsClientCert;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, ConfigBuilder};
use std::hash::{Hash, Hasher};

use super::problem::{join, Problems};

/// A certificate chain (end-entity first) and its private key, checked to match.
#[derive(PartialEq, Eq)]
pub struct ClientIdentity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl ClientIdentity {
    /// Finishes a rustls client configuration presenting this identity when the server asks.
    pub fn install(
        &self,
        builder: ConfigBuilder<ClientConfig, WantsClientCert>,
    ) -> Result<ClientConfig, rustls::Error> {
        builder.with_client_auth_cert(self.chain.clone(), self.key.clone_key())
    }

    /// The chain and key as rustls signs with them (a server certificate of `gateway.tls`).
    pub fn certified_key(
        &self,
        provider: &rustls::crypto::CryptoProvider,
    ) -> Result<CertifiedKey, rustls::Error> {
        CertifiedKey::from_der(self.chain.clone(), self.key.clone_key(), provider)
    }
}

impl Clone for ClientIdentity {
    fn clone(&self) -> Self {
        ClientIdentity {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

impl Hash for ClientIdentity {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.chain.hash(state);
        self.key.secret_der().hash(state);
    }
}

impl std::fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("ClientIdentity")
            .field("certificates", &self.chain.len())
            .finish_non_exhaustive()
    }
}

/// One half of an identity as written: a file to read, or the PEM text itself.
pub(crate) enum PemSource {
    /// A path, read now.
    File(String),
    /// PEM text given inline.
    Content(String),
}

impl PemSource {
    /// The PEM bytes; a file that cannot be read is a problem at `loc`.
    fn read(self, loc: &str, p: &mut Problems) -> Option<Vec<u8>> {
        match self {
            PemSource::Content(text) => Some(text.into_bytes()),
            PemSource::File(path) => match std::fs::read(&path) {
                Ok(bytes) => Some(bytes),
                Err(error) => {
                    p.push(loc, format!("cannot read '{path}': {error}"));
                    None
                }
            },
        }
    }
}

/// Reads the certificate chain (`cert`, problems at `cert_loc`) and the private key (`key`, at
/// `key_loc`) and checks that they form a usable identity (a mismatch is reported at `loc`).
pub(crate) fn client_identity(
    cert: (PemSource, &str),
    key: (PemSource, &str),
    loc: &str,
    p: &mut Problems,
) -> Option<ClientIdentity> {
    let (cert, cert_loc) = cert;
    let (key, key_loc) = key;
    let chain = cert
        .read(cert_loc, p)
        .and_then(|pem| certificates(&pem, cert_loc, p));
    let key = key
        .read(key_loc, p)
        .and_then(|pem| private_key(&pem, key_loc, p));
    let (chain, key) = (chain?, key?);
    let provider = rustls::crypto::ring::default_provider();
    match CertifiedKey::from_der(chain.clone(), key.clone_key(), &provider) {
        Ok(_) => Some(ClientIdentity { chain, key }),
        Err(rustls::Error::InconsistentKeys(_)) => {
            p.push(
                loc,
                "the private key does not belong to the first certificate: give the key the certificate was issued for",
            );
            None
        }
        Err(error) => {
            p.push(
                key_loc,
                format!("unsupported private key ({error}): use an RSA, ECDSA (P-256, P-384) or Ed25519 key"),
            );
            None
        }
    }
}

/// A `caFile` of trusted authorities: it must be readable and hold a PEM certificate (else a
/// problem at `loc`). Returned either way, so the other checks go on.
pub(crate) fn ca_file(path: &str, loc: &str, p: &mut Problems) -> std::path::PathBuf {
    let path = std::path::PathBuf::from(path);
    match std::fs::read(&path) {
        Ok(pem) if String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") => {}
        Ok(_) => p.push(
            loc,
            format!(
                "{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                path.display()
            ),
        ),
        Err(error) => p.push(loc, format!("cannot read {}: {error}", path.display())),
    }
    path
}

/// Every certificate of a PEM text (at least one).
fn certificates(pem: &[u8], loc: &str, p: &mut Problems) -> Option<Vec<CertificateDer<'static>>> {
    match CertificateDer::pem_slice_iter(pem).collect::<Result<Vec<_>, _>>() {
        Ok(chain) if !chain.is_empty() => Some(chain),
        Ok(_) => {
            p.push(
                loc,
                "holds no PEM certificate (`-----BEGIN CERTIFICATE-----`)",
            );
            None
        }
        Err(error) => {
            p.push(loc, format!("unreadable PEM certificate: {error}"));
            None
        }
    }
}

/// The first private key of a PEM text.
fn private_key(pem: &[u8], loc: &str, p: &mut Problems) -> Option<PrivateKeyDer<'static>> {
    match PrivateKeyDer::from_pem_slice(pem) {
        Ok(key) => Some(key),
        Err(pem::Error::NoItemsFound) if contains(pem, b"ENCRYPTED PRIVATE KEY") => {
            p.push(
                loc,
                "the private key is encrypted, which this version of tidegate does not read: decrypt it with `openssl pkey -in key.pem -out key-plain.pem` and keep that file private",
            );
            None
        }
        Err(pem::Error::NoItemsFound) => {
            p.push(
                loc,
                "holds no PEM private key (`-----BEGIN PRIVATE KEY-----`, `RSA PRIVATE KEY` or `EC PRIVATE KEY`)",
            );
            None
        }
        Err(error) => {
            p.push(loc, format!("unreadable PEM private key: {error}"));
            None
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// `certFile` + `keyFile` style keys under `loc`: both or neither.
pub(crate) fn identity_files(
    cert_file: Option<String>,
    key_file: Option<String>,
    keys: (&str, &str),
    loc: &str,
    p: &mut Problems,
) -> Option<ClientIdentity> {
    let (cert_key, key_key) = keys;
    match (cert_file, key_file) {
        (None, None) => None,
        (Some(cert), Some(key)) => client_identity(
            (PemSource::File(cert), &join(loc, cert_key)),
            (PemSource::File(key), &join(loc, key_key)),
            loc,
            p,
        ),
        (Some(_), None) => {
            p.push(
                join(loc, key_key),
                format!(
                    "required with `{cert_key}`: the PEM file of the certificate's private key"
                ),
            );
            None
        }
        (None, Some(_)) => {
            p.push(
                join(loc, cert_key),
                format!(
                    "required with `{key_key}`: the PEM file of the client certificate (chain)"
                ),
            );
            None
        }
    }
}
