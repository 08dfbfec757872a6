//! The client certificate a TLS connection presented (`gateway.tls.clientAuth`), kept with the
//! connection so request handling (an mTLS plan) can match it to an application.

use rustls::pki_types::CertificateDer;

/// A client's certificate chain as it sent it (end-entity first), verified against
/// `clientCaFile` during the handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerCertificates {
    chain: Vec<CertificateDer<'static>>,
    fingerprint: [u8; 32],
}

impl PeerCertificates {
    /// `chain` must not be empty.
    pub fn new(chain: Vec<CertificateDer<'static>>) -> PeerCertificates {
        let fingerprint = sha256_fingerprint(&chain[0]);
        PeerCertificates { chain, fingerprint }
    }

    /// The client's own certificate (DER).
    pub fn end_entity(&self) -> &CertificateDer<'static> {
        &self.chain[0]
    }

    /// The whole chain the client sent, end-entity first.
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }

    /// SHA-256 of the end-entity certificate's DER, as `openssl x509 -fingerprint -sha256` computes it.
    pub fn sha256(&self) -> &[u8; 32] {
        &self.fingerprint
    }

    /// The same as lowercase hex without separators (64 characters).
    pub fn sha256_hex(&self) -> String {
        hex(&self.fingerprint)
    }
}

/// SHA-256 of a certificate's DER encoding.
pub fn sha256_fingerprint(cert: &CertificateDer<'_>) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, cert.as_ref());
    let mut out = [0; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut out, byte| {
        let _ = write!(out, "{byte:02x}");
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_is_sha256_of_the_der() {
        // SHA-256("abc"), FIPS 180-2 test vector.
        let cert = CertificateDer::from(b"abc".to_vec());
        assert_eq!(
            hex(&sha256_fingerprint(&cert)),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let peer = PeerCertificates::new(vec![cert.clone()]);
        assert_eq!(peer.end_entity(), &cert);
        assert_eq!(peer.sha256_hex().len(), 64);
    }
}
