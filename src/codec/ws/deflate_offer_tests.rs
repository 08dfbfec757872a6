use super::*;

const DEFAULTS: DeflateSettings = DeflateSettings {
    server_max_window_bits: 15,
    client_max_window_bits: 15,
    client_no_context_takeover: true,
};

fn agree(header: &str, settings: &DeflateSettings) -> Option<Agreed> {
    negotiate([header.as_bytes()].into_iter(), settings).expect("parses")
}

#[test]
fn a_bare_offer_gets_no_context_takeover_both_ways() {
    let agreed = agree("permessage-deflate", &DEFAULTS).unwrap();
    assert_eq!(
        agreed.response,
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
    );
    assert_eq!(
        (agreed.server_window_bits, agreed.client_window_bits),
        (15, 15)
    );
    assert!(agreed.client_no_context_takeover);
}

#[test]
fn window_bits_are_the_smaller_of_offer_and_settings() {
    let settings = DeflateSettings {
        server_max_window_bits: 12,
        client_max_window_bits: 10,
        client_no_context_takeover: false,
    };
    let agreed = agree(
        "permessage-deflate; server_max_window_bits=14; client_max_window_bits",
        &settings,
    )
    .unwrap();
    assert_eq!(
        agreed.response,
        "permessage-deflate; server_no_context_takeover; server_max_window_bits=12; client_max_window_bits=10"
    );
    assert_eq!(
        (agreed.server_window_bits, agreed.client_window_bits),
        (12, 10)
    );
    assert!(!agreed.client_no_context_takeover);
    // A client that did not offer client_max_window_bits is not told one, and may use 15.
    let agreed = agree("permessage-deflate", &settings).unwrap();
    assert_eq!(agreed.client_window_bits, 15);
    assert!(!agreed.response.contains("client_max_window_bits"));
}

#[test]
fn a_client_window_of_8_inflates_with_9() {
    let agreed = agree("permessage-deflate; client_max_window_bits=8", &DEFAULTS).unwrap();
    assert!(agreed.response.ends_with("client_max_window_bits=8"));
    assert_eq!(agreed.client_window_bits, 9);
}

#[test]
fn invalid_offers_are_declined_and_the_next_one_taken() {
    for bad in [
        "permessage-deflate; server_max_window_bits=8",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=010",
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; client_max_window_bits=7",
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
        "permessage-deflate; x_unknown",
        "x-webkit-deflate-frame",
    ] {
        assert_eq!(agree(bad, &DEFAULTS), None, "{bad}");
        let with_fallback = format!("{bad}, permessage-deflate; client_max_window_bits=\"11\"");
        let agreed = agree(&with_fallback, &DEFAULTS).expect(bad);
        assert!(
            agreed.response.ends_with("client_max_window_bits=11"),
            "{bad}"
        );
    }
}

#[test]
fn offers_span_several_fields() {
    let fields: [&[u8]; 2] = [
        b"foo; a=\"x,y\"",
        b"permessage-deflate;server_max_window_bits=10",
    ];
    let agreed = negotiate(fields.into_iter(), &DEFAULTS).unwrap().unwrap();
    assert_eq!(agreed.server_window_bits, 10);
}

#[test]
fn a_header_that_is_no_extension_list_is_refused() {
    for bad in ["permessage-deflate;", "; x", "a b", "a; b=\"unterminated"] {
        let fields: [&[u8]; 1] = [bad.as_bytes()];
        assert_eq!(
            negotiate(fields.into_iter(), &DEFAULTS),
            Err(BadExtensions),
            "{bad}"
        );
    }
}
