//! The JWS algorithms a `security: jwt` plan accepts, and the key family each one needs.
//!
//! The family check is what stops HMAC/RSA key confusion (RFC 8725 §2.1): a token that names
//! `HS256` is never checked with a public key, whatever its header says.

use jsonwebtoken::Algorithm;

/// One accepted signature algorithm. `none` has no variant: an unsigned token cannot be named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JwtAlgorithm {
    /// `HS256`: HMAC with SHA-256 (a secret of at least 32 bytes).
    Hs256,
    /// `HS384`: HMAC with SHA-384 (a secret of at least 48 bytes).
    Hs384,
    /// `HS512`: HMAC with SHA-512 (a secret of at least 64 bytes).
    Hs512,
    /// `RS256`: RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// `RS384`: RSASSA-PKCS1-v1_5 with SHA-384.
    Rs384,
    /// `RS512`: RSASSA-PKCS1-v1_5 with SHA-512.
    Rs512,
    /// `PS256`: RSASSA-PSS with SHA-256.
    Ps256,
    /// `PS384`: RSASSA-PSS with SHA-384.
    Ps384,
    /// `PS512`: RSASSA-PSS with SHA-512.
    Ps512,
    /// `ES256`: ECDSA on P-256 with SHA-256.
    Es256,
    /// `ES384`: ECDSA on P-384 with SHA-384.
    Es384,
    /// `EdDSA`: Ed25519 signatures.
    EdDsa,
}

/// The kind of key an algorithm verifies with; a key is only ever used for its own family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyFamily {
    /// A shared secret (HS*).
    Hmac,
    /// An RSA public key (RS*, PS*).
    Rsa,
    /// A P-256 public key (ES256).
    EcP256,
    /// A P-384 public key (ES384).
    EcP384,
    /// An Ed25519 public key (EdDSA).
    Ed25519,
}

impl JwtAlgorithm {
    /// Every algorithm, in the order the documentation lists them.
    pub const ALL: [JwtAlgorithm; 12] = [
        JwtAlgorithm::Hs256,
        JwtAlgorithm::Hs384,
        JwtAlgorithm::Hs512,
        JwtAlgorithm::Rs256,
        JwtAlgorithm::Rs384,
        JwtAlgorithm::Rs512,
        JwtAlgorithm::Ps256,
        JwtAlgorithm::Ps384,
        JwtAlgorithm::Ps512,
        JwtAlgorithm::Es256,
        JwtAlgorithm::Es384,
        JwtAlgorithm::EdDsa,
    ];

    /// The algorithm named `name` in a token header or the configuration (case-sensitive, as
    /// RFC 7518 names them); `None` for anything else, `none` included.
    pub fn from_name(name: &str) -> Option<JwtAlgorithm> {
        JwtAlgorithm::ALL.into_iter().find(|alg| alg.name() == name)
    }

    /// The RFC 7518 name.
    pub fn name(self) -> &'static str {
        match self {
            JwtAlgorithm::Hs256 => "HS256",
            JwtAlgorithm::Hs384 => "HS384",
            JwtAlgorithm::Hs512 => "HS512",
            JwtAlgorithm::Rs256 => "RS256",
            JwtAlgorithm::Rs384 => "RS384",
            JwtAlgorithm::Rs512 => "RS512",
            JwtAlgorithm::Ps256 => "PS256",
            JwtAlgorithm::Ps384 => "PS384",
            JwtAlgorithm::Ps512 => "PS512",
            JwtAlgorithm::Es256 => "ES256",
            JwtAlgorithm::Es384 => "ES384",
            JwtAlgorithm::EdDsa => "EdDSA",
        }
    }

    /// The key family that verifies this algorithm.
    pub fn family(self) -> KeyFamily {
        match self {
            JwtAlgorithm::Hs256 | JwtAlgorithm::Hs384 | JwtAlgorithm::Hs512 => KeyFamily::Hmac,
            JwtAlgorithm::Rs256
            | JwtAlgorithm::Rs384
            | JwtAlgorithm::Rs512
            | JwtAlgorithm::Ps256
            | JwtAlgorithm::Ps384
            | JwtAlgorithm::Ps512 => KeyFamily::Rsa,
            JwtAlgorithm::Es256 => KeyFamily::EcP256,
            JwtAlgorithm::Es384 => KeyFamily::EcP384,
            JwtAlgorithm::EdDsa => KeyFamily::Ed25519,
        }
    }

    /// For HMAC: the shortest secret RFC 7518 §3.2 allows (the hash output size), in bytes.
    pub fn min_secret_bytes(self) -> usize {
        match self {
            JwtAlgorithm::Hs384 => 48,
            JwtAlgorithm::Hs512 => 64,
            _ => 32,
        }
    }

    /// The same algorithm in the cryptography crate's terms.
    pub(super) fn crypto(self) -> Algorithm {
        match self {
            JwtAlgorithm::Hs256 => Algorithm::HS256,
            JwtAlgorithm::Hs384 => Algorithm::HS384,
            JwtAlgorithm::Hs512 => Algorithm::HS512,
            JwtAlgorithm::Rs256 => Algorithm::RS256,
            JwtAlgorithm::Rs384 => Algorithm::RS384,
            JwtAlgorithm::Rs512 => Algorithm::RS512,
            JwtAlgorithm::Ps256 => Algorithm::PS256,
            JwtAlgorithm::Ps384 => Algorithm::PS384,
            JwtAlgorithm::Ps512 => Algorithm::PS512,
            JwtAlgorithm::Es256 => Algorithm::ES256,
            JwtAlgorithm::Es384 => Algorithm::ES384,
            JwtAlgorithm::EdDsa => Algorithm::EdDSA,
        }
    }
}

impl KeyFamily {
    /// The algorithms this family verifies.
    pub fn algorithms(self) -> impl Iterator<Item = JwtAlgorithm> {
        JwtAlgorithm::ALL
            .into_iter()
            .filter(move |alg| alg.family() == self)
    }
}

#[cfg(test)]
mod tests {
    use super::{JwtAlgorithm, KeyFamily};

    #[test]
    fn names_round_trip_and_none_is_not_an_algorithm() {
        for alg in JwtAlgorithm::ALL {
            assert_eq!(JwtAlgorithm::from_name(alg.name()), Some(alg));
        }
        for name in ["none", "None", "NONE", "hs256", "", "RS1", "ES512"] {
            assert_eq!(JwtAlgorithm::from_name(name), None, "{name}");
        }
    }

    #[test]
    fn hmac_is_a_family_of_its_own() {
        let hmac: Vec<_> = KeyFamily::Hmac.algorithms().collect();
        assert_eq!(
            hmac,
            [
                JwtAlgorithm::Hs256,
                JwtAlgorithm::Hs384,
                JwtAlgorithm::Hs512
            ]
        );
        assert!(KeyFamily::Rsa
            .algorithms()
            .all(|alg| !alg.name().starts_with("HS")));
    }
}
