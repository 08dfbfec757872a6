//! Administrator tokens kept in the store: listed (never their hash), created (the clear token
//! shown once, in the answer) and revoked, each audited under `token:NAME`. The store's tokens
//! authenticate only while no token is configured (`management.tokens`,
//! `TIDEGATE_MANAGEMENT_TOKEN`): while one is, creating one is refused, since it would not work.
//! Revoking the last unexpired one is refused too (it would lock every operator out); the
//! check and the removal are one store transaction.

use std::time::SystemTime;

use serde_json::{json, Map, Value};

use super::views::time;
use super::{Actor, ErrorKind, FieldError, Service, ServiceError};
use crate::config::timestamp::parse_rfc3339;
use crate::manage::store::{self, AuditEvent, StoreError, StoredToken};
use crate::security::api_key;

/// Longest token name.
const MAX_NAME_CHARS: usize = 64;
/// The name `TIDEGATE_MANAGEMENT_TOKEN` authenticates as.
pub const ENV_TOKEN_NAME: &str = "env";
/// Actors the gateway itself writes to the audit log: no token may take their name.
const RESERVED_NAMES: &[&str] = &[ENV_TOKEN_NAME, "gateway", "portal", "seed"];

/// How the node authenticates: which tokens are configured, and so whether the store's count.
pub struct TokenSources<'a> {
    /// `management.tokens` names, then `env` for `TIDEGATE_MANAGEMENT_TOKEN`.
    pub fixed: Vec<&'a str>,
}

impl TokenSources<'_> {
    /// The store's tokens authenticate only while none is configured.
    fn store_used(&self) -> bool {
        self.fixed.is_empty()
    }
}

impl Service {
    /// Every token: the configured ones (no times: they live as long as the configuration),
    /// then the store's, each with whether it authenticates now.
    pub fn list_tokens(&self, sources: &TokenSources<'_>) -> Result<Vec<Value>, ServiceError> {
        let now = SystemTime::now();
        let mut list: Vec<Value> = sources
            .fixed
            .iter()
            .map(|name| {
                let source = if *name == ENV_TOKEN_NAME {
                    "environment"
                } else {
                    "configuration"
                };
                json!({ "name": name, "source": source, "active": true })
            })
            .collect();
        for token in self.store().tokens()? {
            let mut view = json!({
                "name": token.name,
                "source": "store",
                "createdAt": time(token.created_at),
                "active": sources.store_used() && token.is_live(now),
            });
            if let Some(at) = token.expires_at {
                view["expiresAt"] = Value::from(time(at));
                view["expired"] = Value::from(!token.is_live(now));
            }
            list.push(view);
        }
        Ok(list)
    }

    /// Creates a token from `{name, expiresAt?}`: the answer holds the clear token, shown only
    /// here (the store keeps its SHA-256).
    pub fn create_token(
        &self,
        body: &Value,
        sources: &TokenSources<'_>,
        actor: &Actor,
    ) -> Result<Value, ServiceError> {
        if !sources.store_used() {
            return Err(ServiceError::conflict(
                "token.configured",
                format!(
                    "tokens are configured ({}): the store's tokens do not authenticate while management.tokens or TIDEGATE_MANAGEMENT_TOKEN is set; add the token there",
                    sources.fixed.join(", ")
                ),
            ));
        }
        let (name, expires_at) = token_request(body)?;
        let (clear, hash) = api_key::generate().map_err(|err| {
            tracing::error!(error = %err, "cannot generate a management token");
            ServiceError::new(
                ErrorKind::Internal,
                "token.generate",
                "the gateway could not draw random bytes for a token; see its log",
            )
        })?;
        let token = StoredToken {
            name: name.clone(),
            hash: hash.to_config_text(),
            created_at: store::now(),
            expires_at,
        };
        let audit = token_audit(actor, "token.create", &token);
        self.store()
            .add_token(&token, &audit)
            .map_err(|err| match err {
                StoreError::Conflict { .. } => ServiceError::conflict(
                    "token.exists",
                    format!("a token named '{name}' exists; choose another name (to replace it: create the new one, then revoke '{name}')"),
                ),
                StoreError::Full { count } => ServiceError::conflict(
                    "token.too_many",
                    format!("the store holds {count} tokens, the most allowed; revoke unused ones first"),
                ),
                other => ServiceError::store(other),
            })?;
        let mut view = json!({
            "name": token.name,
            "token": clear,
            "createdAt": time(token.created_at),
        });
        if let Some(at) = token.expires_at {
            view["expiresAt"] = Value::from(time(at));
        }
        Ok(view)
    }

    /// Revokes the store's token `name`: from the next call on it no longer authenticates.
    pub fn revoke_token(
        &self,
        name: &str,
        sources: &TokenSources<'_>,
        actor: &Actor,
    ) -> Result<(), ServiceError> {
        if sources.fixed.contains(&name) {
            return Err(ServiceError::conflict(
                "token.configured",
                format!("token '{name}' comes from management.tokens or TIDEGATE_MANAGEMENT_TOKEN; remove it there and restart"),
            ));
        }
        let audit = AuditEvent::now(&actor.0, "token.revoke", &token_target(name));
        // While the store's tokens authenticate, one must stay that does.
        let keep_live_at = sources.store_used().then(SystemTime::now);
        self.store()
            .revoke_token(name, keep_live_at, &audit)
            .map_err(|err| match err {
                StoreError::Conflict { .. } => ServiceError::new(
                    ErrorKind::NotFound,
                    "token.not_found",
                    format!("no token '{name}' in the store"),
                ),
                StoreError::LastToken => ServiceError::conflict(
                    "token.last",
                    format!("'{name}' is the last unexpired token: revoking it would lock every operator out; create another first"),
                ),
                other => ServiceError::store(other),
            })
    }
}

