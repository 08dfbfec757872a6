//! Management tokens kept in the store: listed (never their hash), created (the clear token
//! shown once, in the answer) with a role (`admin`, or `viewer`: read only) and revoked, each
//! audited under `token:NAME`.
//!
//! The rules that keep operators from locking themselves out, or a short-lived token from
//! outliving itself:
//! - an administrator's token is revoked only while another administrator's outlasts it (valid
//!   now, and expiring no sooner: `StoredToken::outlasts`), checked in the store transaction
//!   that removes it, on whichever node, configured tokens or not; `force` skips that check (a
//!   store whose tokens no node uses any more);
//! - a token created by a store token that expires expires no later.
//!
//! The store's tokens authenticate only on nodes where no token is configured
//! (`management.tokens`, `TIDEGATE_MANAGEMENT_TOKEN`); on a node where one is, they are listed
//! inactive, and may still be created for the nodes that use them.

use std::time::SystemTime;

use serde_json::{json, Map, Value};

use super::views::time;
use super::{Actor, ErrorKind, FieldError, Service, ServiceError};
use crate::config::management::{actors, token_name_problem};
use crate::config::timestamp::parse_rfc3339;
use crate::config::TokenRole;
use crate::manage::store::{self, AuditEvent, StoreError, StoredToken};
use crate::security::api_key;

/// The name `TIDEGATE_MANAGEMENT_TOKEN` authenticates as.
pub const ENV_TOKEN_NAME: &str = actors::ENV;

/// How the node authenticates: which tokens are configured, and so whether the store's count.
pub struct TokenSources<'a> {
    /// `management.tokens` names and roles, then `env` for `TIDEGATE_MANAGEMENT_TOKEN`.
    pub fixed: Vec<(&'a str, TokenRole)>,
}

impl TokenSources<'_> {
    /// The store's tokens authenticate only while none is configured.
    fn store_used(&self) -> bool {
        self.fixed.is_empty()
    }
}

impl Service {
    /// Every token: the configured ones (no times: they live as long as the configuration),
    /// then the store's, each with whether it authenticates on this node now.
    pub fn list_tokens(&self, sources: &TokenSources<'_>) -> Result<Vec<Value>, ServiceError> {
        let now = SystemTime::now();
        let mut list: Vec<Value> = sources
            .fixed
            .iter()
            .map(|(name, role)| {
                let source = if *name == ENV_TOKEN_NAME {
                    "environment"
                } else {
                    "configuration"
                };
                json!({ "name": name, "role": role.as_str(), "source": source, "active": true })
            })
            .collect();
        for token in self.store().tokens()? {
            let mut view = token_view(&token);
            view["source"] = Value::from("store");
            view["active"] = Value::from(sources.store_used() && token.is_live(now));
            if token.expires_at.is_some() {
                view["expired"] = Value::from(!token.is_live(now));
            }
            list.push(view);
        }
        Ok(list)
    }

    /// Creates a token from `{name, expiresAt?, role?}`: the answer holds the clear token, shown
    /// only here (the store keeps its SHA-256), and whether it authenticates on this node.
    pub fn create_token(
        &self,
        body: &Value,
        sources: &TokenSources<'_>,
        actor: &Actor,
    ) -> Result<Value, ServiceError> {
        let (name, expires_at, role) = token_request(body)?;
        if sources.store_used() {
            self.check_within_caller(&actor.0, expires_at)?;
        }
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
            created_at: Some(store::now()),
            expires_at,
            role,
        };
        let audit = AuditEvent::now(&actor.0, "token.create", &token_target(&name))
            .with_bodies(None, Some(token_view(&token)));
        self.store()
            .add_token(&token, &audit)
            .map_err(|err| token_error(&name, err))?;
        let mut view = token_view(&token);
        view["token"] = Value::from(clear);
        view["active"] = Value::from(sources.store_used());
        Ok(view)
    }

    /// Revokes the store's token `name`: from the next call on it no longer authenticates.
    /// Refused (409 `token.last`) while no other token outlasts it, unless `force`.
    pub fn revoke_token(
        &self,
        name: &str,
        force: bool,
        sources: &TokenSources<'_>,
        actor: &Actor,
    ) -> Result<(), ServiceError> {
        if sources.fixed.iter().any(|(fixed, _)| *fixed == name) {
            return Err(ServiceError::conflict(
                "token.configured",
                format!("token '{name}' comes from management.tokens or TIDEGATE_MANAGEMENT_TOKEN; remove it there and restart"),
            ));
        }
        let audit = AuditEvent::now(&actor.0, "token.revoke", &token_target(name));
        let guard_at = (!force).then(SystemTime::now);
        self.store()
            .revoke_token(name, guard_at, &audit)
            .map_err(|err| token_error(name, err))
    }

    /// A store token that expires may only create tokens that expire no later.
    fn check_within_caller(
        &self,
        caller: &str,
        wanted: Option<SystemTime>,
    ) -> Result<(), ServiceError> {
        let tokens = self.store().tokens()?;
        let Some(limit) = tokens
            .iter()
            .find(|token| token.name == caller)
            .and_then(|token| token.expires_at)
        else {
            return Ok(());
        };
        if wanted.is_some_and(|at| at <= limit) {
            return Ok(());
        }
        Err(ServiceError::invalid(
            "token.invalid",
            "the token request is invalid; see `errors`",
        )
        .with_errors(vec![FieldError {
            location: "expiresAt".to_owned(),
            message: format!(
                "the token you call with expires at {}: a token it creates must expire no later; give an expiresAt up to then",
                time(limit)
            ),
        }]))
    }
}

