//! `gateway.accessLog` and `apis[].accessLog`: the access log's settings, decoded and checked
//! here so the shared config files only gain a key each.

use std::path::PathBuf;

use serde::Deserialize;

use super::problem::{join, Problems};

/// Lines the writer's queue holds by default (a few MB at most).
pub const DEFAULT_QUEUE_LINES: usize = 8192;
/// The largest queue accepted.
const MAX_QUEUE_LINES: usize = 1_000_000;

/// How lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AccessLogFormat {
    /// One JSON object per line.
    Json,
    /// `key=value` pairs (logfmt), values quoted when needed.
    Text,
}

/// The access log (`gateway.accessLog`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessLogConfig {
    /// `enabled` (default `false`): whether access-log lines are written at all.
    pub enabled: bool,
    /// `format` (default `json`): how each line is rendered.
    pub format: AccessLogFormat,
    /// `None`: standard output (`path: -`).
    pub path: Option<PathBuf>,
    /// Share of successful requests logged, in millionths (errors, status ≥ 400, always are).
    pub sample_per_million: u32,
    /// Lines waiting for the writer at most; more are dropped and counted.
    pub queue_lines: usize,
}

impl Default for AccessLogConfig {
    fn default() -> Self {
        AccessLogConfig {
            enabled: false,
            format: AccessLogFormat::Json,
            path: None,
            sample_per_million: 1_000_000,
            queue_lines: DEFAULT_QUEUE_LINES,
        }
    }
}

/// `gateway.accessLog` as written.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    default,
    expecting = "the access log mapping (enabled, format, path, sampleRate, queueLines)"
)]
pub(crate) struct RawAccessLog {
    pub enabled: bool,
    pub format: AccessLogFormat,
    pub path: String,
    pub sample_rate: f64,
    pub queue_lines: usize,
}

impl Default for RawAccessLog {
    fn default() -> Self {
        RawAccessLog {
            enabled: false,
            format: AccessLogFormat::Json,
            path: "-".to_owned(),
            sample_rate: 1.0,
            queue_lines: DEFAULT_QUEUE_LINES,
        }
    }
}

/// `apis[].accessLog` as written.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    default,
    expecting = "the API's access log mapping (enabled)"
)]
pub(crate) struct RawApiAccessLog {
    pub enabled: bool,
}

impl Default for RawApiAccessLog {
    fn default() -> Self {
        RawApiAccessLog { enabled: true }
    }
}

/// Checks `gateway.accessLog`.
pub(crate) fn access_log(raw: RawAccessLog, loc: &str, p: &mut Problems) -> AccessLogConfig {
    if !(0.0..=1.0).contains(&raw.sample_rate) {
        p.push(
            join(loc, "sampleRate"),
            format!(
                "must be between 0 and 1 (the share of successful requests logged; errors always are), not {}",
                raw.sample_rate
            ),
        );
    }
    if !(1..=MAX_QUEUE_LINES).contains(&raw.queue_lines) {
        p.push(
            join(loc, "queueLines"),
            format!(
                "must be between 1 and {MAX_QUEUE_LINES}, not {}",
                raw.queue_lines
            ),
        );
    }
    let path = raw.path.trim();
    if path.is_empty() {
        p.push(
            join(loc, "path"),
            "must be `-` (standard output) or a file path",
        );
    }
    AccessLogConfig {
        enabled: raw.enabled,
        format: raw.format,
        path: (path != "-").then(|| PathBuf::from(path)),
        sample_per_million: (raw.sample_rate.clamp(0.0, 1.0) * 1e6).round() as u32,
        queue_lines: raw.queue_lines.clamp(1, MAX_QUEUE_LINES),
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{load_str, AccessLogFormat};

    const API: &str = "apis:\n  - id: a\n    name: A\n    contextPaths: [/a]\n    entrypoints: [{ type: http-get }]\n    endpoint: { type: mock }\n    plans: [{ name: K, security: keyless }]\n";

    #[test]
    fn defaults_are_off_json_stdout_everything_sampled() {
        let config = load_str(API, "t").unwrap();
        let log = &config.gateway.access_log;
        assert!(!log.enabled);
        assert_eq!(log.format, AccessLogFormat::Json);
        assert_eq!(log.path, None);
        assert_eq!(log.sample_per_million, 1_000_000);
        assert!(config.apis[0].access_log);
    }

    #[test]
    fn settings_are_read_and_checked() {
        let yaml = format!(
            "gateway:\n  accessLog: {{ enabled: true, format: text, path: /var/log/a.log, sampleRate: 0.25, queueLines: 10 }}\n{}    accessLog: {{ enabled: false }}\n",
            API
        );
        let config = load_str(&yaml, "t").unwrap();
        let log = &config.gateway.access_log;
        assert!(log.enabled);
        assert_eq!(log.format, AccessLogFormat::Text);
        assert_eq!(
            log.path.as_deref(),
            Some(std::path::Path::new("/var/log/a.log"))
        );
        assert_eq!(log.sample_per_million, 250_000);
        assert_eq!(log.queue_lines, 10);
        assert!(!config.apis[0].access_log);

        let bad = format!(
            "gateway:\n  accessLog: {{ sampleRate: 1.5, queueLines: 0, path: '', colour: red }}\n{API}"
        );
        let error = load_str(&bad, "t").unwrap_err().to_string();
        assert!(
            error.contains("gateway.accessLog.colour: unknown key"),
            "{error}"
        );
        let bad =
            format!("gateway:\n  accessLog: {{ sampleRate: 1.5, queueLines: 0, path: '' }}\n{API}");
        let error = load_str(&bad, "t").unwrap_err().to_string();
        assert!(
            error.contains("gateway.accessLog.sampleRate: must be between 0 and 1"),
            "{error}"
        );
        assert!(
            error.contains("gateway.accessLog.queueLines: must be between 1 and"),
            "{error}"
        );
        assert!(
            error.contains("gateway.accessLog.path: must be `-`"),
            "{error}"
        );
        let bad = format!("{API}    accessLog: {{ on: true }}\n");
        let error = load_str(&bad, "t").unwrap_err().to_string();
        assert!(
            error.contains("apis[0].accessLog.on: unknown key"),
            "{error}"
        );
    }
}
