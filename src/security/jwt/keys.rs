//! Verification keys, each tagged with its family so it only ever checks its own algorithms:
//! an HMAC secret from the configuration, a PEM public key, or the keys of a JWKS document.
//!
//! Keys are parsed once (at configuration load, or on the JWKS thread after a fetch) and shared
//! read-only by every shard.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::DecodingKey;
use serde::Deserialize;

use super::algorithm::{JwtAlgorithm, KeyFamily};

/// The most keys a JWKS document may hold; a larger one is refused whole.
pub const MAX_JWKS_KEYS: usize = 64;

/// One key that verifies signatures of one family.
pub struct VerifyKey {
    /// The `kid` it is published under (JWKS keys); inline keys have none and match any token.
    pub key_id: Option<String>,
    /// The kind of key (HMAC secret, RSA, EC curve, Ed25519): it checks only algorithms of
    /// this family, so an RSA public key can never be used as an HMAC secret.
    pub family: KeyFamily,
    /// The JWK's `alg`, when it names one: then the key verifies only that algorithm.
    pub algorithm: Option<JwtAlgorithm>,
    pub(super) key: DecodingKey,
}

impl std::fmt::Debug for VerifyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyKey")
            .field("key_id", &self.key_id)
            .field("family", &self.family)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl VerifyKey {
    /// Whether this key may check a token signed with `algorithm`.
    pub fn verifies(&self, algorithm: JwtAlgorithm) -> bool {
        self.family == algorithm.family() && self.algorithm.is_none_or(|alg| alg == algorithm)
    }

    /// An HMAC secret (its bytes as configured).
    pub fn hmac(secret: &[u8]) -> VerifyKey {
        VerifyKey {
            key_id: None,
            family: KeyFamily::Hmac,
            algorithm: None,
            key: DecodingKey::from_secret(secret),
        }
    }

    /// A public key in PEM (`PUBLIC KEY`, or `RSA PUBLIC KEY`): RSA, EC P-256/P-384 or
    /// Ed25519. A private key is refused, so it is not kept in memory by mistake.
    pub fn from_pem(pem: &str) -> Result<VerifyKey, String> {
        if pem.contains("PRIVATE KEY") {
            return Err("holds a private key: give the public key (PUBLIC KEY PEM)".to_owned());
        }
        let bytes = pem.as_bytes();
        let (family, key) = if let Ok(key) = DecodingKey::from_rsa_pem(bytes) {
            (KeyFamily::Rsa, key)
        } else if let Ok(key) = DecodingKey::from_ed_pem(bytes) {
            (KeyFamily::Ed25519, key)
        } else if let Ok(key) = DecodingKey::from_ec_pem(bytes) {
            (ec_family_of_pem(bytes)?, key)
        } else {
            return Err("is not a PEM RSA, EC (P-256, P-384) or Ed25519 public key".to_owned());
        };
        Ok(VerifyKey {
            key_id: None,
            family,
            algorithm: None,
            key,
        })
    }
}

/// The curve of an EC PEM key, read from the uncompressed point's length in the DER (the crate
/// does not say): 65 bytes is P-256, 97 is P-384.
fn ec_family_of_pem(pem: &[u8]) -> Result<KeyFamily, String> {
    let text = std::str::from_utf8(pem).map_err(|_| "is not text".to_owned())?;
    let body: String = text
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body.trim())
        .map_err(|_| "is not valid PEM base64".to_owned())?;
    // SPKI for EC: the point is the BIT STRING at the end (after one unused-bits byte).
    match der.len() {
        91 => Ok(KeyFamily::EcP256),
        120 => Ok(KeyFamily::EcP384),
        _ => Err("is an EC key on a curve other than P-256 or P-384".to_owned()),
    }
}

/// The keys of one plan, looked up by `kid` and family.
#[derive(Debug, Default)]
pub struct KeySet {
    /// Every usable signature key of the source, in document order (at most
    /// [`MAX_JWKS_KEYS`]); empty before a JWKS URL's first successful fetch.
    pub keys: Vec<VerifyKey>,
    /// For a set made of one HMAC secret: its length, which decides the HS* it may verify.
    pub secret_len: Option<usize>,
}

impl KeySet {
    /// The set of one HMAC secret (its bytes as configured).
    pub fn hmac(secret: &[u8]) -> KeySet {
        KeySet {
            keys: vec![VerifyKey::hmac(secret)],
            secret_len: Some(secret.len()),
        }
    }

    /// The set of one PEM public key.
    pub fn single(key: VerifyKey) -> KeySet {
        KeySet {
            keys: vec![key],
            secret_len: None,
        }
    }

