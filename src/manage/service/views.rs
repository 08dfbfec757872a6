//! What the management API shows of a stored document: the API view (with its deployment state
//! and this node's numbers), revisions and audit events, as JSON.

use std::sync::Arc;
use std::time::SystemTime;

use serde_json::{json, Value};

use super::api_body::ApiBody;
use crate::manage::store::{AuditEvent, Document, Revision};
use crate::observe::access_line::rfc3339_millis;
use crate::observe::api_metrics::{api_totals, ApiMetrics};

/// This node's numbers for one API, summed over its shards.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiStats {
    /// SSE and WebSocket streams open now (`stats.openStreams`).
    pub open_streams: u64,
    /// Messages clients published to the API since the node started (`stats.messagesIn`).
    pub messages_in: u64,
    /// Messages delivered to the API's clients since the node started (`stats.messagesOut`).
    pub messages_out: u64,
    /// Requests answered, every status class, since the node started (`stats.requests`).
    pub requests: u64,
}

/// This node's numbers, read from every shard's per-API metrics (`Gateway::api_metrics`).
pub fn stats_from(shards: Vec<Arc<ApiMetrics>>) -> Box<super::StatsSource> {
    Box::new(move |id: &str| {
        let totals = api_totals(&shards, id).unwrap_or_default();
        ApiStats {
            open_streams: totals.open_streams,
            messages_in: totals.messages_in,
            messages_out: totals.messages_out,
            requests: totals.requests,
        }
    })
}

/// `2026-12-06T07:24:23.123Z`.
pub(super) fn time(at: SystemTime) -> String {
    rfc3339_millis(at)
}

/// The ApiView of the contract. `deployed` is the deployed revision's definition, when any.
pub(super) fn api_view(
    doc: &Document,
    body: &ApiBody,
    deployed: Option<&Value>,
    stats: ApiStats,
) -> Value {
    let deployment_state = match deployed {
        None => "not_deployed",
        Some(definition) if *definition == body.definition => "deployed",
        Some(_) => "need_redeploy",
    };
    json!({
        "id": doc.id,
        "name": body.definition.get("name").cloned().unwrap_or(Value::Null),
        "definition": body.definition,
        "lifecycleState": body.lifecycle_state,
        "visibility": body.visibility,
        "state": body.state,
        "deployedRevision": body.deployed_revision,
        "deploymentState": deployment_state,
        "version": doc.version,
        "updatedAt": time(doc.updated_at),
        "stats": {
            "openStreams": stats.open_streams,
            "messagesIn": stats.messages_in,
            "messagesOut": stats.messages_out,
            "requests": stats.requests,
        },
    })
}

/// One line of `GET …/deployments`.
pub(super) fn revision_line(revision: &Revision, deployed: Option<u64>) -> Value {
    json!({
        "revision": revision.number,
        "createdAt": time(revision.created_at),
        "author": revision.author,
        "comment": revision.comment,
        "deployed": deployed == Some(revision.number),
    })
}

/// One audit event, its bodies' secrets masked.
pub(super) fn audit_event(event: &AuditEvent) -> Value {
    let mut bodies = json!({ "before": event.before, "after": event.after });
    super::redact::redact_secrets(&mut bodies);
    json!({
        "at": time(event.at),
        "actor": event.actor,
        "action": event.action,
        "target": event.target,
        "before": bodies["before"],
        "after": bodies["after"],
    })
}
