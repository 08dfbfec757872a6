//! Walks the YAML tree section by section, so one mistake does not hide the next.
//!
//! serde stops at the first error of a value, so the tree (a `serde_json::Value`) is cut into
//! sections (the gateway head, its limits / outbound / timeouts, each API head, each entrypoint,
//! the endpoint, each plan), each decoded on its own with serde_path_to_error and then validated.
//! A section that fails to decode is reported with its path and skipped; the others go on.

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::access_log::{self, RawAccessLog, RawApiAccessLog};
use super::model::PlanConfig;
use super::model::{ApiConfig, Config, EndpointConfig, EntrypointConfig, GatewayConfig};
use super::problem::{join, Problems};
use super::rate_limit::{self, RawPolicies, RawRateLimit};
use super::raw::{
    EntrypointQos, RawApi, RawEntrypoint, RawGateway, RawHttpGet, RawHttpPost, RawInMemory,
    RawLimits, RawMock, RawOutbound, RawRoot, RawSse, RawTimeouts, RawTyped, RawWebSocket,
};
use super::tls_listener::{self, RawTlsListener};
use super::validate::{self, TopicUse};
use super::virtual_hosts::{self, ContextPath};

const ENTRYPOINTS_SUPPORTED: &[&str] = &["http-get", "http-post", "websocket", "sse", "webhook"];
const ENTRYPOINTS_PLANNED: &[&str] = &[];
const ENDPOINTS_SUPPORTED: &[&str] = &["mock", "in-memory", "echo", "mqtt5", "kafka"];
const ENDPOINTS_PLANNED: &[&str] = &["rabbitmq", "solace"];

/// What the cross-API rules need from each API, gathered even when another part of that API is
/// broken, so those rules still run.
#[derive(Default)]
struct CrossApi {
    /// Each decodable API head's (location, id, context paths).
    identities: Vec<(String, String, Vec<ContextPath>)>,
    /// Each decodable in-memory endpoint.
    topics: Vec<TopicUse>,
}

/// Decodes and validates the whole tree; `None` when any section failed to decode (the
/// problems say why). A `Some` may still come with validation problems.
pub(crate) fn read_config(root: &Value, p: &mut Problems) -> Option<Config> {
    if root.is_null() {
        p.push(
            "top level",
            "the file is empty; it needs at least `apis:` (a list, may be [])",
        );
        return None;
    }
    let root_ok = decode::<RawRoot>(root, "", p).is_some();
    let gateway = read_gateway(root.get("gateway"), p);
    let apis = read_apis(root.get("apis"), p);
    let applications = super::applications::read_applications(root.get("applications"), p);
    let subscriptions = super::subscriptions::read_subscriptions(
        root.get("subscriptions"),
        apis.as_deref(),
        applications.as_deref(),
        p,
    );
    let management =
        super::management::read_management(root.get("management"), gateway.as_ref(), p);
    if !root_ok {
        return None;
    }
    let (gateway, mut apis) = (gateway?, apis?);
    super::push_sources::push_source_problems(gateway.node_id.as_deref(), &apis, p);
    super::mqtt::settle_sessions(gateway.node_id.as_deref(), &mut apis, p);
    super::kafka::settle_members(gateway.node_id.as_deref(), &mut apis);
    Some(Config {
        gateway,
        apis,
        applications: applications?,
        subscriptions: subscriptions?,
        management: management?,
    })
}

/// Most decode errors reported for one section.
const MAX_PROBLEMS_PER_SECTION: usize = 32;

