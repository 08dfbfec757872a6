//! The module layering issue 17 set up, checked over the source tree so that it stays:
//!
//! - `runtime` (threads, drivers, the accept loop, live apply) sits on top: nothing under `src/`
//!   names it but `main.rs` and the management node that starts a gateway (`manage/node.rs`).
//!   Entrypoints, endpoints, the server, webhooks and the admin endpoint get what a shard hands
//!   them from the shard context (`crate::shard`) instead; before, `entrypoint` → `runtime::Shard`,
//!   `endpoint` → `runtime::LocalSignal` and `admin` → `runtime::Driver` closed an import circle
//!   through `runtime`, which imports them all.
//! - Endpoints do not reach up into the server, the entrypoints, webhooks or the admin endpoint
//!   (the MQTT reader used `server::conn::spare_capacity`, now `shard::io_buf`).
//! - Messages and delivery name no endpoint (Kafka positions live beside `MessageId` in
//!   `message/`, not in `endpoint::kafka`, which `delivery::fanout` and `message` named).
//! - The shard's primitives (everything in `src/shard/` but the context struct, which names the
//!   per-shard state types) depend on nothing above them.
//! - The Kafka bridge (`endpoint/kafka/bridge/`, the thread that talks to the brokers) and the
//!   shard side of the Kafka endpoint do not import each other in a circle: the shard side names
//!   the bridge only through its surface (`endpoint::kafka::KafkaBridge`, for the runtime that
//!   starts it) and reaches it through `cross_shard::kafka_link`; the bridge names, of the rest of
//!   `endpoint::kafka`, only the plan and the sans-IO helpers it acts on. Before, seven flat
//!   `bridge*.rs` files sat beside the shard-side ones, and `produce_failure.rs` imported
//!   `bridge::error_chain` while the bridge imported it.

