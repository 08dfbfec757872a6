//! Counters in Redis, shared by every gateway process pointing at it.
//!
//! Shards never block on Redis: they send each counter request over a bounded channel to one
//! dedicated thread, which owns the (blocking) connection, and await the answer with a deadline
//! (`timeoutMs`). The thread takes every request waiting and sends them as one pipeline, so a busy
//! node makes one round trip for many requests. Each request is one Lua script (INCRBY, then
//! PEXPIRE on the first hit of a window): Redis runs a script atomically, so counts are exact
//! across processes and a counter never outlives its window (plus a margin) without an expiry.
//! When Redis is down or slow, requests get no count and the caller applies `onUnavailable`; the
//! thread reconnects with an exponential backoff and logs at most one line per interval.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::metrics::RateLimitMetrics;
use super::window::Window;
use crate::shard::LogThrottle;

/// Adds ARGV[1] to KEYS[1]; the first addition of a window sets its expiry (ARGV[2] ms).
const ADD_SCRIPT: &str = "local c = redis.call('INCRBY', KEYS[1], ARGV[1]) \
     if c == tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return c";
/// Most requests sent in one pipeline.
const MAX_PIPELINE: usize = 256;
/// Kept after a window ends, for clocks of several gateways that differ a little.
const EXPIRY_MARGIN_MS: u64 = 5_000;
/// First and longest pause before reconnecting.
const MIN_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// At most one log line per this long about Redis errors (each one is counted).
const LOG_INTERVAL: Duration = Duration::from_secs(10);

struct Job {
    key: String,
    n: u64,
    expire_ms: u64,
    /// Past it the shard has given up on the answer: the job is not sent.
    deadline: Instant,
    reply: flume::Sender<Option<u64>>,
}

/// The shards' side of the Redis thread.
pub(super) struct RedisCounters {
    jobs: flume::Sender<Job>,
    timeout: Duration,
    max_in_flight: u64,
    metrics: Arc<RateLimitMetrics>,
}

/// Why the Redis counters could not start.
#[derive(Debug, thiserror::Error)]
pub enum RedisStartError {
    /// `gateway.rateLimit.repository.url` is not a url the Redis client accepts.
    #[error("gateway.rateLimit.repository.url is not a valid Redis url: {0}")]
    Url(redis::RedisError),
    /// The operating system refused to spawn the Redis client thread.
    #[error("the rate-limit Redis thread could not start: {0}")]
    Thread(std::io::Error),
}

impl RedisCounters {
    /// Starts the thread (it connects on the first request and ends when this is dropped).
    pub(super) fn start(
        url: &str,
        timeout: Duration,
        max_in_flight: usize,
        metrics: Arc<RateLimitMetrics>,
    ) -> Result<RedisCounters, RedisStartError> {
        let client = redis::Client::open(url).map_err(RedisStartError::Url)?;
        let (jobs, queue) = flume::bounded(max_in_flight);
        let thread_metrics = metrics.clone();
        std::thread::Builder::new()
            .name("tidegate-redis".to_owned())
            .spawn(move || run(client, queue, timeout, &thread_metrics))
            .map_err(RedisStartError::Thread)?;
        Ok(RedisCounters {
            jobs,
            timeout,
            max_in_flight: max_in_flight as u64,
            metrics,
        })
    }

    /// Adds `n` to `key`'s count in `window`; the new count, or `None` when Redis did not answer
    /// in time (down, slow, or `maxInFlight` requests already waiting).
    pub(super) async fn add(
        &self,
        key: String,
        window: Window,
        n: u64,
        now_ms: u64,
    ) -> Option<u64> {
        let in_flight = &self.metrics.redis_in_flight;
        if RateLimitMetrics::get(in_flight) >= self.max_in_flight {
            return None;
        }
        let _waiting = InFlight::enter(in_flight);
        let (reply, answer) = flume::bounded(1);
        let job = Job {
            key,
            n,
            expire_ms: window.end_ms.saturating_sub(now_ms) + EXPIRY_MARGIN_MS,
            deadline: Instant::now() + self.timeout,
            reply,
        };
        self.jobs.try_send(job).ok()?;
        monoio::time::timeout(self.timeout, answer.recv_async())
            .await
            .ok()?
            .ok()?
    }
}