/// Decodes one section, recording every error at `location` + the path inside it.
///
/// serde stops at a section's first error, so after each one the offending key is taken out of a
/// copy of the section and the decode is tried again: a user sees every unknown key and every
/// wrongly typed value of the section in one run. The section then decodes with defaults in place
/// of the removed keys, so its semantic rules are checked too (the config as a whole is still
/// rejected). `None` when an error cannot be removed (e.g. a required key is missing).
pub(crate) fn decode<T: DeserializeOwned>(
    value: &Value,
    location: &str,
    p: &mut Problems,
) -> Option<T> {
    let mut value = std::borrow::Cow::Borrowed(value);
    let mut reported: Vec<String> = Vec::new();
    loop {
        let error = match serde_path_to_error::deserialize::<_, T>(value.as_ref()) {
            Ok(decoded) => return Some(decoded),
            Err(error) => error,
        };
        let inner = join(location, &path_text(error.path()));
        let where_ = if inner.is_empty() {
            "top level".to_owned()
        } else {
            inner
        };
        let message = error.inner().to_string();
        let key = unknown_key(&message).map(str::to_owned);
        let id = format!("{where_}/{}", key.as_deref().unwrap_or(""));
        if reported.contains(&id) {
            return None;
        }
        let problem = super::number_wording::unsigned_problem(&message, &where_)
            .unwrap_or_else(|| yaml_wording(&message));
        p.push(where_, problem);
        reported.push(id);
        if reported.len() >= MAX_PROBLEMS_PER_SECTION
            || !remove_at(value.to_mut(), error.path(), key.as_deref())
        {
            return None;
        }
    }
}

/// The key named by serde's "unknown field `x`, expected ..." message.
fn unknown_key(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split('`').next()
}

/// Removes what `path` points at (or, for an unknown key, that key of the mapping at `path`).
/// Returns false when nothing could be removed.
fn remove_at(value: &mut Value, path: &serde_path_to_error::Path, unknown: Option<&str>) -> bool {
    use serde_path_to_error::Segment;
    let mut segments: Vec<&Segment> = path.iter().collect();
    if let (Some(key), Some(Segment::Map { key: last })) = (unknown, segments.last()) {
        if last == key {
            segments.pop();
        }
    }
    let target = match unknown {
        Some(key) => Some(key.to_owned()),
        None => match segments.pop() {
            Some(Segment::Map { key }) => Some(key.clone()),
            _ => None,
        },
    };
    let mut node = value;
    for segment in segments {
        node = match (segment, node) {
            (Segment::Map { key }, Value::Object(map)) => match map.get_mut(key) {
                Some(next) => next,
                None => return false,
            },
            (Segment::Seq { index }, Value::Array(items)) => match items.get_mut(*index) {
                Some(next) => next,
                None => return false,
            },
            _ => return false,
        };
    }
    match (target, node) {
        (Some(key), Value::Object(map)) => map.remove(&key).is_some(),
        _ => false,
    }
}

/// Like `decode`, but an absent or `null` section means "all defaults".
pub(super) fn decode_or_default<T: DeserializeOwned + Default>(
    value: Option<&Value>,
    location: &str,
    p: &mut Problems,
) -> Option<T> {
    match value {
        None | Some(Value::Null) => Some(T::default()),
        Some(value) => decode(value, location, p),
    }
}

/// `a.b[0].c`: the path inside a section, in the same spelling as section locations.
fn path_text(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut text = String::new();
    for segment in path {
        match segment {
            Segment::Seq { index } => text.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !text.is_empty() {
                    text.push('.');
                }
                text.push_str(key);
            }
            Segment::Unknown => {}
        }
    }
    text
}

/// serde speaks of "fields"; a YAML author writes "keys" and wants the allowed ones listed.
fn yaml_wording(message: &str) -> String {
    if let Some(rest) = message.strip_prefix("unknown field ") {
        let rest = rest
            .replacen(", expected one of ", "; allowed keys: ", 1)
            .replacen(", expected ", "; allowed keys: ", 1)
            .replacen("` or `", "`, `", 1)
            .replacen(", there are no fields", "; no keys are allowed here", 1);
        return format!("unknown key {rest}");
    }
    message
        .replacen("missing field ", "missing key ", 1)
        .replace("expected usize", "expected a whole number")
        .replace("expected u64", "expected a whole number")
}

