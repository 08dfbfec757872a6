//! Fuzz targets for every tidegate decoder that reads client or broker bytes.
//!
//! Each target in [`targets`] is a function from arbitrary bytes to nothing that panics when a
//! property fails. Properties go beyond "no panic" where they are cheap: the same result for any
//! split of the input (sockets deliver bytes in any pieces), `decode(encode(x)) == x`, agreement
//! with a small reference model, and no allocation that a declared length could inflate
//! ([`alloc_guard`]).
//!
//! The same functions run two ways:
//! - coverage-guided, as libFuzzer binaries (`fuzz_targets/`, built by `cargo fuzz` on the stable
//!   toolchain with `--sanitizer none`; see docs/fuzzing.md and `fuzz/run.sh`);
//! - bounded, in `cargo test` (`tests/bounded_run.rs`): every input in `seeds/<target>/` and
//!   `regressions/<target>/` (every input that ever failed, kept forever), then a fixed number of
//!   deterministic mutations of them ([`bounded`]).

pub mod alloc_guard;
pub mod bounded;
pub mod input;
pub mod mutate;
pub mod targets;

/// One fuzz target: its name (also its binary, `seeds/`, `regressions/` and `dict/` entry).
#[derive(Clone, Copy)]
pub struct Target {
    pub name: &'static str,
    pub run: fn(&[u8]),
}

/// Every target; `tests/bounded_run.rs` checks each has a binary, seeds and a dictionary.
pub const TARGETS: &[Target] = &[
    Target {
        name: "http_head",
        run: targets::http_head::run,
    },
    Target {
        name: "http_body",
        run: targets::http_body::run,
    },
    Target {
        name: "ws_frames",
        run: targets::ws_frames::run,
    },
    Target {
        name: "ws_messages",
        run: targets::ws_messages::run,
    },
    Target {
        name: "cursor",
        run: targets::cursor::run,
    },
    Target {
        name: "kafka_cursor",
        run: targets::kafka_cursor::run,
    },
    Target {
        name: "kafka_compact_id",
        run: targets::kafka_compact_id::run,
    },
    Target {
        name: "mqtt",
        run: targets::mqtt::run,
    },
    Target {
        name: "config",
        run: targets::config::run,
    },
];
