//! Counters and gauges for every bound the gateway enforces.
//!
//! Each shard owns one `ShardMetrics` and is its only writer; other threads (the admin endpoint,
//! tests) only read. Relaxed atomics are used for that single-writer/many-reader sharing, not for
//! coordination: a reader may see a counter a few increments stale, never a torn value.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

macro_rules! shard_metrics {
    ($( $(#[doc = $doc:literal])* $kind:ident $name:ident ),* $(,)?) => {
        /// One shard's counters (monotonic, `_total`) and gauges (current value).
        #[derive(Debug, Default)]
        pub struct ShardMetrics {
            $( $(#[doc = $doc])* pub $name: AtomicU64, )*
            /// `tidegate_errors_total{fault, kind}` (`crate::error`).
            pub errors: crate::error::ErrorCounts,
        }

        impl ShardMetrics {
            /// Every metric as `(name, kind, help, value)`, for rendering.
            fn entries(&self) -> Vec<(&'static str, &'static str, &'static str, u64)> {
                vec![$( (stringify!($name), stringify!($kind), concat!($($doc),*), self.$name.load(Ordering::Relaxed)) ),*]
            }
        }
    };
}

shard_metrics! {
    /// Connections accepted.
    counter connections_accepted_total,
    /// Connections refused because the shard was at `maxConnectionsPerShard`.
    counter connections_rejected_total,
    /// Accepts that failed (e.g. out of file descriptors), each retried after a short pause;
    /// logged at most once per 10 s per shard.
    counter accept_errors_total,
    /// MQTT PUBACKs sent before delivery because too many were held back (at-least-once).
    counter mqtt_acks_forced_total,
    /// At-least-once MQTT messages a resumed broker session handed over before the node's
    /// subscription opened, held without PUBACK until it does (bounded: 4096 per endpoint).
    gauge mqtt_messages_held_early,
    /// Tasks of one connection that panicked (a bug: that connection was closed, the shard kept
    /// running).
    counter connection_panics_total,
    /// Shard-wide tasks that panicked (a bug: the shard went down, `/health` says so and the
    /// process exits non-zero).
    counter shard_task_panics_total,
    /// TLS handshakes completed on the TLS listener (`gateway.tls`).
    counter tls_handshakes_total,
    /// TLS handshakes that failed (invalid records, no common version or cipher, a refused or
    /// missing client certificate, no `http/1.1` in ALPN, the client closing first); logged at
    /// most once per 10 s per shard.
    counter tls_handshake_failures_total,
    /// TLS handshakes not complete within `headerReadMs` (the connection was closed).
    counter tls_handshake_timeouts_total,
    /// Connections currently open (bounded by `maxConnectionsPerShard`).
    gauge connections_open,
    /// HTTP requests whose head was parsed.
    counter http_requests_total,
    /// Requests answered with a 4xx status by the gateway itself.
    counter http_client_errors_total,
    /// Requests refused 403 for their `Origin` (CORS `allowOrigin`, a websocket's
    /// `allowedOrigins`, a malformed Origin) or a refused CORS preflight.
    counter origin_refusals_total,
    /// WebSocket sessions currently open.
    gauge websocket_sessions_open,
    /// Payload bytes of unfinished WebSocket messages (fragments so far, frames still arriving)
    /// held by this shard's connections (bounded by `wsMaxPartialBytesPerShard`).
    gauge websocket_partial_bytes,
    /// WebSocket connections closed (1013) because their unfinished message would have put the
    /// shard over `wsMaxPartialBytesPerShard`.
    counter websocket_partial_budget_closes_total,
    /// WebSocket connections closed (1008) because a message was not finished within
    /// `wsMessageReadMs`.
    counter websocket_message_deadline_closes_total,
    /// Pings waiting for their pong (at most 16 per WebSocket connection; a client sending more
    /// is not read until they are answered).
    gauge websocket_pongs_pending,
    /// WebSocket sessions open with permessage-deflate negotiated.
    gauge websocket_deflate_sessions_open,
    /// Payload bytes of the messages sent deflated, before compression.
    counter websocket_deflate_bytes_in_total,
    /// The same messages' payload bytes as sent, after compression.
    counter websocket_deflate_bytes_out_total,
    /// Messages sent deflated whose compressed bytes the shard had already made for another
    /// connection (a fan-out deflated once per shard).
    counter websocket_deflate_shared_total,
    /// Bytes (payloads and their compressed copies) the shard's remembered deflated messages
    /// hold alive for fan-out (at most 4 MiB per shard).
    gauge websocket_deflate_recent_bytes,
    /// Payload bytes of the compressed messages clients sent, as received.
    counter websocket_inflate_bytes_in_total,
    /// The same messages' bytes once inflated.
    counter websocket_inflate_bytes_out_total,
    /// Upgrades that asked for subprotocols of which none is configured (answered without
    /// `Sec-WebSocket-Protocol`).
    counter websocket_subprotocol_unmatched_total,
    /// SSE streams currently open.
    gauge sse_streams_open,
    /// HTTP GET polls currently waiting for messages.
    gauge http_get_polls_open,
    /// Bytes of HTTP GET replies being written (framing plus the payloads they reference;
    /// bounded by `maxGetReplyBytesPerShard`).
    gauge http_get_reply_bytes_in_flight,
    /// HTTP GET replies cut to fewer messages to fit `maxGetReplyBytesPerShard`.
    counter http_get_replies_trimmed_total,
    /// HTTP GET polls answered 503 because `maxGetReplyBytesPerShard` was in use.
    counter http_get_replies_refused_total,
    /// HTTP answers abandoned because the client accepted no bytes for `replyStallMs`.
    counter http_replies_stalled_total,
    /// WebSocket/SSE streams ended because the client accepted no bytes for `streamStallMs`.
    counter streams_stalled_total,
    /// Messages collected by open HTTP GET polls, waiting for their answer (bounded per poll by
    /// `limit` and `maxQueuedBytes`).
    gauge http_get_poll_messages_held,
    /// Messages accepted from clients (HTTP POST, WebSocket publish).
    counter messages_published_total,
    /// Messages written to clients (all entrypoints).
    counter messages_delivered_total,
    /// Messages dropped from a slow client's outbound queue (policy `drop-oldest`).
    counter messages_dropped_slow_client_total,
    /// Clients disconnected because their outbound queue overflowed (policy `disconnect`).
    counter clients_disconnected_slow_total,
    /// Kafka clients resuming before the node buffer refused with 503 because the feed's
    /// `maxCatchUps` catch-up readers were running.
    counter kafka_catch_ups_refused_total,
    /// Messages waiting in client outbound queues (bounded by `maxQueuedMessages` per client).
    gauge outbound_queued_messages,
    /// Payload bytes waiting in client outbound queues (bounded by `maxQueuedBytes` per client).
    gauge outbound_queued_bytes,
    /// Payload and framing bytes held by the shard's frame-once caches (bounded: 64 entries of
    /// payloads up to 16 KiB per entrypoint kind, `delivery::frame_cache`).
    gauge delivery_frame_cache_bytes,
    /// Messages written to a subscriber with framing another subscriber of the shard built
    /// (WebSocket frame, SSE event): framed and UTF-8 checked once, shared by reference.
    counter delivery_frames_shared_total,
    /// Socket writes the fan-out made for an idle WebSocket/SSE subscriber (plain TCP) instead
    /// of waking its writer task: one non-blocking write per subscriber and batch of messages.
    counter delivery_direct_writes_total,
    /// Direct writes the socket did not take whole (its buffer was full, or the client gone):
    /// the subscriber's writer task was woken to write the rest, in order.
    counter delivery_direct_handoffs_total,
    /// Direct writes the socket took part of (counted in `delivery_direct_handoffs_total` too).
    counter delivery_direct_partial_writes_total,
    /// WebSocket/SSE writers waiting with nothing pending, for which the fan-out writes
    /// directly (bounded by the open streams).
    gauge delivery_writers_parked,
    /// WebSocket sessions hibernating: quiet for `wsHibernateMs`, held as plain state with one
    /// small task and no reader or writer task (bounded by the open sessions).
    gauge websocket_sessions_hibernating,
    /// WebSocket sessions that went to sleep (`websocket_sessions_hibernating`).
    counter websocket_hibernations_total,
    /// Hibernating WebSocket sessions woken (the client sent something other than pongs, its
    /// last ping went unanswered or could not be written at once, the queue needed its writer,
    /// or the session had to end).
    counter websocket_wakeups_total,
    /// Keep-alive pings sent by hibernating WebSocket sessions without waking (their clients'
    /// pongs are taken off the socket asleep too).
    counter websocket_pings_asleep_total,
    /// SSE streams hibernating: nothing to write for `sseHibernateMs`, held as plain state with
    /// one small task and no reader or writer task (bounded by the open streams).
    gauge sse_streams_hibernating,
    /// SSE streams that went to sleep (`sse_streams_hibernating`).
    counter sse_hibernations_total,
    /// Hibernating SSE streams woken (the client left or sent more than a short peek shows, a
    /// heartbeat could not be written at once, the queue needed its writer, or the stream had
    /// to end).
    counter sse_wakeups_total,
    /// Heartbeats written by hibernating SSE streams without waking.
    counter sse_heartbeats_asleep_total,
    /// Bytes held in connection read buffers (bounded by header, body and frame limits), and
    /// the start of a TLS record a TLS session holds until the rest arrives (one record at most).
    gauge read_buffer_bytes,
    /// Read buffers a WebSocket or SSE connection borrowed from the shard's pool for a read, or
    /// holds with the start of a frame (an idle stream holds none; bounded by the connections).
    gauge read_buffers_in_use,
    /// Free read buffers the shard keeps for the next reads (bounded: 256, `server::read_pool`).
    gauge read_buffers_pooled,
    /// MQTT endpoint connections that are connected (one per MQTT API per shard at most).
    gauge mqtt_connections_connected,
    /// MQTT endpoint connections connecting or waiting to reconnect.
    gauge mqtt_connections_reconnecting,
    /// MQTT endpoint connections that gave up after `reconnectAttempts`.
    gauge mqtt_connections_down,
    /// MQTT connections established (CONNACK accepted).
    counter mqtt_connects_total,
    /// MQTT connections lost or failed.
    counter mqtt_connection_losses_total,
    /// Broker subscriptions held (one per consumer topic filter per shard at most).
    gauge mqtt_subscriptions_active,
    /// Messages received from MQTT brokers and put in a retention ring.
    counter mqtt_messages_received_total,
    /// Messages from MQTT brokers not kept (larger than the ring, or no subscription left).
    counter mqtt_messages_dropped_total,
    /// Batches of MQTT messages put in a ring together (what one broker read brought, at most
    /// 1024): received ÷ batches is the coalescing the fan-out gets.
    counter mqtt_receive_batches_total,
    /// QoS 1 publishes waiting for PUBACK (bounded by `producer.maxInFlight` per connection).
    gauge mqtt_publishes_in_flight,
    /// Publishes answered 503 (broker not connected, over maxInFlight, PUBACK timeout or lost).
    counter mqtt_publishes_rejected_total,
}

impl ShardMetrics {
    /// Adds one to a counter or gauge.
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds `n`.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Subtracts `n` from a gauge.
    pub fn sub(gauge: &AtomicU64, n: u64) {
        gauge.fetch_sub(n, Ordering::Relaxed);
    }

    /// Reads a value.
    pub fn get(value: &AtomicU64) -> u64 {
        value.load(Ordering::Relaxed)
    }
}

/// Renders all shards' metrics in the Prometheus text format, one series per shard.
pub fn render_prometheus(shards: &[Arc<ShardMetrics>]) -> String {
    let mut out = String::new();
    let Some(first) = shards.first() else {
        return out;
    };
    for (i, (name, kind, help, _)) in first.entries().into_iter().enumerate() {
        let _ = writeln!(out, "# HELP tidegate_{name} {}", help.trim());
        let _ = writeln!(out, "# TYPE tidegate_{name} {kind}");
        for (shard, m) in shards.iter().enumerate() {
            let value = m.entries()[i].3;
            let _ = writeln!(out, "tidegate_{name}{{shard=\"{shard}\"}} {value}");
        }
    }
    crate::error::render_error_counts(shards, &mut out);
    out
}

/// The Kafka bridge's counters (one bridge per gateway; it is their only writer).
#[derive(Debug, Default)]
pub struct KafkaMetrics {
    /// Fetch loops running: one per topic-partition of every feed, plus those of clients that
    /// resumed from before the node buffer (catch-up fetches).
    pub fetch_loops_running: AtomicU64,
    /// Feeds running: those a started API reads (a feed whose APIs were all removed or stopped
    /// stops fetching and leaves its consumer group; bounded by the configured feeds).
    pub feeds_running: AtomicU64,
    /// Catch-up readers running (each shared by the clients resuming before the node buffer
    /// at the positions it holds; bounded by `maxCatchUps` per feed).
    pub catch_up_fetches_running: AtomicU64,
    /// Broker connections the catch-up readers share (one metadata and one per partition per
    /// feed, whatever the number of readers).
    pub catch_up_connections: AtomicU64,
    /// Checks of client positions beyond the log ends a feed last fetched, asked of the brokers
    /// (`cross_shard::log_ends`), running now (at most 64 per node).
    pub cursor_end_checks_running: AtomicU64,
    /// Those checks in all.
    pub cursor_end_checks_total: AtomicU64,
    /// Client positions found past the end of the broker's log (read from its start).
    pub cursors_past_end_total: AtomicU64,

    /// Fetch requests answered by the brokers.
    pub fetch_requests_total: AtomicU64,
    /// Records fetched and appended to a node buffer.
    pub records_fetched_total: AtomicU64,
    /// Fetch errors (each followed by a retry with backoff).
    pub fetch_errors_total: AtomicU64,
    /// Times a fetch loop waited for a buffer's readers to make room (pacing).
    pub fetch_paced_waits_total: AtomicU64,
    /// Records appended after `paceWaitMs` of waiting: the readers still behind are slow ones.
    pub fetch_pace_overruns_total: AtomicU64,
    /// Connection attempts the brokers refused at SASL authentication (wrong credentials or
    /// mechanism); each is also counted where it happened (fetch, produce or group errors).
    pub sasl_failures_total: AtomicU64,
    /// Records acknowledged by the brokers.
    pub records_produced_total: AtomicU64,
    /// Produce requests that failed or timed out (answered 503 / refused).
    pub produce_errors_total: AtomicU64,
    /// Produce requests waiting for the brokers' acknowledgement.
    pub produce_in_flight: AtomicU64,
    /// Requests refused because the bridge's queue was full.
    pub bridge_queue_full_total: AtomicU64,
    /// Consumer group generations joined (one per group feed at start, one per rebalance).
    pub group_joins_total: AtomicU64,
    /// Consumer group requests that failed (each followed by a retry or a rejoin).
    pub group_errors_total: AtomicU64,
    /// Offset commits the group coordinator accepted.
    pub group_commits_total: AtomicU64,
    /// Heartbeats the group coordinator accepted; each follows a commit round (so a count that
    /// moved by two means at least one whole round ran in between).
    pub group_heartbeats_total: AtomicU64,
    /// Per-subscription consumer groups this node has joined or is joining
    /// (`groupScope: subscription`), bounded by `maxSubscriptionGroups` per API.
    pub subscription_groups_open: AtomicU64,
    /// Clients refused because `maxSubscriptionGroups` groups were open (answered 503).
    pub subscription_groups_refused_total: AtomicU64,
    /// Producers configured, and those connected (publishes to the others are refused).
    pub producers: AtomicU64,
    /// Producers connected to their brokers (the others refuse publishes).
    pub producers_connected: AtomicU64,
}

impl KafkaMetrics {
    /// Renders in the Prometheus text format.
    /// `now`: gauges read from the bridge's state at render time, as `(name, value, help)`.
    pub fn render_prometheus(&self, now: &[(&str, usize, &str)]) -> String {
        let mut out = String::new();
        for (name, value, help) in now {
            let _ = writeln!(out, "# HELP tidegate_kafka_{name} {help}");
            let _ = writeln!(out, "# TYPE tidegate_kafka_{name} gauge");
            let _ = writeln!(out, "tidegate_kafka_{name} {value}");
        }
        for (name, value, help) in [
            ("fetch_loops_running", &self.fetch_loops_running, "Kafka fetch loops running (one per partition of every feed, plus catch-up fetches)."),
            ("feeds_running", &self.feeds_running, "Kafka feeds running: those a started API reads (the others fetch nothing and hold no consumer group; feeds read only through per-subscription groups are not counted)."),
            ("catch_up_fetches_running", &self.catch_up_fetches_running, "Catch-up readers running (shared by the clients that resumed from before the node buffer)."),
            ("catch_up_connections", &self.catch_up_connections, "Broker connections shared by every catch-up reader."),
            ("cursor_end_checks_running", &self.cursor_end_checks_running, "Client positions beyond the log ends the feed last fetched, being checked with the brokers (at most 64)."),
            ("cursor_end_checks_total", &self.cursor_end_checks_total, "Client positions beyond the log ends the feed last fetched, checked with the brokers."),
            ("cursors_past_end_total", &self.cursors_past_end_total, "Client positions past the end of the broker's log (topic recreated, another cluster): read from the log's start."),
            ("fetch_requests_total", &self.fetch_requests_total, "Fetch requests the Kafka brokers answered."),
            ("records_fetched_total", &self.records_fetched_total, "Records fetched into a node buffer."),
            ("fetch_errors_total", &self.fetch_errors_total, "Kafka connection and fetch errors (each retried with backoff)."),
            ("fetch_paced_waits_total", &self.fetch_paced_waits_total, "Times a Kafka fetch loop waited for the readers of a buffer to make room."),
            ("fetch_pace_overruns_total", &self.fetch_pace_overruns_total, "Records appended after paceWaitMs of waiting (the readers still behind are slow clients)."),
            ("sasl_failures_total", &self.sasl_failures_total, "Kafka connection attempts refused at SASL authentication (check the credentials and mechanism)."),
            ("records_produced_total", &self.records_produced_total, "Records the Kafka brokers acknowledged."),
            ("produce_errors_total", &self.produce_errors_total, "Produce requests that failed or timed out."),
            ("produce_in_flight", &self.produce_in_flight, "Produce requests waiting for the brokers' acknowledgement."),
            ("bridge_queue_full_total", &self.bridge_queue_full_total, "Requests refused because the Kafka bridge's queue was full."),
            ("group_joins_total", &self.group_joins_total, "Consumer group generations joined."),
            ("group_errors_total", &self.group_errors_total, "Consumer group requests that failed (each retried or rejoined)."),
            ("group_commits_total", &self.group_commits_total, "Offset commits the group coordinator accepted."),
            ("group_heartbeats_total", &self.group_heartbeats_total, "Consumer group heartbeats the coordinator accepted (one per commit round)."),
            ("subscription_groups_open", &self.subscription_groups_open, "Per-subscription consumer groups open on this node."),
            ("subscription_groups_refused_total", &self.subscription_groups_refused_total, "Clients refused because maxSubscriptionGroups groups were open."),
            ("producers", &self.producers, "Kafka producers configured (one per distinct producer configuration)."),
            ("producers_connected", &self.producers_connected, "Kafka producers connected; publishes to the others are refused with 503 (a producer no started API writes through is not connected)."),
        ] {
            let kind = if name.ends_with("_total") { "counter" } else { "gauge" };
            let _ = writeln!(out, "# HELP tidegate_kafka_{name} {help}");
            let _ = writeln!(out, "# TYPE tidegate_kafka_{name} {kind}");
            let _ = writeln!(out, "tidegate_kafka_{name} {}", ShardMetrics::get(value));
        }
        out
    }
}

/// The counters of one of the gateway's own HTTP listeners (the admin endpoint), written by its
/// accept and connection threads.
#[derive(Debug, Default)]
pub struct AdminMetrics {
    /// Connections being served (bounded by the listener's `max_connections`).
    pub connections_open: AtomicU64,
    /// Connections refused with 503 because `max_connections` were open.
    pub connections_rejected_total: AtomicU64,
    /// Connections refused with 429 because their client address held
    /// `max_connections_per_address` open ones.
    pub connections_rejected_per_address_total: AtomicU64,
    /// Requests received whole and answered.
    pub requests_total: AtomicU64,
    /// Connections closed with 408 because the request was not received by the deadline.
    pub requests_timed_out_total: AtomicU64,
    /// Accepts that failed (e.g. out of file descriptors).
    pub accept_errors_total: AtomicU64,
    /// Requests whose handler panicked (answered 500; a bug to report).
    pub handler_panics_total: AtomicU64,
}

impl AdminMetrics {
    /// Renders in the Prometheus text format as `tidegate_<listener>_*`.
    pub fn render_prometheus(&self, listener: &str) -> String {
        let mut out = String::new();
        for (name, value, help) in [
            (
                "connections_open",
                &self.connections_open,
                "Connections being served (bounded; the rest are refused with 503).",
            ),
            (
                "connections_rejected_total",
                &self.connections_rejected_total,
                "Connections refused with 503 because the most allowed were open.",
            ),
            (
                "connections_rejected_per_address_total",
                &self.connections_rejected_per_address_total,
                "Connections refused with 429 because their client address held the most one address may.",
            ),
            (
                "requests_total",
                &self.requests_total,
                "Requests received and answered.",
            ),
            (
                "requests_timed_out_total",
                &self.requests_timed_out_total,
                "Connections answered 408: the request did not arrive whole by the deadline.",
            ),
            (
                "accept_errors_total",
                &self.accept_errors_total,
                "Accepts that failed (e.g. out of file descriptors), each retried.",
            ),
            (
                "handler_panics_total",
                &self.handler_panics_total,
                "Requests whose handler panicked, answered 500 (a bug: see the log).",
            ),
        ] {
            let kind = if name.ends_with("_total") {
                "counter"
            } else {
                "gauge"
            };
            let _ = writeln!(out, "# HELP tidegate_{listener}_{name} {help}");
            let _ = writeln!(out, "# TYPE tidegate_{listener}_{name} {kind}");
            let _ = writeln!(
                out,
                "tidegate_{listener}_{name} {}",
                ShardMetrics::get(value)
            );
        }
        out
    }
}

/// Sums one metric over all shards.
pub fn total(shards: &[Arc<ShardMetrics>], pick: impl Fn(&ShardMetrics) -> &AtomicU64) -> u64 {
    shards.iter().map(|m| ShardMetrics::get(pick(m))).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_shard_with_help_and_type() {
        let a = Arc::new(ShardMetrics::default());
        let b = Arc::new(ShardMetrics::default());
        ShardMetrics::inc(&a.connections_accepted_total);
        ShardMetrics::add(&b.connections_accepted_total, 2);
        let text = render_prometheus(&[a.clone(), b.clone()]);
        assert!(text.contains("# TYPE tidegate_connections_accepted_total counter"));
        assert!(text.contains("# TYPE tidegate_connections_open gauge"));
        assert!(text.contains("tidegate_connections_accepted_total{shard=\"0\"} 1"));
        assert!(text.contains("tidegate_connections_accepted_total{shard=\"1\"} 2"));
        assert_eq!(total(&[a, b], |m| &m.connections_accepted_total), 3);
    }
}
