//! An API's plans: who may use it and with which credential (`plans:` of each API).
//!
//! Plans follow the reference product: a security type, a lifecycle status, and how new
//! subscriptions are validated. Subscriptions and applications are top-level sections
//! (`subscriptions.rs`); the gateway's runtime view of all three is `crate::security`.

use serde::Deserialize;
use serde_json::Value;

use super::is_token_byte;
use super::problem::{join, Problems};
use super::sections::decode;
use super::validate::{non_empty, unknown_kind};

/// The header an API key plan reads unless its `configuration.header` names another (the
/// reference product's name, so its clients work unchanged).
pub const DEFAULT_API_KEY_HEADER: &str = "X-Gravitee-Api-Key";
/// The query parameter an API key may come in instead, for clients that cannot set headers
/// (EventSource, browser WebSocket).
pub const API_KEY_QUERY_PARAMETER: &str = "api-key";

/// Who may use an API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanConfig {
    /// Unique within its API, `[a-zA-Z0-9._-]+`; subscriptions name it. Defaults to `name`.
    pub id: String,
    /// `name` (required): human-readable, non-empty.
    pub name: String,
    /// `security` (required) with its `configuration`: the credential a request must present.
    pub security: PlanSecurity,
    /// `status` (default `published`): whether the gateway serves requests through the plan.
    pub status: PlanStatus,
    /// `validation` (default `auto`): the status a subscription that names none gets.
    pub validation: PlanValidation,
    /// Rate limit, quota and message rates of this plan's subscriptions (`policies`, decoded
    /// by `config::rate_limit`).
    pub policies: super::rate_limit::Policies,
}

/// The credential a plan takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanSecurity {
    /// Anyone may call; no credentials are checked (only when none is presented).
    Keyless,
    /// An API key of an accepted subscription, in a header or the `api-key` query parameter.
    ApiKey(ApiKeyPlanOptions),
    /// The client certificate of a TLS listener (`gateway.tls.clientAuth`), matched to an
    /// application by SHA-256 fingerprint or subject.
    Mtls,
    /// A bearer JWT whose client-id claim names an application with an accepted subscription
    /// (`crate::security::jwt`; keys are loaded and parsed with the configuration).
    Jwt(std::sync::Arc<crate::security::jwt::JwtSettings>),
}

impl PlanSecurity {
    /// The YAML `security` value.
    pub fn type_name(&self) -> &'static str {
        match self {
            PlanSecurity::Keyless => "keyless",
            PlanSecurity::ApiKey(_) => "api-key",
            PlanSecurity::Mtls => "mtls",
            PlanSecurity::Jwt(_) => "jwt",
        }
    }
}

/// `configuration` of an `api-key` plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyPlanOptions {
    /// The header the key is read from (matched case-insensitively).
    pub header: String,
}

/// A plan's lifecycle (the reference product's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PlanStatus {
    /// Being prepared: the gateway serves nobody through it yet.
    Staging,
    /// In service.
    Published,
    /// Existing subscriptions keep working; no new ones (a reload that adds one is refused).
    Deprecated,
    /// Serves nobody.
    Closed,
}

impl PlanStatus {
    /// Whether the gateway serves requests through a plan in this status.
    pub fn serves(self) -> bool {
        matches!(self, PlanStatus::Published | PlanStatus::Deprecated)
    }
}

/// How a new subscription to the plan is validated: `auto` accepts it, `manual` leaves it
/// `pending` until someone accepts it. A configured subscription without `status` takes the
/// status this gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PlanValidation {
    /// `auto` (the default): new subscriptions are `accepted`.
    Auto,
    /// `manual`: new subscriptions are `pending` until accepted.
    Manual,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    expecting = "a plan mapping (id, name, security, status, validation, configuration)"
)]
struct RawPlan {
    #[serde(default)]
    id: Option<String>,
    name: String,
    security: String,
    #[serde(default = "published")]
    status: PlanStatus,
    #[serde(default = "auto")]
    validation: PlanValidation,
    #[serde(default)]
    configuration: Option<Value>,
    /// Decoded on its own by `config::rate_limit` (listed for the key check).
    #[serde(default)]
    #[allow(dead_code, reason = "listed for the key check; decoded separately")]
    policies: Option<serde::de::IgnoredAny>,
}

