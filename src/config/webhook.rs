//! The `webhook` entrypoint's options and `gateway.webhook` (the SSRF allow-list).
//!
//! The entrypoint itself takes no client connection: each push subscription of the API (see
//! `push.rs`) is delivered by the gateway to its `callbackUrl`. Option names follow the
//! reference product (`connectTimeout`, `readTimeout`, `idleTimeout`), defaults too.

use std::net::IpAddr;
use std::time::Duration;

use serde::Deserialize;

use super::problem::{join, Problems};

/// Default `connectTimeout`, ms: resolving and connecting to a callback, each try.
pub(crate) const CONNECT_TIMEOUT_MS: u64 = 3_000;
/// Default `readTimeout`, ms: from sending a delivery to its complete answer.
pub(crate) const READ_TIMEOUT_MS: u64 = 10_000;
/// Default `idleTimeout`, ms: how long a pooled keep-alive connection may stay unused.
pub(crate) const IDLE_TIMEOUT_MS: u64 = 60_000;
/// Idle keep-alive connections kept per callback host (and TLS or not) on one shard.
pub(crate) const MAX_IDLE_CONNECTIONS_PER_HOST: usize = 8;
/// Messages a subscription holds ahead of its deliveries (its bounded queue).
pub(crate) const MAX_QUEUED_MESSAGES: usize = 64;
/// Bytes of a callback's answer read (head and body) before the connection is dropped.
pub(crate) const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// How the entrypoint acknowledges its source (the entrypoint's `qos`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WebhookQos {
    /// May lose messages; deliveries run concurrently.
    None,
    /// The endpoint decides (the default).
    #[default]
    Auto,
    /// Acknowledged upstream before the delivery; one delivery at a time.
    AtMostOnce,
    /// Acknowledged upstream only after a 2xx or a dead-letter write; one at a time.
    AtLeastOnce,
}

/// `type: webhook` on an API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookOptions {
    /// The entrypoint's `qos` (default `auto`): when the source is acknowledged, and whether
    /// deliveries may overlap.
    pub qos: WebhookQos,
    /// `connectTimeout` (default 3000 ms): to resolve and connect to a callback, each try.
    pub connect_timeout: Duration,
    /// `readTimeout` (default 10000 ms): from sending a delivery to its complete answer; past
    /// it the try failed (and is retried).
    pub read_timeout: Duration,
    /// A pooled connection unused this long is closed.
    pub idle_timeout: Duration,
    /// `maxIdleConnectionsPerHost` (default 8): idle keep-alive connections kept per callback
    /// host, port and TLS settings, on each shard.
    pub max_idle_connections_per_host: usize,
    /// `maxQueuedMessages` (default 64): messages a subscription holds ahead of its
    /// deliveries; when full it falls behind in its cursor instead (nothing dropped).
    pub max_queued_messages: usize,
    /// `maxResponseBytes` (default 65536; values below 1024 count as 1024): the
    /// largest callback answer, head and body, read; a larger one fails the try.
    pub max_response_bytes: usize,
}

