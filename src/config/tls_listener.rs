//! `gateway.tls`: the TLS listener (https, wss) next to the plaintext `gateway.listen`.
//!
//! The certificate and key files are read and checked here, so `tidegate check` reports a
//! missing, unreadable or mismatched file by its key path, and a reload (`tls::reload`) runs the
//! same checks on the new files before it uses them.

use std::net::SocketAddr;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use serde::Deserialize;

use super::problem::{join, Problems};
use super::tls_identity::{identity_files, ClientIdentity};

/// The TLS listener's settings and the certificates read from its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsListenerConfig {
    /// Where it listens (e.g. `0.0.0.0:8443`).
    pub listen: SocketAddr,
    /// What to read (again, on a reload).
    pub files: TlsFiles,
    /// `minVersion` (default `TLSv1.2`): the oldest TLS version accepted.
    pub min_version: TlsVersion,
    /// `clientAuth` (default `none`): whether clients are asked for a certificate.
    pub client_auth: ClientAuth,
    /// The files' contents when the configuration was loaded.
    pub material: TlsMaterial,
}

/// The files of a TLS listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// `(certFile, keyFile)` per certificate, in configuration order (the first is the default).
    pub certificates: Vec<(String, String)>,
    /// PEM file of the CAs client certificates must chain to.
    pub client_ca_file: Option<String>,
}

impl TlsFiles {
    /// Every path, for the reload watcher.
    pub fn paths(&self) -> Vec<String> {
        let mut paths: Vec<String> = self
            .certificates
            .iter()
            .flat_map(|(cert, key)| [cert.clone(), key.clone()])
            .collect();
        paths.extend(self.client_ca_file.iter().cloned());
        paths
    }
}

/// Certificates and keys read from a listener's files, checked to match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsMaterial {
    /// One identity per configured certificate; the first is the default (no or unknown SNI).
    pub certificates: Vec<ClientIdentity>,
    /// The CA certificates for client certificates (`clientCaFile`).
    pub client_cas: Vec<CertificateDer<'static>>,
}

/// The oldest TLS version a client may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum TlsVersion {
    #[serde(
        rename = "TLSv1.2",
        alias = "TLS1.2",
        alias = "tls1.2",
        alias = "TLSv1_2"
    )]
    /// `TLSv1.2` (the default): TLS 1.2 and 1.3 accepted, 1.3 preferred.
    Tls12,
    #[serde(
        rename = "TLSv1.3",
        alias = "TLS1.3",
        alias = "tls1.3",
        alias = "TLSv1_3"
    )]
    /// `TLSv1.3`: only TLS 1.3.
    Tls13,
}

/// Whether clients present a certificate (Gravitee's `clientAuth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuth {
    /// No certificate is asked for.
    None,
    /// Asked for; a client without one is served too (a certificate it sends must verify).
    Request,
    /// A client without a valid certificate is refused in the handshake.
    #[serde(alias = "required")]
    Require,
}

/// `gateway.tls` as written.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    expecting = "the tls mapping `{ listen, certificates, minVersion, clientAuth, clientCaFile }`"
)]
pub(crate) struct RawTlsListener {
    listen: String,
    certificates: Vec<RawCertificate>,
    #[serde(default = "default_min_version")]
    min_version: TlsVersion,
    #[serde(default = "default_client_auth")]
    client_auth: ClientAuth,
    #[serde(default)]
    client_ca_file: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    expecting = "a certificate mapping `{ certFile, keyFile }`"
)]
struct RawCertificate {
    cert_file: String,
    key_file: String,
}

fn default_min_version() -> TlsVersion {
    TlsVersion::Tls12
}

fn default_client_auth() -> ClientAuth {
    ClientAuth::None
}

/// Where `gateway.tls` is in the file.
const LOC: &str = "gateway.tls";

