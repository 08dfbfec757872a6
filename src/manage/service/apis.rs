//! APIs: create and save (stored, not on the gateway), read, delete, and the lifecycle actions
//! of the console's Danger Zone (publish, unpublish, deprecate, archive, visibility).

use serde_json::Value;

use super::api_body::{plan_id, plan_status, ApiBody, LifecycleState, RuntimeState, Visibility};
use super::validate::Change;
use super::{check_expected, views, Actor, Expected, Service, ServiceError};
use crate::manage::store::{Document, Kind};

/// A lifecycle or visibility action (`POST /apis/{id}/_publish` …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiAction {
    /// `_publish`: into the portal; from `created` or `unpublished`.
    Publish,
    /// `_unpublish`: out of the portal; from `published`.
    Unpublish,
    /// `_deprecate`: no new subscriptions from now on; from any state but `deprecated`.
    Deprecate,
    /// `_archive`: read or delete only from now on; the API must be stopped.
    Archive,
    /// `_make-public`: the portal may list it.
    MakePublic,
    /// `_make-private`: the portal never lists it.
    MakePrivate,
}

/// What a create or update sends: the definition and, optionally, the visibility.
pub struct ApiInput {
    /// One `apis[]` entry of the configuration file, in JSON, plans included; its `id` names the
    /// API (and must match the path's on update).
    pub definition: Value,
    /// The new visibility; `None` keeps the current one (private for a new API).
    pub visibility: Option<Visibility>,
}

impl Service {
    /// Every API's view.
    pub fn list_apis(&self) -> Result<Vec<Value>, ServiceError> {
        let mut views = Vec::new();
        for doc in self.store.list(Kind::Api)? {
            views.push(self.api_view(&doc)?);
        }
        Ok(views)
    }

    /// One API's view and its version (the ETag).
    pub fn get_api(&self, id: &str) -> Result<(Value, u64), ServiceError> {
        let doc = self.document(Kind::Api, id)?;
        Ok((self.api_view(&doc)?, doc.version))
    }

    /// Saves a new API: stored, lifecycle `created`, stopped, never deployed (404 on the gateway).
    pub fn create_api(&self, input: ApiInput, actor: &Actor) -> Result<(Value, u64), ServiceError> {
        let Some(id) = input.definition.get("id").and_then(Value::as_str) else {
            return Err(ServiceError::invalid(
                "definition.invalid",
                "the definition needs an `id` (letters, digits, '.', '_' and '-'), as in the configuration file",
            ));
        };
        let id = id.to_owned();
        if self.store.get(Kind::Api, &id)?.is_some() {
            return Err(ServiceError::conflict(
                "api.exists",
                format!("an API with id '{id}' exists; choose another id, or PUT to change it"),
            ));
        }
        let body = ApiBody {
            definition: input.definition,
            lifecycle_state: LifecycleState::Created,
            visibility: input.visibility.unwrap_or(Visibility::Private),
            state: RuntimeState::Stopped,
            deployed_revision: None,
        };
        let value = body.to_value();
        self.validate(&Change {
            kind: Kind::Api,
            id: &id,
            body: Some(&value),
        })?;
        let doc = self.write(Kind::Api, &id, None, &value, actor, "api.create")?;
        Ok((self.api_view(&doc)?, doc.version))
    }

    /// Saves a new definition (the gateway keeps the deployed revision until the next deploy).
    pub fn update_api(
        &self,
        id: &str,
        input: ApiInput,
        expected: Expected,
        actor: &Actor,
    ) -> Result<(Value, u64), ServiceError> {
        let doc = self.document(Kind::Api, id)?;
        check_expected(expected, doc.version)?;
        let mut body = ApiBody::from_value(&doc.body)?;
        refuse_archived(&body, id)?;
        match input.definition.get("id").and_then(Value::as_str) {
            Some(given) if given == id => {}
            _ => {
                return Err(ServiceError::invalid(
                    "definition.id_mismatch",
                    format!("the definition's `id` must be '{id}', the API's id in the path (an id cannot change)"),
                ))
            }
        }
        body.definition = input.definition;
        if let Some(visibility) = input.visibility {
            body.visibility = visibility;
        }
        self.save_api(&doc, &body, actor, "api.update")
    }

