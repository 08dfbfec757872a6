//! A compact JWS (`header.payload.signature`) taken apart, sans-IO and before any key is touched.
//!
//! Everything a forged token could use to steer verification is settled here (RFC 8725 §3):
//! the size, the encoding (strict, unpadded base64url; canonical trailing bits), unique member
//! names, an `alg` from the plan's list (never `none`), no key-carrying headers (`jku`, `x5u`,
//! `jwk`, `x5c`: keys come from configuration only), no `crit` extension (none is implemented),
//! and no JWE (`enc`, five parts).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{Map, Value};

use super::algorithm::JwtAlgorithm;
use super::refusal::JwtRefusal;
use super::unique_object::parse_unique_object;

/// Headers that would make the token choose or carry its own verification key.
/// (`x5t`, a thumbprint, only names a key and is ignored like any unknown header.)
const KEY_CARRYING_HEADERS: [&str; 4] = ["jku", "x5u", "jwk", "x5c"];

/// `typ` values that mean "a JWT" (RFC 7519 §5.1, RFC 9068 access tokens), compared
/// case-insensitively; any other `typ` is another kind of JOSE object and is refused.
const JWT_TYPES: [&str; 4] = ["jwt", "application/jwt", "at+jwt", "application/at+jwt"];

/// A token whose shape and header passed; its signature and claims are not checked yet.
#[derive(Debug)]
pub struct ParsedToken<'a> {
    /// The algorithm the header names (already one the plan accepts).
    pub algorithm: JwtAlgorithm,
    /// The header's `kid`, if any.
    pub key_id: Option<String>,
    /// `header.payload` exactly as received: what the signature covers.
    pub signing_input: &'a str,
    /// The third part, still base64url (the cryptography crate decodes it).
    pub signature: &'a str,
    /// The claims set, member names unique.
    pub claims: Map<String, Value>,
}

/// Takes `token` apart; `accepted` is the plan's algorithm list.
pub fn parse<'a>(
    token: &'a str,
    max_bytes: usize,
    accepted: &[JwtAlgorithm],
) -> Result<ParsedToken<'a>, JwtRefusal> {
    if token.len() > max_bytes {
        return Err(JwtRefusal::TooLarge {
            bytes: token.len(),
            max_bytes,
        });
    }
    let mut parts = token.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        let count = token.split('.').count();
        return Err(JwtRefusal::Malformed(format!(
            "{count} dot-separated parts, a JWS has 3 (a JWE, with 5, is not accepted)"
        )));
    };
    let header = decode_object(header_b64, "header")?;
    let (algorithm, key_id) = check_header(&header, accepted)?;
    let claims = decode_object(payload_b64, "payload")?;
    if signature.is_empty() {
        return Err(JwtRefusal::Malformed("empty signature".to_owned()));
    }
    decode_part(signature, "signature")?;
    Ok(ParsedToken {
        algorithm,
        key_id,
        signing_input: &token[..header_b64.len() + 1 + payload_b64.len()],
        signature,
        claims,
    })
}

/// Decodes one base64url part strictly: no padding, no whitespace, canonical last character.
fn decode_part(part: &str, what: &str) -> Result<Vec<u8>, JwtRefusal> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|error| JwtRefusal::Malformed(format!("{what} is not base64url: {error}")))
}

fn decode_object(part: &str, what: &str) -> Result<Map<String, Value>, JwtRefusal> {
    let bytes = decode_part(part, what)?;
    parse_unique_object(&bytes)
        .map_err(|error| JwtRefusal::Malformed(format!("{what} is not a JSON object: {error}")))
}

/// The header rules; returns the algorithm and the `kid`.
fn check_header(
    header: &Map<String, Value>,
    accepted: &[JwtAlgorithm],
) -> Result<(JwtAlgorithm, Option<String>), JwtRefusal> {
    if header.contains_key("enc") {
        return Err(JwtRefusal::Malformed("a JWE (enc header)".to_owned()));
    }
    let name = match header.get("alg") {
        Some(Value::String(name)) => name.as_str(),
        Some(_) => return Err(JwtRefusal::Malformed("alg is not a string".to_owned())),
        None => return Err(JwtRefusal::Malformed("no alg header".to_owned())),
    };
    let algorithm = JwtAlgorithm::from_name(name)
        .filter(|alg| accepted.contains(alg))
        .ok_or_else(|| JwtRefusal::Algorithm(format!("alg {name:?} is not accepted")))?;
    if let Some(carrier) = KEY_CARRYING_HEADERS
        .iter()
        .find(|name| header.contains_key(**name))
    {
        return Err(JwtRefusal::Header(format!(
            "{carrier} header: keys come from the plan's configuration only"
        )));
    }
    if let Some(crit) = header.get("crit") {
        return Err(JwtRefusal::Header(format!(
            "crit {crit}: no critical extension is implemented"
        )));
    }
    match header.get("typ") {
        None => {}
        Some(Value::String(typ)) if JWT_TYPES.iter().any(|t| typ.eq_ignore_ascii_case(t)) => {}
        Some(other) => return Err(JwtRefusal::Header(format!("typ {other} is not a JWT"))),
    }
    let key_id = match header.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.clone()),
        Some(_) => return Err(JwtRefusal::Malformed("kid is not a string".to_owned())),
    };
    Ok((algorithm, key_id))
}