/// Checks `gateway.tls` and reads its files. `listen` and `admin` are the other listeners' addresses,
/// whose ports it must not take.
pub(crate) fn validate(
    raw: RawTlsListener,
    others: &[(&str, SocketAddr)],
    p: &mut Problems,
) -> Option<TlsListenerConfig> {
    let listen = match raw.listen.parse::<SocketAddr>() {
        Ok(addr) => addr,
        Err(_) => {
            p.push(
                join(LOC, "listen"),
                format!(
                    "'{}' is not an IP address and port; write e.g. 0.0.0.0:8443",
                    raw.listen
                ),
            );
            return None;
        }
    };
    for (key, other) in others {
        if super::listeners::collide(listen, *other) {
            p.push(
                join(LOC, "listen"),
                format!("{listen} would take the port of {key} ({other}); give the TLS listener a port of its own, e.g. 0.0.0.0:8443"),
            );
        }
    }
    if raw.certificates.is_empty() {
        p.push(
            join(LOC, "certificates"),
            "needs at least one `{ certFile, keyFile }`: the certificate (chain) and key the listener presents",
        );
    }
    match (raw.client_auth, &raw.client_ca_file) {
        (ClientAuth::None, Some(_)) => p.push(
            join(LOC, "clientCaFile"),
            "is used only with `clientAuth: request` or `require`",
        ),
        (ClientAuth::Request | ClientAuth::Require, None) => p.push(
            join(LOC, "clientCaFile"),
            "required with `clientAuth: request` or `require`: the PEM file of the CA(s) client certificates are issued by",
        ),
        _ => {}
    }
    let files = TlsFiles {
        certificates: raw
            .certificates
            .into_iter()
            .map(|c| (c.cert_file, c.key_file))
            .collect(),
        client_ca_file: raw.client_ca_file,
    };
    let material = load_material(&files, p)?;
    Some(TlsListenerConfig {
        listen,
        files,
        min_version: raw.min_version,
        client_auth: raw.client_auth,
        material,
    })
}

/// Reads every file of a TLS listener; problems are reported under `gateway.tls`. Used at load
/// and at every reload.
pub(crate) fn load_material(files: &TlsFiles, p: &mut Problems) -> Option<TlsMaterial> {
    let mut certificates = Vec::with_capacity(files.certificates.len());
    let mut complete = true;
    for (index, (cert, key)) in files.certificates.iter().enumerate() {
        let loc = format!("{LOC}.certificates[{index}]");
        let identity = identity_files(
            Some(cert.clone()),
            Some(key.clone()),
            ("certFile", "keyFile"),
            &loc,
            p,
        );
        match identity {
            Some(identity) => certificates.push(identity),
            None => complete = false,
        }
    }
    let client_cas = match &files.client_ca_file {
        None => Vec::new(),
        Some(path) => match ca_certificates(path, p) {
            Some(cas) => cas,
            None => {
                complete = false;
                Vec::new()
            }
        },
    };
    complete.then_some(TlsMaterial {
        certificates,
        client_cas,
    })
}

/// `load_material` for a reload: every problem in one message, as `tidegate check` prints them.
pub(crate) fn reload_material(files: &TlsFiles, origin: &str) -> Result<TlsMaterial, String> {
    let mut p = Problems::default();
    let material = load_material(files, &mut p);
    p.into_result(origin).map_err(|error| error.to_string())?;
    material.ok_or_else(|| format!("{origin}: the TLS files could not be read"))
}

/// The CA certificates of `clientCaFile` (at least one, each usable as a trust anchor).
fn ca_certificates(path: &str, p: &mut Problems) -> Option<Vec<CertificateDer<'static>>> {
    let loc = join(LOC, "clientCaFile");
    let pem = match std::fs::read(path) {
        Ok(pem) => pem,
        Err(error) => {
            p.push(loc, format!("cannot read '{path}': {error}"));
            return None;
        }
    };
    let cas = match CertificateDer::pem_slice_iter(&pem).collect::<Result<Vec<_>, _>>() {
        Ok(cas) if !cas.is_empty() => cas,
        Ok(_) => {
            p.push(
                loc,
                format!("'{path}' holds no PEM certificate (`-----BEGIN CERTIFICATE-----`)"),
            );
            return None;
        }
        Err(error) => {
            p.push(
                loc,
                format!("'{path}': unreadable PEM certificate: {error}"),
            );
            return None;
        }
    };
    let mut roots = rustls::RootCertStore::empty();
    for ca in &cas {
        if let Err(error) = roots.add(ca.clone()) {
            p.push(
                loc,
                format!("'{path}' holds a certificate that cannot be a CA: {error}"),
            );
            return None;
        }
    }
    Some(cas)
}
