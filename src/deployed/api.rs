//! A Gateway API as one shard serves it: its entrypoints' options and its endpoint.
//!
//! One `Rc<Api>` is one deployed version of a definition; a live apply that leaves the definition
//! as it was keeps the same `Rc<Api>`, one that changes it builds a new one (sharing the endpoint
//! when the endpoint's configuration is unchanged) and drains the old one (`deployed::drain`).

use crate::config::rate_limit::Policies;
use crate::config::{
    AllowOrigin, ApiConfig, CorsConfig, EntrypointConfig, HttpGetOptions, HttpPostOptions,
    PlanSecurity, SseOptions, WebSocketOptions,
};
use std::rc::Rc;
use std::sync::Arc;

use crate::deployed::Drain;
use crate::endpoint::Endpoint;
use crate::observe::api_metrics::ApiSeries;
use crate::shard::LocalSignal;

/// An endpoint as the APIs of one shard share it across deployments: the endpoint, and the signal
/// that closes its broker connections (fired when no deployed API uses it any more, or at
/// shutdown).
#[derive(Clone)]
pub struct SharedEndpoint {
    /// The endpoint.
    pub endpoint: Rc<Endpoint>,
    /// Closes the endpoint's broker connections (MQTT: DISCONNECT).
    pub close: Rc<LocalSignal>,
}

/// One started API on one shard.
pub struct Api {
    /// The API's id from the configuration (used in logs).
    pub id: String,
    /// The definition this version was built from (a live apply compares it).
    pub config: ApiConfig,
    /// Its per-API metrics series.
    pub series: Arc<ApiSeries>,
    /// Fired per entrypoint when a live apply stops or redeploys the API.
    pub drain: Drain,
    /// Its requests go to the access log (`accessLog.enabled`).
    pub access_log: bool,
    /// HTTP GET entrypoint, when declared.
    pub http_get: Option<HttpGetOptions>,
    /// HTTP POST entrypoint, when declared.
    pub http_post: Option<HttpPostOptions>,
    /// WebSocket entrypoint, when declared.
    pub websocket: Option<WebSocketOptions>,
    /// SSE entrypoint, when declared.
    pub sse: Option<SseOptions>,
    /// The webhook entrypoint: the API's push subscriptions are delivered (`crate::webhook`).
    pub webhook: Option<crate::config::webhook::WebhookOptions>,
    /// Where the messages come from.
    pub endpoint: Rc<Endpoint>,
    /// The endpoint with its close signal, for the next deployment to share.
    pub shared_endpoint: SharedEndpoint,
    /// CORS settings, when on.
    pub cors: Option<CorsConfig>,
    /// Origins whose pages may open a WebSocket: the entrypoint's `allowedOrigins`, else the
    /// CORS `allowOrigin`; `None` = any.
    pub websocket_origins: Option<AllowOrigin>,
    /// It has an mtls plan: a web page's request needs an origin allow-list (browsers present
    /// client certificates by themselves).
    pub has_mtls_plan: bool,
    /// The policies of each of the API's plans that limits something, by plan id.
    pub plan_limits: Vec<(String, PlanLimits)>,
}

/// A plan's policies and the name its counters go by.
pub struct PlanLimits {
    /// `api-id/plan-id`: the counters' scope, the same on every node.
    pub scope: String,
    /// A keyless plan: its counters go by client address (it has no subscriptions).
    pub keyless: bool,
    /// What the plan limits (rate, quota, deliveries).
    pub policies: Policies,
}

impl Api {
    /// The shard-local form of a validated API definition, served by `endpoint`.
    pub fn new(config: &ApiConfig, series: Arc<ApiSeries>, endpoint: SharedEndpoint) -> Api {
        let mut api = Api {
            id: config.id.clone(),
            config: config.clone(),
            series,
            drain: Drain::default(),
            access_log: config.access_log,
            http_get: None,
            http_post: None,
            websocket: None,
            sse: None,
            webhook: None,
            endpoint: endpoint.endpoint.clone(),
            shared_endpoint: endpoint,
            has_mtls_plan: config
                .plans
                .iter()
                .any(|plan| plan.security == PlanSecurity::Mtls),
            plan_limits: config
                .plans
                .iter()
                .filter(|plan| !plan.policies.is_empty())
                .map(|plan| {
                    let limits = PlanLimits {
                        scope: format!("{}/{}", config.id, plan.id),
                        keyless: plan.security == PlanSecurity::Keyless,
                        policies: plan.policies.clone(),
                    };
                    (plan.id.clone(), limits)
                })
                .collect(),
            cors: config.cors.clone(),
            websocket_origins: None,
        };
        for entrypoint in &config.entrypoints {
            match entrypoint {
                EntrypointConfig::HttpGet(options) => api.http_get = Some(options.clone()),
                EntrypointConfig::HttpPost(options) => api.http_post = Some(options.clone()),
                EntrypointConfig::WebSocket(options) => api.websocket = Some(options.clone()),
                EntrypointConfig::Sse(options) => api.sse = Some(options.clone()),
                EntrypointConfig::Webhook(options) => api.webhook = Some(options.clone()),
            }
        }
        let cors_origins = config.cors.as_ref().map(|cors| cors.allow_origin.clone());
        api.websocket_origins = api
            .websocket
            .as_ref()
            .and_then(|options| options.allowed_origins.clone())
            .or(cors_origins);
        api
    }
}
