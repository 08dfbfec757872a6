//! Configuration problems: what is wrong, where, and how to fix it.
//!
//! Loading never stops at the first mistake: every stage pushes into a [`Problems`] list, and the
//! caller gets all of them at once in a [`ConfigError`], so an operator fixes a file in one pass.

use std::fmt;

/// One thing wrong with a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where: a key path such as `apis[0].entrypoints[1].configuration.heartbeatIntervalInMs`,
    /// or `line 3 column 5` for YAML syntax errors.
    pub location: String,
    /// What to fix, e.g. "must be at least 2000 (ms)".
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// A configuration that cannot be used, with every problem found in it.
///
/// Displayed one problem per line as `<origin>: <location>: <message>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Where the text came from (a file path, or a name such as `<embedded default>`).
    pub origin: String,
    /// Every problem found; never empty.
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, problem) in self.problems.iter().enumerate() {
            if index > 0 {
                writeln!(f)?;
            }
            write!(f, "{}: {}", self.origin, problem)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Collects problems while a configuration is decoded and validated.
#[derive(Debug, Default)]
pub(crate) struct Problems {
    list: Vec<Problem>,
}

impl Problems {
    /// Records a problem at `location`.
    pub(crate) fn push(&mut self, location: impl Into<String>, message: impl Into<String>) {
        self.list.push(Problem {
            location: location.into(),
            message: message.into(),
        });
    }

    /// Records a problem when `value` is below `minimum`; `unit` is appended to the message.
    pub(crate) fn require_at_least(
        &mut self,
        location: &str,
        value: u64,
        minimum: u64,
        unit: &str,
    ) {
        if value < minimum {
            self.push(
                location,
                format!("must be at least {minimum}{unit}, got {value}"),
            );
        }
    }

    /// Turns the collected problems into an error for `origin`, or `Ok(())` when there are none.
    pub(crate) fn into_result(self, origin: &str) -> Result<(), ConfigError> {
        if self.list.is_empty() {
            Ok(())
        } else {
            Err(ConfigError {
                origin: origin.to_owned(),
                problems: self.list,
            })
        }
    }
}

/// Joins a section's location and a path inside it: `join("apis[0]", "id")` = `apis[0].id`,
/// `join("apis[0]", "[2]")` = `apis[0][2]`.
pub(crate) fn join(base: &str, tail: &str) -> String {
    if base.is_empty() {
        tail.to_owned()
    } else if tail.is_empty() {
        base.to_owned()
    } else if tail.starts_with('[') {
        format!("{base}{tail}")
    } else {
        format!("{base}.{tail}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_puts_one_problem_per_line_with_origin() {
        let mut problems = Problems::default();
        problems.push("gateway.listen", "bad address");
        problems.push("line 3 column 5", "did not find expected key");
        let error = problems.into_result("cfg.yaml").unwrap_err();
        assert_eq!(
            error.to_string(),
            "cfg.yaml: gateway.listen: bad address\ncfg.yaml: line 3 column 5: did not find expected key"
        );
    }

    #[test]
    fn no_problems_is_ok() {
        assert_eq!(Problems::default().into_result("x"), Ok(()));
    }

    #[test]
    fn require_at_least_names_minimum_and_value() {
        let mut problems = Problems::default();
        problems.require_at_least("a", 1999, 2000, " (ms)");
        problems.require_at_least("b", 2000, 2000, " (ms)");
        let error = problems.into_result("o").unwrap_err();
        assert_eq!(error.problems.len(), 1);
        assert_eq!(
            error.problems[0].message,
            "must be at least 2000 (ms), got 1999"
        );
    }

    #[test]
    fn join_handles_indices_and_empty_parts() {
        assert_eq!(join("apis[0]", "id"), "apis[0].id");
        assert_eq!(join("apis", "[2]"), "apis[2]");
        assert_eq!(join("", "gateway"), "gateway");
        assert_eq!(join("gateway", ""), "gateway");
    }
}
