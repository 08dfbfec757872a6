//! Where a request carries its bearer token: `Authorization: Bearer …` (RFC 6750 §2.1), or a
//! query parameter (§2.3) for EventSource and browser WebSocket clients, which cannot set
//! headers. Using both at once, or repeating `Authorization`, is refused (§2: one method only).

use crate::codec::http_head::RequestHead;

use super::refusal::JwtRefusal;

/// The bearer token of `head`, if it presents one; `query_parameter` is the plan's
/// `tokenQueryParameter`. An `Authorization` header of another scheme (`Basic`) is no bearer
/// token: `None`, so other plans may claim the request.
pub fn bearer_token(
    head: &RequestHead,
    query_parameter: &str,
) -> Result<Option<String>, JwtRefusal> {
    let mut authorizations = head.headers_named("authorization");
    let header = authorizations.next();
    if authorizations.next().is_some() {
        return Err(JwtRefusal::InvalidRequest(
            "more than one Authorization header".to_owned(),
        ));
    }
    let from_header = match header {
        None => None,
        Some(value) => bearer_of(value)?,
    };
    let from_query = head.query_param(query_parameter);
    match (from_header, from_query) {
        (Some(_), Some(_)) => Err(JwtRefusal::InvalidRequest(
            "token both in Authorization and in the query".to_owned(),
        )),
        (Some(token), None) => Ok(Some(token)),
        (None, Some(token)) if token.is_empty() => Err(JwtRefusal::Malformed(
            "empty token query parameter".to_owned(),
        )),
        (None, token) => Ok(token),
    }
}

/// The token of one `Authorization` value when its scheme is `Bearer` (case-insensitive).
fn bearer_of(value: &[u8]) -> Result<Option<String>, JwtRefusal> {
    let text = std::str::from_utf8(value)
        .map_err(|_| JwtRefusal::Malformed("Authorization is not UTF-8".to_owned()))?;
    let text = text.trim();
    let (scheme, rest) = text.split_once(' ').unwrap_or((text, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Ok(None);
    }
    let token = rest.trim_start_matches(' ');
    if token.is_empty() || token.contains(' ') {
        return Err(JwtRefusal::Malformed(
            "Authorization: Bearer needs exactly one token".to_owned(),
        ));
    }
    Ok(Some(token.to_owned()))
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;

    use super::bearer_token;
    use crate::codec::http_head::{parse_request_head, HeadLimits};
    use crate::security::jwt::JwtRefusal;

    fn token_of(request: &str) -> Result<Option<String>, JwtRefusal> {
        let limits = HeadLimits {
            max_header_bytes: 1024,
            max_header_count: 8,
        };
        let head = parse_request_head(&mut BytesMut::from(request), &limits)
            .unwrap()
            .unwrap();
        bearer_token(&head, "access_token")
    }

    #[test]
    fn header_or_query_but_not_both() {
        let header = "GET /a HTTP/1.1\r\nHost: h\r\nAuthorization: bearer  abc.def.ghi\r\n\r\n";
        assert_eq!(token_of(header).unwrap().as_deref(), Some("abc.def.ghi"));
        let query = "GET /a?x=1&access_token=abc.def.ghi HTTP/1.1\r\nHost: h\r\n\r\n";
        assert_eq!(token_of(query).unwrap().as_deref(), Some("abc.def.ghi"));
        let basic = "GET /a HTTP/1.1\r\nHost: h\r\nAuthorization: Basic YTpi\r\n\r\n";
        assert_eq!(token_of(basic).unwrap(), None);
        assert_eq!(
            token_of("GET /a HTTP/1.1\r\nHost: h\r\n\r\n").unwrap(),
            None
        );
        let both = "GET /a?access_token=x HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer y\r\n\r\n";
        assert_eq!(token_of(both).unwrap_err().status(), 400);
        let twice =
            "GET /a HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer y\r\nAuthorization: Bearer z\r\n\r\n";
        assert_eq!(token_of(twice).unwrap_err().status(), 400);
        let empty = "GET /a HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer\r\n\r\n";
        assert!(matches!(token_of(empty), Err(JwtRefusal::Malformed(_))));
    }
}
