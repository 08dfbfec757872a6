//! The typed configuration of a push subscription (`type: push`): where and how the gateway
//! delivers an API's messages to a subscriber's callback (read and checked in `push.rs`).

use std::time::Duration;

use super::secret::Secret;
use super::tls_identity::ClientIdentity;

/// A push subscription's `configuration`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushConfig {
    /// `callbackUrl` (required): where each message is POSTed.
    pub callback: CallbackUrl,
    /// Added to every delivery (names checked to be tokens, values without CR/LF).
    pub headers: Vec<(String, String)>,
    /// `auth` (default `{ type: none }`): how the gateway authenticates to the callback.
    pub auth: PushAuth,
    /// `ssl` (default `{}`): TLS settings for an https callback.
    pub tls: PushTls,
    /// `retry`: when and how often a failed delivery is tried again.
    pub retry: RetryPolicy,
    /// `ordering` (default `concurrent`, 5 at once): how many deliveries run at once.
    pub ordering: Ordering,
    /// `dlq`: where undeliverable messages go; `None`: the subscription stops at the first one.
    pub dlq: Option<DeadLetterTarget>,
    /// Standard Webhooks secrets (decoded `whsec_` keys); two during a rotation. Empty: unsigned.
    pub secrets: Vec<SigningSecret>,
    /// The part of the API's endpoint delivered (`push_channel.rs`); `None`: all of it.
    pub channel: Option<super::push_channel::PushChannel>,
}

/// A parsed `callbackUrl`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CallbackUrl {
    /// True for `https://` (TLS, default port 443), false for `http://` (port 80).
    pub https: bool,
    /// The host as written (a name, an IPv4 address, or an IPv6 address without brackets).
    pub host: String,
    /// The port written, else the scheme's default; never 0.
    pub port: u16,
    /// Path and query, at least `/`.
    pub target: String,
}

impl CallbackUrl {
    /// Parses `http(s)://host[:port][/path][?query]` (no user info, no fragment).
    pub fn parse(text: &str) -> Result<CallbackUrl, String> {
        let (https, rest) = if let Some(rest) = text.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = text.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err(format!("'{text}' must start with http:// or https://"));
        };
        if text.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err("must not contain spaces or control characters".to_owned());
        }
        if text.contains('#') {
            return Err("must not contain a fragment (#...)".to_owned());
        }
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, target) = rest.split_at(split);
        if authority.contains('@') {
            return Err("must not carry credentials (user@host): use `auth`".to_owned());
        }
        let (host, port) = if let Some(after) = authority.strip_prefix('[') {
            let (host, tail) = after
                .split_once(']')
                .ok_or_else(|| format!("'{authority}': an IPv6 address needs a closing ]"))?;
            host.parse::<std::net::Ipv6Addr>()
                .map_err(|_| format!("'{host}' is not an IPv6 address"))?;
            (host.to_owned(), tail.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (host.to_owned(), Some(port)),
                None => (authority.to_owned(), None),
            }
        };
        if host.is_empty() {
            return Err("has no host".to_owned());
        }
        let port = match port {
            None => {
                if https {
                    443
                } else {
                    80
                }
            }
            Some(port) => port
                .parse::<u16>()
                .ok()
                .filter(|port| *port > 0)
                .ok_or_else(|| format!("'{port}' is not a port (1 to 65535)"))?,
        };
        let target = match target {
            "" => "/".to_owned(),
            t if t.starts_with('?') => format!("/{t}"),
            t => t.to_owned(),
        };
        Ok(CallbackUrl {
            https,
            host: host.to_ascii_lowercase(),
            port,
            target,
        })
    }

    /// The `Host` header value.
    pub fn host_header(&self) -> String {
        let default = if self.https { 443 } else { 80 };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == default {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

/// How the gateway authenticates to the callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushAuth {
    /// `{ type: none }` (the default): no `Authorization` header.
    None,
    /// `{ type: basic, username, password }`: HTTP Basic authentication.
    Basic {
        /// `username`: the user sent in `Authorization: Basic`.
        username: String,
        /// `password`: that user's password (never logged).
        password: Secret,
    },
    /// `{ type: bearer, token }`: a fixed bearer token.
    Bearer {
        /// `token`: sent as `Authorization: Bearer <token>` (never logged).
        token: Secret,
    },
    /// OAuth2 client credentials: a token fetched from `token_url`, cached until it expires.
    OAuth2 {
        /// `tokenUrl`: the authorization server's token endpoint (same client, timeouts and
        /// SSRF guard as the callback).
        token_url: CallbackUrl,
        /// `clientId`: the OAuth client the token is asked for.
        client_id: String,
        /// `clientSecret`: that client's secret (never logged).
        client_secret: Secret,
        /// `scope`: sent in the token request when set.
        scope: Option<String>,
    },
}

/// TLS to an https callback.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushTls {
    /// Accept any server certificate (labs only).
    pub trust_all: bool,
    /// PEM CA certificates to trust instead of the Mozilla roots.
    pub ca_file: Option<std::path::PathBuf>,
    /// The client certificate presented when the callback asks for one.
    pub client_identity: Option<ClientIdentity>,
}

