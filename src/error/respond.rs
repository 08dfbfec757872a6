//! Writing a data-path error: the HTTP answer (status, `Retry-After`, the reason; a 5xx also
//! names the request id, since the client can only report those), its log line at the kind's
//! level with the details the client is not shown, and its count.

use std::io;

use super::{DataError, Kind, LogLevel};
use crate::metrics::ShardMetrics;
use crate::server::conn::Conn;

/// Answers the current request with `error` (`close`: the connection ends after it).
pub async fn answer(conn: &mut Conn, error: &DataError, close: bool) -> io::Result<()> {
    let answer = error.answer();
    debug_assert!(
        answer.status.is_some(),
        "{:?} only ends streams",
        error.kind()
    );
    let status = answer.status.unwrap_or(500);
    let id = conn.request_id();
    record(
        conn.metrics(),
        error.kind(),
        error.reason(),
        error.detail(),
        Some(&id.to_string()),
    );
    let body = if status >= 500 {
        format!("{} (request id {id})", error.reason())
    } else {
        error.reason().to_owned()
    };
    let retry = answer.retry_after.map(|seconds| seconds.to_string());
    let headers: Vec<(&str, &str)> = retry.iter().map(|s| ("Retry-After", s.as_str())).collect();
    conn.write_plain(status, &headers, &id.to_string(), &body, close)
        .await
}

/// Counts and logs an error that ends an open stream (the close code or `goaway` is the
/// entrypoint's to send, from `error.answer()`).
pub fn record_ending(metrics: &ShardMetrics, error: &DataError) {
    record(metrics, error.kind(), error.reason(), error.detail(), None);
}

/// Counts one occurrence and logs it at its kind's level, or one level lower (debug) when a
/// broker-fault error carries no detail: those are known states the answer already says (the
/// feed has not started, a bridge queue or catch-up limit is full), and clients retry them every
/// `Retry-After` second, so a warn line each would flood the log after a restart; the count
/// still shows them.
fn record(
    metrics: &ShardMetrics,
    kind: Kind,
    reason: &str,
    detail: Option<&str>,
    request_id: Option<&str>,
) {
    metrics.errors.inc(kind);
    let answer = kind.answer();
    let (fault, kind) = (answer.fault.label(), answer.label);
    let request_id = request_id.unwrap_or("-");
    let level = match (answer.log, detail) {
        (LogLevel::Warn, None) => LogLevel::Debug,
        (level, _) => level,
    };
    let detail = detail.unwrap_or("");
    match level {
        LogLevel::Debug => {
            tracing::debug!(request_id, fault, kind, reason, detail, "data-path error")
        }
        LogLevel::Info => {
            tracing::info!(request_id, fault, kind, reason, detail, "data-path error")
        }
        LogLevel::Warn => {
            tracing::warn!(request_id, fault, kind, reason, detail, "data-path error")
        }
    }
}