/// The audit target of a token: `token:NAME`.
pub fn token_target(name: &str) -> String {
    format!("token:{name}")
}

/// The audit event of a token's creation: its name and times, never its hash.
fn token_audit(actor: &Actor, action: &str, token: &StoredToken) -> AuditEvent {
    let mut after = json!({ "name": token.name, "createdAt": time(token.created_at) });
    if let Some(at) = token.expires_at {
        after["expiresAt"] = Value::from(time(at));
    }
    AuditEvent::now(&actor.0, action, &token_target(&token.name)).with_bodies(None, Some(after))
}

/// The name and expiry a create asks for, or every problem with them.
fn token_request(body: &Value) -> Result<(String, Option<SystemTime>), ServiceError> {
    let empty = Map::new();
    let fields = body.as_object().unwrap_or(&empty);
    let mut errors = Vec::new();
    let mut refuse = |location: &str, message: String| {
        errors.push(FieldError {
            location: location.to_owned(),
            message,
        })
    };
    if !body.is_object() {
        refuse(
            "",
            "send a JSON object: {\"name\": \"ci\", \"expiresAt\": \"2027-01-01T00:00:00Z\"}"
                .to_owned(),
        );
    }
    for key in fields.keys() {
        if !matches!(key.as_str(), "name" | "expiresAt") {
            refuse(
                key,
                format!("unknown field '{key}'; a token takes name and expiresAt"),
            );
        }
    }
    let name = match fields.get("name") {
        Some(Value::String(name)) => name.clone(),
        Some(_) => {
            refuse("name", "must be a string".to_owned());
            String::new()
        }
        None if body.is_object() => {
            refuse(
                "name",
                "is required: the name the audit log shows for this token's calls".to_owned(),
            );
            String::new()
        }
        None => String::new(),
    };
    if fields.get("name").is_some_and(Value::is_string) {
        if let Err(why) = check_name(&name) {
            refuse("name", why);
        }
    }
    let expires_at = match fields.get("expiresAt") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => match parse_rfc3339(text) {
            Ok(at) if at > SystemTime::now() => Some(at),
            Ok(_) => {
                refuse("expiresAt", format!("'{text}' is in the past; give a future instant, or leave expiresAt out for a token that does not expire"));
                None
            }
            Err(why) => {
                refuse("expiresAt", why);
                None
            }
        },
        Some(_) => {
            refuse(
                "expiresAt",
                "must be an RFC 3339 timestamp string such as 2027-01-01T00:00:00Z".to_owned(),
            );
            None
        }
    };
    if errors.is_empty() {
        return Ok((name, expires_at));
    }
    Err(ServiceError::invalid(
        "token.invalid",
        "the token request is invalid; see `errors`",
    )
    .with_errors(errors))
}

/// A token name: 1 to 64 letters, digits, `.`, `_` or `-`, none of the gateway's own actors.
fn check_name(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.chars().count() <= MAX_NAME_CHARS
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !valid {
        return Err(format!(
            "'{name}' is not a token name: use 1 to {MAX_NAME_CHARS} letters, digits, '.', '_' or '-'"
        ));
    }
    if RESERVED_NAMES.contains(&name) {
        return Err(format!(
            "'{name}' is the gateway's own name in the audit log; choose another"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_short_plain_and_not_the_gateways_own() {
        assert!(check_name("ci-deploy_2.prod").is_ok());
        assert!(check_name(&"a".repeat(64)).is_ok());
        for bad in [
            "",
            "has space",
            "slash/name",
            "ünï",
            "env",
            "seed",
            "gateway",
            "portal",
        ] {
            assert!(check_name(bad).is_err(), "{bad:?} refused");
        }
        assert!(check_name(&"a".repeat(65)).is_err());
    }

    #[test]
    fn a_request_lists_every_problem_at_once() {
        let err = token_request(&json!({"name": "bad name", "expiresAt": "yesterday", "x": 1}))
            .unwrap_err();
        let locations: Vec<&str> = err.errors.iter().map(|e| e.location.as_str()).collect();
        assert_eq!(locations, ["x", "name", "expiresAt"], "{err:?}");
        let err =
            token_request(&json!({"name": "ci", "expiresAt": "2000-01-01T00:00:00Z"})).unwrap_err();
        assert!(err.errors[0].message.contains("in the past"), "{err:?}");
        let err = token_request(&json!([])).unwrap_err();
        assert_eq!(err.errors.len(), 1, "{err:?}");
        let (name, expires) =
            token_request(&json!({"name": "ci", "expiresAt": "2999-01-01T00:00:00Z"})).unwrap();
        assert_eq!(name, "ci");
        assert!(expires.is_some());
        assert_eq!(token_request(&json!({"name": "ci"})).unwrap().1, None);
    }
}
