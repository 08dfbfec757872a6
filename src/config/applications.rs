//! The top-level `applications:` section: the consumers of APIs, and how each is recognised
//! (an OAuth client id for JWT plans, a client certificate for mTLS plans).

use serde::Deserialize;
use serde_json::Value;

use super::problem::{join, Problems};
use super::sections::decode;
use super::subscriptions::check_id;
use super::validate::non_empty;

/// A consumer of APIs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplicationConfig {
    /// Unique, `[a-zA-Z0-9._-]+`.
    pub id: String,
    /// `name` (required): human-readable, non-empty.
    pub name: String,
    /// The OAuth client id its tokens carry (for JWT plans).
    pub client_id: Option<String>,
    /// The client certificate it presents on a TLS listener (for mTLS plans).
    pub certificate: Option<CertificateMatch>,
}

/// How an application's client certificate is recognised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertificateMatch {
    /// The SHA-256 of the certificate's DER (`openssl x509 -noout -fingerprint -sha256`): one
    /// certificate exactly; a renewed certificate needs the new fingerprint.
    FingerprintSha256([u8; 32]),
    /// The subject's attributes (`CN=shop,O=Acme`), in any order: any certificate the listener's
    /// client CA signed with that subject (survives renewals; trust the CA accordingly).
    Subject(Vec<(String, String)>),
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    expecting = "an application mapping (id, name, clientId, certificate)"
)]
struct RawApplication {
    id: String,
    name: String,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    certificate: Option<RawCertificate>,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    expecting = "a certificate mapping with one of `fingerprintSha256` or `subject`"
)]
struct RawCertificate {
    #[serde(default)]
    fingerprint_sha256: Option<String>,
    #[serde(default)]
    subject: Option<String>,
}

/// `applications:` — `None` when an entry could not be decoded (the problems say why).
pub(crate) fn read_applications(
    value: Option<&Value>,
    p: &mut Problems,
) -> Option<Vec<ApplicationConfig>> {
    let items = super::sections::list_items(value, "applications", "applications", p)?;
    let mut all_ok = true;
    let mut applications: Vec<ApplicationConfig> = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let loc = format!("applications[{index}]");
        let Some(raw) = decode::<RawApplication>(item, &loc, p) else {
            all_ok = false;
            continue;
        };
        check_id(&raw.id, &loc, "application", p);
        non_empty(&raw.name, &loc, "name", p);
        if applications.iter().any(|app| app.id == raw.id) {
            let message = format!("application id '{}' is used twice", raw.id);
            p.push(join(&loc, "id"), message);
        }
        // A JWT's client-id claim must name one application.
        if let Some(client_id) = &raw.client_id {
            if client_id.is_empty() {
                p.push(join(&loc, "clientId"), "must not be empty");
            } else if applications
                .iter()
                .any(|app| app.client_id.as_ref() == Some(client_id))
            {
                let message = format!("clientId '{client_id}' is used by another application");
                p.push(join(&loc, "clientId"), message);
            }
        }
        let certificate = raw
            .certificate
            .and_then(|raw| certificate(raw, &join(&loc, "certificate"), p));
        applications.push(ApplicationConfig {
            id: raw.id,
            name: raw.name,
            client_id: raw.client_id,
            certificate,
        });
    }
    all_ok.then_some(applications)
}

fn certificate(raw: RawCertificate, loc: &str, p: &mut Problems) -> Option<CertificateMatch> {
    match (raw.fingerprint_sha256, raw.subject) {
        (Some(hex), None) => match parse_fingerprint(&hex) {
            Some(bytes) => Some(CertificateMatch::FingerprintSha256(bytes)),
            None => {
                p.push(
                    join(loc, "fingerprintSha256"),
                    "must be 64 hex digits (colons allowed), as `openssl x509 -noout -fingerprint -sha256 -in cert.pem` prints",
                );
                None
            }
        },
        (None, Some(subject)) => match parse_subject(&subject) {
            Some(attributes) => Some(CertificateMatch::Subject(attributes)),
            None => {
                p.push(
                    join(loc, "subject"),
                    format!("'{subject}' is not a subject such as CN=shop,O=Acme (TYPE=value pairs separated by commas)"),
                );
                None
            }
        },
        _ => {
            p.push(loc, "give exactly one of `fingerprintSha256` or `subject`");
            None
        }
    }
}

/// `AB:CD:…` or `abcd…` → 32 bytes.
pub(super) fn parse_fingerprint(text: &str) -> Option<[u8; 32]> {
    let hex: String = text.chars().filter(|c| *c != ':').collect();
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let mut bytes = [0u8; 32];
    for (index, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[index * 2..index * 2 + 2], 16).ok()?;
    }
    Some(bytes)
}

/// `CN=shop, O=Acme` → sorted (upper-case type, value) pairs; `None` when malformed. Values with
/// commas are not supported (escaping is not parsed).
pub fn parse_subject(text: &str) -> Option<Vec<(String, String)>> {
    let mut attributes = Vec::new();
    for part in text.split(',') {
        let (kind, value) = part.split_once('=')?;
        let (kind, value) = (kind.trim(), value.trim());
        if kind.is_empty() || value.is_empty() {
            return None;
        }
        attributes.push((kind.to_ascii_uppercase(), value.to_owned()));
    }
    attributes.sort();
    Some(attributes)
}
