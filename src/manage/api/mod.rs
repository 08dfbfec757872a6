//! The management REST API (`management.listen`, loopback 8083 by default), shaped like
//! Gravitee's v2: `/management/v2/environments/{envId}/apis/{apiId}` …, served by the admin
//! endpoint's blocking server (bounded connections, whole-request deadline, bounded head and
//! JSON body). Every route but the OpenAPI document needs a bearer token (`auth.rs`); the route
//! table (`router.rs`) dispatches to handlers that call the service, where the rules live.

mod apis;
mod applications;
mod auth;
mod call;
mod errors;
mod openapi;
mod plans;
mod portal;
mod portal_limit;
pub mod router;
mod subscriptions;
mod tokens;

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

/// The environment variable that holds a clear administrator's token.
pub use crate::config::management::TOKEN_ENV;
pub use auth::{Tokens, FIRST_TOKEN_NAME};
pub use openapi::OPENAPI_JSON;

use crate::admin::{Handler, HttpServer, MetricsSource, Reply, Request, ServerLimits};
use crate::config::{PortalConfig, TokenRole};
use crate::manage::service::{redact_secrets, Actor, Service};
use crate::metrics::AdminMetrics;
use call::Call;
use errors::error_reply;
use portal::Portal;
use router::{resolve, Resolved, OPENAPI_PATH};

/// The management API's bounds: small JSON documents, a few operators and scripts at once.
pub const MANAGEMENT_LIMITS: ServerLimits = ServerLimits {
    max_connections: 32,
    // Half: one client (a script gone wrong, a trickling attacker) leaves the other half free.
    max_connections_per_address: 16,
    request_deadline: Duration::from_secs(10),
    max_head_bytes: 16 * 1024,
    max_body_bytes: 1024 * 1024,
};

/// What the listener needs besides the service.
pub struct ManagementOptions {
    /// The address the API is served on (`management.listen`, default `127.0.0.1:8083`; port 0
    /// in tests, see [`ManagementApi::local_addr`]).
    pub listen: SocketAddr,
    /// The `{envId}` of the routes (`management.environment`, default `DEFAULT`).
    pub environment: String,
    /// The management tokens accepted as `Authorization: Bearer` (`management.tokens` and
    /// `TIDEGATE_MANAGEMENT_TOKEN`; with none, one is generated at first start).
    pub tokens: Tokens,
    /// The developer portal's bounds (`management.portal`).
    pub portal: PortalConfig,
}

/// The running management API; dropping it stops it.
pub struct ManagementApi {
    server: HttpServer,
    state: Arc<State>,
}

struct State {
    service: Arc<Service>,
    environment: String,
    tokens: Tokens,
    portal: Portal,
    metrics: Arc<AdminMetrics>,
}

impl ManagementApi {
    /// Binds `options.listen` and serves `service` until dropped. With no token anywhere, a first
    /// token is generated, stored (its hash) and printed once on stderr.
    pub fn start(options: ManagementOptions, service: Arc<Service>) -> io::Result<ManagementApi> {
        let listen = options.listen;
        let listener = TcpListener::bind(listen).map_err(|err| {
            io::Error::new(
                err.kind(),
                format!("cannot listen on {listen} (management.listen): {err}"),
            )
        })?;
        match options.tokens.bootstrap(service.store().as_ref()) {
            Ok(Some((name, token))) => eprintln!(
                "tidegate: no management token is configured and the store holds no valid administrator's token; generated one named '{name}' (stored as a hash, shown only now):\n\n    {token}\n\nUse it as `Authorization: Bearer {token}` on the management API ({listen}). Create your own with `tidegate tokens create NAME` (or the console's Tokens page), then revoke '{name}'.\n"
            ),
            Ok(None) => {}
            Err(err) => tracing::error!(error = %err, "cannot create the first management token; configure management.tokens or TIDEGATE_MANAGEMENT_TOKEN"),
        }
        let metrics = Arc::new(AdminMetrics::default());
        let state = Arc::new(State {
            service,
            environment: options.environment,
            tokens: options.tokens,
            portal: Portal::new(options.portal),
            metrics: metrics.clone(),
        });
        let serving = state.clone();
        let handler = move |request: &Request| handle(&serving, request);
        let server = HttpServer::start(
            "tidegate-mgmt",
            listener,
            MANAGEMENT_LIMITS,
            metrics,
            Box::new(handler),
            errors::server_refusal,
        )?;
        Ok(ManagementApi { server, state })
    }

    /// Where it listens (the real port when configured with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// The same handler as this listener's, for another listener to serve the API on its own
    /// origin (the console: its pages call the API same-origin).
    pub fn handler(&self) -> Arc<Handler> {
        let state = self.state.clone();
        Arc::new(move |request: &Request| handle(&state, request))
    }

    /// `tidegate_management_*`: connections, requests, refused tokens.
    pub fn render_prometheus(&self) -> String {
        self.state.render_prometheus()
    }

