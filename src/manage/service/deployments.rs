//! Deployments: numbered revisions of a definition. The gateway runs the deployed revision, not
//! the last saved definition; a rollback deploys an earlier revision's definition again (as a new
//! revision, so the history only grows). Start and stop need a deployment.

use serde_json::Value;

use super::api_body::{ApiBody, RuntimeState};
use super::apis::refuse_archived;
use super::validate::Change;
use super::{audit_event, views, Actor, ErrorKind, Service, ServiceError};
use crate::manage::store::Kind;

impl Service {
    /// Deploys the saved definition as a new revision; the first deployment also starts the API
    /// (as the console's "Save & Deploy"). Returns the revision number.
    pub fn deploy(
        &self,
        id: &str,
        comment: Option<&str>,
        actor: &Actor,
    ) -> Result<u64, ServiceError> {
        let doc = self.document(Kind::Api, id)?;
        let body = ApiBody::from_value(&doc.body)?;
        refuse_archived(&body, id)?;
        self.deploy_definition(
            id,
            body,
            body_definition(&doc.body),
            comment,
            actor,
            "api.deploy",
        )
    }

    /// Deploys revision `number`'s definition again (it becomes the saved definition too).
    pub fn rollback(&self, id: &str, number: u64, actor: &Actor) -> Result<u64, ServiceError> {
        let doc = self.document(Kind::Api, id)?;
        let body = ApiBody::from_value(&doc.body)?;
        refuse_archived(&body, id)?;
        let revision = self
            .store
            .revision(id, number)?
            .ok_or_else(|| no_revision(id, number))?;
        let comment = format!("rollback to revision {number}");
        self.deploy_definition(
            id,
            body,
            revision.definition,
            Some(&comment),
            actor,
            "api.rollback",
        )
    }

    fn deploy_definition(
        &self,
        id: &str,
        mut body: ApiBody,
        definition: Value,
        comment: Option<&str>,
        actor: &Actor,
        action: &str,
    ) -> Result<u64, ServiceError> {
        let doc = self.document(Kind::Api, id)?;
        body.definition = definition;
        if body.deployed_revision.is_none() {
            body.state = RuntimeState::Started;
        }
        let value = body.to_value();
        // Other documents may have changed since the definition was saved: check it again.
        self.validate(&Change {
            kind: Kind::Api,
            id,
            body: Some(&value),
        })?;
        let audit = audit_event(
            actor,
            action,
            Kind::Api,
            id,
            Some(doc.body.clone()),
            Some(value.clone()),
        );
        // The revision and the document that points at it, in one transaction.
        let (revision, _) = self
            .store
            .deploy(id, &value, doc.version, comment, &audit)
            .map_err(|err| ServiceError::from_write(err, Kind::Api, id))?;
        Ok(revision.number)
    }

    /// Every revision of the API, oldest first, saying which one is deployed.
    pub fn deployments(&self, id: &str) -> Result<Vec<Value>, ServiceError> {
        let doc = self.document(Kind::Api, id)?;
        let body = ApiBody::from_value(&doc.body)?;
        let revisions = self.store.revisions(id)?;
        Ok(revisions
            .iter()
            .map(|revision| views::revision_line(revision, body.deployed_revision))
            .collect())
    }

    /// Revision `number`'s definition.
    pub fn deployment(&self, id: &str, number: u64) -> Result<Value, ServiceError> {
        self.document(Kind::Api, id)?;
        let revision = self
            .store
            .revision(id, number)?
            .ok_or_else(|| no_revision(id, number))?;
        let mut line = views::revision_line(&revision, None);
        line["definition"] = revision.definition;
        if let Some(object) = line.as_object_mut() {
            object.remove("deployed");
        }
        Ok(line)
    }

    /// `_start` / `_stop`: 409 when never deployed or already in that state.
    pub fn set_runtime_state(
        &self,
        id: &str,
        wanted: RuntimeState,
        actor: &Actor,
    ) -> Result<(), ServiceError> {
        let doc = self.document(Kind::Api, id)?;
        let mut body = ApiBody::from_value(&doc.body)?;
        refuse_archived(&body, id)?;
        if body.deployed_revision.is_none() {
            return Err(ServiceError::conflict(
                "api.not_deployed",
                format!(
                    "API '{id}' was never deployed; deploy it first (POST …/apis/{id}/deployments)"
                ),
            ));
        }
        if body.state == wanted {
            let (code, word) = match wanted {
                RuntimeState::Started => ("api.already_started", "started"),
                RuntimeState::Stopped => ("api.already_stopped", "stopped"),
            };
            return Err(ServiceError::conflict(
                code,
                format!("API '{id}' is already {word}"),
            ));
        }
        body.state = wanted;
        let action = match wanted {
            RuntimeState::Started => "api.start",
            RuntimeState::Stopped => "api.stop",
        };
        self.write(Kind::Api, id, Some(&doc), &body.to_value(), actor, action)?;
        Ok(())
    }
}

fn body_definition(body: &Value) -> Value {
    body.get("definition").cloned().unwrap_or(Value::Null)
}

fn no_revision(id: &str, number: u64) -> ServiceError {
    ServiceError::new(
        ErrorKind::NotFound,
        "deployment.not_found",
        format!("API '{id}' has no revision {number}; GET …/apis/{id}/deployments lists them"),
    )
}
