//! At most one log line per interval for an error that can repeat many times a second (accept
//! failing while the process is out of file descriptors: one line per retry flooded the log with
//! ~20 lines a second per shard). The line that is written says how many were left out since the
//! previous one; a metric counts every occurrence.

use std::cell::Cell;
use std::time::{Duration, Instant};

/// At most one log line per this long for failing accepts (every one is counted); the shards'
/// and the admin endpoint's accept loops use it.
pub const ACCEPT_ERROR_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Decides which occurrences of one repeating error get a log line.
pub struct LogThrottle {
    interval: Duration,
    last_line: Cell<Option<Instant>>,
    suppressed: Cell<u64>,
}

impl LogThrottle {
    /// At most one line per `interval`.
    pub fn new(interval: Duration) -> LogThrottle {
        LogThrottle {
            interval,
            last_line: Cell::new(None),
            suppressed: Cell::new(0),
        }
    }

    /// Called on each occurrence: `Some(occurrences left out since the last line)` when this one
    /// should be logged, `None` when it is left out.
    pub fn admit(&self, now: Instant) -> Option<u64> {
        let due = self
            .last_line
            .get()
            .is_none_or(|last| now.saturating_duration_since(last) >= self.interval);
        if due {
            self.last_line.set(Some(now));
            Some(self.suppressed.replace(0))
        } else {
            self.suppressed.set(self.suppressed.get() + 1);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_with_the_count_left_out() {
        let throttle = LogThrottle::new(Duration::from_secs(10));
        let start = Instant::now();
        let at = |ms| start + Duration::from_millis(ms);
        assert_eq!(throttle.admit(at(0)), Some(0));
        let left_out = (1..200).filter(|i| throttle.admit(at(i * 50)).is_none());
        assert_eq!(left_out.count(), 199);
        assert_eq!(throttle.admit(at(10_000)), Some(199));
        assert_eq!(throttle.admit(at(10_050)), None);
        assert_eq!(throttle.admit(at(25_000)), Some(1));
    }
}
