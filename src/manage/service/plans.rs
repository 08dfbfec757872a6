//! Plans, inside the API definition (`definition.plans[]`, as in the YAML file). A plan change is
//! saved with the definition and reaches the gateway with the next deployment, except its status
//! (publish, deprecate, close), which is applied to the deployed revision too (as a new revision
//! with only that change), so closing a plan takes effect without redeploying the rest.

use serde_json::Value;

use super::api_body::{plan_id, plan_status, ApiBody};
use super::apis::refuse_archived;
use super::{Actor, ErrorKind, Service, ServiceError};
use crate::manage::store::Kind;

/// A plan status action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanAction {
    /// `_publish`: `staging` → `published`, open to new subscriptions.
    Publish,
    /// `_deprecate`: `published` → `deprecated`; no new subscriptions, existing ones keep
    /// working.
    Deprecate,
    /// `_close`: any status → `closed`, taking no new subscriptions (every plan must be closed
    /// before its API is deleted).
    Close,
}

impl Service {
    /// The API's plans (from the saved definition).
    pub fn list_plans(&self, api: &str) -> Result<Vec<Value>, ServiceError> {
        let doc = self.document(Kind::Api, api)?;
        Ok(ApiBody::from_value(&doc.body)?.plans().to_vec())
    }

    /// One plan.
    pub fn get_plan(&self, api: &str, plan: &str) -> Result<Value, ServiceError> {
        self.list_plans(api)?
            .into_iter()
            .find(|candidate| plan_id(candidate) == Some(plan))
            .ok_or_else(|| no_plan(api, plan))
    }

    /// Adds a plan to the saved definition (validated; deploy to serve it).
    pub fn create_plan(
        &self,
        api: &str,
        plan: Value,
        actor: &Actor,
    ) -> Result<Value, ServiceError> {
        let doc = self.document(Kind::Api, api)?;
        let mut body = ApiBody::from_value(&doc.body)?;
        refuse_archived(&body, api)?;
        let Some(id) = plan_id(&plan).map(str::to_owned) else {
            return Err(ServiceError::invalid(
                "plan.invalid",
                "a plan needs a `name` (and optionally an `id`; without it the name is the id)",
            ));
        };
        if body
            .plans()
            .iter()
            .any(|existing| plan_id(existing) == Some(&id))
        {
            return Err(ServiceError::conflict(
                "plan.exists",
                format!("API '{api}' has a plan '{id}'; choose another id, or PUT to change it"),
            ));
        }
        plans_mut(&mut body.definition).push(plan.clone());
        self.save_api(&doc, &body, actor, "plan.create")?;
        Ok(plan)
    }

    /// Replaces a plan in the saved definition (validated; deploy to serve it).
    pub fn update_plan(
        &self,
        api: &str,
        plan: &str,
        new: Value,
        actor: &Actor,
    ) -> Result<Value, ServiceError> {
        let doc = self.document(Kind::Api, api)?;
        let mut body = ApiBody::from_value(&doc.body)?;
        refuse_archived(&body, api)?;
        if plan_id(&new) != Some(plan) {
            return Err(ServiceError::invalid("plan.id_mismatch", format!("the plan's `id` (or, without one, its name) must be '{plan}', the id in the path")));
        }
        let slot = plans_mut(&mut body.definition)
            .iter_mut()
            .find(|existing| plan_id(existing) == Some(plan))
            .ok_or_else(|| no_plan(api, plan))?;
        *slot = new.clone();
        self.save_api(&doc, &body, actor, "plan.update")?;
        Ok(new)
    }

    /// Removes a closed (or never published, `staging`) plan from the saved definition.
    pub fn delete_plan(&self, api: &str, plan: &str, actor: &Actor) -> Result<(), ServiceError> {
        let doc = self.document(Kind::Api, api)?;
        let mut body = ApiBody::from_value(&doc.body)?;
        let current = self.get_plan(api, plan)?;
        if !matches!(plan_status(&current), "closed" | "staging") {
            return Err(ServiceError::conflict(
                "plan.not_closed",
                format!(
                    "plan '{plan}' is {}; close it first (POST …/plans/{plan}/_close)",
                    plan_status(&current)
                ),
            ));
        }
        plans_mut(&mut body.definition).retain(|existing| plan_id(existing) != Some(plan));
        self.save_api(&doc, &body, actor, "plan.delete")?;
        Ok(())
    }

    /// Publish (from staging), deprecate (from published) or close (from anything but closed):
    /// in the saved definition and, when deployed with this plan, on the gateway at once.
    pub fn plan_action(
        &self,
        api: &str,
        plan: &str,
        action: PlanAction,
        actor: &Actor,
    ) -> Result<(), ServiceError> {
        let doc = self.document(Kind::Api, api)?;
        let mut body = ApiBody::from_value(&doc.body)?;
        refuse_archived(&body, api)?;
        let status = plan_status(&self.get_plan(api, plan)?).to_owned();
        let (allowed, new_status) = match action {
            PlanAction::Publish => (status == "staging", "published"),
            PlanAction::Deprecate => (status == "published", "deprecated"),
            PlanAction::Close => (status != "closed", "closed"),
        };
        if !allowed {
            return Err(ServiceError::conflict("plan.status", format!("plan '{plan}' is {status}: it cannot become {new_status} (staging → published → deprecated → closed)")));
        }
        set_status(&mut body.definition, plan, new_status);
        if let Some(number) = body.deployed_revision {
            if let Some(revision) = self.store.revision(api, number)? {
                let mut deployed = revision.definition;
                if set_status(&mut deployed, plan, new_status) {
                    let comment = format!("plan {plan} {new_status}");
                    let revision =
                        self.store
                            .add_revision(api, &deployed, &actor.0, Some(&comment))?;
                    body.deployed_revision = Some(revision.number);
                }
            }
        }
        let action_name = match action {
            PlanAction::Publish => "plan.publish",
            PlanAction::Deprecate => "plan.deprecate",
            PlanAction::Close => "plan.close",
        };
        self.write(
            Kind::Api,
            api,
            Some(&doc),
            &body.to_value(),
            actor,
            action_name,
        )?;
        Ok(())
    }
}

/// `definition.plans`, created empty when absent.
fn plans_mut(definition: &mut Value) -> &mut Vec<Value> {
    if !definition.get("plans").is_some_and(Value::is_array) {
        definition["plans"] = Value::Array(Vec::new());
    }
    match definition.get_mut("plans") {
        Some(Value::Array(plans)) => plans,
        _ => unreachable!("plans was just made an array"),
    }
}

/// Sets plan `plan`'s status in `definition`; false when it has no such plan.
fn set_status(definition: &mut Value, plan: &str, status: &str) -> bool {
    let Some(Value::Array(plans)) = definition.get_mut("plans") else {
        return false;
    };
    match plans
        .iter_mut()
        .find(|candidate| plan_id(candidate) == Some(plan))
    {
        Some(found) => {
            found["status"] = Value::String(status.to_owned());
            true
        }
        None => false,
    }
}

pub(super) fn no_plan(api: &str, plan: &str) -> ServiceError {
    ServiceError::new(
        ErrorKind::NotFound,
        "plan.not_found",
        format!("API '{api}' has no plan '{plan}'"),
    )
}
