//! Reads a push subscription's `configuration` (`type: push` in `subscriptions:`) into
//! `PushConfig`, reporting every problem with its path.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use serde::Deserialize;
use serde_json::Value;

use super::model::{ApiConfig, EndpointConfig, EntrypointConfig};
use super::problem::{join, Problems};
use super::push_model::*;
use super::secret::Secret;
use super::sections::decode;

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    expecting = "the push configuration mapping (callbackUrl, headers, auth, ssl, retry, ordering, dlq, secrets, channel)"
)]
struct RawPush {
    callback_url: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    auth: Option<RawAuth>,
    #[serde(default)]
    ssl: RawSsl,
    #[serde(default)]
    retry: RawRetry,
    #[serde(default)]
    ordering: RawOrdering,
    #[serde(default)]
    dlq: Option<RawDlq>,
    #[serde(default)]
    secrets: Vec<Secret>,
    #[serde(default)]
    channel: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "lowercase",
    deny_unknown_fields,
    expecting = "an auth mapping: { type: none | basic | bearer | oauth2, ... }"
)]
enum RawAuth {
    None,
    Basic {
        username: String,
        password: Secret,
    },
    Bearer {
        token: Secret,
    },
    #[serde(rename_all = "camelCase")]
    Oauth2 {
        token_url: String,
        client_id: String,
        client_secret: Secret,
        #[serde(default)]
        scope: Option<String>,
    },
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
struct RawSsl {
    trust_all: bool,
    ca_file: Option<String>,
    client_certificate: Option<String>,
    client_key: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
struct RawRetry {
    attempts: u32,
    initial_delay_ms: u64,
    max_delay_ms: u64,
    multiplier: f64,
    jitter: f64,
    max_elapsed_ms: u64,
}

impl Default for RawRetry {
    fn default() -> Self {
        RawRetry {
            attempts: RETRY_ATTEMPTS,
            initial_delay_ms: RETRY_INITIAL_DELAY_MS,
            max_delay_ms: RETRY_MAX_DELAY_MS,
            multiplier: RETRY_MULTIPLIER,
            jitter: RETRY_JITTER,
            max_elapsed_ms: RETRY_MAX_ELAPSED_MS,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
struct RawOrdering {
    mode: String,
    max_concurrent: usize,
}

impl Default for RawOrdering {
    fn default() -> Self {
        RawOrdering {
            mode: "concurrent".to_owned(),
            max_concurrent: MAX_CONCURRENT,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a dlq mapping { type: in-memory | kafka | mqtt, topic }"
)]
struct RawDlq {
    #[serde(rename = "type")]
    kind: String,
    topic: String,
}

/// Reads the `configuration` of a push subscription of `api`.
pub(crate) fn read(
    value: Option<&Value>,
    api: Option<&ApiConfig>,
    apis: Option<&[ApiConfig]>,
    loc: &str,
    p: &mut Problems,
) -> Option<PushConfig> {
    let Some(value) = value else {
        p.push(
            loc,
            "required for a push subscription: at least `callbackUrl`",
        );
        return None;
    };
    let raw = decode::<RawPush>(value, loc, p)?;
    if let Some(api) = api {
        if !api
            .entrypoints
            .iter()
            .any(|e| matches!(e, EntrypointConfig::Webhook(_)))
        {
            p.push(
                loc,
                format!("API '{}' has no `webhook` entrypoint: add `{{ type: webhook }}` to its entrypoints", api.id),
            );
        }
    }
    let callback = match CallbackUrl::parse(&raw.callback_url) {
        Ok(url) => Some(url),
        Err(message) => {
            p.push(join(loc, "callbackUrl"), message);
            None
        }
    };
    let headers = headers(raw.headers, &join(loc, "headers"), p);
    let auth = auth(raw.auth, &join(loc, "auth"), p);
    let tls = ssl(raw.ssl, &join(loc, "ssl"), p);
    let retry = retry(raw.retry, &join(loc, "retry"), p);
    let ordering = match raw.ordering.mode.as_str() {
        "strict" => Ordering::Strict,
        "concurrent" => {
            let at = join(loc, "ordering.maxConcurrent");
            p.require_at_least(&at, raw.ordering.max_concurrent as u64, 1, "");
            Ordering::Concurrent(raw.ordering.max_concurrent.clamp(1, 1024))
        }
        other => {
            p.push(
                join(loc, "ordering.mode"),
                format!("'{other}' is not a mode: use strict or concurrent"),
            );
            Ordering::Strict
        }
    };
    let dlq = raw
        .dlq
        .and_then(|raw| dlq(raw, api, apis, &join(loc, "dlq"), p));
    let secrets = secrets(raw.secrets, &join(loc, "secrets"), p);
    let channel = super::push_channel::read(raw.channel, api, &join(loc, "channel"), p);
    Some(PushConfig {
        callback: callback?,
        headers,
        auth: auth?,
        tls: tls?,
        retry,
        ordering,
        dlq,
        secrets,
        channel,
    })
}

fn headers(raw: BTreeMap<String, String>, loc: &str, p: &mut Problems) -> Vec<(String, String)> {
    const RESERVED: &[&str] = &["host", "content-length", "transfer-encoding", "connection"];
    let mut headers = Vec::new();
    for (name, value) in raw {
        let token = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !token {
            p.push(join(loc, &name), "is not a valid header name");
        } else if RESERVED.contains(&name.to_ascii_lowercase().as_str()) {
            p.push(join(loc, &name), "is set by the gateway; remove it");
        } else if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
            p.push(join(loc, &name), "the value must not contain CR, LF or NUL");
        } else {
            headers.push((name, value));
        }
    }
    headers
}

fn auth(raw: Option<RawAuth>, loc: &str, p: &mut Problems) -> Option<PushAuth> {
    Some(match raw {
        None | Some(RawAuth::None) => PushAuth::None,
        Some(RawAuth::Basic { username, password }) => {
            if username.contains(':') {
                p.push(join(loc, "username"), "must not contain ':'");
            }
            PushAuth::Basic { username, password }
        }
        Some(RawAuth::Bearer { token }) => PushAuth::Bearer { token },
        Some(RawAuth::Oauth2 {
            token_url,
            client_id,
            client_secret,
            scope,
        }) => {
            let token_url = match CallbackUrl::parse(&token_url) {
                Ok(url) => url,
                Err(message) => {
                    p.push(join(loc, "tokenUrl"), message);
                    return None;
                }
            };
            PushAuth::OAuth2 {
                token_url,
                client_id,
                client_secret,
                scope,
            }
        }
    })
}

fn ssl(raw: RawSsl, loc: &str, p: &mut Problems) -> Option<PushTls> {
    let ca_file = raw.ca_file.map(std::path::PathBuf::from);
    if let Some(path) = &ca_file {
        if let Err(error) = std::fs::metadata(path) {
            p.push(
                join(loc, "caFile"),
                format!("cannot read '{}': {error}", path.display()),
            );
        }
    }
    let client_identity = super::tls_identity::identity_files(
        raw.client_certificate,
        raw.client_key,
        ("clientCertificate", "clientKey"),
        loc,
        p,
    );
    Some(PushTls {
        trust_all: raw.trust_all,
        ca_file,
        client_identity,
    })
}

fn retry(raw: RawRetry, loc: &str, p: &mut Problems) -> RetryPolicy {
    p.require_at_least(&join(loc, "attempts"), u64::from(raw.attempts), 1, "");
    p.require_at_least(&join(loc, "initialDelayMs"), raw.initial_delay_ms, 1, " ms");
    if raw.max_delay_ms < raw.initial_delay_ms {
        p.push(join(loc, "maxDelayMs"), "must be at least initialDelayMs");
    }
    if !(1.0..=100.0).contains(&raw.multiplier) {
        p.push(join(loc, "multiplier"), "must be between 1 and 100");
    }
    if !(0.0..=1.0).contains(&raw.jitter) {
        p.push(
            join(loc, "jitter"),
            "must be between 0 and 1 (a fraction of each delay)",
        );
    }
    p.require_at_least(&join(loc, "maxElapsedMs"), raw.max_elapsed_ms, 1, " ms");
    RetryPolicy {
        attempts: raw.attempts.max(1),
        initial_delay: Duration::from_millis(raw.initial_delay_ms.max(1)),
        max_delay: Duration::from_millis(raw.max_delay_ms.max(raw.initial_delay_ms).max(1)),
        multiplier: Factor(raw.multiplier.clamp(1.0, 100.0)),
        jitter: Factor(raw.jitter.clamp(0.0, 1.0)),
        max_elapsed: Duration::from_millis(raw.max_elapsed_ms.max(1)),
    }
}

fn dlq(
    raw: RawDlq,
    api: Option<&ApiConfig>,
    apis: Option<&[ApiConfig]>,
    loc: &str,
    p: &mut Problems,
) -> Option<DeadLetterTarget> {
    let topic = raw.topic;
    if topic.is_empty() {
        p.push(join(loc, "topic"), "must not be empty");
        return None;
    }
    match raw.kind.as_str() {
        "in-memory" => {
            let known = apis.is_none_or(|apis| {
                apis.iter().any(
                    |api| matches!(&api.endpoint, EndpointConfig::InMemory(o) if o.topic == topic),
                )
            });
            if !known {
                p.push(
                    join(loc, "topic"),
                    format!("no API's in-memory endpoint uses topic '{topic}': declare an API reading it, so the dead letters can be read"),
                );
                return None;
            }
            Some(DeadLetterTarget::InMemory { topic })
        }
        "kafka" | "mqtt" => {
            let wanted = if raw.kind == "kafka" {
                "kafka"
            } else {
                "mqtt5"
            };
            let matches = api.is_none_or(|api| match &api.endpoint {
                EndpointConfig::Kafka(_) => wanted == "kafka",
                EndpointConfig::Mqtt(_) => wanted == "mqtt5",
                _ => false,
            });
            if !matches {
                p.push(
                    join(loc, "type"),
                    format!("a {} dead-letter topic is written through the API's own {wanted} endpoint, and this API has none", raw.kind),
                );
                return None;
            }
            Some(if raw.kind == "kafka" {
                DeadLetterTarget::Kafka { topic }
            } else {
                DeadLetterTarget::Mqtt { topic }
            })
        }
        other => {
            p.push(
                join(loc, "type"),
                format!("'{other}' is not a dead-letter type: use in-memory, kafka or mqtt"),
            );
            None
        }
    }
}

fn secrets(raw: Vec<Secret>, loc: &str, p: &mut Problems) -> Vec<SigningSecret> {
    if raw.len() > 2 {
        p.push(
            loc,
            "at most two secrets (the new one and the old one during a rotation)",
        );
    }
    let mut secrets = Vec::new();
    for (index, secret) in raw.iter().enumerate() {
        let at = format!("{loc}[{index}]");
        let Some(encoded) = secret.expose().strip_prefix("whsec_") else {
            p.push(
                at,
                "must be a Standard Webhooks secret: `whsec_` and base64 (24 to 64 random bytes)",
            );
            continue;
        };
        match base64::engine::general_purpose::STANDARD.decode(encoded) {
            Ok(bytes) if (24..=64).contains(&bytes.len()) => secrets.push(SigningSecret(bytes)),
            Ok(bytes) => p.push(
                at,
                format!(
                    "decodes to {} bytes; use 24 to 64 random bytes",
                    bytes.len()
                ),
            ),
            Err(_) => p.push(at, "the part after `whsec_` is not valid base64"),
        }
    }
    secrets
}
