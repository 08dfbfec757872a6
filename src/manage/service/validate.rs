//! The one validator. A change is checked by building the configuration the follower would build
//! once it is stored — the file's `gateway:` section, every stored API with this one replaced,
//! every application and subscription — and loading it with `config::load_str`, the loader of
//! `tidegate run` and `tidegate check`. So the API answers exactly the problems `check` would
//! print for the same file, with each location rewritten to the request body's own
//! (`apis[2].entrypoints[0].type` → `definition.entrypoints[0].type`).

use serde_json::{Map, Value};

use super::{FieldError, Service, ServiceError};
use crate::config::{self, ConfigError};
use crate::manage::store::Kind;

/// The document a change puts in place: `body` for `id` of `kind` (`None`: it is deleted).
pub(super) struct Change<'a> {
    pub kind: Kind,
    pub id: &'a str,
    pub body: Option<&'a Value>,
}

impl Service {
    /// Validates the store with `change` applied; 400 `definition.invalid` with every problem.
    pub(super) fn validate(&self, change: &Change<'_>) -> Result<(), ServiceError> {
        // A definition read through a viewer's token has its secrets masked: sent back, the
        // mask would be stored as the secret. (Subscriptions keep masked secrets: push.rs.)
        if let (Kind::Api, Some(definition)) =
            (change.kind, change.body.and_then(|b| b.get("definition")))
        {
            let masked = super::redact::masked_secret_paths(definition);
            if !masked.is_empty() {
                return Err(ServiceError::invalid(
                    "definition.invalid",
                    "the definition holds masked secrets (********); send the secrets themselves",
                )
                .with_errors(
                    masked
                        .into_iter()
                        .map(|path| FieldError {
                            location: format!("definition.{path}"),
                            message: "a masked value is not a secret: send the secret itself (a GET with an administrator's token shows it)".to_owned(),
                        })
                        .collect(),
                ));
            }
        }
        let (candidate, subject) = self.candidate(change)?;
        let text = candidate.to_string();
        match config::load_str(&text, "candidate") {
            Ok(_) => Ok(()),
            Err(err) => Err(refusal(change.kind, &err, subject.as_deref())),
        }
    }

    /// The candidate configuration tree and the location prefix of the changed entry in it.
    fn candidate(&self, change: &Change<'_>) -> Result<(Value, Option<String>), ServiceError> {
        let mut root = Map::new();
        if !self.gateway_section.is_null() {
            root.insert("gateway".to_owned(), self.gateway_section.clone());
        }
        let mut subject = None;
        // Three reads, not one snapshot: the ones that refer to others are read first
        // (subscriptions name applications and APIs), so that whatever a concurrent request
        // creates between the reads is only ever an entry nobody refers to yet. Read the other
        // way round, a subscription created together with its application between the reads
        // named an application the candidate lacked: a 400 for a valid request.
        let subscriptions = self.store.list(Kind::Subscription)?;
        let applications = self.store.list(Kind::Application)?;
        let apis = self.store.list(Kind::Api)?;
        for (kind, section, docs) in [
            (Kind::Api, "apis", apis),
            (Kind::Application, "applications", applications),
            (Kind::Subscription, "subscriptions", subscriptions),
        ] {
            let mut entries = Vec::new();
            let mut placed = false;
            for doc in docs {
                if kind == change.kind && doc.id == change.id {
                    placed = true;
                    if let Some(body) = change.body {
                        subject = Some(format!("{section}[{}]", entries.len()));
                        entries.push(entry(kind, body));
                    }
                } else {
                    entries.push(entry(kind, &doc.body));
                }
            }
            if kind == change.kind && !placed {
                if let Some(body) = change.body {
                    subject = Some(format!("{section}[{}]", entries.len()));
                    entries.push(entry(kind, body));
                }
            }
            root.insert(section.to_owned(), Value::Array(entries));
        }
        Ok((Value::Object(root), subject))
    }
}

/// The configuration entry a document stands for: an API's definition, or the body itself.
fn entry(kind: Kind, body: &Value) -> Value {
    match kind {
        Kind::Api => body.get("definition").cloned().unwrap_or(Value::Null),
        Kind::Application | Kind::Subscription => body.clone(),
    }
}

/// 400 with every problem; those of the changed entry located in the request body.
fn refusal(kind: Kind, err: &ConfigError, subject: Option<&str>) -> ServiceError {
    let errors: Vec<FieldError> = err
        .problems
        .iter()
        .map(|problem| FieldError {
            location: relocate(kind, &problem.location, subject),
            message: problem.message.clone(),
        })
        .collect();
    let what = match kind {
        Kind::Api => "definition",
        Kind::Application => "application",
        Kind::Subscription => "subscription",
    };
    ServiceError::invalid(
        "definition.invalid",
        format!(
            "the {what} has {} problem(s), listed in `errors` with their location (the same list as `tidegate check`); fix them and send it again",
            errors.len()
        ),
    )
    .with_errors(errors)
}

/// `apis[2].entrypoints[0].type` → `definition.entrypoints[0].type` when `apis[2]` is the
/// subject; an application or subscription body is the entry itself (`applications[0].name` →
/// `name`). Other locations (another API that now conflicts) are kept as `check` prints them.
pub(super) fn relocate(kind: Kind, location: &str, subject: Option<&str>) -> String {
    let Some(rest) = subject.and_then(|prefix| strip_entry(location, prefix)) else {
        return location.to_owned();
    };
    match kind {
        Kind::Api if rest.is_empty() => "definition".to_owned(),
        Kind::Api if rest.starts_with('[') => format!("definition{rest}"),
        Kind::Api => format!("definition.{rest}"),
        Kind::Application | Kind::Subscription if rest.is_empty() => "(body)".to_owned(),
        Kind::Application | Kind::Subscription => rest.to_owned(),
    }
}

/// What follows `prefix` in `location` when `location` is inside that entry (`apis[2]` is not a
/// prefix of `apis[20]`).
fn strip_entry<'a>(location: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = location.strip_prefix(prefix)?;
    if rest.is_empty() {
        Some("")
    } else if let Some(tail) = rest.strip_prefix('.') {
        Some(tail)
    } else if rest.starts_with('[') {
        Some(rest)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_of_the_subject_move_into_the_body() {
        let subject = Some("apis[2]");
        assert_eq!(
            relocate(Kind::Api, "apis[2].entrypoints[0].type", subject),
            "definition.entrypoints[0].type"
        );
        assert_eq!(relocate(Kind::Api, "apis[2]", subject), "definition");
        assert_eq!(relocate(Kind::Api, "apis[20].id", subject), "apis[20].id");
        assert_eq!(
            relocate(
                Kind::Application,
                "applications[0].name",
                Some("applications[0]")
            ),
            "name"
        );
    }
}
