//! permessage-deflate negotiation (RFC 7692 §5, §7.1), sans-IO: the client's offers in
//! `Sec-WebSocket-Extensions` (RFC 6455 §9.1) in, the parameters both sides will use and the
//! response header out.
//!
//! The gateway always compresses without context takeover: each outbound message is deflated on
//! its own, so one compressor per shard serves every connection and a fan-out message is deflated
//! once per shard (`deflate.rs`), with no compressor memory per connection. RFC 7692 §7.1.1.1
//! lets a server say `server_no_context_takeover` whether or not the client offered it.

use super::subprotocol::is_token;

/// Smallest window zlib's deflate makes in raw mode (it turns 8 into 9, which a peer told 8 could
/// not read): an offer that needs 8 for the server's messages is declined.
const MIN_SERVER_WINDOW_BITS: u8 = 9;
/// Largest LZ77 window (32 KiB) and the default of both directions.
const MAX_WINDOW_BITS: u8 = 15;

/// What the configuration allows (`perMessageDeflate`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeflateSettings {
    /// Largest window the gateway compresses with (9..=15).
    pub server_max_window_bits: u8,
    /// Largest window asked of clients that accept the parameter (9..=15).
    pub client_max_window_bits: u8,
    /// Ask every client to deflate each message on its own, so no connection keeps an inflate
    /// window between messages.
    pub client_no_context_takeover: bool,
}

/// The parameters agreed with one client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Agreed {
    /// The window the gateway compresses with.
    pub server_window_bits: u8,
    /// The largest window the client may compress with (what the inflater needs, at least 9).
    pub client_window_bits: u8,
    /// The client resets its compressor per message, so its messages inflate on their own.
    pub client_no_context_takeover: bool,
    /// The `Sec-WebSocket-Extensions` value to answer with.
    pub response: String,
}

/// The header is not an extension list: the 400 body, saying what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "'Sec-WebSocket-Extensions' must be a list of `name; param=value` extensions (RFC 6455 §9.1)"
)]
pub struct BadExtensions;

/// One offered extension: its name and parameters, values unquoted.
type Offer = (String, Vec<(String, Option<String>)>);

/// The first permessage-deflate offer the gateway can accept, in the client's order; `Ok(None)`
/// when there is none (the session then runs uncompressed). An offer with unknown, repeated or
/// out-of-range parameters is declined, not refused (RFC 7692 §5.1); only a header that is not an
/// extension list at all is refused.
pub fn negotiate<'a>(
    fields: impl Iterator<Item = &'a [u8]>,
    settings: &DeflateSettings,
) -> Result<Option<Agreed>, BadExtensions> {
    let mut offers = Vec::new();
    for field in fields {
        parse_field(field, &mut offers).ok_or(BadExtensions)?;
    }
    Ok(offers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("permessage-deflate"))
        .find_map(|(_, params)| accept(params, settings)))
}