impl Default for WebhookOptions {
    fn default() -> Self {
        WebhookOptions {
            qos: WebhookQos::Auto,
            connect_timeout: Duration::from_millis(CONNECT_TIMEOUT_MS),
            read_timeout: Duration::from_millis(READ_TIMEOUT_MS),
            idle_timeout: Duration::from_millis(IDLE_TIMEOUT_MS),
            max_idle_connections_per_host: MAX_IDLE_CONNECTIONS_PER_HOST,
            max_queued_messages: MAX_QUEUED_MESSAGES,
            max_response_bytes: MAX_RESPONSE_BYTES,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    default,
    expecting = "the webhook configuration mapping (connectTimeout, readTimeout, idleTimeout, maxIdleConnectionsPerHost, maxQueuedMessages, maxResponseBytes)"
)]
pub(crate) struct RawWebhook {
    connect_timeout: u64,
    read_timeout: u64,
    idle_timeout: u64,
    max_idle_connections_per_host: usize,
    max_queued_messages: usize,
    max_response_bytes: usize,
}

impl Default for RawWebhook {
    fn default() -> Self {
        RawWebhook {
            connect_timeout: CONNECT_TIMEOUT_MS,
            read_timeout: READ_TIMEOUT_MS,
            idle_timeout: IDLE_TIMEOUT_MS,
            max_idle_connections_per_host: MAX_IDLE_CONNECTIONS_PER_HOST,
            max_queued_messages: MAX_QUEUED_MESSAGES,
            max_response_bytes: MAX_RESPONSE_BYTES,
        }
    }
}

/// Validates the entrypoint's configuration.
pub(crate) fn webhook(
    raw: RawWebhook,
    qos: WebhookQos,
    loc: &str,
    p: &mut Problems,
) -> WebhookOptions {
    let ms = |key: &str, value: u64, p: &mut Problems| {
        p.require_at_least(&join(loc, key), value, 1, " ms");
        Duration::from_millis(value.max(1))
    };
    let count = |key: &str, value: usize, p: &mut Problems| {
        p.require_at_least(&join(loc, key), value as u64, 1, "");
        value.max(1)
    };
    WebhookOptions {
        qos,
        connect_timeout: ms("connectTimeout", raw.connect_timeout, p),
        read_timeout: ms("readTimeout", raw.read_timeout, p),
        idle_timeout: ms("idleTimeout", raw.idle_timeout, p),
        max_idle_connections_per_host: count(
            "maxIdleConnectionsPerHost",
            raw.max_idle_connections_per_host,
            p,
        ),
        max_queued_messages: count("maxQueuedMessages", raw.max_queued_messages, p),
        max_response_bytes: count("maxResponseBytes", raw.max_response_bytes.max(1024), p),
    }
}

/// An IP network (`10.0.0.0/8`, `::1/128`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNetwork {
    /// The network's address as written (bits past `prefix` are ignored when matching).
    pub address: IpAddr,
    /// The prefix length in bits: at most 32 for IPv4, 128 for IPv6.
    pub prefix: u8,
}

impl IpNetwork {
    /// Parses `address/prefix` (a bare address is a /32 or /128).
    pub fn parse(text: &str) -> Result<IpNetwork, String> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let address: IpAddr = address.trim().parse().map_err(|_| {
            format!("'{text}' is not a CIDR network such as 127.0.0.0/8 or ::1/128")
        })?;
        let max = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(prefix) => match prefix.trim().parse::<u8>() {
                Ok(prefix) if prefix <= max => prefix,
                _ => return Err(format!("'{text}': the prefix length must be 0 to {max}")),
            },
        };
        Ok(IpNetwork { address, prefix })
    }

    /// True when `ip` is inside this network (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.address, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// `gateway.webhook`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookGatewayConfig {
    /// Networks callbacks may reach although they are loopback, private or link-local.
    pub allowed_networks: Vec<IpNetwork>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    default,
    expecting = "the webhook mapping `{ allowedNetworks: [CIDR, ...] }`"
)]
pub(crate) struct RawWebhookGateway {
    allowed_networks: Vec<String>,
}

/// Validates `gateway.webhook`.
pub(crate) fn gateway(raw: RawWebhookGateway, loc: &str, p: &mut Problems) -> WebhookGatewayConfig {
    let mut allowed_networks = Vec::new();
    for (index, text) in raw.allowed_networks.iter().enumerate() {
        match IpNetwork::parse(text) {
            Ok(network) => allowed_networks.push(network),
            Err(message) => p.push(
                format!("{}[{index}]", join(loc, "allowedNetworks")),
                message,
            ),
        }
    }
    WebhookGatewayConfig { allowed_networks }
}

#[cfg(test)]
mod tests {
    use super::IpNetwork;

    #[test]
    fn networks_contain_their_addresses_and_mapped_forms() {
        let loopback = IpNetwork::parse("127.0.0.0/8").unwrap();
        assert!(loopback.contains("127.1.2.3".parse().unwrap()));
        assert!(loopback.contains("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!loopback.contains("128.0.0.1".parse().unwrap()));
        let all = IpNetwork::parse("0.0.0.0/0").unwrap();
        assert!(all.contains("10.0.0.1".parse().unwrap()));
        let six = IpNetwork::parse("fc00::/7").unwrap();
        assert!(six.contains("fd12::1".parse().unwrap()));
        assert!(!six.contains("fe80::1".parse().unwrap()));
        assert!(IpNetwork::parse("10.0.0.0/33").is_err());
        assert!(IpNetwork::parse("example.com/8").is_err());
    }
}
