//! What an at-least-once push subscription needs from its API's broker endpoint, checked once
//! the gateway's `nodeId` is known: its acknowledgement must outlive the gateway process.
//! - Kafka: a consumer group per subscription (`consumer.groupId` with `groupScope:
//!   subscription`), whose committed offsets the restarted gateway resumes from.
//! - MQTT: a broker session that outlives the connection, so a stable client id (`clientId`, or
//!   `gateway.nodeId`); a generated one gets a session that ends with the connection.

use super::kafka::KafkaConsumer;
use super::problem::Problems;
use super::webhook::WebhookQos;
use super::{ApiConfig, EndpointConfig, EntrypointConfig};

/// Reports every API whose at-least-once webhook entrypoint could not keep its promise.
pub(crate) fn push_source_problems(node_id: Option<&str>, apis: &[ApiConfig], p: &mut Problems) {
    for (index, api) in apis.iter().enumerate() {
        let at_least_once = api.entrypoints.iter().any(|entrypoint| {
            matches!(entrypoint, EntrypointConfig::Webhook(options) if options.qos == WebhookQos::AtLeastOnce)
        });
        if !at_least_once {
            continue;
        }
        let loc = format!("apis[{index}].endpoint.configuration");
        match &api.endpoint {
            EndpointConfig::Kafka(options) => {
                let grouped = options
                    .consumer
                    .as_ref()
                    .is_some_and(KafkaConsumer::per_subscription_groups);
                if !grouped {
                    p.push(
                        format!("{loc}.consumer"),
                        "a webhook entrypoint with `qos: at-least-once` commits each push \
                         subscription's offsets in a consumer group of its own: set `groupId` and \
                         `groupScope: subscription` on the consumer",
                    );
                }
            }
            EndpointConfig::Mqtt(options) if options.client_id.is_none() && node_id.is_none() => {
                p.push(
                    format!("{loc}.clientId"),
                    "a webhook entrypoint with `qos: at-least-once` needs a broker session that \
                     outlives the gateway, so that what was not acknowledged is delivered again \
                     after a restart: set `gateway.nodeId` (or `clientId` here)",
                );
            }
            _ => {}
        }
    }
}
