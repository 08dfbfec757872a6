//! The CLI's client of the management API (`tidegate apis …`, `tidegate subscriptions …`):
//! blocking HTTP through ureq, the address and token from flags or `TIDEGATE_URL` /
//! `TIDEGATE_TOKEN`, answers as JSON or as a table, and errors that say what to fix.

use std::time::Duration;

use serde_json::Value;

/// How long one call may take, connection included.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// What went wrong, in words for the operator.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// No answer at all (connection refused, DNS, TLS, timeout): usually a wrong `--url` or a
    /// node without `management:` (exit code 2).
    #[error("cannot reach the management API at {url}: {detail}; is tidegate running with a `management:` section, and is --url / TIDEGATE_URL its management.listen address?")]
    Unreachable {
        /// The management API address tried (`--url` / `TIDEGATE_URL`).
        url: String,
        /// Why the connection failed, e.g. `connection refused`.
        detail: String,
    },
    /// The API answered 401: the bearer token is missing, wrong or revoked (exit code 2).
    #[error("the management API at {url} refused the token (401): give a valid one with --token or TIDEGATE_TOKEN (the one printed at first start, or one of management.tokens)")]
    Unauthorized {
        /// The management API address that refused the token.
        url: String,
    },
    /// Any other non-2xx answer: the API's own error, which says what to fix.
    #[error("{status}: {message}")]
    Refused {
        /// The HTTP status of the answer (400, 404, 409, 412 …).
        status: u16,
        /// The answer's `message` and one line per field error (`location: message`).
        message: String,
    },
    /// An answer arrived but its body could not be read; the text says why.
    #[error("{0}")]
    Other(String),
}

/// A management API client for one environment.
pub struct Client {
    agent: ureq::Agent,
    /// `http://host:port`, without a trailing slash.
    url: String,
    token: String,
    environment: String,
}

impl Client {
    /// A client of the API at `url` (`http://host:port`, a trailing `/` is ignored) that sends
    /// `token` as its bearer token and calls under `/management/v2/environments/{environment}`;
    /// each call may take 30 s, connection included.
    pub fn new(url: &str, token: &str, environment: &str) -> Client {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(CALL_TIMEOUT))
            .build()
            .into();
        Client {
            agent,
            url: url.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            environment: environment.to_owned(),
        }
    }

    /// `method` on `/management/v2/environments/{env}{path}`; the answer's JSON (`Null` for an
    /// empty answer such as 204).
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, CliError> {
        let url = format!(
            "{}/management/v2/environments/{}{path}",
            self.url, self.environment
        );
        let authorization = format!("Bearer {}", self.token);
        let result = match (method, body) {
            ("GET", _) => self
                .agent
                .get(&url)
                .header("Authorization", &authorization)
                .call(),
            ("DELETE", _) => self
                .agent
                .delete(&url)
                .header("Authorization", &authorization)
                .call(),
            (_, Some(body)) => self
                .agent
                .post(&url)
                .header("Authorization", &authorization)
                .header("Content-Type", "application/json")
                .send(body.to_string()),
            (_, None) => self
                .agent
                .post(&url)
                .header("Authorization", &authorization)
                .send_empty(),
        };
        let mut response = result.map_err(|error| CliError::Unreachable {
            url: self.url.clone(),
            detail: unreachable_detail(&error),
        })?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|error| CliError::Other(format!("cannot read the answer: {error}")))?;
        let json: Value = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        match status {
            200..=299 => Ok(json),
            401 => Err(CliError::Unauthorized {
                url: self.url.clone(),
            }),
            _ => Err(CliError::Refused {
                status,
                message: refusal(&json),
            }),
        }
    }
}

fn unreachable_detail(error: &ureq::Error) -> String {
    match error {
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            "connection refused".to_owned()
        }
        other => other.to_string(),
    }
}

/// The management API's error body in one line: its message and each field error.
fn refusal(json: &Value) -> String {
    let mut text = json
        .get("message")
        .and_then(Value::as_str)
        .map_or_else(|| json.to_string(), str::to_owned);
    for error in json
        .get("errors")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let location = error.get("location").and_then(Value::as_str).unwrap_or("");
        let message = error.get("message").and_then(Value::as_str).unwrap_or("");
        text.push_str(&format!("\n  {location}: {message}"));
    }
    text
}

/// Rows of `items` (`data` of a list answer) as an aligned text table of `columns`
/// (header, JSON key).
pub fn table(items: &[Value], columns: &[(&str, &str)]) -> String {
    let cell = |item: &Value, key: &str| match item.get(key) {
        None | Some(Value::Null) => "-".to_owned(),
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
    };
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|item| columns.iter().map(|(_, key)| cell(item, key)).collect())
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(index, (header, _))| {
            rows.iter()
                .map(|row| row[index].chars().count())
                .chain([header.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<String>| -> String {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        padded.join("  ").trim_end().to_owned()
    };
    let mut out = line(columns.iter().map(|(h, _)| (*h).to_owned()).collect());
    out.push('\n');
    for row in rows {
        out.push_str(&line(row));
        out.push('\n');
    }
    out
}

/// The columns of `tidegate apis list`.
pub const API_COLUMNS: &[(&str, &str)] = &[
    ("ID", "id"),
    ("NAME", "name"),
    ("STATE", "state"),
    ("LIFECYCLE", "lifecycleState"),
    ("VISIBILITY", "visibility"),
    ("REVISION", "deployedRevision"),
    ("DEPLOYMENT", "deploymentState"),
];

/// The columns of `tidegate subscriptions list`.
pub const SUBSCRIPTION_COLUMNS: &[(&str, &str)] = &[
    ("ID", "id"),
    ("APPLICATION", "application"),
    ("PLAN", "plan"),
    ("STATUS", "status"),
];

/// `tidegate tokens list`.
pub const TOKEN_COLUMNS: &[(&str, &str)] = &[
    ("NAME", "name"),
    ("ROLE", "role"),
    ("SOURCE", "source"),
    ("ACTIVE", "active"),
    ("CREATED", "createdAt"),
    ("EXPIRES", "expiresAt"),
    ("EXPIRED", "expired"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn table_aligns_columns_and_marks_missing_cells() {
        let items = [
            json!({"id": "orders", "state": "started", "deployedRevision": 3}),
            json!({"id": "a", "state": null}),
        ];
        let text = table(
            &items,
            &[
                ("ID", "id"),
                ("STATE", "state"),
                ("REV", "deployedRevision"),
            ],
        );
        assert_eq!(
            text,
            "ID      STATE    REV\norders  started  3\na       -        -\n"
        );
    }

    #[test]
    fn refusal_lists_field_errors() {
        let body = json!({"message": "invalid", "errors": [{"location": "definition.id", "message": "bad"}]});
        assert_eq!(refusal(&body), "invalid\n  definition.id: bad");
    }
}
