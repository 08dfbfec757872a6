//! A Gateway API as one shard serves it: its entrypoints' options and its endpoint.

use crate::config::{
    ApiConfig, EntrypointConfig, HttpGetOptions, HttpPostOptions, SseOptions, WebSocketOptions,
};
use crate::endpoint::kafka::KafkaLocals;
use crate::endpoint::{Endpoint, LocalTopics};

/// One started API on one shard.
pub struct Api {
    /// The API's id from the configuration (used in logs).
    pub id: String,
    /// HTTP GET entrypoint, when declared.
    pub http_get: Option<HttpGetOptions>,
    /// HTTP POST entrypoint, when declared.
    pub http_post: Option<HttpPostOptions>,
    /// WebSocket entrypoint, when declared.
    pub websocket: Option<WebSocketOptions>,
    /// SSE entrypoint, when declared.
    pub sse: Option<SseOptions>,
    /// Where the messages come from.
    pub endpoint: Endpoint,
}

impl Api {
    /// The shard-local form of a validated API definition.
    pub fn new(config: &ApiConfig, topics: &LocalTopics, kafka: &KafkaLocals) -> Api {
        let mut api = Api {
            id: config.id.clone(),
            http_get: None,
            http_post: None,
            websocket: None,
            sse: None,
            endpoint: Endpoint::new(&config.endpoint, topics, kafka),
        };
        for entrypoint in &config.entrypoints {
            match entrypoint {
                EntrypointConfig::HttpGet(options) => api.http_get = Some(options.clone()),
                EntrypointConfig::HttpPost(options) => api.http_post = Some(options.clone()),
                EntrypointConfig::WebSocket(options) => api.websocket = Some(options.clone()),
                EntrypointConfig::Sse(options) => api.sse = Some(options.clone()),
            }
        }
        api
    }
}
