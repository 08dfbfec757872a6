//! Live apply: a new validated configuration's APIs, plans, applications and subscriptions put in
//! force on every shard without a restart (`Gateway::apply`), from any thread (the store
//! follower, SIGHUP in file mode).
//!
//! Order: the security registry first gets the new plans *and* those of the APIs being removed
//! (so a new API's first request finds its plans, and a draining stream of a removed one ends by
//! its drain, not by a refused credential); then the deployment set is published and every shard
//! swaps its routing table (`shard_apply`); once they have, the registry gets exactly the new
//! configuration. The Kafka bridge is told the same way: before the swap, to run the feeds and
//! producers of the old and the new started APIs; after it, those of the new ones alone. The
//! `gateway:` section is node-local and changes only at a restart: a change is reported in
//! `restart_needed`, as is a Kafka endpoint the Kafka bridge was not started with (a gateway
//! started without Kafka APIs starts its bridge with the first apply that has some).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::Gateway;
use crate::admin::render_kafka;
use crate::config::{self, ApiConfig, ApiState, Config, ConfigError, EndpointConfig, Problem};
use crate::cross_shard::kafka_link::KafkaInUse;
use crate::endpoint::kafka::{KafkaBridge, KafkaPlan};
use crate::security::reload::new_subscriptions_to_deprecated_plans;

/// Longest `apply` waits for every shard to serve the new version before returning anyway (a
/// shard stuck that long is logged; it still applies the version when it gets to it).
const SHARDS_APPLY_WAIT: Duration = Duration::from_secs(10);

/// What a successful apply changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// The deployment version now in force on every shard.
    pub version: u64,
    /// APIs that were not deployed before.
    pub added: Vec<String>,
    /// APIs whose definition changed (streams of the entrypoints they still declare keep going).
    pub updated: Vec<String>,
    /// APIs no longer deployed (drained, then 404).
    pub removed: Vec<String>,
    /// APIs whose state went from stopped to started.
    pub started: Vec<String>,
    /// APIs whose state went from started to stopped (drained, then 404).
    pub stopped: Vec<String>,
    /// What changed but takes effect only after a restart (`gateway`, new Kafka endpoints).
    pub restart_needed: Vec<String>,
}

impl Gateway {
    /// Puts `config`'s APIs, plans, applications and subscriptions in force on every shard.
    /// Returns once every live shard serves the new set. Unchanged APIs are not touched; stopped
    /// or removed ones are drained (see `docs/lifecycle.md`). A configuration the running gateway
    /// refuses (a new subscription to a deprecated plan) changes nothing: the error lists why.
    pub fn apply(&self, config: Config) -> Result<ApplyReport, ConfigError> {
        let _one_at_a_time = self
            .deployments
            .apply_lock
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        let old = self.applied_config();
        let problems = new_subscriptions_to_deprecated_plans(&old, &config);
        if !problems.is_empty() {
            return Err(ConfigError {
                origin: "the applied configuration".to_owned(),
                problems,
            });
        }
        let mut report = ApplyReport::default();
        if old.gateway != config.gateway {
            report.restart_needed.push("gateway".to_owned());
        }
        self.start_late_kafka(&config)?;
        let mut apis = Vec::new();
        for api in &config.apis {
            if self.kafka_endpoint_unknown(api) {
                report.restart_needed.push(format!(
                    "apis[{}] (a Kafka endpoint the gateway did not start with)",
                    api.id
                ));
                // The version in force, if any, stays.
                apis.extend(old.apis.iter().find(|o| o.id == api.id).cloned());
                continue;
            }
            apis.push(api.clone());
        }
        diff(&old.apis, &apis, &mut report);
        let installed = Config {
            gateway: old.gateway.clone(),
            apis,
            ..config
        };
        let mut draining = installed.clone();
        for api in &old.apis {
            if !installed.apis.iter().any(|new| new.id == api.id) {
                draining.apis.push(api.clone());
            }
        }
        self.security.install(&draining);
        if let Some(metrics) = &self.webhook_metrics {
            metrics.follow(&installed);
        }
        // What a new or started API uses starts before the shards route to it; what a removed or
        // stopped one used stops once they no longer do (below).
        self.kafka_in_use(&[&old, &installed]);
        let mut deployment = self.deployments.next(&installed.apis);
        deployment.push = super::deployment::push_subscriptions(&installed);
        report.version = self.deployments.publish(deployment);
        if !self
            .deployments
            .wait_applied(report.version, &self.health, SHARDS_APPLY_WAIT)
        {
            tracing::warn!(
                version = report.version,
                "a shard has not applied the new deployment within 10 s; it will when it can"
            );
        }
        self.security.install(&installed);
        self.kafka_in_use(&[&installed]);
        *self
            .applied
            .lock()
            .unwrap_or_else(|poison| poison.into_inner()) = installed;
        tracing::info!(
            version = report.version,
            added = ?report.added,
            updated = ?report.updated,
            removed = ?report.removed,
            started = ?report.started,
            stopped = ?report.stopped,
            "applied a new API set"
        );
        if !report.restart_needed.is_empty() {
            // In management mode nobody else sees the report: say it where operators look.
            tracing::warn!(
                not_applied = %report.restart_needed.join(", "),
                "part of the new configuration takes effect only after a restart of this gateway; an API listed keeps its previous version (if any) until then"
            );
        }
        Ok(report)
    }

    /// Re-reads `path` and applies it (SIGHUP in file mode). An invalid file changes nothing.
    pub fn reload_file(&self, path: &Path) -> Result<ApplyReport, ConfigError> {
        self.apply(config::load_file(path)?)
    }

