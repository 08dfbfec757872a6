//! Scanning raw head bytes before and around httparse: where a head ends, and line shapes that
//! httparse refuses without saying why (so the client can be told what to fix).

/// True when `buf` holds the blank line that ends a request head, looking only at what follows
/// `searched_bytes` (plus the few bytes a terminator can straddle). Lets a reader parse once per
/// head instead of once per read: a head trickled a byte at a time costs O(n), not O(n²).
pub fn head_terminated(buf: &[u8], searched_bytes: usize) -> bool {
    let start = searched_bytes.saturating_sub(3);
    let tail = &buf[start.min(buf.len())..];
    tail.windows(2).enumerate().any(|(i, pair)| {
        pair[0] == b'\n'
            && (pair[1] == b'\n' || (pair[1] == b'\r' && tail.get(i + 2) == Some(&b'\n')))
    })
}

/// True when the bytes after `searched_bytes` (plus the one byte a CR LF pair can straddle) hold
/// a CR that is followed by anything but LF: such a head can never become valid, so the reader
/// parses it at once (and answers 400) instead of waiting for a blank line until `headerReadMs`.
pub fn bare_cr_after(buf: &[u8], searched_bytes: usize) -> bool {
    let start = searched_bytes.saturating_sub(1);
    has_bare_cr(&buf[start.min(buf.len())..])
}

/// A CR followed by a byte other than LF (a CR at the very end may still get its LF).
pub(super) fn has_bare_cr(bytes: &[u8]) -> bool {
    bytes
        .windows(2)
        .any(|pair| pair[0] == b'\r' && pair[1] != b'\n')
}

/// `window` up to the blank line that ends the head, if it holds one (a body may follow).
pub(super) fn head_part(window: &[u8]) -> &[u8] {
    let blank_line_at = |at: usize| {
        matches!(
            &window[at..],
            [b'\n', b'\n', ..] | [b'\n', b'\r', b'\n', ..]
        )
    };
    let end = (0..window.len())
        .find(|&at| blank_line_at(at))
        .map_or(window.len(), |at| at + 1);
    &window[..end]
}

/// Whether the request line (after any empty lines before it) has the shape `METHOD SP target SP
/// HTTP/d.d`, i.e. httparse refused its version for being another version, not for being no
/// version at all (two spaces, `http/1.1`, `HTTP/1`): only the first is a 505.
pub(super) fn names_another_http_version(window: &[u8]) -> bool {
    let start = window
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(window.len());
    let line = window[start..]
        .split(|&b| b == b'\n')
        .next()
        .unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    !method.is_empty()
        && !target.is_empty()
        && matches!(version, [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit())
}

/// A line inside the head (before the blank line) that starts with space or tab.
pub(super) fn has_obs_fold(window: &[u8]) -> bool {
    window
        .windows(2)
        .take_while(|pair| pair != b"\n\r" && pair != b"\n\n")
        .any(|pair| pair == b"\n " || pair == b"\n\t")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_cr_is_found_in_new_bytes_and_a_trailing_cr_is_not_bare_yet() {
        assert!(bare_cr_after(b"GET / HTTP/1.1\rH", 0));
        assert!(!bare_cr_after(b"GET / HTTP/1.1\r", 0));
        assert!(!bare_cr_after(b"GET / HTTP/1.1\r\nHost: a\r\n", 0));
        // The CR of the earlier read is looked at again once its next byte arrives.
        let buf = b"GET / HTTP/1.1\rX";
        assert!(bare_cr_after(buf, buf.len() - 1));
        assert!(!bare_cr_after(b"GET / HTTP/1.1\r\rX", 17));
    }

    #[test]
    fn only_a_well_formed_request_line_names_another_version() {
        assert!(names_another_http_version(b"GET / HTTP/2.0\r\nHost: a\r\n"));
        assert!(names_another_http_version(b"\r\nGET / HTTP/0.9\r\n"));
        assert!(names_another_http_version(b"PRI * HTTP/2.0\r\n\r\nSM"));
        for line in [
            "GET /  HTTP/1.1\r\n",
            "GET / http/1.1\r\n",
            "GET / HTTP/1\r\n",
            "GET / HTTP/1.1 \r\n",
            "GET / HTTP/11.1\r\n",
            "GET HTTP/2.0\r\n",
        ] {
            assert!(!names_another_http_version(line.as_bytes()), "{line:?}");
        }
    }

    #[test]
    fn the_head_part_ends_at_the_blank_line() {
        assert_eq!(head_part(b"A: b\r\n\r\nbody\rx"), b"A: b\r\n");
        assert_eq!(head_part(b"A: b\n\nbody"), b"A: b\n");
        assert_eq!(head_part(b"A: b\r\n\rX: c"), b"A: b\r\n\rX: c");
    }
}
