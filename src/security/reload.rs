//! Reloading plans, applications, subscriptions and API keys without a restart (SIGHUP).
//!
//! The whole file is read and validated as at start; an invalid file changes nothing (the old
//! registry stays, the problems are returned for the log). A valid one replaces the registry;
//! changes to anything else (the gateway section, an API's entrypoints, endpoint or paths) are
//! listed as needing a restart and not applied.

use std::path::Path;

use crate::config::{self, ApiConfig, Config, ConfigError, PlanStatus, Problem};

use super::Registry;

/// What a successful reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReloadReport {
    /// The registry version now in force.
    pub version: u64,
    /// The sections that changed in the file but take effect only after a restart.
    pub restart_needed: Vec<String>,
}

/// Re-reads `path` and installs its plans, applications and subscriptions.
pub fn reload_file(registry: &Registry, path: &Path) -> Result<ReloadReport, ConfigError> {
    let new = config::load_file(path)?;
    apply(registry, &new, &path.display().to_string())
}

/// Installs `new`'s plans, applications and subscriptions; `origin` names it in errors.
pub fn apply(registry: &Registry, new: &Config, origin: &str) -> Result<ReloadReport, ConfigError> {
    let old = registry.applied_config();
    let problems = new_subscriptions_to_deprecated_plans(&old, new);
    if !problems.is_empty() {
        return Err(ConfigError {
            origin: origin.to_owned(),
            problems,
        });
    }
    let restart_needed = restart_needed(&old, new);
    // Plans of APIs the running gateway does not route yet are harmless: nothing reaches them.
    // An API removed from the file is still routed until a restart: it keeps its plans.
    let mut installed = new.clone();
    for api in &old.apis {
        if !new.apis.iter().any(|n| n.id == api.id) {
            installed.apis.push(api.clone());
        }
    }
    let version = registry.install(&installed);
    Ok(ReloadReport {
        version,
        restart_needed,
    })
}

/// A deprecated plan takes no new subscriptions: one that was not in force before is refused.
pub(crate) fn new_subscriptions_to_deprecated_plans(old: &Config, new: &Config) -> Vec<Problem> {
    let mut problems = Vec::new();
    for (index, subscription) in new.subscriptions.iter().enumerate() {
        if old.subscriptions.iter().any(|s| s.id == subscription.id) {
            continue;
        }
        let deprecated = new
            .apis
            .iter()
            .filter(|api| api.id == subscription.api)
            .flat_map(|api| &api.plans)
            .any(|plan| plan.id == subscription.plan && plan.status == PlanStatus::Deprecated);
        if deprecated {
            problems.push(Problem {
                location: format!("subscriptions[{index}].plan"),
                message: format!(
                    "plan '{}' is deprecated: it takes no new subscriptions (subscription '{}' is new)",
                    subscription.plan, subscription.id
                ),
            });
        }
    }
    problems
}

/// The parts of `new` that differ from `old` outside plans, applications and subscriptions.
fn restart_needed(old: &Config, new: &Config) -> Vec<String> {
    let mut changed = Vec::new();
    if old.gateway != new.gateway {
        changed.push("gateway".to_owned());
    }
    let without_plans = |api: &ApiConfig| ApiConfig {
        plans: Vec::new(),
        ..api.clone()
    };
    // Policies are built into each shard's routing table at start (`deployed::Api`): a reload
    // that changes them, or adds a plan that has some, takes effect at the next restart.
    let limited = |api: &ApiConfig| -> Vec<_> {
        api.plans
            .iter()
            .filter(|plan| !plan.policies.is_empty())
            .map(|plan| (plan.id.clone(), plan.policies.clone()))
            .collect()
    };
    for api in &new.apis {
        match old.apis.iter().find(|o| o.id == api.id) {
            Some(o) if without_plans(o) == without_plans(api) => {
                if limited(o) != limited(api) {
                    changed.push(format!("apis[{}].plans[].policies", api.id));
                }
            }
            Some(_) => changed.push(format!("apis[{}]", api.id)),
            None => changed.push(format!("apis[{}] (new)", api.id)),
        }
    }
    for api in &old.apis {
        if !new.apis.iter().any(|n| n.id == api.id) {
            changed.push(format!("apis[{}] (removed)", api.id));
        }
    }
    changed
}
