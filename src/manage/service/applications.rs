//! Applications: one `applications[]` entry of the YAML file per document, validated with the
//! rest of the store. Take effect at once (the follower applies them without a deployment).

use serde_json::Value;

use super::validate::Change;
use super::{audit_event, check_expected, Actor, Expected, Service, ServiceError};
use crate::manage::store::{Bound, Kind, StoreError};

impl Service {
    /// Every application.
    pub fn list_applications(&self) -> Result<Vec<Value>, ServiceError> {
        Ok(self
            .store
            .list(Kind::Application)?
            .into_iter()
            .map(|doc| doc.body)
            .collect())
    }

    /// One application and its version.
    pub fn get_application(&self, id: &str) -> Result<(Value, u64), ServiceError> {
        let doc = self.document(Kind::Application, id)?;
        Ok((doc.body, doc.version))
    }

    /// Creates an application (`id`, `name`, optional `clientId`, `certificate`).
    pub fn create_application(
        &self,
        body: Value,
        actor: &Actor,
    ) -> Result<(Value, u64), ServiceError> {
        self.create_application_within(body, actor, None)
    }

    /// As `create_application`; with a `bound`, refused (409 `applications.full`) once that many
    /// applications with its id prefix exist, counted in the store transaction that inserts,
    /// so concurrent requests cannot all pass the cap (the developer portal's applications).
    pub fn create_application_within(
        &self,
        body: Value,
        actor: &Actor,
        bound: Option<Bound<'_>>,
    ) -> Result<(Value, u64), ServiceError> {
        let Some(id) = body.get("id").and_then(Value::as_str).map(str::to_owned) else {
            return Err(ServiceError::invalid(
                "application.invalid",
                "an application needs an `id` (letters, digits, '.', '_' and '-') and a `name`",
            ));
        };
        if self.store.get(Kind::Application, &id)?.is_some() {
            return Err(ServiceError::conflict(
                "application.exists",
                format!(
                    "an application with id '{id}' exists; choose another id, or PUT to change it"
                ),
            ));
        }
        self.validate(&Change {
            kind: Kind::Application,
            id: &id,
            body: Some(&body),
        })?;
        let doc = match bound {
            None => self.write(
                Kind::Application,
                &id,
                None,
                &body,
                actor,
                "application.create",
            )?,
            Some(bound) => {
                let audit = audit_event(
                    actor,
                    "application.create",
                    Kind::Application,
                    &id,
                    None,
                    Some(body.clone()),
                );
                self.store
                    .create_bounded(Kind::Application, &id, &body, bound, &audit)
                    .map_err(|err| match err {
                        StoreError::Full { count } => ServiceError::conflict(
                            "applications.full",
                            format!("{count} such applications exist, the most allowed; ask an administrator for access"),
                        ),
                        other => ServiceError::from_write(other, Kind::Application, &id),
                    })?
            }
        };
        Ok((doc.body, doc.version))
    }

    /// Replaces an application.
    pub fn update_application(
        &self,
        id: &str,
        body: Value,
        expected: Expected,
        actor: &Actor,
    ) -> Result<(Value, u64), ServiceError> {
        let doc = self.document(Kind::Application, id)?;
        check_expected(expected, doc.version)?;
        if body.get("id").and_then(Value::as_str) != Some(id) {
            return Err(ServiceError::invalid(
                "application.id_mismatch",
                format!("the application's `id` must be '{id}', the id in the path"),
            ));
        }
        self.validate(&Change {
            kind: Kind::Application,
            id,
            body: Some(&body),
        })?;
        let doc = self.write(
            Kind::Application,
            id,
            Some(&doc),
            &body,
            actor,
            "application.update",
        )?;
        Ok((doc.body, doc.version))
    }

    /// Deletes an application whose subscriptions are all closed (they go with it).
    pub fn delete_application(
        &self,
        id: &str,
        expected: Expected,
        actor: &Actor,
    ) -> Result<(), ServiceError> {
        let doc = self.document(Kind::Application, id)?;
        check_expected(expected, doc.version)?;
        let subscriptions: Vec<_> = self
            .store
            .list(Kind::Subscription)?
            .into_iter()
            .filter(|sub| sub.body.get("application").and_then(Value::as_str) == Some(id))
            .collect();
        let open = subscriptions.iter().any(|sub| {
            !matches!(
                sub.body.get("status").and_then(Value::as_str),
                Some("closed" | "rejected")
            )
        });
        if open {
            return Err(ServiceError::conflict(
                "application.subscribed",
                format!(
                    "application '{id}' has subscriptions that are not closed; close them first"
                ),
            ));
        }
        for sub in &subscriptions {
            self.remove(sub, actor, "subscription.delete")?;
        }
        self.remove(&doc, actor, "application.delete")
    }
}
