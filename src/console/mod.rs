//! The web console and developer portal (`management.console.listen`, 127.0.0.1:8084 by
//! default): static ES modules embedded in the binary (`assets`), and the management REST API
//! served again on the console's own origin, so that the pages call it same-origin (no CORS, and
//! the admin token never leaves the origin it was typed into).
//!
//! Off the data path: the same bounded blocking server as the admin endpoint
//! (`admin::HttpServer`), on threads of its own.

mod assets;

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

pub use assets::{serve_asset, ASSET_PATHS};

use crate::admin::{
    plain_refusals, Handler, HttpServer, MetricsSource, Reply, Request, ServerLimits,
};
use crate::metrics::AdminMetrics;

/// The console's bounds: a browser opens up to six connections per origin, and a page polls the
/// API list every few seconds; a whole request (API calls forwarded included) is small.
pub const CONSOLE_LIMITS: ServerLimits = ServerLimits {
    max_connections: 64,
    // Half: one client (a browser opens six per origin; a few tabs) cannot take them all, and
    // the developer portal's visitors behind one proxy still get half.
    max_connections_per_address: 32,
    request_deadline: Duration::from_secs(10),
    max_head_bytes: 16 * 1024,
    // The management API's own bound: its calls are forwarded whole.
    max_body_bytes: crate::manage::api::MANAGEMENT_LIMITS.max_body_bytes,
};

/// The path prefixes answered by the management API rather than by the embedded files.
const API_PREFIXES: [&str; 2] = ["/management/", "/portal/"];

/// The running console; dropping it stops it (without waiting for its clients).
pub struct Console {
    server: HttpServer,
    metrics: Arc<AdminMetrics>,
}

impl Console {
    /// Binds `addr` and serves the embedded pages, and `api` (the management API's handler) on
    /// `/management/…` and `/portal/…`; without `api` those answer 503.
    pub fn start(addr: SocketAddr, api: Option<Arc<Handler>>) -> io::Result<Console> {
        let listener = TcpListener::bind(addr).map_err(|err| {
            io::Error::new(
                err.kind(),
                format!("cannot listen on {addr} (management.console.listen): {err}"),
            )
        })?;
        let metrics = Arc::new(AdminMetrics::default());
        let handler = move |request: &Request| route(api.as_deref(), request);
        let server = HttpServer::start(
            "tidegate-console",
            listener,
            CONSOLE_LIMITS,
            metrics.clone(),
            Box::new(handler),
            plain_refusals,
        )?;
        Ok(Console { server, metrics })
    }

    /// Where it listens (the real port when configured with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// The console server's connection and request counters, as Prometheus text
    /// (`tidegate_console_*`).
    pub fn render_prometheus(&self) -> String {
        self.metrics.render_prometheus("console")
    }

    /// The same counters as a source for the admin endpoint's `/metrics`.
    pub fn metrics_source(&self) -> MetricsSource {
        let metrics = self.metrics.clone();
        Box::new(move || metrics.render_prometheus("console"))
    }
}

fn route(api: Option<&Handler>, request: &Request) -> Reply {
    let path = request.head.path();
    if !API_PREFIXES.iter().any(|prefix| path.starts_with(prefix)) {
        return serve_asset(&request.head);
    }
    match api {
        Some(api) => api(request),
        None => Reply::json(
            503,
            &serde_json::json!({
                "httpStatus": 503,
                "message": "the management API is not running on this node; \
                            enable the `management` section of the configuration",
                "technicalCode": "management.unavailable",
            }),
        ),
    }
}
