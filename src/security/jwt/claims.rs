//! The registered claims a plan checks (RFC 7519 §4.1) and the claim that names the client.
//!
//! Checked only after the signature verified, so nothing here runs on forged input. `exp` is
//! required: a token that never expires would keep a stream open forever (and RFC 8725 §3.10
//! asks for short-lived tokens).

use serde_json::{Map, Value};

use super::config::JwtSettings;
use super::refusal::JwtRefusal;

/// What the gateway takes from an accepted token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    /// The client-id claim's value: the application's `clientId`.
    pub client_id: String,
    /// `sub`, when present (for the logs).
    pub subject: Option<String>,
    /// `exp`, in seconds since the Unix epoch: when a stream this token opened must end.
    pub expires_at: u64,
}

/// Checks `claims` against the plan at `now` (seconds since the Unix epoch).
pub fn check(
    claims: &Map<String, Value>,
    settings: &JwtSettings,
    now: u64,
) -> Result<VerifiedToken, JwtRefusal> {
    let skew = settings.clock_skew.as_secs();
    let expires_at = match numeric_date(claims, "exp")? {
        Some(exp) => exp,
        None => return Err(JwtRefusal::Malformed("no exp claim".to_owned())),
    };
    if now >= expires_at.saturating_add(skew) {
        return Err(JwtRefusal::Expired { expires_at, now });
    }
    if let Some(not_before) = numeric_date(claims, "nbf")? {
        if now.saturating_add(skew) < not_before {
            return Err(JwtRefusal::NotYetValid { not_before, now });
        }
    }
    numeric_date(claims, "iat")?;
    if !settings.issuers.is_empty() {
        match claims.get("iss") {
            Some(Value::String(iss)) if settings.issuers.contains(iss) => {}
            other => return Err(JwtRefusal::Issuer(format!("iss {other:?}"))),
        }
    }
    if !settings.audiences.is_empty() && !audience_matches(claims.get("aud"), settings) {
        return Err(JwtRefusal::Audience(format!("aud {:?}", claims.get("aud"))));
    }
    let client_id = settings
        .client_id_claims
        .iter()
        .find_map(|name| claims.get(name))
        .ok_or_else(|| JwtRefusal::NoClient(format!("none of {:?}", settings.client_id_claims)))?;
    let client_id = match client_id {
        Value::String(id) if !id.is_empty() => id.clone(),
        other => return Err(JwtRefusal::NoClient(format!("client id {other}"))),
    };
    let subject = match claims.get("sub") {
        None => None,
        Some(Value::String(sub)) => Some(sub.clone()),
        Some(_) => return Err(JwtRefusal::Malformed("sub is not a string".to_owned())),
    };
    Ok(VerifiedToken {
        client_id,
        subject,
        expires_at,
    })
}

/// A NumericDate claim as whole seconds (fractions dropped); an error when it is not a
/// non-negative number.
fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<u64>, JwtRefusal> {
    let Some(value) = claims.get(name) else {
        return Ok(None);
    };
    let seconds = value
        .as_u64()
        .or_else(|| value.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64));
    seconds
        .map(Some)
        .ok_or_else(|| JwtRefusal::Malformed(format!("{name} is not a NumericDate: {value}")))
}

/// `aud` is a string or an array of strings (RFC 7519 §4.1.3); one must be a plan audience.
fn audience_matches(aud: Option<&Value>, settings: &JwtSettings) -> bool {
    match aud {
        Some(Value::String(aud)) => settings.audiences.contains(aud),
        Some(Value::Array(list)) => list
            .iter()
            .any(|item| matches!(item, Value::String(aud) if settings.audiences.contains(aud))),
        _ => false,
    }
}
