//! Handlers of `/tokens…`: the management tokens (`service/tokens.rs` has the rules).

use super::call::{data, Call};
use crate::admin::Reply;
use crate::manage::service::{ServiceError, TokenSources};

type Answer = Result<Reply, ServiceError>;

fn sources<'a>(call: &'a Call<'_>) -> TokenSources<'a> {
    TokenSources {
        fixed: call.tokens.fixed().collect(),
    }
}

pub(super) fn list(call: &Call<'_>) -> Answer {
    Ok(data(call.service.list_tokens(&sources(call))?))
}

/// 201 with the clear token, which no later call shows again.
pub(super) fn create(call: &Call<'_>) -> Answer {
    let body = call.json(false)?;
    let created = call
        .service
        .create_token(&body, &sources(call), &call.actor)?;
    Ok(Reply::json(201, &created))
}

/// `?force=true` revokes even the token no other outlasts.
pub(super) fn revoke(call: &Call<'_>) -> Answer {
    let force = match call.request.head.query_param("force").as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            return Err(ServiceError::invalid(
                "query.force",
                "`force` is true or false",
            ))
        }
    };
    call.service
        .revoke_token(call.param("tokenName"), force, &sources(call), &call.actor)?;
    Ok(Reply::no_content())
}