    /// The keys that may check a token with `algorithm` and `key_id`: keys without a `kid` match
    /// any token; a token's `kid` must otherwise match exactly.
    pub fn candidates<'a>(
        &'a self,
        algorithm: JwtAlgorithm,
        key_id: Option<&'a str>,
    ) -> impl Iterator<Item = &'a VerifyKey> + 'a {
        self.keys.iter().filter(move |key| {
            key.verifies(algorithm)
                && match (&key.key_id, key_id) {
                    (Some(have), Some(want)) => have == want,
                    _ => true,
                }
        })
    }

    /// Whether a key is published under `key_id` at all (any family).
    pub fn knows(&self, key_id: &str) -> bool {
        self.keys
            .iter()
            .any(|key| key.key_id.as_deref() == Some(key_id))
    }

    /// Parses a JWKS document (RFC 7517 §5). Keys the gateway cannot use for signatures (`use`
    /// other than `sig`, an unknown `kty`, `crv` or `alg`, or `oct` secrets, which belong in
    /// `secret`) are skipped; a malformed document or key is an error.
    pub fn from_jwks(text: &[u8]) -> Result<KeySet, String> {
        let document: JwksDocument =
            serde_json::from_slice(text).map_err(|error| format!("is not a JWKS: {error}"))?;
        if document.keys.len() > MAX_JWKS_KEYS {
            return Err(format!(
                "holds {} keys, at most {MAX_JWKS_KEYS} are accepted",
                document.keys.len()
            ));
        }
        let mut keys = Vec::new();
        for (index, jwk) in document.keys.iter().enumerate() {
            if let Some(key) = jwk_key(jwk).map_err(|error| format!("keys[{index}]: {error}"))? {
                keys.push(key);
            }
        }
        Ok(KeySet {
            keys,
            secret_len: None,
        })
    }
}

#[derive(Deserialize)]
struct JwksDocument {
    keys: Vec<Jwk>,
}

/// The JWK members used here; others are ignored.
#[derive(Deserialize)]
struct Jwk {
    kty: String,
    kid: Option<String>,
    #[serde(rename = "use")]
    usage: Option<String>,
    alg: Option<String>,
    crv: Option<String>,
    n: Option<String>,
    e: Option<String>,
    x: Option<String>,
    y: Option<String>,
}

/// One JWK as a key; `None` when it is skipped.
fn jwk_key(jwk: &Jwk) -> Result<Option<VerifyKey>, String> {
    if jwk.usage.as_deref().is_some_and(|usage| usage != "sig") {
        return Ok(None);
    }
    let algorithm = match &jwk.alg {
        None => None,
        Some(name) => match JwtAlgorithm::from_name(name) {
            Some(alg) if alg.family() != KeyFamily::Hmac => Some(alg),
            _ => return Ok(None),
        },
    };
    let component = |value: &Option<String>, name: &str, bytes: Option<usize>| {
        let value = value
            .as_deref()
            .ok_or_else(|| format!("{} key without {name}", jwk.kty))?;
        let decoded = URL_SAFE_NO_PAD
            .decode(value)
            .map_err(|_| format!("{name} is not base64url"))?;
        if bytes.is_some_and(|len| decoded.len() != len) {
            return Err(format!("{name} has the wrong length for the curve"));
        }
        Ok(value.to_owned())
    };
    let (family, key) = match (jwk.kty.as_str(), jwk.crv.as_deref()) {
        ("RSA", _) => {
            let n = component(&jwk.n, "n", None)?;
            let e = component(&jwk.e, "e", None)?;
            let key = DecodingKey::from_rsa_components(&n, &e).map_err(|e| e.to_string())?;
            (KeyFamily::Rsa, key)
        }
        ("EC", Some(curve @ ("P-256" | "P-384"))) => {
            let (family, size) = if curve == "P-256" {
                (KeyFamily::EcP256, 32)
            } else {
                (KeyFamily::EcP384, 48)
            };
            let x = component(&jwk.x, "x", Some(size))?;
            let y = component(&jwk.y, "y", Some(size))?;
            let key = DecodingKey::from_ec_components(&x, &y).map_err(|e| e.to_string())?;
            (family, key)
        }
        ("OKP", Some("Ed25519")) => {
            let x = component(&jwk.x, "x", Some(32))?;
            let key = DecodingKey::from_ed_components(&x).map_err(|e| e.to_string())?;
            (KeyFamily::Ed25519, key)
        }
        _ => return Ok(None),
    };
    if algorithm.is_some_and(|alg| alg.family() != family) {
        return Err(format!("alg does not fit a {} key", jwk.kty));
    }
    Ok(Some(VerifyKey {
        key_id: jwk.kid.clone(),
        family,
        algorithm,
        key,
    }))
}
