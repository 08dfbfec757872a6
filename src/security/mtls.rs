//! The client certificate as an mTLS plan's credential: its SHA-256 fingerprint and its
//! subject's attributes, matched against the applications' `certificate`.

use std::sync::Arc;

use x509_parser::prelude::{FromDer, X509Certificate};

/// What identifies a client certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerIdentity {
    /// SHA-256 of the certificate's DER.
    pub fingerprint: [u8; 32],
    /// The subject's attributes as (upper-case short type, value), sorted; empty when the
    /// subject could not be read (then only the fingerprint can match).
    pub subject: Arc<[(String, String)]>,
}

impl PeerIdentity {
    /// The identity of the end-entity certificate `der` (already verified by the TLS listener
    /// against its client CA).
    pub fn of_certificate(der: &[u8]) -> PeerIdentity {
        let mut fingerprint = [0u8; 32];
        fingerprint.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, der).as_ref());
        PeerIdentity {
            fingerprint,
            subject: subject_attributes(der).into(),
        }
    }
}

/// The subject's attributes, normalised as the configuration's `subject` is
/// (`crate::config::parse_subject`): short type names upper-cased (CN, O, OU, C, L, ST), sorted.
fn subject_attributes(der: &[u8]) -> Vec<(String, String)> {
    let Ok((_, certificate)) = X509Certificate::from_der(der) else {
        return Vec::new();
    };
    let registry = x509_parser::objects::oid_registry();
    // An attribute that cannot be read as text (e.g. a BMPString) must not be skipped: the
    // subject would then match a configured subject that lacks it. Such a certificate matches
    // by fingerprint only.
    let attributes: Option<Vec<(String, String)>> = certificate
        .subject()
        .iter_attributes()
        .map(|attribute| {
            let kind = x509_parser::objects::oid2abbrev(attribute.attr_type(), registry)
                .map(str::to_owned)
                .unwrap_or_else(|_| attribute.attr_type().to_id_string());
            let value = attribute.as_str().ok()?.to_owned();
            Some((kind.to_ascii_uppercase(), value))
        })
        .collect();
    let mut attributes = attributes.unwrap_or_default();
    attributes.sort();
    attributes
}
