//! Origin allow-lists (`cors.allowOrigin`, websocket `allowedOrigins`): `*`, exact origins, and
//! regular expressions, validated and compiled once at load.
//!
//! An entry is an exact origin (`https://app.example.com`, compared without regard to case) unless
//! it holds a regular-expression character other than `.` (`\ ^ $ * + ? ( ) [ ] { } |`): then it
//! is a pattern matched against the *whole* Origin (anchored), so `https://.*\.example\.com` cannot
//! match `https://example.com.evil.net`. Dots alone stay literal: reading `app.example.com` as a
//! pattern would also let `appXexample.com` in.

use serde::Deserialize;

use super::problem::Problems;

/// Longest allow-list entry; an origin is a scheme, a host and a port.
const MAX_ENTRY_CHARS: usize = 512;
/// Largest compiled pattern (the regex crate's own bound on what one pattern may cost).
const MAX_PATTERN_BYTES: usize = 64 * 1024;

/// `allowOrigin` as written: one string (`"*"`) or a list.
#[derive(Debug, Clone, Deserialize)]
#[serde(
    untagged,
    expecting = "a list of origins such as [\"https://app.example.com\"], or \"*\""
)]
pub(crate) enum RawOrigins {
    One(String),
    Many(Vec<String>),
}

impl RawOrigins {
    pub(crate) fn into_list(self) -> Vec<String> {
        match self {
            RawOrigins::One(one) => vec![one],
            RawOrigins::Many(many) => many,
        }
    }
}

/// Which `Origin` values are allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowOrigin {
    /// `*`: every origin.
    pub any: bool,
    /// Exact origins, lower-cased.
    pub exact: Vec<String>,
    /// Anchored patterns.
    pub patterns: Vec<OriginPattern>,
}

impl AllowOrigin {
    /// Whether `origin` (the request's `Origin` value) is allowed.
    pub fn allows(&self, origin: &str) -> bool {
        self.any
            || self
                .exact
                .iter()
                .any(|allowed| allowed.eq_ignore_ascii_case(origin))
            || self.patterns.iter().any(|pattern| pattern.matches(origin))
    }
}

/// A compiled, anchored origin pattern; equal when written the same.
#[derive(Debug, Clone)]
pub struct OriginPattern {
    written: String,
    regex: regex::Regex,
}

impl OriginPattern {
    /// Whether the whole of `origin` matches.
    pub fn matches(&self, origin: &str) -> bool {
        self.regex.is_match(origin)
    }

    /// The pattern as written in the configuration.
    pub fn as_str(&self) -> &str {
        &self.written
    }
}

impl PartialEq for OriginPattern {
    fn eq(&self, other: &Self) -> bool {
        self.written == other.written
    }
}

impl Eq for OriginPattern {}

/// Validates `entries` (at `loc`); every bad entry is reported. An empty list is a problem: it
/// would refuse every browser.
pub(crate) fn allow_origin(entries: &[String], loc: &str, p: &mut Problems) -> AllowOrigin {
    let mut allow = AllowOrigin {
        any: false,
        exact: Vec::new(),
        patterns: Vec::new(),
    };
    if entries.is_empty() {
        p.push(
            loc,
            "list at least one origin, e.g. [\"https://app.example.com\"] (or \"*\" for any)",
        );
    }
    for (index, entry) in entries.iter().enumerate() {
        let entry_loc = format!("{loc}[{index}]");
        let entry = entry.trim();
        if entry == "*" {
            allow.any = true;
        } else if entry.chars().count() > MAX_ENTRY_CHARS {
            p.push(
                entry_loc,
                format!("longer than {MAX_ENTRY_CHARS} characters"),
            );
        } else if entry.contains(is_pattern_char) {
            match compile(entry) {
                Ok(regex) => allow.patterns.push(OriginPattern {
                    written: entry.to_owned(),
                    regex,
                }),
                Err(why) => p.push(entry_loc, format!("pattern '{entry}' is invalid: {why}")),
            }
        } else if let Some(why) = origin_problem(entry) {
            p.push(entry_loc, format!("'{entry}' {why}"));
        } else {
            allow.exact.push(entry.to_ascii_lowercase());
        }
    }
    allow
}

fn is_pattern_char(c: char) -> bool {
    matches!(
        c,
        '\\' | '^' | '$' | '*' | '+' | '?' | '(' | ')' | '[' | ']' | '{' | '}' | '|'
    )
}

fn compile(pattern: &str) -> Result<regex::Regex, String> {
    let body = pattern.strip_prefix('^').unwrap_or(pattern);
    let body = body.strip_suffix('$').unwrap_or(body);
    regex::RegexBuilder::new(&format!("^(?:{body})$"))
        .size_limit(MAX_PATTERN_BYTES)
        .build()
        .map_err(|error| match error {
            regex::Error::CompiledTooBig(_) => "too large once compiled".to_owned(),
            // The syntax error's last line says what is wrong ("unclosed group").
            other => {
                let text = other.to_string();
                let last = text.lines().rev().find(|line| line.contains("error:"));
                last.and_then(|line| line.split("error:").nth(1))
                    .map_or(text.clone(), |why| why.trim().to_owned())
            }
        })
}

/// Why `origin` is not an exact origin (`scheme://host[:port]`, or `null`).
fn origin_problem(origin: &str) -> Option<&'static str> {
    const SHAPE: &str = "is not an origin: write scheme://host[:port] with no path or trailing slash, e.g. https://app.example.com";
    if origin == "null" {
        return None;
    }
    let Some((scheme, authority)) = origin.split_once("://") else {
        return Some(SHAPE);
    };
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    let authority_ok = !authority.is_empty()
        && authority
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']' | '_'));
    (!scheme_ok || !authority_ok).then_some(SHAPE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allow(entries: &[&str]) -> (AllowOrigin, Vec<String>) {
        let mut p = Problems::default();
        let entries: Vec<String> = entries.iter().map(|e| e.to_string()).collect();
        let allow = allow_origin(&entries, "o", &mut p);
        let problems = p.into_result("t").err().map_or(Vec::new(), |e| {
            e.problems.into_iter().map(|p| p.message).collect()
        });
        (allow, problems)
    }

    #[test]
    fn exact_origins_keep_dots_literal() {
        let (rule, problems) = allow(&["https://app.example.com"]);
        assert!(problems.is_empty());
        assert!(rule.allows("https://app.example.com"));
        assert!(rule.allows("HTTPS://APP.example.com"));
        assert!(!rule.allows("https://appXexample.com"));
        assert!(!rule.allows("https://app.example.com.evil.net"));
    }

    #[test]
    fn patterns_are_anchored() {
        let (rule, problems) = allow(&[r"https://[a-z]+\.example\.com"]);
        assert!(problems.is_empty());
        assert!(rule.allows("https://shop.example.com"));
        assert!(!rule.allows("https://shop.example.com.evil.net"));
        assert!(!rule.allows("evil https://shop.example.com"));
    }

    #[test]
    fn bad_entries_are_each_reported() {
        let (_, problems) = allow(&["https://a.com/", "app.example.com", "https://(", "*"]);
        assert_eq!(problems.len(), 3, "{problems:?}");
        let (_, problems) = allow(&[]);
        assert_eq!(problems.len(), 1);
    }
}
