//! A `security: jwt` plan's `configuration:`: the YAML shape, and the checked settings the
//! verifier trusts. Key material is loaded and parsed here, at configuration load, so a bad key
//! is a configuration problem (reported with every other problem) and never a request failure.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::algorithm::{JwtAlgorithm, KeyFamily};
use super::keys::{KeySet, VerifyKey};
use crate::config::{Problem, Secret};

/// Default `maxTokenBytes`: generous for an access token with a few dozen claims.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Default `clockSkewSeconds`: what clocks of an issuer and a gateway may differ by.
pub const DEFAULT_CLOCK_SKEW_SECONDS: u64 = 60;

/// `configuration:` of a `security: jwt` plan, as written.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    expecting = "the JWT plan settings mapping"
)]
pub struct RawJwtConfiguration {
    /// HMAC secret, inline.
    pub secret: Option<Secret>,
    /// Name of an environment variable holding the HMAC secret.
    pub secret_env: Option<String>,
    /// PEM public key, inline.
    pub public_key: Option<String>,
    /// Path of a PEM public key file.
    pub public_key_file: Option<String>,
    /// Path of a JWKS file.
    pub jwks_file: Option<String>,
    /// `https://` (or `http://` to a loopback host) URL of a JWKS document.
    pub jwks_url: Option<String>,
    /// `jwks:`: how a `jwksUrl` is fetched and refreshed (every option has a default; ignored
    /// without `jwksUrl`).
    #[serde(default)]
    pub jwks: super::jwks_settings::RawJwksUrlOptions,
    /// Accepted `alg` values; defaults to every algorithm the key(s) can verify.
    pub algorithms: Option<Vec<String>>,
    /// Accepted `iss` values (a string or a list); unchecked when absent.
    pub issuer: Option<OneOrMany>,
    /// Accepted `aud` values (a string or a list); unchecked when absent.
    pub audience: Option<OneOrMany>,
    /// `clockSkewSeconds`: seconds of tolerance on `exp` and `nbf` for clocks that differ;
    /// default 60, at most 600.
    #[serde(default = "default_clock_skew")]
    pub clock_skew_seconds: u64,
    /// The claim holding the application's client id; default `azp`, then `client_id`.
    pub client_id_claim: Option<String>,
    /// `maxTokenBytes`: longer tokens are refused unread; default 8192, 512 to 65536.
    #[serde(default = "default_max_token_bytes")]
    pub max_token_bytes: usize,
    /// The query parameter EventSource and WebSocket clients put their token in.
    #[serde(default = "default_query_parameter")]
    pub token_query_parameter: String,
}

fn default_clock_skew() -> u64 {
    DEFAULT_CLOCK_SKEW_SECONDS
}
fn default_max_token_bytes() -> usize {
    DEFAULT_MAX_TOKEN_BYTES
}
fn default_query_parameter() -> String {
    "access_token".to_owned()
}

/// A string or a list of strings.
#[derive(Debug, Deserialize)]
#[serde(untagged, expecting = "a string or a list of strings")]
pub enum OneOrMany {
    /// A single accepted value (`issuer: https://idp.example`).
    One(String),
    /// A list of accepted values, any of which matches.
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(one) => vec![one],
            OneOrMany::Many(many) => many,
        }
    }
}

/// Where a plan's keys come from, parsed.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// Fixed for the process: a secret, a PEM key, or a JWKS file.
    Fixed {
        /// The parsed keys, shared by every shard's verifier.
        keys: Arc<KeySet>,
        /// Where the keys came from, for logs and for comparing settings across reloads: the
        /// source's YAML key (`secret`, `publicKeyFile`, …; `jwksFile` with its path), never
        /// the key material.
        origin: String,
    },
    /// Fetched from a URL on the JWKS thread, refreshed on an unknown `kid`.
    JwksUrl(super::jwks_settings::JwksUrlSettings),
}

/// A JWT plan's checked settings.
#[derive(Debug, Clone)]
pub struct JwtSettings {
    /// Where the plan's verification keys come from (exactly one key source).
    pub keys: KeySource,
    /// Accepted `alg` values (`algorithms`), each one the keys can verify; never empty.
    pub algorithms: Vec<JwtAlgorithm>,
    /// Accepted `iss` values (`issuer`); empty means `iss` is not checked.
    pub issuers: Vec<String>,
    /// Accepted `aud` values (`audience`): `aud` must contain one; empty means not checked.
    pub audiences: Vec<String>,
    /// Tolerance on `exp` and `nbf` (`clockSkewSeconds`, default 60 s).
    pub clock_skew: Duration,
    /// Claims tried in order for the client id.
    pub client_id_claims: Vec<String>,
    /// Tokens longer than this many bytes are refused unread (`maxTokenBytes`, default 8192).
    pub max_token_bytes: usize,
    /// The query parameter a token may come in when the client cannot set `Authorization`
    /// (`tokenQueryParameter`, default `access_token`).
    pub token_query_parameter: String,
}

