//! What the entrypoints' unit tests build requests and APIs from: a parsed request head and a
//! Mock API with the entrypoints a test names (each with its configured defaults).

use bytes::BytesMut;

use crate::codec::http_head::{parse_request_head, HeadLimits, RequestHead};
use std::rc::Rc;

use crate::config::{self, EndpointConfig};
use crate::deployed::Api;
use crate::deployed::SharedEndpoint;
use crate::endpoint::mock::MockEndpoint;
use crate::endpoint::Endpoint;
use crate::observe::api_metrics::ApiMetrics;
use crate::shard::LocalSignal;

/// Parses `text` (a whole request head, ending in a blank line).
pub(crate) fn head(text: &str) -> RequestHead {
    let limits = HeadLimits {
        max_header_bytes: 8192,
        max_header_count: 64,
    };
    parse_request_head(&mut BytesMut::from(text), &limits)
        .expect("a valid head")
        .expect("a complete head")
}

/// A Mock API with the entrypoints named in `types` (`http-get`, `http-post`, `websocket`,
/// `sse`).
pub(crate) fn mock_api(types: &[&str]) -> Api {
    let entrypoints: String = types
        .iter()
        .map(|kind| match *kind {
            // Mock cannot take messages: a websocket on it only subscribes.
            "websocket" => "      - type: websocket\n        configuration: { publisher: { enabled: false } }\n".to_owned(),
            kind => format!("      - type: {kind}\n"),
        })
        .collect();
    let yaml = format!(
        "apis:\n  - id: a\n    name: A\n    contextPaths: [/a]\n    entrypoints:\n{entrypoints}    endpoint:\n      type: mock\n    plans:\n      - name: Keyless\n        security: keyless\n"
    );
    let config = config::load_str(&yaml, "t.yaml").expect("a valid configuration");
    let api = &config.apis[0];
    let EndpointConfig::Mock(mock) = &api.endpoint else {
        unreachable!("a mock endpoint");
    };
    let endpoint = SharedEndpoint {
        endpoint: Rc::new(Endpoint::Mock(MockEndpoint::new(mock))),
        close: Rc::new(LocalSignal::new()),
    };
    let series = ApiMetrics::new(&[]).register(api);
    Api::new(api, series, endpoint)
}
