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
    pub enabled: bool,
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
