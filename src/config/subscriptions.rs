//! The top-level `subscriptions:` section: which application uses which API, through which plan,
//! with which API keys (applications: `applications.rs`). Declared in the file for GitOps users;
//! a SIGHUP re-reads them (see `crate::security::reload`).
//!
//! API keys appear here only as their SHA-256 (`hash: sha256:<64 hex digits>`, printed by
//! `tidegate apikey generate`): the file never holds a key in clear.

use std::time::SystemTime;

use serde::Deserialize;
use serde_json::Value;

use super::applications::ApplicationConfig;
use super::model::ApiConfig;
use super::plan::{PlanSecurity, PlanValidation};
use super::problem::{join, Problems};
use super::sections::decode;
use super::timestamp::parse_rfc3339;

/// An application's access to one API through one of its plans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionConfig {
    /// Unique, `[a-zA-Z0-9._-]+`.
    pub id: String,
    /// `api` (required): the id of the API subscribed to.
    pub api: String,
    /// A plan id of `api`.
    pub plan: String,
    /// `application` (required): the id of the subscribing application.
    pub application: String,
    /// `status` (default from the plan's `validation`): only `accepted` lets requests in.
    pub status: SubscriptionStatus,
    /// Not valid before this instant.
    pub starting_at: Option<SystemTime>,
    /// Not valid from this instant on.
    pub ending_at: Option<SystemTime>,
    /// For API key plans; two keys during a renewal (the old one with `expire_at`).
    pub api_keys: Vec<ApiKeyConfig>,
    /// `type: push`: the gateway delivers the API's messages to a callback (webhook entrypoint).
    pub push: Option<Box<super::push_model::PushConfig>>,
}

/// A subscription's lifecycle (the reference product's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SubscriptionStatus {
    /// Waiting for someone to accept it (`validation: manual`); no requests yet.
    Pending,
    /// In force: the only status that lets requests in (and push deliveries run).
    Accepted,
    /// Refused by whoever reviewed it; lets nothing in.
    Rejected,
    /// Suspended: lets nothing in; a push subscription's deliveries pause.
    Paused,
    /// Ended: lets nothing in; a push subscription's deliveries stop.
    Closed,
}

/// One API key of a subscription, by its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyConfig {
    /// `hash`: `sha256:` and 64 hex digits of the key (the file never holds the key itself).
    pub hash: KeyHash,
    /// The key stops working at this instant (the old key of a renewal).
    pub expire_at: Option<SystemTime>,
    /// `revoked` (default `false`): `true` ends the key now.
    pub revoked: bool,
}

/// The SHA-256 of an API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyHash(pub [u8; 32]);

impl KeyHash {
    /// The text form used in the configuration: `sha256:` and 64 lowercase hex digits.
    pub fn to_config_text(&self) -> String {
        let mut text = String::with_capacity(71);
        text.push_str("sha256:");
        for byte in self.0 {
            text.push_str(&format!("{byte:02x}"));
        }
        text
    }

    /// Parses the configuration's text form.
    pub fn from_config_text(text: &str) -> Option<KeyHash> {
        let hex = text.strip_prefix("sha256:")?.as_bytes();
        if hex.len() != 64 {
            return None;
        }
        let mut bytes = [0u8; 32];
        for (index, pair) in hex.chunks(2).enumerate() {
            let digits = std::str::from_utf8(pair).ok()?;
            bytes[index] = u8::from_str_radix(digits, 16).ok()?;
        }
        Some(KeyHash(bytes))
    }
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    expecting = "a subscription mapping (id, api, plan, application, status, startingAt, endingAt, apiKeys, type, configuration)"
)]
struct RawSubscription {
    id: String,
    api: String,
    plan: String,
    application: String,
    #[serde(default)]
    status: Option<SubscriptionStatus>,
    #[serde(default)]
    starting_at: Option<String>,
    #[serde(default)]
    ending_at: Option<String>,
    #[serde(default)]
    api_keys: Vec<RawApiKey>,
    /// `standard` (the default) or `push`.
    #[serde(default, rename = "type")]
    kind: Option<String>,
    /// A push subscription's settings (`push.rs`).
    #[serde(default)]
    configuration: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    expecting = "an API key mapping (hash, expireAt, revoked)"
)]
struct RawApiKey {
    hash: String,
    #[serde(default)]
    expire_at: Option<String>,
    #[serde(default)]
    revoked: bool,
}