/// What a store refusal of a write to the token `name` answers (the others as any store error).
fn token_error(name: &str, err: StoreError) -> ServiceError {
    match err {
        StoreError::TokenTaken => ServiceError::conflict(
            "token.exists",
            format!("a token named '{name}' exists (names are compared ignoring case); choose another name (to replace it: create the new one, then revoke the old one)"),
        ),
        StoreError::Full { count } => ServiceError::conflict(
            "token.too_many",
            format!("the store holds {count} valid tokens, the most allowed; revoke unused ones first"),
        ),
        StoreError::NoSuchToken => ServiceError::new(
            ErrorKind::NotFound,
            "token.not_found",
            format!("no token '{name}' in the store"),
        ),
        other => ServiceError::store(other),
    }
}

/// The audit target of a token: `token:NAME`.
pub fn token_target(name: &str) -> String {
    format!("token:{name}")
}

/// A token's name, role and times (never its hash): what lists, answers and audit events show.
fn token_view(token: &StoredToken) -> Value {
    let mut view = json!({ "name": token.name, "role": token.role.as_str() });
    if let Some(at) = token.created_at {
        view["createdAt"] = Value::from(time(at));
    }
    if let Some(at) = token.expires_at {
        view["expiresAt"] = Value::from(time(at));
    }
    view
}

/// The name, expiry and role a create asks for, or every problem with them.
fn token_request(body: &Value) -> Result<(String, Option<SystemTime>, TokenRole), ServiceError> {
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
            "send a JSON object: {\"name\": \"ci\", \"expiresAt\": \"2027-01-01T00:00:00Z\", \"role\": \"viewer\"}"
                .to_owned(),
        );
    }
    for key in fields.keys() {
        if !matches!(key.as_str(), "name" | "expiresAt" | "role") {
            refuse(
                key,
                format!("unknown field '{key}'; a token takes name, expiresAt and role"),
            );
        }
    }
    let name = match fields.get("name") {
        Some(Value::String(name)) => {
            if let Some(problem) = token_name_problem(name) {
                refuse("name", problem);
            }
            name.clone()
        }
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
    let expires_at = match fields.get("expiresAt") {
        None | Some(Value::Null) => None,
        // To the millisecond, as every store keeps it.
        Some(Value::String(text)) => match parse_rfc3339(text).map(store::to_millis) {
            Ok(at) if store::from_millis(at) > SystemTime::now() => Some(store::from_millis(at)),
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
    let role = match fields.get("role") {
        None | Some(Value::Null) => TokenRole::Admin,
        Some(Value::String(text)) => TokenRole::parse(text).unwrap_or_else(|| {
            refuse(
                "role",
                format!(
                    "'{}' is not a role; use {} (read only)",
                    text.chars().take(64).collect::<String>(),
                    TokenRole::NAMES
                ),
            );
            TokenRole::Admin
        }),
        Some(_) => {
            refuse("role", format!("must be a string: {}", TokenRole::NAMES));
            TokenRole::Admin
        }
    };
    if errors.is_empty() {
        return Ok((name, expires_at, role));
    }
    Err(ServiceError::invalid(
        "token.invalid",
        "the token request is invalid; see `errors`",
    )
    .with_errors(errors))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_short_plain_and_not_the_gateways_own() {
        for good in ["ci-deploy_2.prod", "a", "9.x", &"a".repeat(64)] {
            assert_eq!(token_name_problem(good), None, "{good:?}");
        }
        let long = "a".repeat(65);
        for bad in [
            "",
            ".",
            "..",
            ".hidden",
            "-x",
            "_x",
            "has space",
            "slash/name",
            "ünï",
            "env",
            "seed",
            "gateway",
            "portal",
            "Gateway",
            "ENV",
            "Seed",
            &long,
        ] {
            assert!(token_name_problem(bad).is_some(), "{bad:?} refused");
        }
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
        let viewer = token_request(&json!({"name": "grafana", "role": "viewer"})).unwrap();
        assert_eq!(viewer.2, TokenRole::Viewer);
        for bad in [json!("root"), json!(1), json!(["admin"])] {
            let err = token_request(&json!({"name": "x", "role": bad})).unwrap_err();
            assert_eq!(err.errors[0].location, "role", "{err:?}");
            assert!(err.errors[0].message.contains("`viewer`"), "{err:?}");
        }
        let err = token_request(&json!([])).unwrap_err();
        assert_eq!(err.errors.len(), 1, "{err:?}");
        let (name, expires, role) =
            token_request(&json!({"name": "ci", "expiresAt": "2999-01-01T00:00:00.123456789Z"}))
                .unwrap();
        assert_eq!(name, "ci");
        assert_eq!(role, TokenRole::Admin, "by default");
        assert_eq!(
            expires.map(store::to_millis),
            Some(32_472_144_000_123),
            "kept to the millisecond"
        );
        assert_eq!(token_request(&json!({"name": "ci"})).unwrap().1, None);
        assert_eq!(
            token_request(&json!({"name": "ci", "expiresAt": null}))
                .unwrap()
                .1,
            None
        );
    }
}