    /// The same, for the admin endpoint (`Gateway::more_metrics`).
    pub fn metrics_source(&self) -> MetricsSource {
        let state = self.state.clone();
        Box::new(move || state.render_prometheus())
    }
}

impl State {
    fn render_prometheus(&self) -> String {
        let mut text = self.metrics.render_prometheus("management");
        text.push_str(&format!(
            "# HELP tidegate_management_auth_failures_total Management API calls refused 401 (no or unknown token).\n# TYPE tidegate_management_auth_failures_total counter\ntidegate_management_auth_failures_total {}\n",
            self.tokens.failures()
        ));
        text.push_str(&format!(
            "# HELP tidegate_management_portal_writes_refused_total Developer portal subscription requests refused 429 (management.portal.writesPerMinute per client address).\n# TYPE tidegate_management_portal_writes_refused_total counter\ntidegate_management_portal_writes_refused_total {}\n# HELP tidegate_management_portal_clients_tracked Client addresses the portal's write limit tracks (at most {}).\n# TYPE tidegate_management_portal_clients_tracked gauge\ntidegate_management_portal_clients_tracked {}\n",
            self.portal.writes.refused(),
            portal_limit::MAX_TRACKED_CLIENTS,
            self.portal.writes.tracked(),
        ));
        text
    }
}

/// Answers one request, never cached (answers can carry a clear API key or an audit trail) nor
/// sniffed (an error echoes the path, which must never read as a page).
fn handle(state: &State, request: &Request) -> Reply {
    route(state, request)
        .with_header("Cache-Control", "no-store")
        .with_header("X-Content-Type-Options", "nosniff")
}

/// Authenticates, routes and answers one request.
fn route(state: &State, request: &Request) -> Reply {
    let head = &request.head;
    let method = head.method().as_str();
    let path = head.path();
    if path == OPENAPI_PATH {
        return match method {
            "GET" => Reply::new(200, "application/json", OPENAPI_JSON.to_owned()),
            _ => with_allow(
                error_reply(405, "method.not_allowed", "use GET", &[]),
                "GET",
            ),
        };
    }
    // The developer portal's read-only routes need no token (portal.rs).
    if path.starts_with("/portal/") {
        return portal::handle(&state.service, &state.portal, request, method);
    }
    if head.headers_named("authorization").nth(1).is_some() {
        // Two credentials: which one acts is not for the server to guess.
        return error_reply(
            400,
            "auth.ambiguous",
            "send one Authorization header; this request has several",
            &[],
        );
    }
    let Some((actor, role)) = state.tokens.authenticate(
        head.header_str("authorization"),
        state.service.store().as_ref(),
    ) else {
        return error_reply(
            401,
            "auth.required",
            "send `Authorization: Bearer <token>` with a valid management token (management.tokens, TIDEGATE_MANAGEMENT_TOKEN, or one printed at start or created with `tidegate tokens create`); a revoked or expired token is refused",
            &[],
        )
        .with_header("WWW-Authenticate", "Bearer realm=\"tidegate-management\"");
    };
    match resolve(method, path) {
        Resolved::NotFound => error_reply(
            404,
            "route.not_found",
            &format!("no route {path}; GET {OPENAPI_PATH} lists them"),
            &[],
        ),
        Resolved::WrongMethod(allow) => with_allow(
            error_reply(
                405,
                "method.not_allowed",
                &format!("{method} is not served here; use {allow}"),
                &[],
            ),
            &allow,
        ),
        Resolved::Found(route, params) => {
            let call = Call {
                service: &state.service,
                request,
                params,
                actor: Actor(actor),
                tokens: &state.tokens,
            };
            if call.param("envId") != state.environment {
                return error_reply(
                    404,
                    "environment.not_found",
                    &format!(
                        "no environment '{}'; this gateway's is '{}' (management.environment)",
                        call.param("envId"),
                        state.environment
                    ),
                    &[],
                );
            }
            if role == TokenRole::Viewer && route.method != "GET" {
                return error_reply(
                    403,
                    "auth.forbidden",
                    &format!(
                        "token '{}' is a viewer's: it may only read (GET); {method} needs an administrator's token (role admin)",
                        call.actor.0
                    ),
                    &[],
                );
            }
            let reply = (route.handler)(&call).unwrap_or_else(|err| errors::reply(&err));
            match role {
                TokenRole::Viewer => without_secrets(reply),
                TokenRole::Admin => reply,
            }
        }
    }
}

/// `reply` with every secret of its JSON body masked (what a viewer's token gets: broker
/// passwords, webhook credentials and signing secrets are not for read-only access).
fn without_secrets(mut reply: Reply) -> Reply {
    if reply.content_type != "application/json" {
        return reply;
    }
    if let Ok(mut body) = serde_json::from_str::<serde_json::Value>(&reply.body) {
        redact_secrets(&mut body);
        reply.body = body.to_string();
    }
    reply
}

fn with_allow(reply: Reply, allow: &str) -> Reply {
    reply.with_header("Allow", allow)
}
