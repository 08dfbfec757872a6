//! Open-loop timing: the whole publish stream runs at a fixed rate from a fixed start, whatever
//! the system under test does. Message `k` of the stream is due at `start + k / rate`; publisher
//! `i` of `P` owns messages `i, i + P, i + 2P, …`, so its `n`-th message is stream message
//! `n·P + i`. A sender that falls behind sends late but keeps the due times, and latency is
//! measured from them.

use std::time::{Duration, Instant};

/// The harness clock: nanoseconds since one `Instant` shared by every thread of the run.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    epoch: Instant,
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

impl Clock {
    pub fn new() -> Clock {
        Clock {
            epoch: Instant::now(),
        }
    }

    pub fn now_ns(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// When each message of the run is due, and the phases of the run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Schedule {
    /// Due time of stream message 0.
    pub start_ns: u64,
    /// Messages due before this are warm-up: delivered and counted, but not in the histogram.
    pub warmup_end_ns: u64,
    /// No message is due at or after this.
    pub end_ns: u64,
    /// Nanoseconds between two stream messages (1e9 / rate).
    interval_ns: f64,
    publishers: u32,
}

impl Schedule {
    /// `rate_per_s` is the whole stream's rate over all `publishers` (both at least 1, checked by
    /// the caller's options).
    pub fn new(
        start_ns: u64,
        warmup: Duration,
        duration: Duration,
        rate_per_s: f64,
        publishers: u32,
    ) -> Schedule {
        let warmup_end_ns = start_ns + warmup.as_nanos() as u64;
        Schedule {
            start_ns,
            warmup_end_ns,
            end_ns: warmup_end_ns + duration.as_nanos() as u64,
            interval_ns: 1e9 / rate_per_s,
            publishers: publishers.max(1),
        }
    }

    /// Due time of publisher `publisher`'s message number `seq`.
    pub fn due_ns(&self, publisher: u32, seq: u64) -> u64 {
        let stream_index = seq * u64::from(self.publishers) + u64::from(publisher);
        self.start_ns + (stream_index as f64 * self.interval_ns) as u64
    }

    /// Whether publisher `publisher` has a message `seq` at all (it is due before the end).
    pub fn has(&self, publisher: u32, seq: u64) -> bool {
        self.due_ns(publisher, seq) < self.end_ns
    }

    /// Whether a message due at `due_ns` is measured (after warm-up).
    pub fn is_measured(&self, due_ns: u64) -> bool {
        due_ns >= self.warmup_end_ns && due_ns < self.end_ns
    }

    /// Messages publisher `publisher` sends in the whole run, warm-up included.
    pub fn messages_of(&self, publisher: u32) -> u64 {
        // Solve due < end for seq, then step over rounding at the boundary.
        let span = (self.end_ns - self.start_ns) as f64 / self.interval_ns;
        let mut count = ((span - f64::from(publisher)) / f64::from(self.publishers))
            .ceil()
            .max(0.0) as u64;
        while count > 0 && !self.has(publisher, count - 1) {
            count -= 1;
        }
        while self.has(publisher, count) {
            count += 1;
        }
        count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publishers_interleave_on_one_stream() {
        let s = Schedule::new(1_000, Duration::ZERO, Duration::from_secs(1), 1000.0, 4);
        // 1000 msg/s: one every 1 ms; publisher 2's message 3 is stream message 14.
        assert_eq!(s.due_ns(0, 0), 1_000);
        assert_eq!(s.due_ns(1, 0), 1_001_000);
        assert_eq!(s.due_ns(2, 3), 1_000 + 14_000_000);
    }

    #[test]
    fn counts_add_up_to_rate_times_time() {
        let s = Schedule::new(
            0,
            Duration::from_millis(500),
            Duration::from_secs(2),
            1000.0,
            3,
        );
        let total: u64 = (0..3).map(|p| s.messages_of(p)).sum();
        assert_eq!(total, 2500);
        for p in 0..3 {
            let n = s.messages_of(p);
            assert!(s.has(p, n - 1) && !s.has(p, n));
        }
    }

    #[test]
    fn warmup_messages_are_not_measured() {
        let s = Schedule::new(0, Duration::from_secs(1), Duration::from_secs(1), 10.0, 1);
        assert!(!s.is_measured(s.due_ns(0, 9)));
        assert!(s.is_measured(s.due_ns(0, 10)));
        assert!(s.is_measured(s.due_ns(0, 19)));
        assert!(!s.has(0, 20));
    }
}
