//! The settings of a JWKS fetched from a URL (`jwksUrl` and its `jwks:` options).

use std::time::Duration;

use serde::Deserialize;

use super::config::RawJwtConfiguration;

/// `jwks:` under a JWT plan's configuration: how a `jwksUrl` is fetched and refreshed.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    default,
    expecting = "the JWKS fetch settings mapping"
)]
pub struct RawJwksUrlOptions {
    /// `refreshIntervalMs`: refetch this often even when no token names an unknown key (key
    /// removal, revocation); default 300000, at least 1000.
    pub refresh_interval_ms: u64,
    /// `minRefreshIntervalMs`: refetches for unknown `kid`s happen at most this often (a token
    /// with a made-up `kid` must not make the gateway hammer the issuer); default 10000.
    pub min_refresh_interval_ms: u64,
    /// `fetchTimeoutMs`: one fetch (connect, TLS, request, body) ends after this long;
    /// default 5000, positive.
    pub fetch_timeout_ms: u64,
    /// `maxBytes`: a larger JWKS document is refused (the old keys stay); default 262144, at
    /// least 1024.
    pub max_bytes: usize,
    /// `unknownKeyWaitMs`: how long a request whose `kid` is unknown waits for the refetch it
    /// triggered; default 2000, at most 30000.
    pub unknown_key_wait_ms: u64,
}

impl Default for RawJwksUrlOptions {
    fn default() -> RawJwksUrlOptions {
        RawJwksUrlOptions {
            refresh_interval_ms: 300_000,
            min_refresh_interval_ms: 10_000,
            fetch_timeout_ms: 5_000,
            max_bytes: 256 * 1024,
            unknown_key_wait_ms: 2_000,
        }
    }
}

/// A checked `jwksUrl` with its options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwksUrlSettings {
    /// `jwksUrl`: an `https://` URL, or `http://` to a loopback host only.
    pub url: String,
    /// Refetch this often regardless of tokens (`jwks.refreshIntervalMs`, default 300 s, at
    /// least 1 s), so removed or revoked keys stop verifying.
    pub refresh_interval: Duration,
    /// Refetches caused by an unknown `kid` happen at most this often
    /// (`jwks.minRefreshIntervalMs`, default 10 s).
    pub min_refresh_interval: Duration,
    /// One fetch (connect, TLS, request, body) ends after this long (`jwks.fetchTimeoutMs`,
    /// default 5 s).
    pub fetch_timeout: Duration,
    /// A larger JWKS document is refused and the previous keys stay (`jwks.maxBytes`, default
    /// 262144, at least 1024).
    pub max_bytes: usize,
    /// How long a request with an unknown `kid` waits for the refetch it caused
    /// (`jwks.unknownKeyWaitMs`, default 2 s, at most 30 s).
    pub unknown_key_wait: Duration,
}

/// Checks `jwksUrl` and `jwks:`; the message names what to fix.
pub(super) fn url_settings(raw: &RawJwtConfiguration) -> Result<JwksUrlSettings, String> {
    let url = raw.jwks_url.clone().unwrap_or_default();
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("{url:?} is not an http(s) URL"))?;
    let host = host_of(rest);
    match scheme {
        "https" if !host.is_empty() => {}
        "http" if is_loopback(host) => {}
        "http" => {
            return Err(format!(
                "{url:?}: keys fetched over plain http could be replaced on the way; use https \
                 (http is accepted for loopback hosts only)"
            ))
        }
        _ => return Err(format!("{url:?} is not an http(s) URL with a host")),
    }
    let options = &raw.jwks;
    let ms = Duration::from_millis;
    if options.fetch_timeout_ms == 0 || options.refresh_interval_ms < 1_000 {
        return Err(
            "jwks.fetchTimeoutMs must be positive and jwks.refreshIntervalMs at least 1000"
                .to_owned(),
        );
    }
    if options.max_bytes < 1024 || options.unknown_key_wait_ms > 30_000 {
        return Err(
            "jwks.maxBytes must be at least 1024 and jwks.unknownKeyWaitMs at most 30000"
                .to_owned(),
        );
    }
    Ok(JwksUrlSettings {
        url,
        refresh_interval: ms(options.refresh_interval_ms),
        min_refresh_interval: ms(options.min_refresh_interval_ms),
        fetch_timeout: ms(options.fetch_timeout_ms),
        max_bytes: options.max_bytes,
        unknown_key_wait: ms(options.unknown_key_wait_ms),
    })
}

/// The host of `authority/path` (without user info or port).
fn host_of(rest: &str) -> &str {
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit('@').next().unwrap_or_default();
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().unwrap_or_default();
    }
    authority.split(':').next().unwrap_or_default()
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::{host_of, is_loopback};

    #[test]
    fn plain_http_only_to_loopback() {
        assert_eq!(host_of("127.0.0.1:8080/jwks.json"), "127.0.0.1");
        assert_eq!(host_of("user@idp.example/keys"), "idp.example");
        assert_eq!(host_of("[::1]:9/k"), "::1");
        assert!(is_loopback("127.0.0.1") && is_loopback("::1") && is_loopback("localhost"));
        assert!(!is_loopback("idp.example") && !is_loopback("10.0.0.1"));
    }
}