/// Counts one request in `redis_in_flight` while it lives.
struct InFlight<'a>(&'a AtomicU64);

impl<'a> InFlight<'a> {
    fn enter(gauge: &'a AtomicU64) -> InFlight<'a> {
        RateLimitMetrics::inc(gauge);
        InFlight(gauge)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The thread: batches waiting jobs into pipelines until every sender is gone.
fn run(
    client: redis::Client,
    queue: flume::Receiver<Job>,
    timeout: Duration,
    metrics: &RateLimitMetrics,
) {
    let mut link = Link {
        client,
        timeout,
        connection: None,
        retry_at: Instant::now(),
        backoff: MIN_BACKOFF,
        log: LogThrottle::new(LOG_INTERVAL),
        metrics,
    };
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        batch.extend(queue.try_iter().take(MAX_PIPELINE - 1));
        let now = Instant::now();
        batch.retain(|job| job.deadline > now && !job.reply.is_disconnected());
        if batch.is_empty() {
            continue;
        }
        let counts = link.send(&batch);
        for (index, job) in batch.into_iter().enumerate() {
            let count = counts
                .as_ref()
                .and_then(|counts| counts.get(index).copied());
            let _ = job.reply.send(count);
        }
    }
}

/// The connection and its reconnect state.
struct Link<'a> {
    client: redis::Client,
    timeout: Duration,
    connection: Option<redis::Connection>,
    retry_at: Instant,
    backoff: Duration,
    log: LogThrottle,
    metrics: &'a RateLimitMetrics,
}

impl Link<'_> {
    /// One pipeline for `batch`; `None` when Redis is unreachable or failed.
    fn send(&mut self, batch: &[Job]) -> Option<Vec<u64>> {
        let connection = self.connected()?;
        let mut pipe = redis::pipe();
        for job in batch {
            pipe.cmd("EVAL")
                .arg(ADD_SCRIPT)
                .arg(1)
                .arg(&job.key)
                .arg(job.n)
                .arg(job.expire_ms);
        }
        match pipe.query::<Vec<u64>>(connection) {
            Ok(counts) => Some(counts),
            Err(error) => {
                // The connection may hold a late answer: start again on a fresh one.
                self.connection = None;
                self.metrics
                    .redis_connected
                    .store(0, std::sync::atomic::Ordering::Relaxed);
                self.failed("Redis command failed", &error);
                None
            }
        }
    }

    fn connected(&mut self) -> Option<&mut redis::Connection> {
        if self.connection.is_none() && Instant::now() >= self.retry_at {
            let opened = self
                .client
                .get_connection_with_timeout(self.timeout)
                .and_then(|c| {
                    c.set_read_timeout(Some(self.timeout))?;
                    c.set_write_timeout(Some(self.timeout))?;
                    Ok(c)
                });
            match opened {
                Ok(connection) => {
                    tracing::info!("connected to Redis for rate-limit counters");
                    self.connection = Some(connection);
                    self.backoff = MIN_BACKOFF;
                    self.metrics
                        .redis_connected
                        .store(1, std::sync::atomic::Ordering::Relaxed);
                }
                Err(error) => self.failed("cannot connect to Redis", &error),
            }
        }
        self.connection.as_mut()
    }

    /// Counts a failure, schedules the next connection attempt, logs throttled.
    fn failed(&mut self, what: &str, error: &redis::RedisError) {
        RateLimitMetrics::inc(&self.metrics.redis_errors_total);
        self.retry_at = Instant::now() + self.backoff;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        if let Some(left_out) = self.log.admit(Instant::now()) {
            tracing::warn!(%error, left_out, "{what}; rate-limit counters follow onUnavailable until it answers");
        }
    }
}
