//! One message to one callback: tries, retries by the subscription's policy, and the final
//! outcome (dead letter included).
//!
//! 2xx acknowledges. 5xx, a timeout, a connection error or a refused address is retried with
//! exponential backoff and jitter until `attempts` or `maxElapsedMs` run out. 4xx and 3xx
//! (redirects are never followed) are final at once, 410 Gone included. A final failure goes to
//! the DLQ when there is one, else the subscription stops on the message.
//!
//! `qos: at-most-once`: one try, never retried; a failure goes to the DLQ when there is one,
//! else the message is dropped (counted in `dropped`): it was acknowledged before the try.

use std::rc::Rc;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use bytes::Bytes;
use monoio::time::Instant;

use super::client::{self, TryError};
use super::dead_letter::{self, DeadLetterSink, Failure};
use super::http::request_head;
use super::metrics::{SubscriptionCounters, WebhookMetrics};
use super::outcome::{Outcome, StopReason};
use super::pool::{Pool, PoolKey};
use super::retry::{self, Jitter, Next};
use super::runner::Stop;
use super::signature;
use crate::config::push_model::{PushAuth, PushConfig};
use crate::config::webhook::{IpNetwork, WebhookOptions, WebhookQos};
use crate::message::Message;
use crate::shard::LogThrottle;

/// What every delivery of one subscription shares.
pub struct Target {
    /// The push subscription's id: the `webhook-id` prefix, the log field, the DLQ header.
    pub(crate) subscription: String,
    /// The subscription's `configuration:` (callback URL, headers, auth, TLS, retry, ordering,
    /// DLQ, signing secrets).
    pub(crate) push: PushConfig,
    /// The API's webhook entrypoint options (QoS, timeouts, answer size bound).
    pub(crate) options: WebhookOptions,
    /// `gateway.webhook.allowedNetworks`: private addresses the SSRF guard lets callbacks reach.
    pub(crate) allowed: Vec<IpNetwork>,
    /// The rustls settings of an `https` callback; `None` for `http`.
    pub(crate) tls: Option<Arc<rustls::ClientConfig>>,
    /// The shard's keep-alive connections to callbacks.
    pub(crate) pool: Rc<Pool>,
    /// Where given-up messages go; `None` without a `dlq`, or when its sink could not be built
    /// (then a message given up stops the subscription instead of being lost).
    pub(crate) dlq: Option<Rc<dyn DeadLetterSink>>,
    /// This subscription's `tidegate_webhook_*` counters.
    pub(crate) counters: Arc<SubscriptionCounters>,
    /// The node's connection counters (opened, SSRF refusals).
    pub(crate) metrics: Arc<WebhookMetrics>,
    /// Random units for the retry policy's `jitter`, so that subscriptions failing together do
    /// not retry in step.
    pub(crate) jitter: Jitter,
    /// At most one failure line per [`FAILURE_LOG_INTERVAL`](super::FAILURE_LOG_INTERVAL)
    /// (every failure is counted).
    pub(crate) log: LogThrottle,
    /// The `authorization` header of each try (fixed, or an OAuth2 token cached until expiry).
    pub(crate) auth: super::auth::AuthHeader,
}

/// The final result of one try.
enum Tried {
    Status(u16),
    Failed(TryError),
}

impl Target {
    fn pool_key(&self) -> PoolKey {
        PoolKey {
            host: self.push.callback.host.clone(),
            port: self.push.callback.port,
            tls: self.tls.as_ref().map(|config| Arc::as_ptr(config) as usize),
        }
    }