fn read_gateway(value: Option<&Value>, p: &mut Problems) -> Option<GatewayConfig> {
    let head =
        decode_or_default::<RawGateway>(value, "gateway", p).map(|raw| validate::gateway(raw, p));
    let part = |key: &str| value.and_then(|gateway| gateway.get(key));
    let limits = decode_or_default::<RawLimits>(part("limits"), "gateway.limits", p)
        .map(|raw| validate::limits(raw, "gateway.limits", p));
    let outbound = decode_or_default::<RawOutbound>(part("outbound"), "gateway.outbound", p)
        .map(|raw| validate::outbound(raw, "gateway.outbound", p));
    let timeouts = decode_or_default::<RawTimeouts>(part("timeouts"), "gateway.timeouts", p)
        .map(|raw| validate::timeouts(raw, "gateway.timeouts", p));
    let rate_limit = decode_or_default::<RawRateLimit>(part("rateLimit"), "gateway.rateLimit", p)
        .map(|raw| rate_limit::rate_limit(raw, "gateway.rateLimit", p));
    let access_log = decode_or_default::<RawAccessLog>(part("accessLog"), "gateway.accessLog", p)
        .map(|raw| access_log::access_log(raw, "gateway.accessLog", p));
    let webhook_loc = "gateway.webhook";
    let webhook =
        decode_or_default::<super::webhook::RawWebhookGateway>(part("webhook"), webhook_loc, p)
            .map(|raw| super::webhook::gateway(raw, webhook_loc, p));
    let head = head?;
    let tls = match part("tls") {
        None | Some(Value::Null) => None,
        Some(value) => {
            let raw = decode::<RawTlsListener>(value, "gateway.tls", p)?;
            let mut others = vec![("gateway.listen", head.listen)];
            others.extend(
                head.admin_listen
                    .map(|admin| ("gateway.adminListen", admin)),
            );
            Some(tls_listener::validate(raw, &others, p)?)
        }
    };
    Some(GatewayConfig {
        access_log: access_log?,
        limits: limits?,
        outbound: outbound?,
        timeouts: timeouts?,
        rate_limit: rate_limit?,
        tls,
        webhook: webhook?,
        ..head
    })
}

fn read_apis(value: Option<&Value>, p: &mut Problems) -> Option<Vec<ApiConfig>> {
    let items = match value {
        // A missing `apis` is reported by the root section.
        None => return None,
        Some(Value::Null) => return Some(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => {
            p.push("apis", "must be a list of APIs (use [] for none)");
            return None;
        }
    };
    let mut cross = CrossApi::default();
    let mut apis = Vec::new();
    let mut all_ok = true;
    for (index, item) in items.iter().enumerate() {
        match read_api(item, &format!("apis[{index}]"), &mut cross, p) {
            Some(api) => apis.push(api),
            None => all_ok = false,
        }
    }
    validate::context_paths(&cross.identities, p);
    validate::shared_topics(&cross.topics, p);
    all_ok.then_some(apis)
}

/// One API; its decodable parts go to `cross` for the cross-API checks even when another part
/// of it is broken.
fn read_api(value: &Value, loc: &str, cross: &mut CrossApi, p: &mut Problems) -> Option<ApiConfig> {
    let head = decode::<RawApi>(value, loc, p);
    if !value.is_object() {
        // The head's "invalid type" problem says it all; its parts cannot be found.
        return None;
    }
    let mut context_paths = Vec::new();
    if let Some(head) = &head {
        validate::api_id(&head.id, loc, p);
        validate::non_empty(&head.name, loc, "name", p);
        context_paths = virtual_hosts::read(&head.context_paths, loc, p);
        let identity = (loc.to_owned(), head.id.clone(), context_paths.clone());
        cross.identities.push(identity);
    }
    let entrypoints = read_entrypoints(value.get("entrypoints"), &join(loc, "entrypoints"), p);
    let at_least_once = entrypoints.as_ref().is_some_and(|(_, flag)| *flag);
    let entrypoints = entrypoints.map(|(entrypoints, _)| entrypoints);
    let mut endpoint = match value.get("endpoint") {
        Some(endpoint) => read_endpoint(endpoint, &join(loc, "endpoint"), p),
        None => {
            p.push(
                join(loc, "endpoint"),
                format!(
                    "missing; add e.g. `endpoint: {{ type: mock }}` (types: {})",
                    ENDPOINTS_SUPPORTED.join(", ")
                ),
            );
            None
        }
    };
    if let Some(EndpointConfig::InMemory(options)) = &endpoint {
        cross.topics.push(TopicUse {
            api_loc: loc.to_owned(),
            api_id: head.as_ref().map(|head| head.id.clone()),
            loc: join(loc, "endpoint.configuration"),
            options: options.clone(),
        });
    }
    // At-least-once changes when a broker endpoint acknowledges; in-memory and mock messages are
    // retained by the gateway itself, which is what the other endpoints' `auto` already gives.
    if let Some(EndpointConfig::Mqtt(options)) = &mut endpoint {
        if let Some(consumer) = &mut options.consumer {
            consumer.acknowledge_after_delivery = at_least_once;
        }
    }
    let sides = match &endpoint {
        Some(EndpointConfig::Mqtt(options)) => Some(super::mqtt::sides(options)),
        Some(EndpointConfig::Kafka(options)) => Some(super::kafka::sides(options)),
        _ => None,
    };
    if let (Some(sides), Some(entrypoints)) = (sides, &entrypoints) {
        super::endpoint_sides::entrypoint_problems(entrypoints, &sides, loc, p);
    }
    if let (Some(EndpointConfig::Echo), Some(entrypoints)) = (&endpoint, &entrypoints) {
        super::echo::entrypoint_problems(entrypoints, loc, p);
    }
    if let (Some(EndpointConfig::Mock(_)), Some(entrypoints)) = (&endpoint, &entrypoints) {
        super::endpoint_sides::mock_problems(entrypoints, loc, p);
    }
    let plans = read_plans(value.get("plans"), &join(loc, "plans"), p);
    let cors_loc = join(loc, "cors");
    let cors = decode_or_default::<Option<super::cors::RawCors>>(value.get("cors"), &cors_loc, p)
        .map(|raw| raw.and_then(|raw| super::cors::cors(raw, &cors_loc, p)));
    let access_log_loc = join(loc, "accessLog");
    let access_log =
        decode_or_default::<RawApiAccessLog>(value.get("accessLog"), &access_log_loc, p);
    let head = head?;
    Some(ApiConfig {
        id: head.id,
        name: head.name,
        state: head.state,
        context_paths,
        entrypoints: entrypoints?,
        endpoint: endpoint?,
        plans: plans?,
        cors: cors?,
        access_log: access_log?.enabled,
    })
}

/// The items of a list section; `None`/`null` is an empty list, anything else not a list is a
/// problem.
pub(crate) fn list_items<'v>(
    value: Option<&'v Value>,
    loc: &str,
    what: &str,
    p: &mut Problems,
) -> Option<&'v [Value]> {
    match value {
        None | Some(Value::Null) => Some(&[]),
        Some(Value::Array(items)) => Some(items),
        Some(_) => {
            p.push(loc, format!("must be a list of {what}"));
            None
        }
    }
}

