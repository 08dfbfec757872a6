//! Request paths that routing could read differently from a proxy in front of the gateway, or
//! from the client's own idea of the URL.
//!
//! Routing matches the raw path against context paths (`deployed::router`), and nothing is decoded
//! or normalized on the way. A path that a normalizing hop would resolve elsewhere is therefore
//! refused instead of routed, so `/mock/../chat` can never be served by `/mock` while a proxy
//! that checked `/chat` let it through (or the other way round):
//! - dot segments, `.` and `..`, raw or percent-encoded in any case (`%2e`, `%2E`, `.%2e`);
//! - encoded separators, `%2F` and `%5C`: a hop that decodes them sees segments we do not;
//! - a raw backslash, which several URL parsers and servers read as `/`.
//!
//! Names that merely contain dots (`..foo`, `.well-known`, `...`) are ordinary segments. The query
//! string is not a path and is not checked.

use super::HeadError;

/// Why `path` (the target without its query) cannot be routed, if it cannot. Configuration
/// uses it too: a context path requests could never reach is refused when loaded.
pub fn path_problem(path: &str) -> Option<HeadError> {
    let bytes = path.as_bytes();
    if bytes.contains(&b'\\') {
        return Some(HeadError::BackslashInPath);
    }
    let encoded_separator = bytes.windows(3).any(|escape| {
        escape[0] == b'%'
            && (escape[1..].eq_ignore_ascii_case(b"2f") || escape[1..].eq_ignore_ascii_case(b"5c"))
    });
    if encoded_separator {
        return Some(HeadError::EncodedSeparatorInPath);
    }
    if path.split('/').any(is_dot_segment) {
        return Some(HeadError::DotSegmentInPath);
    }
    None
}

/// `.` or `..`, with each dot raw or written `%2e` (any case).
fn is_dot_segment(segment: &str) -> bool {
    let mut rest = segment.as_bytes();
    let mut dots = 0;
    while !rest.is_empty() {
        rest = match rest {
            [b'.', tail @ ..] => tail,
            [b'%', b'2', e, tail @ ..] if e.eq_ignore_ascii_case(&b'e') => tail,
            _ => return false,
        };
        dots += 1;
    }
    dots == 1 || dots == 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_segments_in_every_spelling_are_refused() {
        for path in [
            "/a/../b",
            "/a/./b",
            "/a/..",
            "/a/.",
            "/..",
            "/.",
            "/a/%2e%2e/b",
            "/a/%2E%2e/b",
            "/a/.%2E/b",
            "/a/%2e./b",
            "/a/%2e/b",
            "/a/%2E",
        ] {
            assert_eq!(
                path_problem(path),
                Some(HeadError::DotSegmentInPath),
                "{path}"
            );
        }
    }

    #[test]
    fn separators_hidden_from_routing_are_refused() {
        for path in ["/a%2fb", "/a%2F..%2Fb", "/a/%5c", "/a%5Cb"] {
            assert_eq!(
                path_problem(path),
                Some(HeadError::EncodedSeparatorInPath),
                "{path}"
            );
        }
        assert_eq!(path_problem("/a\\b"), Some(HeadError::BackslashInPath));
    }

    #[test]
    fn ordinary_paths_pass() {
        for path in [
            "/",
            "/a",
            "/a/",
            "/a//b",
            "/a/..b",
            "/a/b..",
            "/a/...",
            "/.well-known/x",
            "/a/%2e%2e%2e",
            "/a/%2ex",
            "/a/%41",
            "/a/%2",
            "/a/%",
        ] {
            assert_eq!(path_problem(path), None, "{path}");
        }
    }
}
