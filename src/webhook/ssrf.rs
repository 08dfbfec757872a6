//! The SSRF guard: a callback must not reach the gateway's own host or its private networks
//! unless `gateway.webhook.allowedNetworks` says so.
//!
//! The check runs on the address actually connected to, after resolution and on every new
//! connection, so a host name that resolves to a private address (DNS rebinding included) is
//! refused like the literal address. Redirects are never followed (a 3xx is an answer like
//! any other non-2xx), so a public callback cannot bounce the gateway inward.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::config::webhook::IpNetwork;

/// Why an address is refused, or `None` when a callback may connect to it.
pub fn refusal(ip: IpAddr, allowed: &[IpNetwork]) -> Option<&'static str> {
    if allowed.iter().any(|network| network.contains(ip)) {
        return None;
    }
    match ip {
        IpAddr::V4(v4) => v4_refusal(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4_refusal(v4),
            None => v6_refusal(v6),
        },
    }
}

fn v4_refusal(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_private() {
        Some("a private address (RFC 1918)")
    } else if ip.is_link_local() {
        Some("a link-local address (cloud metadata included)")
    } else if ip.is_unspecified() || a == 0 {
        Some("an unspecified address")
    } else if ip.is_multicast() || ip.is_broadcast() {
        Some("a multicast or broadcast address")
    } else if a == 100 && (64..128).contains(&b) {
        Some("a shared (carrier-grade NAT) address")
    } else {
        None
    }
}

fn v6_refusal(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_unspecified() {
        Some("an unspecified address")
    } else if first & 0xfe00 == 0xfc00 {
        Some("a unique local address (fc00::/7)")
    } else if first & 0xffc0 == 0xfe80 {
        Some("a link-local address")
    } else if ip.is_multicast() {
        Some("a multicast address")
    } else if let Some(v4) = embedded_v4(ip) {
        // NAT64 (64:ff9b::/96, 64:ff9b:1::/48) and 6to4 (2002::/16) reach the IPv4 address they
        // carry: judged as that address.
        v4_refusal(v4)
    } else if first == 0x2001 && ip.segments()[1] == 0 {
        Some("a Teredo address (2001::/32), which tunnels to an IPv4 address")
    } else if let Some(v4) = ip.to_ipv4() {
        // IPv4-compatible (::a.b.c.d) and NAT64-less forms of inner addresses.
        if ip.segments()[..6].iter().all(|s| *s == 0) {
            v4_refusal(v4)
        } else {
            None
        }
    } else {
        None
    }
}

/// The IPv4 address a translating or tunnelling IPv6 prefix carries.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let segments = ip.segments();
    let v4 = |high: u16, low: u16| {
        let [a, b] = high.to_be_bytes();
        let [c, d] = low.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    let nat64 = segments[0] == 0x64 && segments[1] == 0xff9b;
    if nat64 {
        // The well-known /96 and the local-use /48: the IPv4 address is the last 32 bits.
        return Some(v4(segments[6], segments[7]));
    }
    if segments[0] == 0x2002 {
        return Some(v4(segments[1], segments[2]));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::refusal;
    use crate::config::webhook::IpNetwork;

    #[test]
    fn inward_addresses_are_refused_unless_allowed() {
        for refused in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "224.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "::ffff:169.254.169.254",
            "100.64.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::a00:1",
            "64:ff9b:1::7f00:1",
            "2002:7f00:1::",
            "2002:a00:1::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
        ] {
            assert!(
                refusal(refused.parse().unwrap(), &[]).is_some(),
                "{refused}"
            );
        }
        for allowed in [
            "93.184.216.34",
            "2606:2800:220:1::1",
            "8.8.8.8",
            "64:ff9b::808:808",
            "2002:5db8:d822::1",
        ] {
            assert!(
                refusal(allowed.parse().unwrap(), &[]).is_none(),
                "{allowed}"
            );
        }
        let loopback = [IpNetwork::parse("127.0.0.0/8").unwrap()];
        assert!(refusal("127.0.0.1".parse().unwrap(), &loopback).is_none());
        assert!(refusal("::ffff:127.0.0.1".parse().unwrap(), &loopback).is_none());
        assert!(refusal("::1".parse().unwrap(), &loopback).is_some());
        assert!(refusal("10.0.0.1".parse().unwrap(), &loopback).is_some());
    }
}
