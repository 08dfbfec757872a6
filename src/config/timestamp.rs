//! RFC 3339 timestamps (`2026-03-01T00:00:00Z`, `2026-03-01T09:30:00+02:00`) for the start, end
//! and expiry dates of subscriptions and API keys.
//!
//! Parsed here rather than with a date crate: the configuration needs only this one format, and
//! the arithmetic (days from a civil date) is a dozen lines.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::civil_date::days_from_civil;

/// The instant `text` names, or why it names none.
pub(crate) fn parse_rfc3339(text: &str) -> Result<SystemTime, String> {
    let wrong = || {
        format!(
            "'{text}' is not an RFC 3339 timestamp; write e.g. 2026-03-01T00:00:00Z or 2026-03-01T09:30:00+02:00"
        )
    };
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return Err(wrong());
    }
    if b[13] != b':' || b[16] != b':' {
        return Err(wrong());
    }
    let num = |range: std::ops::Range<usize>| -> Result<i64, String> {
        let part = &text[range];
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse::<i64>().map_err(|_| wrong())
        } else {
            Err(wrong())
        }
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &text[19..];
    let mut nanos = 0u32;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 9 {
            return Err(wrong());
        }
        let value: u32 = fraction[..digits].parse().map_err(|_| wrong())?;
        nanos = value * 10u32.pow(9 - digits as u32);
        rest = &fraction[digits..];
    }
    let offset_seconds = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && matches!(&rest[..1], "+" | "-") && &rest[3..4] == ":" => {
            let sign = if rest.starts_with('-') { -1 } else { 1 };
            let (h, m) = (
                num_in(rest, 1..3).ok_or_else(wrong)?,
                num_in(rest, 4..6).ok_or_else(wrong)?,
            );
            if h > 23 || m > 59 {
                return Err(wrong());
            }
            sign * (h * 3600 + m * 60)
        }
        _ => return Err(wrong()),
    };
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&month)
        || day < 1
        || day > month_days[(month - 1) as usize]
        || hour > 23
        || minute > 59
        || second > 60
    {
        return Err(wrong());
    }
    let seconds = days_from_civil(year, month as u32, day as u32) * 86_400
        + hour * 3600
        + minute * 60
        + second
        - offset_seconds;
    if seconds < 0 {
        return Err(format!("'{text}' is before 1970"));
    }
    Ok(UNIX_EPOCH + Duration::new(seconds as u64, nanos))
}

fn num_in(text: &str, range: std::ops::Range<usize>) -> Option<i64> {
    let part = text.get(range)?;
    part.bytes()
        .all(|c| c.is_ascii_digit())
        .then(|| part.parse().ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(text: &str) -> u64 {
        parse_rfc3339(text)
            .unwrap()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    #[test]
    fn known_instants() {
        assert_eq!(secs("1970-01-01T00:00:00Z"), 0);
        assert_eq!(secs("2000-03-01T00:00:00Z"), 951_868_800);
        assert_eq!(secs("2026-01-01T00:00:00Z"), 1_767_225_600);
        assert_eq!(secs("2026-01-01T02:00:00+02:00"), 1_767_225_600);
        assert_eq!(secs("2025-12-31T23:00:00-01:00"), 1_767_225_600);
        let nanos = parse_rfc3339("1970-01-01T00:00:01.5Z").unwrap();
        assert_eq!(nanos.duration_since(UNIX_EPOCH).unwrap().as_millis(), 1500);
    }

    #[test]
    fn malformed_text_is_refused() {
        for text in [
            "",
            "2026-01-01",
            "2026-01-01T00:00:00",
            "2026-13-01T00:00:00Z",
            "2026-02-30T00:00:00Z",
            "2026-01-01T24:00:00Z",
            "2026-01-01T00:00:00+2:00",
            "2026-01-01T00:00:00.Z",
            "x026-01-01T00:00:00Z",
            "1969-12-31T23:59:59Z",
        ] {
            assert!(parse_rfc3339(text).is_err(), "{text}");
        }
    }
}
