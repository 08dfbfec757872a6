//! The bounded run in `cargo test`: replay a target's kept inputs, then mutate them a fixed
//! number of times with a fixed seed. Deterministic, so a failure reproduces on every machine;
//! a failing input is written out with the steps to keep it as a regression.

use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use crate::input::SplitMix64;
use crate::mutate::{parse_dictionary, Mutator};
use crate::Target;

/// Mutations per target when `TIDEGATE_FUZZ_ITERATIONS` is not set.
pub const DEFAULT_ITERATIONS: usize = 2_000;
/// Longest mutant (the deep runs use the same `-max_len`, see `fuzz/run.sh`).
pub const MAX_INPUT_BYTES: usize = 4096;

/// The fuzz crate's directory (holding `seeds/`, `regressions/`, `dict/`).
pub fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every file in `dir`, sorted by name (missing directory: none).
pub fn inputs_in(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.is_file())
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let data = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (path, data)
        })
        .collect()
}

/// The dictionary of `target` (`dict/<name>.dict`).
pub fn dictionary(target: &Target) -> Vec<Vec<u8>> {
    let path = fuzz_dir()
        .join("dict")
        .join(format!("{}.dict", target.name));
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    parse_dictionary(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// What a bounded run did.
#[derive(Debug)]
pub struct Report {
    pub replayed: usize,
    pub mutants: usize,
}

/// Replays `seeds/<name>/` and `regressions/<name>/`, then runs `iterations` mutants of them.
///
/// # Panics
/// On the first input that fails, after saving it under `target/fuzz-failures/<name>/`.
pub fn run(target: &Target, iterations: usize) -> Report {
    let dir = fuzz_dir();
    let mut kept = inputs_in(&dir.join("seeds").join(target.name));
    kept.extend(inputs_in(&dir.join("regressions").join(target.name)));
    for (path, data) in &kept {
        check(target, data, &format!("kept input {}", path.display()));
    }
    let corpus: Vec<Vec<u8>> = kept.into_iter().map(|(_, data)| data).collect();
    let seed = SplitMix64::from_bytes(target.name.as_bytes()).next_u64();
    let mut mutator = Mutator::new(seed, dictionary(target), MAX_INPUT_BYTES);
    for iteration in 0..iterations {
        let data = mutator.mutant(&corpus);
        check(target, &data, &format!("mutant {iteration}"));
    }
    Report {
        replayed: corpus.len(),
        mutants: iterations,
    }
}

/// `TIDEGATE_FUZZ_ITERATIONS`, or [`DEFAULT_ITERATIONS`].
pub fn iterations_from_env() -> usize {
    std::env::var("TIDEGATE_FUZZ_ITERATIONS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(DEFAULT_ITERATIONS)
}

fn check(target: &Target, data: &[u8], what: &str) {
    let outcome = catch_unwind(AssertUnwindSafe(|| (target.run)(data)));
    if let Err(panic) = outcome {
        let message = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("(no message)");
        let saved = save_failure(target, data);
        panic!(
            "fuzz target {} failed on {what}: {message}\n  input saved as {}\n  \
             fix the decoder, then keep the input: cp {} fuzz/regressions/{}/",
            target.name,
            saved.display(),
            saved.display(),
            target.name
        );
    }
}

fn save_failure(target: &Target, data: &[u8]) -> PathBuf {
    let dir = fuzz_dir()
        .join("..")
        .join("target")
        .join("fuzz-failures")
        .join(target.name);
    let path = dir.join(format!("{:016x}", SplitMix64::from_bytes(data).next_u64()));
    let _ = fs::create_dir_all(&dir).and_then(|()| fs::write(&path, data));
    path
}
