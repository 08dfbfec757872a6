//! The rule shared by the broker endpoints (mqtt5, kafka): every entrypoint needs the side of the
//! endpoint it uses. A receiving entrypoint (http-get, sse, a websocket with `subscriber`
//! enabled) needs an enabled consumer, or it answers 503; a sending one (http-post, a websocket
//! with `publisher` enabled) needs an enabled producer, or its messages are refused (405, or
//! WebSocket close 1008). The Mock endpoint takes no messages at all: its rule is
//! `mock_problems`.

use super::model::EntrypointConfig;
use super::problem::Problems;

/// Which sides a broker endpoint has enabled, and what to write to enable each.
pub(crate) struct EndpointSides {
    /// The endpoint's YAML `type`, e.g. `kafka`.
    pub(crate) kind: &'static str,
    /// An enabled consumer is configured.
    pub(crate) consumer: bool,
    /// An enabled producer is configured.
    pub(crate) producer: bool,
    /// How to enable the consumer, e.g. "set `consumer.enabled: true` with `topics`".
    pub(crate) enable_consumer: &'static str,
    /// How to enable the producer.
    pub(crate) enable_producer: &'static str,
}

/// Reports each entrypoint of the API at `loc` that uses a side `sides` lacks.
pub(crate) fn entrypoint_problems(
    entrypoints: &[EntrypointConfig],
    sides: &EndpointSides,
    loc: &str,
    p: &mut Problems,
) {
    for (index, entrypoint) in entrypoints.iter().enumerate() {
        let (receives, sends) = match entrypoint {
            EntrypointConfig::HttpGet(_)
            | EntrypointConfig::Sse(_)
            | EntrypointConfig::Webhook(_) => (true, false),
            EntrypointConfig::HttpPost(_) => (false, true),
            EntrypointConfig::WebSocket(ws) => (ws.subscriber_enabled, ws.publisher_enabled),
        };
        // (uses it, the endpoint has it, what it does, the side, the websocket switch, enabling)
        let needs = [
            (
                receives,
                sides.consumer,
                "receives",
                "consumer",
                "subscriber",
                sides.enable_consumer,
            ),
            (
                sends,
                sides.producer,
                "sends",
                "producer",
                "publisher",
                sides.enable_producer,
            ),
        ];
        for (uses, has, does, side, switch, enable) in needs {
            if !uses || has {
                continue;
            }
            let instead = match entrypoint {
                EntrypointConfig::WebSocket(_) => format!(
                    "set `websocket.configuration.{switch}.enabled: false` (it is true by default)"
                ),
                _ => "remove the entrypoint".to_owned(),
            };
            p.push(
                format!("{loc}.entrypoints[{index}]"),
                format!(
                    "the {} entrypoint {does} messages, but the {} endpoint has no enabled `{side}`: {enable}, or {instead}",
                    entrypoint.type_name(),
                    sides.kind
                ),
            );
        }
    }
}

/// Reports each websocket entrypoint of the Mock API at `loc` whose publisher is enabled (it is
/// by default): Mock generates messages and takes none, so such a socket accepts a client's
/// frame only to close with 1008. (An http-post entrypoint is an explicit choice; it is answered
/// 405 with the reason.)
pub(crate) fn mock_problems(entrypoints: &[EntrypointConfig], loc: &str, p: &mut Problems) {
    for (index, entrypoint) in entrypoints.iter().enumerate() {
        let EntrypointConfig::WebSocket(ws) = entrypoint else {
            continue;
        };
        if ws.publisher_enabled {
            p.push(
                format!("{loc}.entrypoints[{index}]"),
                "the websocket entrypoint lets clients publish (`publisher` is enabled by default), \
                 but the mock endpoint cannot take messages: a client that sends one is closed \
                 with 1008; set `websocket.configuration.publisher.enabled: false`, or use an \
                 endpoint that takes messages (in-memory, mqtt5 with a producer, kafka with a \
                 producer)",
            );
        }
    }
}