    /// The configuration in force (the `gateway:` section the gateway started with).
    pub fn applied_config(&self) -> Config {
        self.applied
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .clone()
    }

    /// Starts the Kafka bridge for `config`'s Kafka APIs when the gateway runs none yet (it
    /// started without Kafka APIs): the bridge thread, its feeds and producers are those of the
    /// first apply that deploys Kafka APIs.
    fn start_late_kafka(&self, config: &Config) -> Result<(), ConfigError> {
        let uses_kafka = |api: &ApiConfig| matches!(api.endpoint, EndpointConfig::Kafka(_));
        if self.kafka.is_some()
            || self.late_kafka.get().is_some()
            || !config.apis.iter().any(uses_kafka)
        {
            return Ok(());
        }
        let plan = Arc::new(KafkaPlan::new(config));
        // Its feeds and producers start with this apply's `in_use` (none before).
        let used = KafkaInUse::default();
        let bridge = KafkaBridge::start(plan.clone(), self.metrics.len(), used).map_err(|err| {
            ConfigError {
                origin: "the applied configuration".to_owned(),
                problems: vec![Problem {
                    location: "apis[].endpoint".to_owned(),
                    message: format!("the Kafka bridge could not start: {err}"),
                }],
            }
        })?;
        let link = bridge.link().clone();
        // On /metrics from now on, as a bridge started with the gateway is.
        let (metrics, scraped) = (bridge.metrics().clone(), link.clone());
        self.more_metrics
            .add(Box::new(move || render_kafka(&metrics, &scraped)));
        // Under the apply lock: nobody else sets it.
        let _ = self.late_kafka.set((bridge, plan.clone()));
        let mut current = self.deployments.next(&self.applied_config().apis);
        current.late_kafka = Some((link, plan));
        // The shards link to it with this version; the next one (this apply's) carries it on.
        self.deployments.publish(current);
        Ok(())
    }

    /// Tells the Kafka bridge to run the feeds and producers the started APIs of any of
    /// `configs` use: the others stop. Called with the old and the new configuration before the
    /// shards serve the new one, and with the new one alone after: a removed or stopped API's
    /// streams have ended by then (its producers linger for what is still under way).
    fn kafka_in_use(&self, configs: &[&Config]) {
        let (bridge, plan) = match (&self.kafka, self.late_kafka.get()) {
            (Some(bridge), _) => (bridge, &self.kafka_plan),
            (None, Some((bridge, plan))) => (bridge, plan),
            (None, None) => return,
        };
        let used = configs.iter().fold(KafkaInUse::default(), |used, config| {
            used.union(&plan.in_use(config))
        });
        bridge.in_use(used);
    }

    /// A Kafka endpoint whose feed or producer the running Kafka bridge does not have.
    fn kafka_endpoint_unknown(&self, api: &ApiConfig) -> bool {
        let EndpointConfig::Kafka(options) = &api.endpoint else {
            return false;
        };
        let plan = match (&self.kafka, self.late_kafka.get()) {
            (Some(_), _) => &self.kafka_plan,
            (None, Some((_, plan))) => plan,
            (None, None) => return true,
        };
        let feed_missing = options.consumer.is_some() && plan.feed_index(options).is_none();
        let producer_missing = options.producer.is_some() && plan.producer_index(options).is_none();
        feed_missing || producer_missing
    }
}

/// Which APIs were added, updated, removed, started and stopped from `old` to `new`.
fn diff(old: &[ApiConfig], new: &[ApiConfig], report: &mut ApplyReport) {
    for api in new {
        let Some(before) = old.iter().find(|o| o.id == api.id) else {
            report.added.push(api.id.clone());
            continue;
        };
        match (before.state, api.state) {
            (ApiState::Stopped, ApiState::Started) => report.started.push(api.id.clone()),
            (ApiState::Started, ApiState::Stopped) => report.stopped.push(api.id.clone()),
            _ => {}
        }
        let same_state = ApiConfig {
            state: api.state,
            ..before.clone()
        };
        if same_state != *api {
            report.updated.push(api.id.clone());
        }
    }
    for api in old {
        if !new.iter().any(|n| n.id == api.id) {
            report.removed.push(api.id.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The store follower and the signal thread call `apply` on a shared gateway.
    #[test]
    fn a_gateway_can_be_shared_with_other_threads() {
        fn shared<T: Send + Sync>() {}
        shared::<Gateway>();
    }

    #[test]
    fn the_report_names_each_change() {
        let api = |id: &str, state: &str, path: &str| {
            format!("  - {{ id: {id}, name: {id}, contextPaths: [{path}], state: {state}, entrypoints: [{{ type: http-get }}], endpoint: {{ type: mock }}, plans: [{{ name: K, security: keyless }}] }}\n")
        };
        let parse = |apis: &[String]| {
            config::load_str(&format!("apis:\n{}", apis.concat()), "t")
                .unwrap()
                .apis
        };
        let old = parse(&[
            api("same", "started", "/same"),
            api("stop", "started", "/stop"),
            api("start", "stopped", "/start"),
            api("change", "started", "/change"),
            api("gone", "started", "/gone"),
        ]);
        let new = parse(&[
            api("same", "started", "/same"),
            api("stop", "stopped", "/stop"),
            api("start", "started", "/start"),
            api("change", "started", "/changed"),
            api("new", "started", "/new"),
        ]);
        let mut report = ApplyReport::default();
        diff(&old, &new, &mut report);
        assert_eq!(report.added, ["new"]);
        assert_eq!(report.removed, ["gone"]);
        assert_eq!(report.started, ["start"]);
        assert_eq!(report.stopped, ["stop"]);
        assert_eq!(report.updated, ["change"]);
    }
}
