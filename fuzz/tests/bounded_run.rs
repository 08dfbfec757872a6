//! The bounded fuzz run of `cargo test`: for every target, each kept input (`seeds/`,
//! `regressions/`) and then `TIDEGATE_FUZZ_ITERATIONS` (default 2000) deterministic mutants.
//! Deep, coverage-guided runs: docs/fuzzing.md.

use std::path::Path;

use tidegate_fuzz::bounded::{self, fuzz_dir};
use tidegate_fuzz::{Target, TARGETS};

#[global_allocator]
static ALLOCATOR: tidegate_fuzz::alloc_guard::Tracking = tidegate_fuzz::alloc_guard::Tracking;

fn target(name: &str) -> &'static Target {
    TARGETS
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no fuzz target {name}"))
}

fn bounded_run(name: &str) {
    let report = bounded::run(target(name), bounded::iterations_from_env());
    assert!(
        report.replayed > 0,
        "{name}: no seeds in fuzz/seeds/{name}/"
    );
}

#[test]
fn http_head() {
    bounded_run("http_head");
}

#[test]
fn http_body() {
    bounded_run("http_body");
}

#[test]
fn ws_frames() {
    bounded_run("ws_frames");
}

#[test]
fn ws_messages() {
    bounded_run("ws_messages");
}

#[test]
fn cursor() {
    bounded_run("cursor");
}

#[test]
fn kafka_cursor() {
    bounded_run("kafka_cursor");
}

#[test]
fn kafka_compact_id() {
    bounded_run("kafka_compact_id");
}

#[test]
fn mqtt() {
    bounded_run("mqtt");
}

#[test]
fn config() {
    bounded_run("config");
}

/// Every target is wired up everywhere: a test above, a libFuzzer binary, seeds, a dictionary.
#[test]
fn every_target_has_a_binary_seeds_and_a_dictionary() {
    let dir = fuzz_dir();
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    let this_file = std::fs::read_to_string(dir.join("tests/bounded_run.rs")).unwrap();
    for target in TARGETS {
        let name = target.name;
        let binary = format!("fuzz_targets/{name}.rs");
        assert!(dir.join(&binary).is_file(), "missing {binary}");
        assert!(
            manifest.contains(&format!("path = \"{binary}\"")),
            "{binary} not in Cargo.toml"
        );
        assert!(
            this_file.contains(&format!("bounded_run(\"{name}\")")),
            "no bounded run of {name}"
        );
        assert!(
            !bounded::inputs_in(&dir.join("seeds").join(name)).is_empty(),
            "no seeds for {name}"
        );
        assert!(
            !bounded::dictionary(target).is_empty(),
            "empty dict/{name}.dict"
        );
    }
    // A regression directory must belong to a target, or its inputs would never be replayed.
    for entry in std::fs::read_dir(dir.join("regressions")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            TARGETS.iter().any(|t| t.name == name) || !Path::new(&path).is_dir(),
            "fuzz/regressions/{name}/ names no target"
        );
    }
}