impl PartialEq for JwtSettings {
    /// Keys compare by where they come from (parsed keys have no equality).
    fn eq(&self, other: &JwtSettings) -> bool {
        let same_keys = match (&self.keys, &other.keys) {
            (KeySource::Fixed { origin: a, .. }, KeySource::Fixed { origin: b, .. }) => a == b,
            (KeySource::JwksUrl(a), KeySource::JwksUrl(b)) => a == b,
            _ => false,
        };
        same_keys
            && self.algorithms == other.algorithms
            && self.issuers == other.issuers
            && self.audiences == other.audiences
            && self.clock_skew == other.clock_skew
            && self.client_id_claims == other.client_id_claims
            && self.max_token_bytes == other.max_token_bytes
            && self.token_query_parameter == other.token_query_parameter
    }
}

impl Eq for JwtSettings {}

/// Decodes and checks a plan's `configuration:` at `location` (e.g.
/// `apis[0].plans[1].configuration`): every problem found, or the settings.
pub fn settings_from_value(
    value: &serde_json::Value,
    location: &str,
) -> Result<JwtSettings, Vec<Problem>> {
    match serde_path_to_error::deserialize::<_, RawJwtConfiguration>(value) {
        Ok(raw) => settings(raw, location),
        Err(error) => Err(vec![Problem {
            location: join(location, &error.path().to_string()),
            message: error.inner().to_string(),
        }]),
    }
}

/// Checks a decoded `configuration:`.
pub fn settings(raw: RawJwtConfiguration, location: &str) -> Result<JwtSettings, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut problem = |key: &str, message: String| {
        problems.push(Problem {
            location: join(location, key),
            message,
        })
    };
    let keys = key_source(&raw, &mut problem);
    let algorithms = algorithms(raw.algorithms, keys.as_ref(), &mut problem);
    if raw.max_token_bytes < 512 || raw.max_token_bytes > 64 * 1024 {
        problem(
            "maxTokenBytes",
            format!("must be between 512 and 65536, got {}", raw.max_token_bytes),
        );
    }
    if raw.clock_skew_seconds > 600 {
        problem(
            "clockSkewSeconds",
            format!("must be at most 600 (s), got {}", raw.clock_skew_seconds),
        );
    }
    let query_ok = !raw.token_query_parameter.is_empty()
        && raw
            .token_query_parameter
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if !query_ok {
        problem(
            "tokenQueryParameter",
            "must be a non-empty name of letters, digits, '-', '_' or '.'".to_owned(),
        );
    }
    let client_id_claims = match raw.client_id_claim {
        Some(claim) if claim.is_empty() => {
            problem("clientIdClaim", "must not be empty".to_owned());
            Vec::new()
        }
        Some(claim) => vec![claim],
        None => vec!["azp".to_owned(), "client_id".to_owned()],
    };
    let issuers = raw.issuer.map(OneOrMany::into_vec).unwrap_or_default();
    let audiences = raw.audience.map(OneOrMany::into_vec).unwrap_or_default();
    for (key, list) in [("issuer", &issuers), ("audience", &audiences)] {
        if list.iter().any(String::is_empty) {
            problem(key, "must not contain an empty value".to_owned());
        }
    }
    match (keys, problems.is_empty()) {
        (Some(keys), true) => Ok(JwtSettings {
            keys,
            algorithms,
            issuers,
            audiences,
            clock_skew: Duration::from_secs(raw.clock_skew_seconds),
            client_id_claims,
            max_token_bytes: raw.max_token_bytes,
            token_query_parameter: raw.token_query_parameter,
        }),
        _ => Err(problems),
    }
}

