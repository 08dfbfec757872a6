//! `type: echo` endpoint: each WebSocket connection gets back exactly what it sent, and nothing
//! another connection sent (the conformance route, `config/echo.yaml`). It has no settings, and
//! it serves one entrypoint shape only: a websocket that both publishes and subscribes. Any other
//! entrypoint would have nothing to send to or receive from, so it is refused here, once.

use serde::Deserialize;

use super::model::EntrypointConfig;
use super::problem::Problems;

/// `type: echo` endpoint configuration: none (an empty or absent `configuration`).
#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "an empty mapping: the echo endpoint has no settings"
)]
pub(crate) struct RawEcho {}

/// Reports each entrypoint of the API at `loc` that an echo endpoint cannot serve.
pub(crate) fn entrypoint_problems(entrypoints: &[EntrypointConfig], loc: &str, p: &mut Problems) {
    for (index, entrypoint) in entrypoints.iter().enumerate() {
        let problem = match entrypoint {
            EntrypointConfig::WebSocket(ws) if ws.publisher_enabled && ws.subscriber_enabled => {
                continue
            }
            EntrypointConfig::WebSocket(_) => {
                "the echo endpoint sends a websocket client back what it publishes: keep both `publisher.enabled` and `subscriber.enabled` true".to_owned()
            }
            other => format!(
                "the echo endpoint serves websocket clients only (each gets back what it sent); remove the {} entrypoint",
                other.type_name()
            ),
        };
        p.push(format!("{loc}.entrypoints[{index}]"), problem);
    }
}