/// Accepts one offer within `settings`, or declines it.
fn accept(params: &[(String, Option<String>)], settings: &DeflateSettings) -> Option<Agreed> {
    let mut client_no_context_takeover = false;
    let mut server_no_context_takeover = false;
    let mut server_bits: Option<u8> = None;
    // Offered at all (outer), with a value (inner).
    let mut client_bits: Option<Option<u8>> = None;
    for (name, value) in params {
        match (name.as_str(), value) {
            ("server_no_context_takeover", None) if !server_no_context_takeover => {
                server_no_context_takeover = true
            }
            ("client_no_context_takeover", None) if !client_no_context_takeover => {
                client_no_context_takeover = true
            }
            ("server_max_window_bits", Some(v)) if server_bits.is_none() => {
                server_bits = Some(window_bits(v)?)
            }
            ("client_max_window_bits", None) if client_bits.is_none() => client_bits = Some(None),
            ("client_max_window_bits", Some(v)) if client_bits.is_none() => {
                client_bits = Some(Some(window_bits(v)?))
            }
            _ => return None,
        }
    }
    let server_window_bits = settings
        .server_max_window_bits
        .min(server_bits.unwrap_or(MAX_WINDOW_BITS));
    if server_window_bits < MIN_SERVER_WINDOW_BITS {
        return None;
    }
    let client_no_context_takeover =
        client_no_context_takeover || settings.client_no_context_takeover;
    let mut response = String::from("permessage-deflate; server_no_context_takeover");
    if client_no_context_takeover {
        response.push_str("; client_no_context_takeover");
    }
    if server_bits.is_some() || server_window_bits < MAX_WINDOW_BITS {
        response.push_str(&format!("; server_max_window_bits={server_window_bits}"));
    }
    // Only a client that offered the parameter may be told a window (RFC 7692 §7.1.2.2).
    let client_window_bits = match client_bits {
        None => MAX_WINDOW_BITS,
        Some(offered) => {
            let bits = offered
                .unwrap_or(MAX_WINDOW_BITS)
                .min(settings.client_max_window_bits);
            response.push_str(&format!("; client_max_window_bits={bits}"));
            bits
        }
    };
    Some(Agreed {
        server_window_bits,
        // A window of 8 inflates with 9 (a larger window reads anything a smaller one wrote).
        client_window_bits: client_window_bits.max(MIN_SERVER_WINDOW_BITS),
        client_no_context_takeover,
        response,
    })
}

/// A window-bits value: 8 to 15, written without leading zeros (RFC 7692 §7.1.2.1).
fn window_bits(value: &str) -> Option<u8> {
    if value.starts_with('0') || value.len() > 2 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok().filter(|bits| (8..=15).contains(bits))
}

/// Parses one header field: `1#( token *( ";" token [ "=" ( token / quoted-string ) ] ) )`.
fn parse_field(field: &[u8], offers: &mut Vec<Offer>) -> Option<()> {
    let mut p = Parser { s: field, i: 0 };
    loop {
        p.skip_ows();
        match p.peek() {
            None => return Some(()),
            Some(b',') => {
                p.i += 1;
                continue;
            }
            Some(_) => {}
        }
        let name = p.token()?;
        let mut params = Vec::new();
        loop {
            p.skip_ows();
            if p.peek() != Some(b';') {
                break;
            }
            p.i += 1;
            p.skip_ows();
            let param = p.token()?;
            p.skip_ows();
            let value = if p.peek() == Some(b'=') {
                p.i += 1;
                p.skip_ows();
                Some(if p.peek() == Some(b'"') {
                    p.quoted()?
                } else {
                    p.token()?
                })
            } else {
                None
            };
            params.push((param, value));
        }
        offers.push((name, params));
        p.skip_ows();
        match p.peek() {
            None => return Some(()),
            Some(b',') => p.i += 1,
            Some(_) => return None,
        }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }

    fn token(&mut self) -> Option<String> {
        let start = self.i;
        while self.peek().is_some_and(|b| is_token(&[b])) {
            self.i += 1;
        }
        let token = &self.s[start..self.i];
        // Tokens are ASCII, so this cannot fail.
        (!token.is_empty()).then(|| String::from_utf8_lossy(token).into_owned())
    }

    /// A quoted-string, unquoted. (RFC 6455 §9.1 wants a token inside; permessage-deflate's own
    /// values are checked as numbers, and other extensions' values do not matter here.)
    fn quoted(&mut self) -> Option<String> {
        self.i += 1;
        let mut value = Vec::new();
        loop {
            match self.peek()? {
                b'"' => {
                    self.i += 1;
                    break;
                }
                b'\\' => {
                    value.push(*self.s.get(self.i + 1)?);
                    self.i += 2;
                }
                b => {
                    value.push(b);
                    self.i += 1;
                }
            }
        }
        Some(String::from_utf8_lossy(&value).into_owned())
    }
}

#[cfg(test)]
#[path = "deflate_offer_tests.rs"]
mod tests;