pub(crate) fn is_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

pub(crate) fn check_id(id: &str, loc: &str, what: &str, p: &mut Problems) {
    if !is_id(id) {
        p.push(
            join(loc, "id"),
            format!(
                "{what} id '{id}' must be non-empty and use only letters, digits, '.', '_' and '-'"
            ),
        );
    }
}

/// `subscriptions:`, checked against the APIs, their plans and the applications.
pub(crate) fn read_subscriptions(
    value: Option<&Value>,
    apis: Option<&[ApiConfig]>,
    applications: Option<&[ApplicationConfig]>,
    p: &mut Problems,
) -> Option<Vec<SubscriptionConfig>> {
    let items = super::sections::list_items(value, "subscriptions", "subscriptions", p)?;
    let mut all_ok = true;
    let mut subscriptions: Vec<SubscriptionConfig> = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let loc = format!("subscriptions[{index}]");
        let Some(raw) = decode::<RawSubscription>(item, &loc, p) else {
            all_ok = false;
            continue;
        };
        match subscription(raw, &loc, apis, applications, p) {
            Some(subscription) => {
                if subscriptions.iter().any(|s| s.id == subscription.id) {
                    let message = format!("subscription id '{}' is used twice", subscription.id);
                    p.push(join(&loc, "id"), message);
                }
                subscriptions.push(subscription);
            }
            None => all_ok = false,
        }
    }
    duplicate_keys(&subscriptions, p);
    all_ok.then_some(subscriptions)
}