fn published() -> PlanStatus {
    PlanStatus::Published
}

fn auto() -> PlanValidation {
    PlanValidation::Auto
}

#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    default,
    expecting = "the api-key plan configuration mapping (header)"
)]
struct RawApiKeyPlan {
    header: Option<String>,
}

const PLAN_SECURITY_SUPPORTED: &[&str] = &["keyless", "api-key", "mtls", "jwt"];
const PLAN_SECURITY_PLANNED: &[&str] = &["oauth2"];

/// Decodes and validates one plan at `loc`.
pub(crate) fn read_plan(item: &Value, loc: &str, p: &mut Problems) -> Option<PlanConfig> {
    let raw = decode::<RawPlan>(item, loc, p)?;
    non_empty(&raw.name, loc, "name", p);
    let id = raw.id.unwrap_or_else(|| raw.name.clone());
    if !id.is_empty()
        && !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        p.push(
            join(loc, "id"),
            format!("'{id}' may only contain letters, digits, '.', '_' and '-' (without `id`, the name is the id)"),
        );
    }
    let config_loc = join(loc, "configuration");
    let configuration = raw.configuration.filter(|value| !value.is_null());
    let security = match raw.security.as_str() {
        "keyless" => {
            if configuration
                .as_ref()
                .is_some_and(|value| value != &Value::Object(Default::default()))
            {
                p.push(config_loc, "a keyless plan takes no configuration");
            }
            Some(PlanSecurity::Keyless)
        }
        "api-key" => {
            let options = match &configuration {
                Some(value) => decode::<RawApiKeyPlan>(value, &config_loc, p)?,
                None => RawApiKeyPlan::default(),
            };
            let header = options
                .header
                .unwrap_or_else(|| DEFAULT_API_KEY_HEADER.to_owned());
            if header.is_empty() || !header.bytes().all(is_token_byte) {
                p.push(
                    join(&config_loc, "header"),
                    format!("'{header}' is not an HTTP header name (letters, digits and !#$%&'*+-.^_`|~)"),
                );
            }
            Some(PlanSecurity::ApiKey(ApiKeyPlanOptions { header }))
        }
        "mtls" => {
            if configuration
                .as_ref()
                .is_some_and(|value| value != &Value::Object(Default::default()))
            {
                p.push(
                    config_loc,
                    "an mtls plan takes no configuration: applications name their certificate",
                );
            }
            Some(PlanSecurity::Mtls)
        }
        "jwt" => {
            let value = configuration.unwrap_or_else(|| Value::Object(Default::default()));
            match crate::security::jwt::settings_from_value(&value, &config_loc) {
                Ok(settings) => Some(PlanSecurity::Jwt(std::sync::Arc::new(settings))),
                Err(problems) => {
                    for problem in problems {
                        p.push(problem.location, problem.message);
                    }
                    None
                }
            }
        }
        other => {
            let message = unknown_kind(
                "plan security",
                other,
                PLAN_SECURITY_SUPPORTED,
                PLAN_SECURITY_PLANNED,
            );
            p.push(join(loc, "security"), message);
            None
        }
    };
    Some(PlanConfig {
        id,
        name: raw.name,
        security: security?,
        status: raw.status,
        validation: raw.validation,
        policies: Default::default(),
    })
}

/// Rules across one API's plans: unique ids.
pub(crate) fn plan_ids(plans: &[PlanConfig], loc: &str, p: &mut Problems) {
    for (index, plan) in plans.iter().enumerate() {
        if plans[..index].iter().any(|earlier| earlier.id == plan.id) {
            p.push(
                format!("{loc}[{index}].id"),
                format!(
                    "plan id '{}' is used twice in this API; give each plan its own `id`",
                    plan.id
                ),
            );
        }
    }
}
