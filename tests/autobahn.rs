//! The Autobahn TestSuite's fuzzingclient, cases 1 to 10 (framing, pings and pongs, reserved
//! bits and opcodes, fragmentation, UTF-8, close handling, limits and performance), against the
//! echo route exactly as `config/echo.yaml` configures it, several cases at a time. The runner is
//! kosoku (PyPI), which drives Autobahn's own case files on Python 3; `tests/setup/autobahn.sh`
//! installs it under `$HOME/.cache/tidegate` (tests/run.sh does).
//!
//! Cases 12 and 13 (permessage-deflate: five data sets, seven sets of negotiated parameters)
//! run against `config/websocket-deflate.yaml`, the same route with compression on: the cases
//! whose messages fit a debug build on 2 busy cores within Autobahn's 30 s per case (up to
//! 16 KiB, and 8 and 16 KiB messages auto-fragmented into 256-byte frames). The 32 KiB to 128 KiB
//! cases pass too when run alone (`kosoku URL -i '12.*' -i '13.*'`), but on incompressible data
//! they take 20 s each in a debug build, too close to that limit.
//!
//! Every case must end OK, NON-STRICT or INFORMATIONAL, and its closing handshake OK or
//! INFORMATIONAL; a failure lists every case that did not, with Autobahn's explanation.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;
use tidegate::config::DriverChoice;

/// The case groups of the run: 1 to 10 (there is no group 8; 12 and 13 need compression).
const GROUPS: &[&str] = &["1", "2", "3", "4", "5", "6", "7", "9", "10"];
/// Cases in those groups in kosoku 0.1.0 (the version the setup script pins): a run that
/// silently skipped some would otherwise pass.
const CASES: usize = 301;
/// Cases run at once: parallel cases must not see each other's messages.
const PARALLELISM: &str = "8";
/// The compression cases run: in each of 12.1-12.5 (data sets) and 13.1-13.7 (parameters),
/// cases 1-7 (16 to 16384 bytes, whole) and, in 12.x, 11 and 12 (fragmented).
fn compression_cases() -> Vec<String> {
    let mut cases = Vec::new();
    for set in 1..=5 {
        cases.extend([1, 2, 3, 4, 5, 6, 7, 11, 12].map(|case| format!("12.{set}.{case}")));
    }
    for params in 1..=7 {
        cases.extend((1..=7).map(|case| format!("13.{params}.{case}")));
    }
    cases
}

/// The whole run takes well under a minute on 2 cores; this only stops a hung runner.
const RUN_DEADLINE: Duration = Duration::from_secs(900);

fn kosoku() -> PathBuf {
    let cache = std::env::var_os("TIDEGATE_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/tidegate")
        });
    let path = cache.join("autobahn-venv/bin/kosoku");
    assert!(
        path.exists(),
        "{} is missing: run tests/setup/autobahn.sh (tests/run.sh does)",
        path.display()
    );
    path
}