fn subscription(
    raw: RawSubscription,
    loc: &str,
    apis: Option<&[ApiConfig]>,
    applications: Option<&[ApplicationConfig]>,
    p: &mut Problems,
) -> Option<SubscriptionConfig> {
    check_id(&raw.id, loc, "subscription", p);
    let push_type = match raw.kind.as_deref() {
        None | Some("standard") => false,
        Some("push") => true,
        Some(other) => {
            let message = format!("'{other}' is not a subscription type: use standard or push");
            p.push(join(loc, "type"), message);
            false
        }
    };
    if !push_type && raw.configuration.is_some() {
        let message = "only a push subscription (`type: push`) takes a configuration";
        p.push(join(loc, "configuration"), message);
    }
    let api_config = apis.and_then(|apis| apis.iter().find(|api| api.id == raw.api));
    let push = if push_type {
        let config_loc = join(loc, "configuration");
        let config = raw.configuration.as_ref();
        super::push::read(config, api_config, apis, &config_loc, p).map(Box::new)
    } else {
        None
    };
    let mut validation = PlanValidation::Auto;
    let mut jwt_plan = false;
    // Cross-references are checked only when those sections decoded (else they were reported).
    if let Some(apis) = apis {
        match apis.iter().find(|api| api.id == raw.api) {
            None => p.push(join(loc, "api"), format!("no API has id '{}'", raw.api)),
            Some(api) => match api.plans.iter().find(|plan| plan.id == raw.plan) {
                None => {
                    let ids: Vec<&str> = api.plans.iter().map(|plan| plan.id.as_str()).collect();
                    let message = format!(
                        "API '{}' has no plan with id '{}' (its plans: {})",
                        raw.api,
                        raw.plan,
                        ids.join(", ")
                    );
                    p.push(join(loc, "plan"), message);
                }
                Some(plan) => {
                    validation = plan.validation;
                    match plan.security {
                        PlanSecurity::Keyless if push_type => {}
                        PlanSecurity::Keyless => p.push(
                            join(loc, "plan"),
                            format!(
                                "plan '{}' is keyless: keyless plans take no subscriptions",
                                plan.id
                            ),
                        ),
                        PlanSecurity::ApiKey(_) => {}
                        PlanSecurity::Mtls => {
                            if !raw.api_keys.is_empty() {
                                p.push(
                                    join(loc, "apiKeys"),
                                    format!("plan '{}' is an mtls plan: its subscriptions take no API keys (the application's certificate is the credential)", plan.id),
                                );
                            }
                            let certified = applications.is_some_and(|apps| {
                                apps.iter().any(|app| {
                                    app.id == raw.application && app.certificate.is_some()
                                })
                            });
                            if applications.is_some() && !certified {
                                p.push(
                                    join(loc, "application"),
                                    format!("plan '{}' is an mtls plan: application '{}' needs a `certificate` (fingerprintSha256 or subject)", plan.id, raw.application),
                                );
                            }
                        }
                        PlanSecurity::Jwt(_) => {
                            jwt_plan = true;
                            if !raw.api_keys.is_empty() {
                                let message = format!(
                                    "plan '{}' is a jwt plan: its subscriptions take no apiKeys \
                                     (the token's client id selects the subscription)",
                                    plan.id
                                );
                                p.push(join(loc, "apiKeys"), message);
                            }
                        }
                    }
                }
            },
        }
    }
    if let Some(applications) = applications {
        match applications.iter().find(|app| app.id == raw.application) {
            None => {
                let message = format!(
                    "no application has id '{}' (see `applications:`)",
                    raw.application
                );
                p.push(join(loc, "application"), message);
            }
            Some(app) if jwt_plan && app.client_id.is_none() => {
                let message = format!(
                    "application '{}' has no clientId: a jwt plan's subscription is found by the \
                     token's client id",
                    app.id
                );
                p.push(join(loc, "application"), message);
            }
            Some(_) => {}
        }
    }
    let mut timestamp = |text: Option<String>, key: &str| {
        text.and_then(|text| match parse_rfc3339(&text) {
            Ok(at) => Some(at),
            Err(message) => {
                p.push(join(loc, key), message);
                None
            }
        })
    };
    let starting_at = timestamp(raw.starting_at, "startingAt");
    let ending_at = timestamp(raw.ending_at, "endingAt");
    if let (Some(start), Some(end)) = (starting_at, ending_at) {
        if end <= start {
            p.push(join(loc, "endingAt"), "must be after startingAt");
        }
    }
    let mut api_keys = Vec::new();
    for (index, key) in raw.api_keys.into_iter().enumerate() {
        let key_loc = format!("{}[{index}]", join(loc, "apiKeys"));
        let Some(hash) = KeyHash::from_config_text(&key.hash) else {
            p.push(
                join(&key_loc, "hash"),
                "must be `sha256:` and 64 hex digits, as printed by `tidegate apikey generate` (never the key itself)",
            );
            continue;
        };
        let expire_at = match key.expire_at.map(|text| parse_rfc3339(&text)) {
            Some(Err(message)) => {
                p.push(join(&key_loc, "expireAt"), message);
                None
            }
            Some(Ok(at)) => Some(at),
            None => None,
        };
        api_keys.push(ApiKeyConfig {
            hash,
            expire_at,
            revoked: key.revoked,
        });
    }
    let status = raw.status.unwrap_or(match validation {
        PlanValidation::Auto => SubscriptionStatus::Accepted,
        PlanValidation::Manual => SubscriptionStatus::Pending,
    });
    Some(SubscriptionConfig {
        id: raw.id,
        api: raw.api,
        plan: raw.plan,
        application: raw.application,
        status,
        starting_at,
        ending_at,
        api_keys,
        push,
    })
}

/// A key hash names one key: the gateway finds the subscription by it.
fn duplicate_keys(subscriptions: &[SubscriptionConfig], p: &mut Problems) {
    let mut seen: std::collections::HashMap<KeyHash, &str> = std::collections::HashMap::new();
    for (index, subscription) in subscriptions.iter().enumerate() {
        for (key_index, key) in subscription.api_keys.iter().enumerate() {
            if let Some(owner) = seen.insert(key.hash, &subscription.id) {
                p.push(
                    format!("subscriptions[{index}].apiKeys[{key_index}].hash"),
                    format!("this key hash is also listed by subscription '{owner}'; each key belongs to one subscription"),
                );
            }
        }
    }
}
