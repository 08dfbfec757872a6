//! A gateway node in management mode, from start to stop: open the store, seed it once from
//! the file, start the gateway on the store's content, then follow the store and serve the
//! management API. `main.rs` and the tests start nodes through here.

use std::io;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::api::{ManagementApi, ManagementOptions, Tokens};
use super::desired::{desired_config, gateway_section};
use super::follower::{Applier, Follower, FollowerMetrics, FollowerSetup};
use super::seed::seed_if_empty;
use super::service::{Service, StatsSource};
use super::store::{PostgresStore, SqliteStore, Store, StoreError};
use crate::admin::MetricsSource;
use crate::config::{Config, ManagementConfig, StoreBackend};
use crate::console::Console;
use crate::runtime::Gateway;

/// Opens the configured store (creating or migrating its schema).
pub fn open_store(management: &ManagementConfig) -> Result<Arc<dyn Store>, StoreError> {
    Ok(match &management.store.backend {
        StoreBackend::Sqlite { path } => Arc::new(SqliteStore::open(path)?),
        StoreBackend::Postgresql { url, tls } => {
            Arc::new(PostgresStore::connect(url.expose(), tls.as_ref())?)
        }
    })
}

/// Everything decided before the gateway starts.
pub struct Prepared {
    /// What the gateway starts with: the store's content, the file's `gateway:`.
    pub config: Config,
    /// The opened store, already seeded; the follower and the management API share it.
    pub store: Arc<dyn Store>,
    /// The file's `management:` section (listen address, environment, store, tokens, console,
    /// portal limits).
    pub management: ManagementConfig,
    /// The file's `gateway:` section as a tree.
    pub gateway_section: Value,
    /// The store generation `config` was read at.
    pub generation: u64,
}

/// Opens the store of `file` (a configuration with `management:`), seeds it from `file_tree`
/// when it never held anything, and reads the configuration to start with. The message says
/// what to fix.
pub fn prepare(file: &Config, file_tree: &Value) -> Result<Prepared, String> {
    let management = file
        .management
        .clone()
        .ok_or("the configuration has no `management:` section")?;
    let store = open_store(&management).map_err(|error| format!("management store: {error}"))?;
    prepare_on(store, management, file_tree)
}

/// As [`prepare`], over a store already open.
pub fn prepare_on(
    store: Arc<dyn Store>,
    management: ManagementConfig,
    file_tree: &Value,
) -> Result<Prepared, String> {
    let report = seed_if_empty(store.as_ref(), file_tree)
        .map_err(|error| format!("seeding the management store: {error}"))?;
    if report.seeded {
        tracing::info!(
            apis = report.apis,
            applications = report.applications,
            subscriptions = report.subscriptions,
            "seeded the empty management store from the configuration file"
        );
    }
    let gateway = gateway_section(file_tree);
    let generation = store
        .generation()
        .map_err(|error| format!("management store: {error}"))?;
    let config = desired_config(store.as_ref(), &gateway, &management)
        .map_err(|error| format!("management store: {error}"))?
        .map_err(|error| {
            format!("the management store's content is not a valid configuration:\n{error}")
        })?;
    Ok(Prepared {
        config,
        store,
        management,
        gateway_section: gateway,
        generation,
    })
}

/// The management side of a running node; dropping it stops the management API and the
/// follower (before the gateway itself is shut down).
pub struct ManagedNode {
    /// The console (`management.console`), when enabled; stopped before the API it forwards to.
    console: Option<Console>,
    api: Option<ManagementApi>,
    _follower: Follower,
    metrics: Arc<FollowerMetrics>,
}

impl ManagedNode {
    /// Follows the store, handing each change to `applier` (for a gateway started from
    /// `prepared.config`) and, when `api_stats` is given (this node's per-API numbers), serves
    /// the management API on `management.listen` and the console.
    pub fn start(
        prepared: Prepared,
        applier: Applier,
        api_stats: Option<Box<StatsSource>>,
    ) -> io::Result<ManagedNode> {
        let metrics = Arc::new(FollowerMetrics::default());
        let follower = Follower::start(
            FollowerSetup {
                store: prepared.store.clone(),
                gateway: prepared.gateway_section.clone(),
                management: prepared.management.clone(),
                applied_generation: Some(prepared.generation),
                metrics: metrics.clone(),
            },
            applier,
        )?;
        let api = if let Some(stats) = api_stats {
            let service = Service::new(
                prepared.store.clone(),
                prepared.gateway_section.clone(),
                stats,
            );
            let env_token = std::env::var(crate::config::management::TOKEN_ENV).ok();
            let options = ManagementOptions {
                listen: prepared.management.listen,
                environment: prepared.management.environment.clone(),
                tokens: Tokens::new(&prepared.management.tokens, env_token.as_deref()),
                portal: prepared.management.portal,
            };
            Some(ManagementApi::start(options, Arc::new(service))?)
        } else {
            None
        };
        let console = match &api {
            Some(api) if prepared.management.console.enabled => Some(Console::start(
                prepared.management.console.listen,
                Some(api.handler()),
            )?),
            _ => None,
        };
        Ok(ManagedNode {
            console,
            api,
            _follower: follower,
            metrics,
        })
    }

    /// The management API, when served.
    pub fn api(&self) -> Option<&ManagementApi> {
        self.api.as_ref()
    }

    /// The console, when enabled.
    pub fn console(&self) -> Option<&Console> {
        self.console.as_ref()
    }

    /// The management metrics sources (follower, management API) for the admin
    /// endpoint's `/metrics` (`Gateway::more_metrics`).
    pub fn metrics_sources(&self) -> Vec<MetricsSource> {
        let follower = self.metrics.clone();
        let mut sources: Vec<MetricsSource> = vec![Box::new(move || follower.render_prometheus())];
        sources.extend(self.api.as_ref().map(ManagementApi::metrics_source));
        sources
    }

    /// The follower's counters (`tidegate_management_store_up`, …).
    pub fn metrics(&self) -> &Arc<FollowerMetrics> {
        &self.metrics
    }
}

/// An applier for a gateway shared behind a mutex (`Gateway` is not `Sync`): each change is one
/// `Gateway::apply`, its report logged by `apply` itself.
pub fn gateway_applier(gateway: Arc<Mutex<Gateway>>) -> Applier {
    Box::new(move |config| {
        gateway
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .apply(config)
            .map(|_| ())
    })
}
