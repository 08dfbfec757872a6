//! Handlers of `/apis/{apiId}/plans/…`.

use super::call::{data, Call};
use crate::admin::Reply;
use crate::manage::service::{PlanAction, ServiceError};

type Answer = Result<Reply, ServiceError>;

pub(super) fn list(call: &Call<'_>) -> Answer {
    Ok(data(call.service.list_plans(call.param("apiId"))?))
}

pub(super) fn get(call: &Call<'_>) -> Answer {
    let plan = call
        .service
        .get_plan(call.param("apiId"), call.param("planId"))?;
    Ok(Reply::json(200, &plan))
}

pub(super) fn create(call: &Call<'_>) -> Answer {
    let plan = call
        .service
        .create_plan(call.param("apiId"), call.json(false)?, &call.actor)?;
    Ok(Reply::json(201, &plan))
}

pub(super) fn update(call: &Call<'_>) -> Answer {
    let plan = call.service.update_plan(
        call.param("apiId"),
        call.param("planId"),
        call.json(false)?,
        &call.actor,
    )?;
    Ok(Reply::json(200, &plan))
}

pub(super) fn delete(call: &Call<'_>) -> Answer {
    call.service
        .delete_plan(call.param("apiId"), call.param("planId"), &call.actor)?;
    Ok(Reply::no_content())
}

pub(super) fn publish(call: &Call<'_>) -> Answer {
    action(call, PlanAction::Publish)
}

pub(super) fn deprecate(call: &Call<'_>) -> Answer {
    action(call, PlanAction::Deprecate)
}

pub(super) fn close(call: &Call<'_>) -> Answer {
    action(call, PlanAction::Close)
}

fn action(call: &Call<'_>, action: PlanAction) -> Answer {
    call.service.plan_action(
        call.param("apiId"),
        call.param("planId"),
        action,
        &call.actor,
    )?;
    Ok(Reply::no_content())
}