/// A float kept as its bits so the configuration stays `Eq`.
#[derive(Debug, Clone, Copy)]
pub struct Factor(pub f64);

impl PartialEq for Factor {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}

impl Eq for Factor {}

/// When and how often a failed delivery is tried again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries in all, the first included (at least 1).
    pub attempts: u32,
    /// `retry.initialDelayMs` (default 1 s): the delay before the second try.
    pub initial_delay: Duration,
    /// `retry.maxDelayMs` (default 30 s): the cap of one delay.
    pub max_delay: Duration,
    /// At least 1.
    pub multiplier: Factor,
    /// 0 to 1: each delay is moved at random by up to this fraction, either way.
    pub jitter: Factor,
    /// No retry starts after this much time since the first try.
    pub max_elapsed: Duration,
}

/// Default `retry.attempts`.
pub(crate) const RETRY_ATTEMPTS: u32 = 5;
/// Default `retry.initialDelayMs`.
pub(crate) const RETRY_INITIAL_DELAY_MS: u64 = 1_000;
/// Default `retry.maxDelayMs`.
pub(crate) const RETRY_MAX_DELAY_MS: u64 = 30_000;
/// Default `retry.multiplier`.
pub(crate) const RETRY_MULTIPLIER: f64 = 2.0;
/// Default `retry.jitter`.
pub(crate) const RETRY_JITTER: f64 = 0.2;
/// Default `retry.maxElapsedMs`.
pub(crate) const RETRY_MAX_ELAPSED_MS: u64 = 300_000;
/// Default `ordering.maxConcurrent`.
pub(crate) const MAX_CONCURRENT: usize = 5;

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: RETRY_ATTEMPTS,
            initial_delay: Duration::from_millis(RETRY_INITIAL_DELAY_MS),
            max_delay: Duration::from_millis(RETRY_MAX_DELAY_MS),
            multiplier: Factor(RETRY_MULTIPLIER),
            jitter: Factor(RETRY_JITTER),
            max_elapsed: Duration::from_millis(RETRY_MAX_ELAPSED_MS),
        }
    }
}

/// How many deliveries of one subscription run at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ordering {
    /// One at a time, in order.
    Strict,
    /// Up to this many at once (acknowledged upstream in order all the same).
    Concurrent(usize),
}

/// Where messages that cannot be delivered go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeadLetterTarget {
    /// A gateway in-memory topic (one an API's endpoint uses, so it can be read).
    InMemory {
        /// `topic`: the in-memory topic's name.
        topic: String,
    },
    /// A topic of the API's Kafka cluster.
    Kafka {
        /// `topic`: produced to through the API's own Kafka endpoint.
        topic: String,
    },
    /// A topic of the API's MQTT broker.
    Mqtt {
        /// `topic`: published to through the API's own MQTT endpoint.
        topic: String,
    },
}

/// A decoded Standard Webhooks secret.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningSecret(pub Vec<u8>);

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"whsec_***\"")
    }
}

#[cfg(test)]
mod tests {
    use super::CallbackUrl;

    #[test]
    fn callback_urls_parse_into_host_port_and_target() {
        let url = CallbackUrl::parse("https://Hooks.example.com/in?x=1").unwrap();
        assert_eq!(
            (url.https, url.host.as_str(), url.port),
            (true, "hooks.example.com", 443)
        );
        assert_eq!(url.target, "/in?x=1");
        let url = CallbackUrl::parse("http://[::1]:8080").unwrap();
        assert_eq!(
            (url.host.as_str(), url.port, url.target.as_str()),
            ("::1", 8080, "/")
        );
        assert_eq!(url.host_header(), "[::1]:8080");
        assert!(CallbackUrl::parse("ftp://x/").is_err());
        assert!(CallbackUrl::parse("http://user:pw@x/").is_err());
        assert!(CallbackUrl::parse("http://x:0/").is_err());
        assert!(CallbackUrl::parse("http:///path").is_err());
    }
}
