//! A push subscription's `channel` (Gravitee's subscription channel): the part of its API's
//! endpoint it receives. Checked against the API so a subscription can never read a topic the
//! API does not expose:
//!
//! - Kafka: one of the API's consumer `topics` (or a topic its `topicPattern` matches);
//! - MQTT: a topic or filter within the API's consumer topic filter (every topic the channel
//!   matches is matched by the API's filter), wildcards as MQTT defines them;
//! - in-memory: the API's topic itself (an exact match, so the channel changes nothing);
//! - Mock (and echo): no channels.
//!
//! A message outside the channel (its `topic` metadata does not match) is acknowledged without
//! an attempt and counted (`tidegate_webhook_skipped_total`).

use super::model::{ApiConfig, EndpointConfig};
use super::problem::Problems;

/// Longest channel accepted (an MQTT topic's limit is 65,535 bytes; Kafka's topic names 249).
pub const MAX_CHANNEL_LENGTH: usize = 1024;

/// What a channel admits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PushChannel {
    /// Messages whose topic is exactly this one (Kafka, in-memory).
    Topic(String),
    /// Messages whose MQTT topic this filter matches.
    Filter(String),
}

impl PushChannel {
    /// True when a message of `topic` is in the channel.
    pub fn admits(&self, topic: Option<&str>) -> bool {
        match (self, topic) {
            (_, None) => false,
            (PushChannel::Topic(wanted), Some(topic)) => wanted == topic,
            (PushChannel::Filter(filter), Some(topic)) => filter_matches(filter, topic),
        }
    }
}

/// Reads `channel` for a push subscription of `api` (`None`: the API could not be read; it was
/// reported). An empty channel is no channel.
pub(crate) fn read(
    channel: Option<String>,
    api: Option<&ApiConfig>,
    loc: &str,
    p: &mut Problems,
) -> Option<PushChannel> {
    let channel = channel.filter(|channel| !channel.is_empty())?;
    if channel.len() > MAX_CHANNEL_LENGTH {
        p.push(
            loc,
            format!("a channel has at most {MAX_CHANNEL_LENGTH} bytes"),
        );
        return None;
    }
    let api = api?;
    let outside = |allowed: String| {
        format!(
            "'{channel}' is not within API '{}''s topics: {allowed}",
            api.id
        )
    };
    match &api.endpoint {
        EndpointConfig::Mock(_) | EndpointConfig::Echo => {
            p.push(loc, "mock endpoints have no channels: leave `channel` out");
            None
        }
        EndpointConfig::InMemory(options) => {
            if channel == options.topic {
                return Some(PushChannel::Topic(channel));
            }
            let allowed = format!("the channel must be its topic '{}'", options.topic);
            p.push(loc, outside(allowed));
            None
        }
        EndpointConfig::Kafka(options) => {
            let Some(consumer) = &options.consumer else {
                p.push(loc, format!("API '{}' consumes no Kafka topic", api.id));
                return None;
            };
            let listed = consumer.topics.contains(&channel);
            let matched = consumer.topic_pattern.as_deref().is_some_and(|pattern| {
                regex::Regex::new(pattern).is_ok_and(|regex| regex.is_match(&channel))
            });
            if listed || matched {
                return Some(PushChannel::Topic(channel));
            }
            let mut allowed = format!("one of {}", consumer.topics.join(", "));
            if let Some(pattern) = &consumer.topic_pattern {
                allowed = format!("a topic matching {pattern}");
            }
            p.push(loc, outside(allowed));
            None
        }
        EndpointConfig::Mqtt(options) => {
            let Some(consumer) = &options.consumer else {
                p.push(loc, format!("API '{}' subscribes to no MQTT topic", api.id));
                return None;
            };
            if let Err(why) = check_filter(&channel) {
                p.push(loc, why);
                return None;
            }
            if filter_within(&channel, &consumer.topic) {
                return Some(PushChannel::Filter(channel));
            }
            let allowed = format!("a topic or filter within '{}'", consumer.topic);
            p.push(loc, outside(allowed));
            None
        }
    }
}

/// An MQTT topic filter's syntax: `#` only as the last level, `+` and `#` only as whole levels.
fn check_filter(filter: &str) -> Result<(), String> {
    let levels: Vec<&str> = filter.split('/').collect();
    for (index, level) in levels.iter().enumerate() {
        let wild = level.contains('+') || level.contains('#');
        if wild && level.len() > 1 {
            return Err(format!(
                "'{filter}' is not an MQTT topic filter: `+` and `#` stand for whole levels"
            ));
        }
        if *level == "#" && index + 1 != levels.len() {
            return Err(format!(
                "'{filter}' is not an MQTT topic filter: `#` must be the last level"
            ));
        }
    }
    if filter.contains('\0') {
        return Err("a channel must not contain NUL".to_owned());
    }
    Ok(())
}

/// True when MQTT filter `filter` matches topic `topic` (MQTT 5 §4.7: `+` one level, `#` the
/// rest including the parent; topics starting with `$` are not matched by a leading wildcard).
pub fn filter_matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let mut topic_levels = topic.split('/');
    for level in filter.split('/') {
        match level {
            "#" => return true,
            "+" => {
                if topic_levels.next().is_none() {
                    return false;
                }
            }
            literal => {
                if topic_levels.next() != Some(literal) {
                    return false;
                }
            }
        }
    }
    topic_levels.next().is_none()
}

/// True when every topic `inner` matches is matched by `outer` (both valid filters).
pub fn filter_within(inner: &str, outer: &str) -> bool {
    let mut inner_levels = inner.split('/');
    for level in outer.split('/') {
        match (level, inner_levels.next()) {
            ("#", _) => return true,
            (_, None) => return false,
            (_, Some("#")) => return false,
            ("+", Some(_)) => {}
            (literal, Some(other)) => {
                if literal != other {
                    return false;
                }
            }
        }
    }
    inner_levels.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mqtt_filters_match_as_mqtt_defines_them() {
        assert!(filter_matches("orders/#", "orders"));
        assert!(filter_matches("orders/#", "orders/eu/1"));
        assert!(filter_matches("orders/+/new", "orders/eu/new"));
        assert!(!filter_matches("orders/+", "orders/eu/new"));
        assert!(!filter_matches("orders/eu", "orders/us"));
        assert!(!filter_matches("#", "$SYS/x"));
        assert!(filter_matches("orders/eu", "orders/eu"));
    }

    #[test]
    fn a_channel_lies_within_the_api_filter_or_not() {
        assert!(filter_within("orders/eu/#", "orders/#"));
        assert!(filter_within("orders/eu", "orders/#"));
        assert!(filter_within("orders", "orders/#"));
        assert!(filter_within("orders/+/new", "orders/+/new"));
        assert!(filter_within("orders/eu/new", "orders/+/new"));
        assert!(!filter_within("orders/+/new", "orders/eu/new"));
        assert!(!filter_within("#", "orders/#"));
        assert!(!filter_within("orders/#", "orders/+"));
        assert!(!filter_within("payments/eu", "orders/#"));
        assert!(!filter_within("orders/eu/x", "orders/+"));
        assert!(check_filter("orders/eu#").is_err());
        assert!(check_filter("orders/#/eu").is_err());
        assert!(check_filter("orders/+/eu").is_ok());
    }
}
