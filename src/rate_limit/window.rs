//! Fixed counting windows: which window a moment falls in, and when it ends.
//!
//! Windows are aligned to the Unix epoch (periods in seconds) or to the UTC calendar (quota days
//! and months), so every shard and every gateway process sharing a Redis puts a request in the
//! same window without talking to each other; a window's index is part of its counter's key.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::civil_date::{civil_from_days, days_from_civil};
use crate::config::rate_limit::{Period, QuotaPeriod};

const MS_PER_DAY: u64 = 86_400_000;

/// One counting window: `[start_ms, end_ms)` in Unix milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Window {
    /// Distinct for each window of a period (part of the counter key).
    pub index: u64,
    pub end_ms: u64,
}

impl Window {
    /// The window of `period` that holds the moment `now_ms`.
    pub(super) fn at(period: Period, now_ms: u64) -> Window {
        match period {
            Period::Seconds(seconds) => {
                let length = seconds.get().saturating_mul(1000);
                let index = now_ms / length;
                Window {
                    index,
                    end_ms: (index + 1).saturating_mul(length),
                }
            }
            Period::Calendar(QuotaPeriod::Day) => {
                let index = now_ms / MS_PER_DAY;
                Window {
                    index,
                    end_ms: (index + 1) * MS_PER_DAY,
                }
            }
            Period::Calendar(QuotaPeriod::Month) => {
                let (year, month, _) = civil_from_days((now_ms / MS_PER_DAY) as i64);
                let (next_year, next_month) = if month == 12 {
                    (year + 1, 1)
                } else {
                    (year, month + 1)
                };
                Window {
                    index: (year * 12 + i64::from(month) - 1) as u64,
                    end_ms: days_from_civil(next_year, next_month, 1) as u64 * MS_PER_DAY,
                }
            }
        }
    }

    /// Whole seconds until the window ends, rounded up (`X-RateLimit-Reset`, `Retry-After`).
    pub(super) fn seconds_left(&self, now_ms: u64) -> u64 {
        self.end_ms.saturating_sub(now_ms).div_ceil(1000)
    }
}

/// Milliseconds since the Unix epoch (0 for a clock before 1970).
pub(super) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU64;

    use super::*;

    #[test]
    fn second_windows_are_epoch_aligned() {
        let period = Period::Seconds(NonZeroU64::new(10).unwrap());
        let window = Window::at(period, 12_345);
        assert_eq!(
            window,
            Window {
                index: 1,
                end_ms: 20_000
            }
        );
        assert_eq!(window.seconds_left(12_345), 8);
        assert_eq!(window.seconds_left(19_999), 1);
        assert_ne!(Window::at(period, 20_000).index, window.index);
    }

    #[test]
    fn days_and_months_follow_the_utc_calendar() {
        // 2024-02-29T12:00:00Z (a leap day).
        let leap_noon = days_from_civil(2024, 2, 29) as u64 * MS_PER_DAY + MS_PER_DAY / 2;
        let day = Window::at(Period::Calendar(QuotaPeriod::Day), leap_noon);
        assert_eq!(day.seconds_left(leap_noon), 12 * 3600);
        let month = Window::at(Period::Calendar(QuotaPeriod::Month), leap_noon);
        assert_eq!(
            month.end_ms,
            days_from_civil(2024, 3, 1) as u64 * MS_PER_DAY
        );
        let december = days_from_civil(2023, 12, 31) as u64 * MS_PER_DAY;
        let window = Window::at(Period::Calendar(QuotaPeriod::Month), december);
        assert_eq!(
            window.end_ms,
            days_from_civil(2024, 1, 1) as u64 * MS_PER_DAY
        );
        assert_eq!(
            window.index + 1,
            Window::at(Period::Calendar(QuotaPeriod::Month), window.end_ms).index
        );
    }

    #[test]
    fn civil_dates_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        for days in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
