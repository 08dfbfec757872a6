//! JWT plans (`security: jwt`): bearer tokens verified against configured keys.
//!
//! ```text
//! config.rs          the plan's `configuration:` → JwtSettings (keys loaded and parsed here)
//! jwks_settings.rs   `jwksUrl` and its `jwks:` fetch options
//! keys.rs            verification keys tagged with their family; JWKS documents
//! jwks_source.rs     a JWKS URL fetched on a background thread, refreshed on unknown `kid`
//! token.rs           sans-IO: a compact JWS taken apart, header rules (RFC 8725)
//! unique_object.rs   JSON objects with duplicate member names refused
//! claims.rs          exp/nbf/iss/aud with clock skew; the client-id claim
//! verifier.rs        one shard's verifier: parse → keys → signature → claims
//! plan_check.rs     the JWT step of plan selection: the token presented, the plan accepting it
//! bearer.rs          where a request carries its token (Authorization, query parameter)
//! refresh_message.rs the WebSocket message that renews a session's token (`tokenRefresh`)
//! refusal.rs         why a token was refused: 401/400 and WWW-Authenticate
//! ```
//! The cryptography (HMAC, RSA PKCS#1 and PSS, ECDSA, Ed25519, via ring) is the `jsonwebtoken`
//! crate's; everything a token's bytes decide before a key is used is checked here first.

pub mod algorithm;
pub mod bearer;
pub mod claims;
pub mod config;
pub mod jwks_settings;
pub mod jwks_source;
pub mod keys;
pub mod plan_check;
pub mod refresh_message;
pub mod refusal;
pub mod token;
mod unique_object;
pub mod verifier;

#[cfg(test)]
mod test_tokens;
#[cfg(test)]
mod tests_attacks;
#[cfg(test)]
mod tests_config;
#[cfg(test)]
mod tests_jwks;
#[cfg(test)]
mod tests_plan_config;

pub use algorithm::{JwtAlgorithm, KeyFamily};
pub use claims::VerifiedToken;
pub use config::{settings_from_value, JwtSettings, KeySource, RawJwtConfiguration};
pub use plan_check::{JwtPlan, ShardVerifiers};
pub use refusal::JwtRefusal;
pub use verifier::{unix_now, JwtKeys, JwtVerifier};