/// Runs the cases matching `patterns`, `parallelism` at a time, against `url`, writing reports
/// to `out`; returns the runner's output.
fn run_suite(url: &str, out: &Path, patterns: &[String], parallelism: &str) -> String {
    let mut command = Command::new(kosoku());
    command.arg(url).args(["-p", parallelism, "-o"]).arg(out);
    for pattern in patterns {
        command.args(["-i", pattern]);
    }
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kosoku starts");
    let started = Instant::now();
    // kosoku exits 1 when a case failed: the report says which, so the status is not checked.
    while child.try_wait().expect("kosoku runs").is_none() {
        if started.elapsed() > RUN_DEADLINE {
            let _ = child.kill();
            panic!("kosoku did not finish within {RUN_DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let output = child.wait_with_output().expect("kosoku output");
    String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr)
}

/// Every case whose verdict is not acceptable, as `id: behavior/behaviorClose: explanation`.
fn unacceptable_cases(results: &serde_json::Map<String, Value>, out: &Path) -> Vec<String> {
    let mut failures = Vec::new();
    for (id, result) in results {
        let behavior = result["behavior"].as_str().unwrap_or("missing");
        let close = result["behaviorClose"].as_str().unwrap_or("missing");
        let behavior_ok = matches!(behavior, "OK" | "NON-STRICT" | "INFORMATIONAL");
        let close_ok = matches!(close, "OK" | "INFORMATIONAL");
        if behavior_ok && close_ok {
            continue;
        }
        let report = result["reportfile"]
            .as_str()
            .and_then(|file| std::fs::read_to_string(out.join(file)).ok())
            .and_then(|text| serde_json::from_str::<Value>(&text).ok());
        let why = report.as_ref().map_or(String::new(), |report| {
            // What the client received, so that a failure seen once (in CI) says what differed.
            let received: String = report["received"].to_string().chars().take(400).collect();
            format!(
                "{} / {} (received: {received}; close codes sent {}, received {}; not clean \
                 because: {}; server drop timeout: {}; close handshake timeout: {})",
                report["result"].as_str().unwrap_or(""),
                report["resultClose"].as_str().unwrap_or(""),
                report["localCloseCode"],
                report["remoteCloseCode"],
                report["wasNotCleanReason"],
                report["wasServerConnectionDropTimeout"],
                report["wasCloseHandshakeTimeout"],
            )
        });
        failures.push(format!("{id}: {behavior}/{close}: {why}"));
    }
    failures
}

fn autobahn_cases_1_to_10_pass_on_the_echo_route_in_parallel(driver: DriverChoice) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/echo.yaml");
    let config = tidegate::config::load_file(&path).expect("config/echo.yaml loads");
    let gateway = start(on_loopback(config, driver));
    let url = format!("ws://{}/echo", gateway.local_addr());
    let groups: Vec<String> = GROUPS.iter().map(|group| format!("{group}.*")).collect();
    let (results, out, output) = run_and_read(&url, &groups, PARALLELISM);
    let mut failures = unacceptable_cases(&results, out.path());
    // A case whose verdict passed but whose closing handshake the client ended first (6.4.x
    // stream the rest of an invalid frame while the gateway closes) depends on which side's TCP
    // close lands first; with 8 cases at once on 2 busy cores that race can go either way. So
    // does one whose close was judged unclean (the client waits only 1 s for the server's TCP
    // close after the close handshake: once in CI, 7.7.1, with 4 runs of 8 cases at once). Such a
    // case is run again, alone: a real defect fails there too. A failed verdict is never retried.
    let closing_only: Vec<String> = failures
        .iter()
        .filter(|failure| {
            (failure.contains("/FAILED BY CLIENT:") || failure.contains("/UNCLEAN:"))
                && !failure.contains(": FAILED/")
        })
        .filter_map(|failure| failure.split(':').next().map(str::to_owned))
        .collect();
    if !closing_only.is_empty() && closing_only.len() == failures.len() {
        let (rerun, rerun_out, rerun_output) = run_and_read(&url, &closing_only, "1");
        assert_eq!(
            rerun.len(),
            closing_only.len(),
            "cases run again alone; kosoku said:\n{rerun_output}"
        );
        failures = unacceptable_cases(&rerun, rerun_out.path());
    }
    assert!(
        failures.is_empty(),
        "{} of {} Autobahn cases failed:\n{}",
        failures.len(),
        results.len(),
        failures.join("\n")
    );
    assert_eq!(results.len(), CASES, "cases run; kosoku said:\n{output}");
}
on_both_drivers!(
    autobahn_cases_1_to_10_pass_on_the_echo_route_in_parallel,
    autobahn_cases_1_to_10_pass_on_the_echo_route_in_parallel
);

fn autobahn_compression_cases_pass_with_permessage_deflate(driver: DriverChoice) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/websocket-deflate.yaml");
    let config = tidegate::config::load_file(&path).expect("config/websocket-deflate.yaml loads");
    let gateway = start(on_loopback(config, driver));
    let url = format!("ws://{}/echo", gateway.local_addr());
    let cases = compression_cases();
    let (results, out, output) = run_and_read(&url, &cases, "4");
    let failures = unacceptable_cases(&results, out.path());
    assert!(
        failures.is_empty(),
        "{} of {} Autobahn compression cases failed:\n{}",
        failures.len(),
        results.len(),
        failures.join("\n")
    );
    assert_eq!(
        results.len(),
        cases.len(),
        "cases run; kosoku said:\n{output}"
    );
    // The cases did negotiate: the gateway sent compressed messages.
    let admin = gateway.admin_addr().expect("admin listener");
    let deflated = common::admin::metric_total(admin, "websocket_deflate_bytes_out_total");
    assert!(deflated > 0);
}
on_both_drivers!(
    autobahn_compression_cases_pass_with_permessage_deflate,
    autobahn_compression_cases_pass_with_permessage_deflate
);

/// Runs `patterns` and reads the runner's index: the results by case, the report folder (kept
/// alive for the case reports) and what the runner printed.
fn run_and_read(
    url: &str,
    patterns: &[String],
    parallelism: &str,
) -> (serde_json::Map<String, Value>, tempfile::TempDir, String) {
    let out = tempfile::tempdir().expect("temp dir");
    let output = run_suite(url, out.path(), patterns, parallelism);
    let index = std::fs::read_to_string(out.path().join("index.json"))
        .unwrap_or_else(|err| panic!("no report ({err}); kosoku said:\n{output}"));
    let index: Value = serde_json::from_str(&index).expect("index.json is JSON");
    let results = index
        .as_object()
        .and_then(|agents| agents.values().next())
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_else(|| panic!("no results in index.json; kosoku said:\n{output}"));
    (results, out, output)
}