/// The one key source the plan names, loaded and parsed.
fn key_source(
    raw: &RawJwtConfiguration,
    problem: &mut impl FnMut(&str, String),
) -> Option<KeySource> {
    let named: Vec<&str> = [
        ("secret", raw.secret.is_some()),
        ("secretEnv", raw.secret_env.is_some()),
        ("publicKey", raw.public_key.is_some()),
        ("publicKeyFile", raw.public_key_file.is_some()),
        ("jwksFile", raw.jwks_file.is_some()),
        ("jwksUrl", raw.jwks_url.is_some()),
    ]
    .into_iter()
    .filter_map(|(key, set)| set.then_some(key))
    .collect();
    let [source] = named.as_slice() else {
        problem(
            "",
            format!(
                "name exactly one key source (secret, secretEnv, publicKey, publicKeyFile, \
                 jwksFile or jwksUrl), got {}",
                if named.is_empty() {
                    "none".to_owned()
                } else {
                    named.join(", ")
                }
            ),
        );
        return None;
    };
    let fixed = |keys: KeySet, origin: String| KeySource::Fixed {
        keys: Arc::new(keys),
        origin,
    };
    let loaded = match *source {
        "secret" | "secretEnv" => secret_bytes(raw).and_then(|secret| {
            if secret.len() < 32 {
                return Err(format!(
                    "must be at least 32 bytes (RFC 7518 §3.2), got {}",
                    secret.len()
                ));
            }
            Ok(fixed(KeySet::hmac(&secret), (*source).to_owned()))
        }),
        "publicKey" | "publicKeyFile" => read_text(raw.public_key.as_deref(), &raw.public_key_file)
            .and_then(|pem| VerifyKey::from_pem(&pem))
            .map(|key| fixed(KeySet::single(key), (*source).to_owned())),
        "jwksFile" => read_text(None, &raw.jwks_file)
            .and_then(|text| KeySet::from_jwks(text.as_bytes()))
            .and_then(|keys| match keys.keys.is_empty() {
                true => Err("holds no signature key the gateway can use".to_owned()),
                false => Ok(fixed(keys, format!("jwksFile {:?}", raw.jwks_file))),
            }),
        _ => super::jwks_settings::url_settings(raw).map(KeySource::JwksUrl),
    };
    loaded.map_err(|message| problem(source, message)).ok()
}

fn secret_bytes(raw: &RawJwtConfiguration) -> Result<Vec<u8>, String> {
    if let Some(secret) = &raw.secret {
        return Ok(secret.expose().as_bytes().to_vec());
    }
    let name = raw.secret_env.as_deref().unwrap_or_default();
    std::env::var(name)
        .map(String::into_bytes)
        .map_err(|_| format!("environment variable {name:?} is not set (or not UTF-8)"))
}

fn read_text(inline: Option<&str>, path: &Option<String>) -> Result<String, String> {
    match (inline, path) {
        (Some(text), _) => Ok(text.to_owned()),
        (None, Some(path)) => {
            std::fs::read_to_string(path).map_err(|error| format!("cannot read {path:?}: {error}"))
        }
        (None, None) => Err("missing".to_owned()),
    }
}

/// The accepted algorithms: as configured (each must fit the key), or all the keys can verify.
fn algorithms(
    configured: Option<Vec<String>>,
    keys: Option<&KeySource>,
    problem: &mut impl FnMut(&str, String),
) -> Vec<JwtAlgorithm> {
    let fixed_keys = match keys {
        Some(KeySource::Fixed { keys, .. }) => Some(keys.clone()),
        _ => None,
    };
    let fits = |alg: JwtAlgorithm| match &fixed_keys {
        // A JWKS URL may publish any family later; its keys are matched per token.
        None => alg.family() != KeyFamily::Hmac,
        Some(keys) => keys.keys.iter().any(|key| {
            key.verifies(alg) && !(key.family == KeyFamily::Hmac && too_short(keys, alg))
        }),
    };
    let Some(names) = configured else {
        return JwtAlgorithm::ALL
            .into_iter()
            .filter(|alg| fits(*alg))
            .collect();
    };
    if names.is_empty() {
        problem("algorithms", "must list at least one algorithm".to_owned());
    }
    let mut accepted = Vec::new();
    for (index, name) in names.iter().enumerate() {
        let key = format!("algorithms[{index}]");
        match JwtAlgorithm::from_name(name) {
            None => problem(
                &key,
                format!(
                    "unknown algorithm {name:?}; use one of HS256, HS384, HS512, RS256, RS384, \
                     RS512, PS256, PS384, PS512, ES256, ES384, EdDSA"
                ),
            ),
            Some(alg) if keys.is_some() && !fits(alg) => problem(
                &key,
                format!(
                    "{name} does not fit the configured key (its type or, for HMAC, its length)"
                ),
            ),
            Some(alg) => accepted.push(alg),
        }
    }
    accepted
}

/// Whether the plan's HMAC secret is shorter than `alg` requires (RFC 7518 §3.2).
fn too_short(keys: &KeySet, alg: JwtAlgorithm) -> bool {
    keys.secret_len
        .is_some_and(|len| len < alg.min_secret_bytes())
}

fn join(base: &str, key: &str) -> String {
    match (base.is_empty(), key.is_empty() || key == ".") {
        (_, true) => base.to_owned(),
        (true, false) => key.to_owned(),
        (false, false) if key.starts_with('[') => format!("{base}{key}"),
        (false, false) => format!("{base}.{key}"),
    }
}