    /// Deletes a stopped API whose plans are all closed, with its subscriptions.
    pub fn delete_api(
        &self,
        id: &str,
        expected: Expected,
        actor: &Actor,
    ) -> Result<(), ServiceError> {
        let doc = self.document(Kind::Api, id)?;
        check_expected(expected, doc.version)?;
        let body = ApiBody::from_value(&doc.body)?;
        if body.state == RuntimeState::Started {
            return Err(ServiceError::conflict(
                "api.started",
                format!("API '{id}' is started; stop it first (POST …/apis/{id}/_stop), then close its plans"),
            ));
        }
        let open: Vec<&str> = body
            .plans()
            .iter()
            .filter(|plan| plan_status(plan) != "closed")
            .filter_map(plan_id)
            .collect();
        if !open.is_empty() {
            return Err(ServiceError::conflict(
                "api.plans_open",
                format!("API '{id}' has plans that are not closed ({}); close each (POST …/plans/{{planId}}/_close) first", open.join(", ")),
            ));
        }
        for subscription in self.store.list(Kind::Subscription)? {
            if subscription.body.get("api").and_then(Value::as_str) == Some(id) {
                self.remove(&subscription, actor, "subscription.delete")?;
            }
        }
        self.remove(&doc, actor, "api.delete")
    }

    /// A lifecycle or visibility action; 409 when the API's state does not allow it.
    pub fn api_action(
        &self,
        id: &str,
        action: ApiAction,
        actor: &Actor,
    ) -> Result<(), ServiceError> {
        let doc = self.document(Kind::Api, id)?;
        let mut body = ApiBody::from_value(&doc.body)?;
        refuse_archived(&body, id)?;
        use LifecycleState as L;
        let (allowed, name) = match action {
            ApiAction::Publish => (
                matches!(body.lifecycle_state, L::Created | L::Unpublished),
                "publish",
            ),
            ApiAction::Unpublish => (body.lifecycle_state == L::Published, "unpublish"),
            ApiAction::Deprecate => (body.lifecycle_state != L::Deprecated, "deprecate"),
            ApiAction::Archive => (body.state == RuntimeState::Stopped, "archive"),
            ApiAction::MakePublic | ApiAction::MakePrivate => (true, "visibility"),
        };
        if !allowed {
            let state = serde_json::to_value(body.lifecycle_state).unwrap_or(Value::Null);
            let message = match action {
                ApiAction::Archive => format!("API '{id}' is started; stop it before archiving it"),
                _ => format!("API '{id}' is {state}: it cannot {name} from that state (created/unpublished → published → unpublished; deprecated is final)"),
            };
            return Err(ServiceError::conflict("api.lifecycle", message));
        }
        match action {
            ApiAction::Publish => body.lifecycle_state = L::Published,
            ApiAction::Unpublish => body.lifecycle_state = L::Unpublished,
            ApiAction::Deprecate => body.lifecycle_state = L::Deprecated,
            ApiAction::Archive => body.lifecycle_state = L::Archived,
            ApiAction::MakePublic => body.visibility = Visibility::Public,
            ApiAction::MakePrivate => body.visibility = Visibility::Private,
        }
        let audit_action = match action {
            ApiAction::Publish => "api.publish",
            ApiAction::Unpublish => "api.unpublish",
            ApiAction::Deprecate => "api.deprecate",
            ApiAction::Archive => "api.archive",
            ApiAction::MakePublic => "api.make_public",
            ApiAction::MakePrivate => "api.make_private",
        };
        self.write(
            Kind::Api,
            id,
            Some(&doc),
            &body.to_value(),
            actor,
            audit_action,
        )?;
        Ok(())
    }

    /// Validates and writes `body` over `doc`.
    pub(super) fn save_api(
        &self,
        doc: &Document,
        body: &ApiBody,
        actor: &Actor,
        action: &str,
    ) -> Result<(Value, u64), ServiceError> {
        let value = body.to_value();
        self.validate(&Change {
            kind: Kind::Api,
            id: &doc.id,
            body: Some(&value),
        })?;
        let doc = self.write(Kind::Api, &doc.id, Some(doc), &value, actor, action)?;
        Ok((self.api_view(&doc)?, doc.version))
    }

    /// The API view of a stored document.
    pub(super) fn api_view(&self, doc: &Document) -> Result<Value, ServiceError> {
        let body = ApiBody::from_value(&doc.body)?;
        let deployed = match body.deployed_revision {
            Some(number) => self.store.revision(&doc.id, number)?.map(|r| r.definition),
            None => None,
        };
        Ok(views::api_view(
            doc,
            &body,
            deployed.as_ref(),
            (self.stats)(&doc.id),
        ))
    }
}

/// An archived API is kept for the record only.
pub(super) fn refuse_archived(body: &ApiBody, id: &str) -> Result<(), ServiceError> {
    if body.lifecycle_state == LifecycleState::Archived {
        return Err(ServiceError::conflict(
            "api.archived",
            format!("API '{id}' is archived: it can only be read or deleted"),
        ));
    }
    Ok(())
}
