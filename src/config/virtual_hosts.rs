//! Context paths with an optional virtual host: `contextPaths` entries are a path (`/prices`,
//! served for any Host) or, as in Gravitee v4 listener `paths`, `{ path: /prices, host:
//! api.example.com }` (served only when the request's Host names that host).
//!
//! Hosts are kept lower-case; a host without a port matches the Host header whatever its port, a
//! host with one (`api.example.com:8443`) only that port.

use std::fmt;

use serde::Deserialize;

use super::problem::{join, Problems};

/// Longest host name (RFC 1035's 253 characters, plus a port).
const MAX_HOST_CHARS: usize = 260;

/// One `contextPaths` entry as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(
    untagged,
    expecting = "a context path such as /my-api, or a mapping { path: /my-api, host: api.example.com }"
)]
pub(crate) enum RawContextPath {
    Path(String),
    WithHost(RawPathAndHost),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPathAndHost {
    path: String,
    #[serde(default)]
    host: Option<String>,
}

impl RawContextPath {
    /// The entry as a path and its host as written (not validated yet).
    pub(crate) fn into_parts(self) -> (String, Option<String>) {
        match self {
            RawContextPath::Path(path) => (path, None),
            RawContextPath::WithHost(RawPathAndHost { path, host }) => (path, host),
        }
    }
}

/// A context path and the virtual host it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextPath {
    /// Starts with `/`; never ends with one unless it is `/`.
    pub path: String,
    /// Lower-case host, with a port when one was given; `None` = any Host.
    pub host: Option<String>,
}

impl ContextPath {
    /// A path served for any host.
    pub fn any_host(path: &str) -> ContextPath {
        ContextPath {
            path: path.to_owned(),
            host: None,
        }
    }

    /// Whether a request whose `Host` header is `host` is for this entry's host (always, when
    /// the entry names none).
    pub fn serves_host(&self, host: Option<&str>) -> bool {
        match (&self.host, host) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(wanted), Some(host)) => host_matches(wanted, host),
        }
    }
}

/// `wanted` (lower-case, from the config) against a request's Host value: case-insensitive, the
/// port ignored unless `wanted` has one.
fn host_matches(wanted: &str, host: &str) -> bool {
    let host = host.trim();
    if wanted.eq_ignore_ascii_case(host) {
        return true;
    }
    if split_port(wanted).1.is_some() {
        return false;
    }
    let (name, _) = split_port(host);
    wanted.eq_ignore_ascii_case(name)
}

/// `host:port` → (`host`, `Some(port)`); IPv6 literals keep their brackets.
fn split_port(host: &str) -> (&str, Option<&str>) {
    if let Some(rest) = host.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((_, tail)) => {
                let name = &host[..host.len() - tail.len()];
                (name, tail.strip_prefix(':'))
            }
            None => (host, None),
        };
    }
    match host.rsplit_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (host, None),
    }
}

/// The API's context paths with their virtual hosts (lower-cased); a bad host is reported and
/// its entry kept host-less so the path rules still run.
pub(crate) fn read(raw: &[RawContextPath], loc: &str, p: &mut Problems) -> Vec<ContextPath> {
    let mut paths = Vec::new();
    for (index, entry) in raw.iter().enumerate() {
        let (path, host) = entry.clone().into_parts();
        let host = host.map(|host| host.trim().to_ascii_lowercase());
        let host = match host {
            Some(host) => match host_problem(&host) {
                Some(why) => {
                    let host_loc = format!("{}[{index}].host", join(loc, "contextPaths"));
                    p.push(host_loc, format!("'{host}' {why}"));
                    None
                }
                None => Some(host),
            },
            None => None,
        };
        paths.push(ContextPath { path, host });
    }
    paths
}

/// Why `host` cannot be a virtual host, if it cannot.
pub(crate) fn host_problem(host: &str) -> Option<&'static str> {
    let (name, port) = split_port(host);
    let name_ok = if let Some(inner) = name.strip_prefix('[') {
        inner
            .strip_suffix(']')
            .is_some_and(|ip| ip.parse::<std::net::Ipv6Addr>().is_ok())
    } else {
        !name.is_empty()
            && name.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            })
    };
    let port_ok = port.is_none_or(|port| port.parse::<u16>().is_ok_and(|port| port > 0));
    if host.len() > MAX_HOST_CHARS {
        Some("is too long")
    } else if !name_ok || host.contains(['/', '*', '@', '?', '#']) {
        Some("is not a host name: write e.g. api.example.com (no scheme, path or '*'), optionally with :port")
    } else if !port_ok {
        Some("has a port that is not a number from 1 to 65535")
    } else {
        None
    }
}

impl fmt::Display for ContextPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            Some(host) => write!(f, "{host}{}", self.path),
            None => f.write_str(&self.path),
        }
    }
}

impl PartialEq<str> for ContextPath {
    /// A host-less entry equals its path (so code and tests that speak of plain paths still read
    /// naturally).
    fn eq(&self, other: &str) -> bool {
        self.host.is_none() && self.path == other
    }
}

impl PartialEq<&str> for ContextPath {
    fn eq(&self, other: &&str) -> bool {
        self == *other
    }
}

impl PartialEq<String> for ContextPath {
    fn eq(&self, other: &String) -> bool {
        self == other.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(host: &str) -> ContextPath {
        ContextPath {
            path: "/a".to_owned(),
            host: Some(host.to_owned()),
        }
    }

    #[test]
    fn host_matching_ignores_case_and_port_unless_given() {
        assert!(at("api.example.com").serves_host(Some("API.Example.com:8082")));
        assert!(at("api.example.com").serves_host(Some("api.example.com")));
        assert!(!at("api.example.com").serves_host(Some("other.example.com")));
        assert!(!at("api.example.com").serves_host(None));
        assert!(at("api.example.com:8443").serves_host(Some("api.example.com:8443")));
        assert!(!at("api.example.com:8443").serves_host(Some("api.example.com:8082")));
        assert!(!at("api.example.com:8443").serves_host(Some("api.example.com")));
        assert!(at("[::1]").serves_host(Some("[::1]:8082")));
        assert!(ContextPath::any_host("/a").serves_host(None));
    }

    #[test]
    fn host_problems() {
        assert_eq!(host_problem("api.example.com"), None);
        assert_eq!(host_problem("api.example.com:8443"), None);
        assert_eq!(host_problem("[::1]:80"), None);
        assert_eq!(host_problem("localhost"), None);
        for bad in [
            "",
            "https://a.com",
            "a.com/x",
            "*.a.com",
            "a..com",
            "a.com:0",
            "a.com:x",
        ] {
            assert!(host_problem(bad).is_some(), "{bad}");
        }
    }
}
