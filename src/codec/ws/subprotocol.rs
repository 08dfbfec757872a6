//! `Sec-WebSocket-Protocol` (RFC 6455 §4.1, §4.2.2), sans-IO: the client lists the subprotocols
//! it speaks, most preferred first, in one or more header fields, each a comma-separated list of
//! tokens; the server answers with exactly one of them, or with none.

/// The header's values are not a list of tokens: the 400 body, saying what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'Sec-WebSocket-Protocol' must be a comma-separated list of tokens (RFC 6455 §4.1); '{0}' is not a token")]
pub struct BadSubprotocol(String);

/// The first subprotocol in the client's order that is also in `configured`; `Ok(None)` when the
/// client asked for none or only for others (the upgrade then goes on without the header, as
/// RFC 6455 §4.2.2 has it, and a client that needs one, a browser, fails the connection itself).
///
/// Every offered element is checked, not only up to the match, so a malformed header is refused
/// whatever the configuration.
pub fn select<'a>(
    fields: impl Iterator<Item = &'a [u8]>,
    configured: &'a [String],
) -> Result<Option<&'a str>, BadSubprotocol> {
    let mut chosen = None;
    for field in fields {
        // Empty elements (`a, , b`) are allowed by the list syntax (RFC 9110 §5.6.1) and skipped.
        for element in field.split(|&b| b == b',') {
            let element = element.trim_ascii();
            if element.is_empty() {
                continue;
            }
            if !is_token(element) {
                return Err(BadSubprotocol(shown(element)));
            }
            if chosen.is_none() {
                chosen = configured.iter().find(|c| c.as_bytes() == element);
            }
        }
    }
    Ok(chosen.map(String::as_str))
}

/// True for an RFC 9110 token: visible ASCII without separators (what RFC 6455 §4.1 asks of a
/// subprotocol name).
pub fn is_token(bytes: &[u8]) -> bool {
    !bytes.is_empty()
        && bytes
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// The offending element as the 400 body may show it: at most 32 bytes, escaped.
fn shown(element: &[u8]) -> String {
    let cut = &element[..element.len().min(32)];
    cut.escape_ascii().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn configured() -> Vec<String> {
        vec!["mqtt".into(), "graphql-ws".into()]
    }

    #[test]
    fn picks_the_clients_first_configured_protocol_across_fields() {
        let configured = configured();
        let fields: [&[u8]; 2] = [b"v9.unknown, graphql-ws", b"mqtt"];
        assert_eq!(
            select(fields.into_iter(), &configured),
            Ok(Some("graphql-ws"))
        );
        let fields: [&[u8]; 1] = [b" ,mqtt ,\tgraphql-ws"];
        assert_eq!(select(fields.into_iter(), &configured), Ok(Some("mqtt")));
    }

    #[test]
    fn unknown_or_absent_protocols_choose_none() {
        let configured = configured();
        let fields: [&[u8]; 1] = [b"MQTT, soap"];
        assert_eq!(select(fields.into_iter(), &configured), Ok(None));
        assert_eq!(select(std::iter::empty(), &configured), Ok(None));
    }

    #[test]
    fn malformed_elements_are_refused_even_after_a_match() {
        let configured = configured();
        for bad in [&b"mqtt, a b"[..], b"mqtt, x\"y", b"(mqtt)", b"caf\xc3\xa9"] {
            let err = select([bad].into_iter(), &configured).unwrap_err();
            assert!(err.to_string().contains("not a token"), "{err}");
        }
    }
}
