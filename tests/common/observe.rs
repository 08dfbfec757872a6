//! Reading what the gateway reports about traffic: access-log files and labelled metric series.

use std::path::Path;
use std::time::Duration;

use super::eventually;

/// The lines of the access-log file at `path` (none when it does not exist yet).
pub fn log_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Waits until the file holds at least `count` lines; returns them.
pub fn wait_for_lines(path: &Path, count: usize) -> Vec<String> {
    let arrived = eventually(Duration::from_secs(20), || log_lines(path).len() >= count);
    let lines = log_lines(path);
    assert!(arrived, "expected {count} access-log lines, got {lines:#?}");
    lines
}

/// Each line parsed as JSON.
pub fn json_lines(path: &Path, count: usize) -> Vec<serde_json::Value> {
    wait_for_lines(path, count)
        .iter()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

/// The value of the series `tidegate_<series>` written exactly (labels included), e.g.
/// `api_responses_total{api="a",entrypoint="http-get",status="2xx"}`; `None` when absent.
pub fn series_value(text: &str, series: &str) -> Option<f64> {
    let prefix = format!("tidegate_{series} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .map(|value| value.trim().parse().expect("a number"))
}