/// The API's entrypoints, and whether any asks for `qos: at-least-once`.
fn read_entrypoints(
    value: Option<&Value>,
    loc: &str,
    p: &mut Problems,
) -> Option<(Vec<EntrypointConfig>, bool)> {
    let items = list_items(value, loc, "entrypoints", p)?;
    if items.is_empty() {
        p.push(
            loc,
            format!(
                "at least one entrypoint is required (types: {})",
                ENTRYPOINTS_SUPPORTED.join(", ")
            ),
        );
    }
    let mut entrypoints = Vec::new();
    let mut at_least_once = false;
    let mut first_of_type: Vec<(&'static str, String)> = Vec::new();
    let mut all_ok = true;
    for (index, item) in items.iter().enumerate() {
        let item_loc = format!("{loc}[{index}]");
        let Some((entrypoint, qos)) = read_entrypoint(item, &item_loc, p) else {
            all_ok = false;
            continue;
        };
        at_least_once |= qos == EntrypointQos::AtLeastOnce;
        let kind = entrypoint.type_name();
        match first_of_type.iter().find(|(seen, _)| *seen == kind) {
            Some((_, first)) => p.push(
                join(&item_loc, "type"),
                format!("entrypoint type '{kind}' appears twice (first at {first}); keep one"),
            ),
            None => first_of_type.push((kind, item_loc)),
        }
        entrypoints.push(entrypoint);
    }
    all_ok.then_some((entrypoints, at_least_once))
}

fn read_entrypoint(
    value: &Value,
    loc: &str,
    p: &mut Problems,
) -> Option<(EntrypointConfig, EntrypointQos)> {
    let raw = decode::<RawEntrypoint>(value, loc, p)?;
    let qos = raw.qos;
    let config_loc = join(loc, "configuration");
    let config = raw.configuration.as_ref();
    let entrypoint = match raw.kind.as_str() {
        "http-get" => decode_or_default::<RawHttpGet>(config, &config_loc, p)
            .map(|raw| EntrypointConfig::HttpGet(validate::http_get(raw, &config_loc, p))),
        "http-post" => decode_or_default::<RawHttpPost>(config, &config_loc, p)
            .map(|raw| EntrypointConfig::HttpPost(validate::http_post(raw, &config_loc, p))),
        "websocket" => decode_or_default::<RawWebSocket>(config, &config_loc, p)
            .map(|raw| EntrypointConfig::WebSocket(validate::websocket(raw, &config_loc, p))),
        "sse" => decode_or_default::<RawSse>(config, &config_loc, p)
            .map(|raw| EntrypointConfig::Sse(validate::sse(raw, &config_loc, p))),
        "webhook" => {
            use super::webhook::{self, RawWebhook, WebhookQos};
            let qos = match qos {
                EntrypointQos::None => WebhookQos::None,
                EntrypointQos::Auto => WebhookQos::Auto,
                EntrypointQos::AtMostOnce => WebhookQos::AtMostOnce,
                EntrypointQos::AtLeastOnce => WebhookQos::AtLeastOnce,
            };
            decode_or_default::<RawWebhook>(config, &config_loc, p)
                .map(|raw| EntrypointConfig::Webhook(webhook::webhook(raw, qos, &config_loc, p)))
        }
        other => {
            let message = validate::unknown_kind(
                "entrypoint",
                other,
                ENTRYPOINTS_SUPPORTED,
                ENTRYPOINTS_PLANNED,
            );
            p.push(join(loc, "type"), message);
            None
        }
    };
    entrypoint.map(|entrypoint| (entrypoint, qos))
}

fn read_endpoint(value: &Value, loc: &str, p: &mut Problems) -> Option<EndpointConfig> {
    let raw = decode::<RawTyped>(value, loc, p)?;
    let config_loc = join(loc, "configuration");
    let config = raw.configuration.as_ref();
    match raw.kind.as_str() {
        "mock" => decode_or_default::<RawMock>(config, &config_loc, p)
            .map(|raw| EndpointConfig::Mock(validate::mock(raw, &config_loc, p))),
        "in-memory" => decode_or_default::<RawInMemory>(config, &config_loc, p)
            .map(|raw| EndpointConfig::InMemory(validate::in_memory(raw, &config_loc, p))),
        "echo" => decode_or_default::<super::echo::RawEcho>(config, &config_loc, p)
            .map(|_| EndpointConfig::Echo),
        "mqtt5" => {
            super::mqtt::read(config, &config_loc, p).map(|o| EndpointConfig::Mqtt(Box::new(o)))
        }
        "kafka" => match config {
            Some(config) => decode::<super::kafka::RawKafka>(config, &config_loc, p).map(|raw| {
                EndpointConfig::Kafka(Box::new(super::kafka::kafka(raw, &config_loc, p)))
            }),
            None => {
                p.push(
                    config_loc,
                    "required: at least `bootstrapServers` and an enabled `consumer` or `producer`",
                );
                None
            }
        },
        other => {
            let message =
                validate::unknown_kind("endpoint", other, ENDPOINTS_SUPPORTED, ENDPOINTS_PLANNED);
            p.push(join(loc, "type"), message);
            None
        }
    }
}

fn read_plans(
    value: Option<&Value>,
    loc: &str,
    p: &mut Problems,
) -> Option<Vec<super::model::PlanConfig>> {
    let items = list_items(value, loc, "plans", p)?;
    if items.is_empty() {
        p.push(
            loc,
            "at least one plan is required, e.g. [{ name: Keyless, security: keyless }]",
        );
    }
    let mut plans = Vec::new();
    let mut all_ok = true;
    for (index, item) in items.iter().enumerate() {
        let item_loc = format!("{loc}[{index}]");
        let policies_loc = join(&item_loc, "policies");
        let policies = decode_or_default::<RawPolicies>(item.get("policies"), &policies_loc, p)
            .map(|raw| rate_limit::policies(raw, &policies_loc, p));
        match super::plan::read_plan(item, &item_loc, p).zip(policies) {
            Some((plan, policies)) => plans.push(PlanConfig { policies, ..plan }),
            None => all_ok = false,
        }
    }
    super::plan::plan_ids(&plans, loc, p);
    all_ok.then_some(plans)
}
