//! How a number that does not fit a count or duration key is reported. serde says "invalid
//! value: integer `-5`, expected u64"; a YAML author wants the key's range and unit, e.g.
//! "must be a non-negative whole number of milliseconds, got -5".

/// The problem to report for serde's `message` about the key at `location`, when it is a negative
/// or fractional number given to an unsigned key; `None` for any other message.
pub(super) fn unsigned_problem(message: &str, location: &str) -> Option<String> {
    let rest = message
        .strip_prefix("invalid value: integer `")
        .or_else(|| message.strip_prefix("invalid type: floating point `"))?;
    let (value, expected) = rest.split_once("`, expected ")?;
    if !matches!(expected, "u64" | "usize") {
        return None;
    }
    let key = location.rsplit('.').next().unwrap_or(location);
    let unit = if key.ends_with("Ms") {
        " of milliseconds"
    } else if key.ends_with("Bytes") {
        " of bytes"
    } else if key.ends_with("Seconds") {
        " of seconds"
    } else {
        ""
    };
    Some(format!(
        "must be a non-negative whole number{unit}, got {value}"
    ))
}

#[cfg(test)]
mod tests {
    use super::unsigned_problem;

    #[test]
    fn negative_and_fractional_numbers_name_the_range_and_unit() {
        assert_eq!(
            unsigned_problem(
                "invalid value: integer `-5`, expected u64",
                "gateway.timeouts.shutdownMs"
            )
            .as_deref(),
            Some("must be a non-negative whole number of milliseconds, got -5")
        );
        assert_eq!(
            unsigned_problem(
                "invalid type: floating point `1.5`, expected usize",
                "gateway.limits.maxBodyBytes"
            )
            .as_deref(),
            Some("must be a non-negative whole number of bytes, got 1.5")
        );
        assert_eq!(
            unsigned_problem(
                "invalid value: integer `-1`, expected usize",
                "apis[0].endpoint.configuration.consumer.maxRetainedMessages"
            )
            .as_deref(),
            Some("must be a non-negative whole number, got -1")
        );
        assert_eq!(
            unsigned_problem("invalid value: integer `-1`, expected i64", "x"),
            None
        );
    }
}
