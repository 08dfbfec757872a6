//! A subscription's retry schedule: exponential backoff with jitter, capped per delay and in
//! total time (`retry` of a push subscription).

use std::time::Duration;

use crate::config::push_model::RetryPolicy;

/// The delay before try number `attempt + 1`, after `attempt` failed tries (1-based), before
/// jitter: `initialDelay * multiplier^(attempt-1)`, at most `maxDelay`.
pub fn base_delay(policy: &RetryPolicy, attempt: u32) -> Duration {
    let factor = policy
        .multiplier
        .0
        .powi(attempt.saturating_sub(1).min(64) as i32);
    let millis = policy.initial_delay.as_millis() as f64 * factor;
    let capped = millis.min(policy.max_delay.as_millis() as f64);
    Duration::from_millis(capped as u64)
}

/// `base` moved by a random fraction of up to `jitter` either way (`unit` in [0, 1)).
pub fn jittered(base: Duration, jitter: f64, unit: f64) -> Duration {
    let spread = (unit * 2.0 - 1.0) * jitter;
    Duration::from_millis((base.as_millis() as f64 * (1.0 + spread)).max(1.0) as u64)
}

/// What to do after a failed try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Wait this long, then try again.
    RetryAfter(Duration),
    /// Give up (attempts or maxElapsed used up).
    GiveUp,
}

/// After `attempt` failed tries with `elapsed` since the first: retry or give up.
pub fn next(policy: &RetryPolicy, attempt: u32, elapsed: Duration, unit: f64) -> Next {
    if attempt >= policy.attempts {
        return Next::GiveUp;
    }
    let delay = jittered(base_delay(policy, attempt), policy.jitter.0, unit);
    if elapsed + delay > policy.max_elapsed {
        return Next::GiveUp;
    }
    Next::RetryAfter(delay)
}

/// A cheap random unit in [0, 1) for jitter (no crate: xorshift seeded per shard and task).
pub struct Jitter(std::cell::Cell<u64>);

impl Jitter {
    /// A generator seeded from `seed` and the clock.
    pub fn new(seed: u64) -> Jitter {
        let clock = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Jitter(std::cell::Cell::new((seed ^ clock) | 1))
    }

    /// The next unit.
    pub fn unit(&self) -> f64 {
        let mut x = self.0.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0.set(x);
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::push_model::Factor;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            attempts: 5,
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(500),
            multiplier: Factor(2.0),
            jitter: Factor(0.0),
            max_elapsed: Duration::from_secs(60),
        }
    }

    #[test]
    fn delays_grow_by_the_multiplier_up_to_the_cap() {
        let delays: Vec<u128> = (1..=5)
            .map(|a| base_delay(&policy(), a).as_millis())
            .collect();
        assert_eq!(delays, [100, 200, 400, 500, 500]);
    }

    #[test]
    fn attempts_and_elapsed_time_end_the_retries() {
        let p = policy();
        assert_eq!(
            next(&p, 1, Duration::ZERO, 0.5),
            Next::RetryAfter(Duration::from_millis(100))
        );
        assert_eq!(next(&p, 5, Duration::ZERO, 0.5), Next::GiveUp);
        assert_eq!(next(&p, 2, Duration::from_secs(60), 0.5), Next::GiveUp);
    }

    #[test]
    fn jitter_stays_within_its_fraction() {
        let jitter = Jitter::new(7);
        for _ in 0..1000 {
            let d = jittered(Duration::from_millis(1000), 0.2, jitter.unit()).as_millis();
            assert!((800..=1200).contains(&d), "{d}");
        }
    }
}
