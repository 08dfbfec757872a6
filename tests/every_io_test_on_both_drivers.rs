//! Every test that starts a gateway runs on both I/O drivers (io_uring and epoll) unless it says
//! why not. `common::start` refuses `auto` at run time; this check reads the test sources and
//! lists every place that picks one driver by itself: a `DriverChoice` named outside a `match`
//! arm, a `driver:` line in a YAML string, a gateway started past `common::start`, or the
//! `tidegate` binary (which runs on `auto`). Each such place carries a comment `one driver:
//! <why>` on its line or one of the three lines above, or its file's module documentation says
//! `One driver: <why>` for the whole file.

use std::path::{Path, PathBuf};

/// What names one driver (or starts a gateway on one) when it is not a `match` arm.
const PICKS: [&str; 8] = [
    "DriverChoice::Auto",
    "DriverChoice::IoUring",
    "DriverChoice::Epoll",
    "driver: auto",
    "driver: io-uring",
    "driver: epoll",
    "Gateway::start(",
    "Binary::start(",
];

/// Where a driver is named on purpose: the macro that hands out both, and the helpers that
/// start gateways for the tests.
const HOMES: [&str; 1] = ["common/mod.rs"];

/// The `.rs` files under `dir`, recursively.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(sources(&path));
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
    files
}

/// The places in `text` that pick one driver without a reason, as `line: text`.
fn unexplained(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let whole_file = lines
        .iter()
        .take_while(|line| line.starts_with("//!"))
        .any(|line| line.to_ascii_lowercase().contains("one driver:"));
    if whole_file {
        return Vec::new();
    }
    let mut found = Vec::new();
    for (n, line) in lines.iter().enumerate() {
        let code = line.trim_start();
        if code.starts_with("//") {
            continue;
        }
        let Some(pick) = PICKS.iter().find(|pick| line.contains(*pick)) else {
            continue;
        };
        let after = &line[line.find(pick).unwrap() + pick.len()..];
        if pick.starts_with("DriverChoice") && after.trim_start().starts_with("=>") {
            continue;
        }
        let explained = lines[n.saturating_sub(3)..=n]
            .iter()
            .any(|line| line.to_ascii_lowercase().contains("one driver:"));
        if !explained {
            found.push(format!("{}: {}", n + 1, line.trim()));
        }
    }
    found
}

#[test]
fn every_test_that_picks_one_driver_says_why() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let this = file!().rsplit('/').next().unwrap();
    let mut report = Vec::new();
    for path in sources(&root) {
        let name = path
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if name == this || HOMES.contains(&name.as_str()) {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for place in unexplained(&text) {
            report.push(format!("tests/{name}:{place}"));
        }
    }
    assert!(
        report.is_empty(),
        "these run a gateway on one driver without saying why: run the test with \
         on_both_drivers! (tests/common/mod.rs) and pass the driver it hands over, or add a \
         `// one driver: <why>` comment:\n{}",
        report.join("\n")
    );
}

#[test]
fn the_check_finds_a_test_on_auto_and_accepts_a_reason() {
    let plain = "fn t() {\n    let g = start(test_config(&yaml, DriverChoice::Auto));\n}\n";
    assert_eq!(unexplained(plain).len(), 1);
    let explained = "fn t() {\n    // one driver: a benchmark of the default\n    let g = start(test_config(&yaml, DriverChoice::Auto));\n}\n";
    assert!(unexplained(explained).is_empty());
    let arm = "match driver {\n    DriverChoice::Epoll => \"epoll\",\n}\n";
    assert!(unexplained(arm).is_empty());
    let file = "//! Tests.\n//!\n//! One driver: the binary runs on auto.\n\nfn t() { Binary::start(&y); }\n";
    assert!(unexplained(file).is_empty());
}