    /// Delivers `message` until its outcome is final, or `stop` fires: a drain (pause, close,
    /// retired) lets the try in progress finish but starts no retry, an abort (shutdown) leaves
    /// the try; either way a message not delivered is not acknowledged.
    pub async fn deliver(&self, message: &Message, stop: &Stop) -> Outcome {
        let webhook_id = signature::message_id(&self.subscription, &message.id.to_string());
        let started = Instant::now();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            if attempt > 1 {
                SubscriptionCounters::add(&self.counters.retried, 1);
            }
            let tried = monoio::select! {
                _ = stop.abort.wait() => return Outcome::Stopped(StopReason::Interrupted),
                tried = self.try_once(message, &webhook_id) => tried,
            };
            let (status, error, permanent) = match tried {
                Tried::Status(status) if (200..300).contains(&status) => {
                    SubscriptionCounters::add(&self.counters.delivered, 1);
                    return Outcome::Delivered;
                }
                Tried::Status(status) if (300..500).contains(&status) => {
                    (Some(status), format!("HTTP {status}"), true)
                }
                Tried::Status(status) => (Some(status), format!("HTTP {status}"), false),
                Tried::Failed(error) => (None, error.to_string(), false),
            };
            SubscriptionCounters::add(&self.counters.failed, 1);
            self.log_failure(attempt, &error);
            let at_most_once = self.options.qos == WebhookQos::AtMostOnce;
            let next = if permanent || at_most_once {
                Next::GiveUp
            } else if stop.is_fired() {
                return Outcome::Stopped(StopReason::Interrupted);
            } else {
                retry::next(
                    &self.push.retry,
                    attempt,
                    started.elapsed(),
                    self.jitter.unit(),
                )
            };
            match next {
                Next::RetryAfter(delay) => {
                    monoio::select! {
                        _ = stop.wait() => return Outcome::Stopped(StopReason::Interrupted),
                        _ = monoio::time::sleep(delay) => {}
                    }
                }
                Next::GiveUp => {
                    let failure = Failure {
                        subscription: self.subscription.clone(),
                        status,
                        attempts: attempt,
                        error,
                    };
                    return self.give_up(message, failure, permanent).await;
                }
            }
        }
    }

    async fn give_up(&self, message: &Message, failure: Failure, refused: bool) -> Outcome {
        let reason = match failure.status {
            Some(status) if refused => StopReason::Refused(status),
            _ => StopReason::RetriesExhausted,
        };
        let at_most_once = self.options.qos == WebhookQos::AtMostOnce;
        let Some(dlq) = &self.dlq else {
            if at_most_once {
                return self.drop_message(&failure);
            }
            if self.push.dlq.is_some() {
                tracing::error!(subscription = %self.subscription, "the dead-letter endpoint is not available; the subscription stops instead of losing the message");
                return Outcome::Stopped(StopReason::DeadLetterFailed);
            }
            return Outcome::Stopped(reason);
        };
        match dlq.write(dead_letter::letter(message, &failure)).await {
            Ok(()) => {
                SubscriptionCounters::add(&self.counters.dead_lettered, 1);
                Outcome::DeadLettered
            }
            Err(error) if at_most_once => {
                tracing::error!(subscription = %self.subscription, %error, "dead-letter write failed; at-most-once drops the message");
                self.drop_message(&failure)
            }
            Err(error) => {
                tracing::error!(subscription = %self.subscription, %error, "dead-letter write failed; the subscription stops");
                Outcome::Stopped(StopReason::DeadLetterFailed)
            }
        }
    }

    /// `at-most-once` gives up on a message it already acknowledged: it is lost.
    fn drop_message(&self, failure: &Failure) -> Outcome {
        SubscriptionCounters::add(&self.counters.dropped, 1);
        if let Some(suppressed) = self.log.admit(std::time::Instant::now()) {
            tracing::warn!(
                subscription = %self.subscription,
                error = %failure.error,
                suppressed,
                "at-most-once delivery failed; the message is dropped (never retried)"
            );
        }
        Outcome::Dropped
    }

    async fn try_once(&self, message: &Message, webhook_id: &str) -> Tried {
        let key = self.pool_key();
        let auth = match self.auth.value(self).await {
            Ok(auth) => auth,
            Err(error) => return Tried::Failed(error),
        };
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut headers: Vec<(&str, &str)> = Vec::with_capacity(8 + self.push.headers.len());
        let content_type = message
            .headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("content-type"))
            .map(|(_, value)| value.as_str())
            .filter(|value| !value.contains(['\r', '\n']))
            .unwrap_or(if message.kind.is_text(&message.payload) {
                "text/plain; charset=utf-8"
            } else {
                "application/octet-stream"
            });
        headers.push(("content-type", content_type));
        headers.push(("user-agent", "tidegate-webhook"));
        headers.push(("webhook-id", webhook_id));
        let timestamp_text = timestamp.to_string();
        headers.push(("webhook-timestamp", &timestamp_text));
        let signature_text;
        if !self.push.secrets.is_empty() {
            signature_text =
                signature::signature(&self.push.secrets, webhook_id, timestamp, &message.payload);
            headers.push(("webhook-signature", &signature_text));
        }
        if let Some(auth) = &auth {
            headers.push(("authorization", auth));
        }
        for (name, value) in &self.push.headers {
            headers.push((name, value));
        }
        let head = request_head(
            &self.push.callback.host_header(),
            &self.push.callback.target,
            &headers,
            message.payload.len(),
        );
        self.exchange(key, head, message.payload.clone()).await
    }

    /// Sends on a pooled connection, or a new one; a pooled connection that turns out closed
    /// by the callback before any answer is replaced once, without counting a try.
    async fn exchange(&self, key: PoolKey, head: Bytes, body: Bytes) -> Tried {
        let options = &self.options;
        let mut pooled = self.pool.take(&key);
        loop {
            let reused = pooled.is_some();
            let mut connection = match pooled.take() {
                Some(connection) => connection,
                None => {
                    let url = &self.push.callback;
                    match client::connect(
                        url,
                        &self.allowed,
                        options.connect_timeout,
                        self.tls.as_ref(),
                    )
                    .await
                    {
                        Ok(connection) => {
                            SubscriptionCounters::add(&self.metrics.connections_opened, 1);
                            connection
                        }
                        Err(error) => {
                            if matches!(error, TryError::Refused(_)) {
                                SubscriptionCounters::add(&self.metrics.ssrf_refusals, 1);
                            }
                            return Tried::Failed(error);
                        }
                    }
                }
            };
            self.counters
                .in_flight
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let result = connection
                .exchange(
                    head.clone(),
                    body.clone(),
                    options.read_timeout,
                    options.max_response_bytes,
                )
                .await;
            self.counters
                .in_flight
                .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            match result {
                Ok(answer) => {
                    if answer.reusable {
                        self.pool.give_back(key, connection);
                    }
                    return Tried::Status(answer.status);
                }
                Err(TryError::Broken(_)) if reused => continue,
                Err(error) => return Tried::Failed(error),
            }
        }
    }

    fn log_failure(&self, attempt: u32, error: &str) {
        if let Some(suppressed) = self.log.admit(std::time::Instant::now()) {
            tracing::warn!(
                subscription = %self.subscription,
                attempt,
                error,
                suppressed,
                "webhook delivery failed"
            );
        }
    }
}

/// `Basic` credentials for `auth: basic`.
pub fn basic(username: &str, password: &str) -> String {
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    format!("Basic {encoded}")
}

/// The static part of `auth` (basic, bearer); OAuth2 tokens come from `auth.rs`.
pub fn static_auth(auth: &PushAuth) -> Option<String> {
    match auth {
        PushAuth::None | PushAuth::OAuth2 { .. } => None,
        PushAuth::Basic { username, password } => Some(basic(username, password.expose())),
        PushAuth::Bearer { token } => Some(format!("Bearer {}", token.expose())),
    }
}
