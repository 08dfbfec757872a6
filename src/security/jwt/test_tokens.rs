//! Test-only: keys from tests/fixtures/jwt and a token forge that signs any header and claims
//! text (so malformed and hostile headers can be signed properly, then refused for themselves).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::EncodingKey;

use super::algorithm::JwtAlgorithm;
use super::config::{settings_from_value, JwtSettings};

pub(crate) const NOW: u64 = 1_800_000_000;
pub(crate) const SECRET: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

pub(crate) const RSA_PRIVATE: &str = include_str!("../../../tests/fixtures/jwt/rsa-private.pem");
pub(crate) const RSA_PUBLIC: &str = include_str!("../../../tests/fixtures/jwt/rsa-public.pem");
pub(crate) const RSA2_PRIVATE: &str = include_str!("../../../tests/fixtures/jwt/rsa2-private.pem");
pub(crate) const EC256_PRIVATE: &str =
    include_str!("../../../tests/fixtures/jwt/ec256-private.pem");
pub(crate) const EC256_PUBLIC: &str = include_str!("../../../tests/fixtures/jwt/ec256-public.pem");
pub(crate) const EC384_PRIVATE: &str =
    include_str!("../../../tests/fixtures/jwt/ec384-private.pem");
pub(crate) const EC384_PUBLIC: &str = include_str!("../../../tests/fixtures/jwt/ec384-public.pem");
pub(crate) const ED_PRIVATE: &str = include_str!("../../../tests/fixtures/jwt/ed25519-private.pem");
pub(crate) const ED_PUBLIC: &str = include_str!("../../../tests/fixtures/jwt/ed25519-public.pem");
pub(crate) const JWKS: &str = include_str!("../../../tests/fixtures/jwt/jwks.json");
pub(crate) const JWKS_ROTATED: &str = include_str!("../../../tests/fixtures/jwt/jwks-rotated.json");

/// The private key (and its fixture name) that signs `alg` in these tests.
pub(crate) fn signing_key(alg: JwtAlgorithm) -> EncodingKey {
    use JwtAlgorithm::*;
    match alg {
        Hs256 | Hs384 | Hs512 => EncodingKey::from_secret(SECRET.as_bytes()),
        Rs256 | Rs384 | Rs512 | Ps256 | Ps384 | Ps512 => {
            EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).unwrap()
        }
        Es256 => EncodingKey::from_ec_pem(EC256_PRIVATE.as_bytes()).unwrap(),
        Es384 => EncodingKey::from_ec_pem(EC384_PRIVATE.as_bytes()).unwrap(),
        EdDsa => EncodingKey::from_ed_pem(ED_PRIVATE.as_bytes()).unwrap(),
    }
}

/// The `kid` of `alg`'s key in jwks.json.
pub(crate) fn jwks_kid(alg: JwtAlgorithm) -> &'static str {
    match alg {
        JwtAlgorithm::Es256 => "ec-256",
        JwtAlgorithm::Es384 => "ec-384",
        JwtAlgorithm::EdDsa => "ed-1",
        _ => "rsa-1",
    }
}

pub(crate) fn b64(text: &str) -> String {
    URL_SAFE_NO_PAD.encode(text)
}

/// `header` and `claims` (JSON text, used as given) signed with `key` under `alg`.
pub(crate) fn forge(header: &str, claims: &str, key: &EncodingKey, alg: JwtAlgorithm) -> String {
    let input = format!("{}.{}", b64(header), b64(claims));
    let signature = jsonwebtoken::crypto::sign(input.as_bytes(), key, alg.crypto()).unwrap();
    format!("{input}.{signature}")
}

/// Claims that pass the plans built by [`plan`]: client `app-1`, valid around [`NOW`].
pub(crate) fn good_claims() -> String {
    claims_at(NOW)
}

/// [`good_claims`] valid around `now` (for tests that check against the real clock).
pub(crate) fn claims_at(now: u64) -> String {
    format!(
        r#"{{"iss":"https://idp.test","aud":"tidegate","azp":"app-1","sub":"alice","exp":{},"nbf":{},"iat":{}}}"#,
        now + 300,
        now - 10,
        now - 10
    )
}

/// A well-formed token for `alg` with `claims`, signed with the fixture key.
pub(crate) fn token(alg: JwtAlgorithm, claims: &str) -> String {
    let header = format!(r#"{{"alg":"{}","typ":"JWT"}}"#, alg.name());
    forge(&header, claims, &signing_key(alg), alg)
}

/// Plan settings from YAML-ish JSON `keys` (the key source members) plus the usual checks.
pub(crate) fn plan(keys: serde_json::Value) -> JwtSettings {
    let mut value = serde_json::json!({ "issuer": "https://idp.test", "audience": "tidegate" });
    value
        .as_object_mut()
        .unwrap()
        .extend(keys.as_object().unwrap().clone());
    settings_from_value(&value, "plan").unwrap()
}