use std::fs;
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`, as paths relative to the crate root with `/` separators (or
/// `dir.rs` alone, for a module kept in one file).
fn sources(dir: &str) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    if !root.join(dir).is_dir() {
        return vec![format!("{dir}.rs")];
    }
    let mut found = Vec::new();
    let mut pending = vec![root.join(dir)];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).expect("a source directory") {
            let path: PathBuf = entry.expect("a directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                let relative = path.strip_prefix(root).expect("under the crate root");
                found.push(relative.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    found.sort();
    found
}

/// The lines of `file` (relative to the crate root) that name one of `modules` as a path from
/// the crate root (`crate::m`, `crate::{…m…}`, `tidegate::m`, or `super::m` from a top-level
/// module), comments left out.
fn naming(file: &str, modules: &[&str]) -> Vec<String> {
    let text = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file))
        .expect("a readable source file");
    let mut hits = Vec::new();
    let mut in_group = false;
    for (number, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("").trim();
        if code.is_empty() {
            continue;
        }
        let opens_group = code.contains("crate::{");
        let mut names = modules.iter().any(|module| {
            ["crate::", "tidegate::", "super::"]
                .iter()
                .any(|root| mentions(code, &format!("{root}{module}")))
        });
        if in_group || opens_group {
            let group = code.split_once("crate::{").map_or(code, |(_, rest)| rest);
            names |= modules.iter().any(|module| starts_segment(group, module));
        }
        if opens_group {
            in_group = !code.contains('}') || code.matches('{').count() > code.matches('}').count();
        } else if in_group && code.contains("};") {
            in_group = false;
        }
        if names {
            hits.push(format!("{file}:{}: {}", number + 1, line.trim()));
        }
    }
    hits
}

/// `code` holds `path` followed by a path separator or the end of a name.
fn mentions(code: &str, path: &str) -> bool {
    code.match_indices(path).any(|(at, _)| {
        let before = code[..at].chars().next_back();
        let after = code[at + path.len()..].chars().next();
        !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
            && !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

/// In a `crate::{…}` group, `module` appears as a first path segment.
fn starts_segment(group: &str, module: &str) -> bool {
    group
        .split([',', '{', ' '])
        .any(|item| item == module || item.starts_with(&format!("{module}::")))
}

#[test]
fn only_the_top_names_the_runtime() {
    let allowed = ["src/main.rs", "src/lib.rs", "src/manage/node.rs"];
    let hits: Vec<String> = sources("src")
        .iter()
        .filter(|file| !file.starts_with("src/runtime/") && !allowed.contains(&file.as_str()))
        .flat_map(|file| naming(file, &["runtime"]))
        .collect();
    assert!(
        hits.is_empty(),
        "these name `runtime` from below it; use `crate::shard` instead:\n{}",
        hits.join("\n")
    );
}

#[test]
fn endpoints_do_not_reach_up() {
    let above = [
        "server",
        "entrypoint",
        "webhook",
        "admin",
        "runtime",
        "console",
    ];
    let hits: Vec<String> = sources("src/endpoint")
        .iter()
        .flat_map(|file| naming(file, &above))
        .collect();
    assert!(
        hits.is_empty(),
        "endpoints name modules above them:\n{}",
        hits.join("\n")
    );
}

#[test]
fn messages_and_delivery_do_not_reach_up() {
    let above = [
        "endpoint",
        "entrypoint",
        "server",
        "webhook",
        "admin",
        "runtime",
        "console",
    ];
    let hits: Vec<String> = ["src/message", "src/delivery"]
        .iter()
        .flat_map(|dir| sources(dir))
        .flat_map(|file| naming(&file, &above))
        .collect();
    assert!(
        hits.is_empty(),
        "messages and delivery name modules above them:\n{}",
        hits.join("\n")
    );
}

#[test]
fn shard_primitives_depend_on_nothing_above_them() {
    let above = [
        "runtime",
        "server",
        "entrypoint",
        "endpoint",
        "webhook",
        "admin",
        "delivery",
        "console",
        "manage",
    ];
    let hits: Vec<String> = sources("src/shard")
        .iter()
        .filter(|file| file.as_str() != "src/shard/context.rs")
        .flat_map(|file| naming(file, &above))
        .collect();
    assert!(
        hits.is_empty(),
        "the shard's primitives name modules above them:\n{}",
        hits.join("\n")
    );
}

#[test]
fn the_check_sees_every_form_of_import() {
    let lines = [
        "use crate::runtime::LocalSignal;",
        "use crate::{\n    config::Config,\n    runtime::Driver,\n};",
        "use crate::{config::Config, runtime::Driver};",
        "    let s: crate::runtime::shard::Shard;",
        "use super::runtime;",
    ];
    for line in lines {
        assert!(
            naming_text(line, &["runtime"]),
            "missed an import of `runtime`: {line}"
        );
    }
    for line in [
        "// crate::runtime::Driver in a comment",
        "use crate::shard::Driver;",
        "let runtime = tokio::runtime::Builder::new_current_thread();",
        "use crate::runtime_stats::X;",
    ] {
        assert!(
            !naming_text(line, &["runtime"]),
            "took this for an import of `runtime`: {line}"
        );
    }
}

/// `naming` over one line of text instead of a file.
fn naming_text(text: &str, modules: &[&str]) -> bool {
    let dir = tempfile::tempdir().expect("a temp dir");
    let file = dir.path().join("probe.rs");
    fs::write(&file, text).expect("a probe file");
    !naming(file.to_str().expect("a UTF-8 path"), modules).is_empty()
}

/// The connection step and the entrypoints (issue 17): `server::connection` dispatched to the
/// entrypoints while the entrypoints were built on `server`'s blocks and read `server::Api`, so
/// `server` and `entrypoint` imported each other. Now, bottom up:
///
/// - `server` holds the transport building blocks (Conn, duplex streams, gathered writes, request
///   bodies, CORS rules): it names neither the entrypoints, nor the connection step above them
///   (`dispatch`), nor what is served (`deployed`);
/// - `deployed` (each deployed API version, the routing table, draining) is what both sides
///   read: it names neither side, nor the transport;
/// - the entrypoints never name the connection step that hands them a request;
/// - nothing but the runtime's accept loop names the connection step.
#[test]
fn the_connection_step_sits_above_the_entrypoints_and_the_transport() {
    let rules: [(&str, &[&str]); 3] = [
        (
            "src/server",
            &["entrypoint", "dispatch", "deployed", "runtime"],
        ),
        (
            "src/deployed",
            &["server", "entrypoint", "dispatch", "runtime"],
        ),
        ("src/entrypoint", &["dispatch", "runtime"]),
    ];
    let mut hits: Vec<String> = rules
        .iter()
        .flat_map(|(dir, above)| sources(dir).into_iter().map(move |file| (file, *above)))
        .flat_map(|(file, above)| naming(&file, above))
        .collect();
    let callers = ["src/lib.rs", "src/main.rs"];
    hits.extend(
        sources("src")
            .iter()
            .filter(|file| !file.starts_with("src/dispatch/") && !file.starts_with("src/runtime/"))
            .filter(|file| !callers.contains(&file.as_str()))
            .flat_map(|file| naming(file, &["dispatch"])),
    );
    assert!(
        hits.is_empty(),
        "these break the layering (server and deployed side by side at the bottom, the \
         entrypoints on them, dispatch above, the runtime on top):\n{}",
        hits.join("\n")
    );
    // The import that closed the circle is one this check sees.
    assert!(naming_text(
        "use crate::entrypoint::{self, Choice};",
        &["entrypoint"]
    ));
}

/// What the shard side of the Kafka endpoint (`src/endpoint/kafka/` outside `bridge/`) may name
/// of the bridge: its module, declared once, and the one type the runtime starts it with.
const BRIDGE_SURFACE: [&str; 2] = ["mod bridge;", "pub use bridge::KafkaBridge;"];

/// The modules of `endpoint::kafka` the bridge may name: what to run, and the sans-IO helpers
/// whose answers it acts on. None of them names the bridge or the shard side's I/O.
const BRIDGE_USES: [&str; 5] = [
    "plan",
    "offsets",
    "group_assign",
    "murmur2",
    "produce_failure",
];

/// The lines of `file` that name the bridge module as a path segment (`bridge::…`,
/// `…::bridge`, `use …{bridge, …}`), comments left out, but for `allowed` lines.
fn naming_the_bridge(file: &str, allowed: &[&str]) -> Vec<String> {
    let text = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file))
        .expect("a readable source file");
    text.lines()
        .enumerate()
        .filter(|(_, line)| {
            let code = line.split("//").next().unwrap_or("").trim();
            !allowed.contains(&code) && names_the_bridge(code)
        })
        .map(|(number, line)| format!("{file}:{}: {}", number + 1, line.trim()))
        .collect()
}

/// `code` holds `bridge` as a path segment.
fn names_the_bridge(code: &str) -> bool {
    let word = "bridge";
    code.match_indices(word).any(|(at, _)| {
        let before = &code[..at];
        let after = &code[at + word.len()..];
        let whole = !before.ends_with(|c: char| c.is_alphanumeric() || c == '_')
            && !after.starts_with(|c: char| c.is_alphanumeric() || c == '_');
        let in_use = code.starts_with("use ") || code.starts_with("pub use ");
        whole && (after.starts_with("::") || before.ends_with("::") || in_use)
    })
}

/// The modules of `endpoint::kafka` that `code` names through `endpoint::kafka::` (one, or a
/// `{…}` group of them).
fn kafka_modules_named(code: &str) -> Vec<String> {
    let prefix = "endpoint::kafka::";
    let mut named = Vec::new();
    for (at, _) in code.match_indices(prefix) {
        let rest = &code[at + prefix.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = group.split('}').next().unwrap_or("");
            named.extend(group.split(',').map(|item| segment(item.trim())));
        } else {
            named.push(segment(rest));
        }
    }
    named.retain(|name| !name.is_empty());
    named
}

/// The first path segment of `path`.
fn segment(path: &str) -> String {
    path.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

#[test]
fn the_kafka_shard_side_names_the_bridge_only_through_its_surface() {
    let mut hits: Vec<String> = sources("src/endpoint/kafka")
        .iter()
        .filter(|file| !file.starts_with("src/endpoint/kafka/bridge/"))
        .flat_map(|file| {
            let allowed: &[&str] = if file == "src/endpoint/kafka/mod.rs" {
                &BRIDGE_SURFACE
            } else {
                &[]
            };
            naming_the_bridge(file, allowed)
        })
        .collect();
    // Outside `endpoint::kafka`, the bridge is `endpoint::kafka::KafkaBridge`.
    hits.extend(
        sources("src")
            .iter()
            .filter(|file| !file.starts_with("src/endpoint/kafka/"))
            .flat_map(|file| naming(file, &["endpoint::kafka::bridge"])),
    );
    assert!(
        hits.is_empty(),
        "these name the Kafka bridge past its surface (`KafkaBridge`); reach it through \
         `cross_shard::kafka_link`, or move what both sides need out of `bridge/`:\n{}",
        hits.join("\n")
    );
}

#[test]
fn the_kafka_bridge_names_only_the_plan_and_sans_io_helpers() {
    let mut hits = Vec::new();
    for file in sources("src/endpoint/kafka/bridge") {
        let text = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(&file))
            .expect("a readable source file");
        for (number, line) in text.lines().enumerate() {
            // In `bridge/mod.rs`, `super::` is `endpoint::kafka` until its test modules begin.
            if file.ends_with("/mod.rs") && line.starts_with("#[cfg(test)]") {
                break;
            }
            let code = line.split("//").next().unwrap_or("").trim();
            let through_super = code.contains("super::super")
                || (file.ends_with("/mod.rs") && code.contains("super::"));
            let outside = kafka_modules_named(code)
                .into_iter()
                .any(|module| !BRIDGE_USES.contains(&module.as_str()));
            if through_super || outside {
                hits.push(format!("{file}:{}: {}", number + 1, line.trim()));
            }
        }
    }
    assert!(
        hits.is_empty(),
        "the Kafka bridge names the shard side of `endpoint::kafka` (it may name, as \
         `crate::endpoint::kafka::M`, only {BRIDGE_USES:?}):\n{}",
        hits.join("\n")
    );
}

#[test]
fn the_bridge_checks_see_every_form_of_naming() {
    for line in [
        "use super::bridge::error_chain;",
        "use super::bridge;",
        "use super::{bridge, plan};",
        "let x = bridge::connect(&brokers);",
        "pub use bridge::Producers;",
    ] {
        assert!(
            names_the_bridge(line),
            "missed a naming of the bridge: {line}"
        );
    }
    for line in [
        "let ask_bridge = |feed| feed;",
        "\"the gateway's Kafka bridge stopped\",",
        "BridgeCommand::Produce(request)",
        "Err(why) => tracing::warn!(\"bridge down\"),",
    ] {
        assert!(!names_the_bridge(line), "took this for the bridge: {line}");
    }
    assert_eq!(
        kafka_modules_named("use crate::endpoint::kafka::plan::{Brokers, KafkaPlan};"),
        ["plan"]
    );
    assert_eq!(
        kafka_modules_named("use crate::endpoint::kafka::{local_feed::LocalFeed, offsets};"),
        ["local_feed", "offsets"]
    );
    assert!(kafka_modules_named("use crate::endpoint::{Fault, PublishError};").is_empty());
}
