//! Which broker session an MQTT endpoint keeps, decided once the gateway's `nodeId` is known.
//!
//! A persistent session (`cleanStart: false`) is only worth keeping for a client id that the
//! next start of the gateway uses again: the broker then hands the queued QoS 1 messages to the
//! restarted gateway. A client id generated per process can never be resumed, so a persistent
//! session under it is left at the broker (with its queue) until it expires — a day by default,
//! one more per shard at every restart. So:
//! - `clientId` in the file, or `gateway.nodeId`: a stable id (`tidegate-<nodeId>-<api id>`, each
//!   shard appending `-<shard>`), and `cleanStart` / `sessionExpiryInterval` as configured.
//! - neither: a generated id, and the session ends with the connection (clean start, expiry 0);
//!   asking for `cleanStart: false` then is a configuration error that says what to set.

use crate::config::problem::Problems;
use crate::config::{ApiConfig, EndpointConfig};

/// Gives every MQTT endpoint its client id and session rule; see the module documentation.
pub(crate) fn settle_sessions(node_id: Option<&str>, apis: &mut [ApiConfig], p: &mut Problems) {
    for (index, api) in apis.iter_mut().enumerate() {
        let EndpointConfig::Mqtt(options) = &mut api.endpoint else {
            continue;
        };
        if options.client_id.is_some() {
            continue;
        }
        match node_id {
            Some(node) => options.client_id = Some(format!("tidegate-{node}-{}", api.id)),
            None if options.clean_start_given && !options.clean_start => p.push(
                format!("apis[{index}].endpoint.configuration.cleanStart"),
                "`false` keeps a broker session, but without `clientId` (or `gateway.nodeId`) the \
                 client id changes at every start, so the session could never be resumed and \
                 would be left at the broker; set `clientId` here or `gateway.nodeId`",
            ),
            None => {
                options.clean_start = true;
                options.session_expiry_interval_s = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{load_str, EndpointConfig};

    fn mqtt_api(gateway: &str, configuration: &str) -> String {
        format!(
            "{gateway}apis:\n  - id: m\n    name: M\n    contextPaths: [/m]\n    entrypoints:\n      - type: sse\n    endpoint:\n      type: mqtt5\n      configuration:\n        serverHost: 127.0.0.1\n        consumer: {{ topic: a }}\n{configuration}    plans:\n      - name: Keyless\n        security: keyless\n"
        )
    }

    fn session(yaml: &str) -> (Option<String>, bool, u32) {
        let config = load_str(yaml, "test").expect("valid");
        let EndpointConfig::Mqtt(options) = &config.apis[0].endpoint else {
            panic!("an mqtt endpoint");
        };
        let options = options.as_ref();
        (
            options.client_id.clone(),
            options.clean_start,
            options.session_expiry_interval_s,
        )
    }

    #[test]
    fn a_generated_client_id_gets_a_session_that_ends_with_the_connection() {
        assert_eq!(session(&mqtt_api("", "")), (None, true, 0));
    }

    #[test]
    fn a_node_id_or_a_client_id_keeps_the_configured_session() {
        let node = mqtt_api("gateway:\n  nodeId: gw-1\n", "");
        assert_eq!(
            session(&node),
            (Some("tidegate-gw-1-m".to_owned()), false, 86400)
        );
        let own = mqtt_api("gateway:\n  nodeId: gw-1\n", "        clientId: mine\n");
        assert_eq!(session(&own), (Some("mine".to_owned()), false, 86400));
    }

    #[test]
    fn asking_to_keep_a_session_of_a_generated_id_is_refused() {
        let error = load_str(&mqtt_api("", "        cleanStart: false\n"), "test")
            .expect_err("refused")
            .to_string();
        assert!(
            error.contains("apis[0].endpoint.configuration.cleanStart"),
            "{error}"
        );
        assert!(error.contains("gateway.nodeId"), "{error}");
    }

    #[test]
    fn a_bad_node_id_is_refused() {
        let error = load_str(&mqtt_api("gateway:\n  nodeId: \"a b\"\n", ""), "test")
            .expect_err("refused")
            .to_string();
        assert!(error.contains("gateway.nodeId"), "{error}");
    }
}
