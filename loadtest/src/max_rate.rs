//! The max-rate mode: each server's maximum delivered messages/s for one publisher shape and one
//! subscriber protocol, found by stepping the offered rate. Every step is a whole run on a freshly
//! started server; the rate grows by a factor until a step fails (loss, lag beyond a limit, or
//! publishers that fall behind their schedule), then the gap between the last kept and the first
//! failed rate is halved (geometrically) a few times. Lag that grows over a run passes any fixed
//! limit, so a limit well above the kept steps' p99 tells "keeps up" from "falls behind".
//!
//! On a small machine the harness shares the cores with the server: a maximum found there is a
//! lower bound when the harness, not the server, runs out of CPU (the table says whose CPU was
//! spent).

use crate::error::LoadError;
use crate::report::{ms, Report};
use crate::run::Workload;
use crate::servers::ServerKind;
use crate::shapes::PubShape;
use crate::suites::{cpu_per_million, Suite};

/// How the offered rate is stepped.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stepping {
    /// The first step's rate (messages/s, all publishers together).
    pub start_per_s: f64,
    /// Each step before the first failure multiplies the rate by this (> 1).
    pub factor: f64,
    /// Halvings of the gap between the last kept and the first failed rate.
    pub refine: u32,
    /// Most steps per server, whatever happens.
    pub max_steps: u32,
}

/// How one step went.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Every delivery arrived, p99 within the lag limit, publishers on schedule.
    Kept,
    /// Deliveries that did not arrive, or publishes the server refused.
    Loss { missing: u64, refused: u64 },
    /// p99 latency beyond the lag limit: the server falls behind the offered rate.
    Lag { p99_us: u64 },
    /// The publishers could not keep to the schedule (held back by slow answers, or out of CPU).
    Behind { send_lag_p99_us: u64 },
}

impl Verdict {
    pub fn kept(&self) -> bool {
        *self == Verdict::Kept
    }

    /// "kept", "loss (12 missing, 0 refused)", "lag (p99 812.000 ms)", …
    pub fn describe(&self) -> String {
        match self {
            Verdict::Kept => "kept".into(),
            Verdict::Loss { missing, refused } => {
                format!("loss ({missing} missing, {refused} refused)")
            }
            Verdict::Lag { p99_us } => format!("lag (p99 {})", ms(*p99_us)),
            Verdict::Behind { send_lag_p99_us } => {
                format!("publishers behind (send lag p99 {})", ms(*send_lag_p99_us))
            }
        }
    }
}

/// Judges one step: loss first (it is never acceptable), then publishers behind schedule (the
/// rate was not offered), then lag.
pub fn verdict(report: &Report, lag_limit_us: u64) -> Verdict {
    let c = &report.counts;
    let missing = c
        .deliveries_expected
        .saturating_sub(c.delivered)
        .max(c.lost);
    if missing > 0 || c.refused > 0 {
        return Verdict::Loss {
            missing,
            refused: c.refused,
        };
    }
    if report.send_lag.p99_us > lag_limit_us {
        return Verdict::Behind {
            send_lag_p99_us: report.send_lag.p99_us,
        };
    }
    if report.latency.p99_us > lag_limit_us {
        return Verdict::Lag {
            p99_us: report.latency.p99_us,
        };
    }
    Verdict::Kept
}

impl Stepping {
    /// The next rate to try after the steps in `history` (rate, kept), or `None` when done: up
    /// by `factor` while every step is kept, down by it while none is, then `refine` geometric
    /// halvings between the highest kept and the lowest failed rate above it.
    pub fn next_rate(&self, history: &[(f64, bool)]) -> Option<f64> {
        if history.len() >= self.max_steps as usize {
            return None;
        }
        let Some(&(last, _)) = history.last() else {
            return Some(self.start_per_s);
        };
        let best_kept = history
            .iter()
            .filter(|(_, kept)| *kept)
            .map(|&(rate, _)| rate)
            .reduce(f64::max);
        let lowest_failed_above = |floor: f64| {
            history
                .iter()
                .filter(|&&(rate, kept)| !kept && rate > floor)
                .map(|&(rate, _)| rate)
                .reduce(f64::min)
        };
        match (best_kept, lowest_failed_above(best_kept.unwrap_or(0.0))) {
            (Some(_), None) => Some(last * self.factor),
            (None, Some(_)) => Some(last / self.factor),
            (Some(low), Some(high)) => {
                // The steps since both ends of the bracket were first known are refinements.
                let bracketed_at = (0..history.len())
                    .find(|&i| {
                        let seen = &history[..=i];
                        seen.iter().any(|s| s.1) && seen.iter().any(|s| !s.1)
                    })
                    .unwrap_or(history.len());
                let refinements = history.len() - 1 - bracketed_at;
                (refinements < self.refine as usize).then(|| (low * high).sqrt())
            }
            (None, None) => None,
        }
    }

    /// Checks the options: a positive start, a factor above 1, at least one step.
    pub fn check(&self) -> Result<(), LoadError> {
        let valid = self.start_per_s.is_finite()
            && self.start_per_s > 0.0
            && self.factor.is_finite()
            && self.factor > 1.0
            && self.max_steps > 0;
        if !valid {
            return Err(LoadError::Options(
                "--start-rate must be positive, --factor above 1 and --max-steps at least 1".into(),
            ));
        }
        Ok(())
    }
}

/// One server's steps and its maximum.
pub struct ServerSteps {
    pub label: &'static str,
    pub kind: ServerKind,
    /// Every step in order: its report and verdict.
    pub steps: Vec<(Report, Verdict)>,
}

impl ServerSteps {
    /// The step with the highest kept rate.
    pub fn best(&self) -> Option<&Report> {
        self.steps
            .iter()
            .filter(|(_, v)| v.kept())
            .map(|(r, _)| r)
            .max_by(|a, b| a.workload.rate_per_s.total_cmp(&b.workload.rate_per_s))
    }

    /// The lowest failed step above the best kept one: what stopped the climb.
    pub fn stopped_by(&self) -> Option<(&Report, &Verdict)> {
        let floor = self.best().map_or(0.0, |r| r.workload.rate_per_s);
        self.steps
            .iter()
            .filter(|(r, v)| !v.kept() && r.workload.rate_per_s > floor)
            .min_by(|a, b| a.0.workload.rate_per_s.total_cmp(&b.0.workload.rate_per_s))
            .map(|(r, v)| (r, v))
    }
}

/// The markdown table: per server, its steps, its maximum and tidegate's maximum ÷ this one.
pub fn table(base: &Workload, shape: PubShape, servers: &[ServerSteps]) -> String {
    let tidegate_max = servers
        .iter()
        .find(|s| s.kind == ServerKind::Tidegate)
        .and_then(ServerSteps::best)
        .map(|r| r.delivered_per_s);
    let mut table = format!(
        "{} → {:?}, {} subscribers, {} B.\n\n\
         | server | steps (offered msg/s: verdict) | max kept msg/s | deliveries/s there | µs CPU per delivery there | p99 there | stopped by | tidegate max ÷ this |\n\
         |---|---|---:|---:|---:|---:|---|---:|\n",
        shape.label(),
        base.sub,
        base.subscribers,
        base.size_bytes
    );
    for server in servers {
        let steps: Vec<String> = server
            .steps
            .iter()
            .map(|(r, v)| format!("{:.0}: {}", r.workload.rate_per_s, v.describe()))
            .collect();
        let stopped = server.stopped_by().map_or("max steps".into(), |(r, v)| {
            format!("{:.0} msg/s: {}", r.workload.rate_per_s, v.describe())
        });
        let (rate, delivered, cpu, p99, ratio) = match server.best() {
            Some(r) => (
                format!("{:.0}", r.workload.rate_per_s),
                format!("{:.0}", r.delivered_per_s),
                cpu_per_million(r),
                ms(r.latency.p99_us),
                tidegate_max.map_or("n/a".into(), |t| {
                    format!("{:.2}", t / r.delivered_per_s.max(1e-9))
                }),
            ),
            None => (
                "none kept".into(),
                "—".into(),
                "—".into(),
                "—".into(),
                "n/a".into(),
            ),
        };
        table.push_str(&format!(
            "| {} | {} | {rate} | {delivered} | {cpu} | {p99} | {stopped} | {ratio} |\n",
            server.label,
            steps.join("; ")
        ));
    }
    table
}

/// Steps the offered rate of `base` (see [`Stepping`]): `run` measures one step's workload on a
/// fresh server and returns its report; each is judged by [`verdict`].
pub fn step(
    base: &Workload,
    stepping: Stepping,
    lag_limit_us: u64,
    mut run: impl FnMut(Workload) -> Result<Report, LoadError>,
) -> Result<Vec<(Report, Verdict)>, LoadError> {
    stepping.check()?;
    let mut history = Vec::new();
    let mut steps = Vec::new();
    while let Some(rate) = stepping.next_rate(&history) {
        let report = run(Workload {
            rate_per_s: rate,
            ..base.clone()
        })?;
        let verdict = verdict(&report, lag_limit_us);
        eprintln!("  -> {rate:.0} msg/s: {}", verdict.describe());
        history.push((rate, verdict.kept()));
        steps.push((report, verdict));
    }
    Ok(steps)
}

impl Suite {
    /// Steps the offered rate on each of `servers` for `shape` (the suite's workload gives the
    /// subscribers); writes `max-rate-*.json` per step and `max-rate.md`; returns the table.
    pub fn max_rate(
        &self,
        shape: PubShape,
        stepping: Stepping,
        lag_limit_us: u64,
        servers: &[(&'static str, ServerKind)],
    ) -> Result<String, LoadError> {
        stepping.check()?;
        let base = shape.apply(&self.workload);
        let mut results = Vec::new();
        for &(label, kind) in servers {
            let steps = step(&base, stepping, lag_limit_us, |workload| {
                let rate = workload.rate_per_s;
                let file = format!("max-rate-{kind:?}-{rate:.0}").to_lowercase();
                let step_label = format!("{label} @ {rate:.0} msg/s");
                self.run_on(&step_label, &file, kind, &self.servers, workload)
            })?;
            results.push(ServerSteps { label, kind, steps });
        }
        self.finish("max-rate", &table(&base, shape, &results))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::latency::Latency;
    use crate::run::{Counts, Outcome};

    const STEPPING: Stepping = Stepping {
        start_per_s: 100.0,
        factor: 2.0,
        refine: 2,
        max_steps: 10,
    };

    /// Drives `stepping` against a server that keeps every rate up to `capacity`.
    fn climb(stepping: Stepping, capacity: f64) -> Vec<f64> {
        let mut history = Vec::new();
        while let Some(rate) = stepping.next_rate(&history) {
            history.push((rate, rate <= capacity));
        }
        history.into_iter().map(|(rate, _)| rate).collect()
    }

    #[test]
    fn steps_up_by_the_factor_then_refines_the_bracket() {
        let rates = climb(STEPPING, 500.0);
        // 100, 200, 400 kept; 800 failed; then √(400·800) ≈ 566 failed, √(400·566) ≈ 476 kept.
        assert_eq!(rates[..4], [100.0, 200.0, 400.0, 800.0]);
        assert_eq!(rates.len(), 6);
        assert!((rates[4] - (400.0f64 * 800.0).sqrt()).abs() < 1e-6);
        assert!((rates[5] - (400.0 * rates[4]).sqrt()).abs() < 1e-6);
    }

    #[test]
    fn steps_down_when_the_first_rate_fails() {
        let rates = climb(STEPPING, 30.0);
        assert_eq!(rates[..3], [100.0, 50.0, 25.0]);
        // Bracketed between 25 (kept) and 50 (failed), then refined twice.
        assert_eq!(rates.len(), 5);
        assert!(rates[3] > 25.0 && rates[3] < 50.0);
    }

    #[test]
    fn never_takes_more_than_max_steps() {
        let stepping = Stepping {
            max_steps: 4,
            ..STEPPING
        };
        assert_eq!(climb(stepping, f64::INFINITY), [100.0, 200.0, 400.0, 800.0]);
        let no_refine = Stepping {
            refine: 0,
            ..STEPPING
        };
        assert_eq!(climb(no_refine, 250.0), [100.0, 200.0, 400.0]);
    }

    #[test]
    fn bad_stepping_options_are_refused() {
        for bad in [
            Stepping {
                factor: 1.0,
                ..STEPPING
            },
            Stepping {
                start_per_s: 0.0,
                ..STEPPING
            },
            Stepping {
                max_steps: 0,
                ..STEPPING
            },
        ] {
            assert!(bad.check().is_err(), "{bad:?}");
        }
        assert!(STEPPING.check().is_ok());
    }

    fn report(counts: Counts, latency_us: u64, send_lag_us: u64) -> Report {
        let mut latency = Latency::new();
        let mut send_lag = Latency::new();
        for _ in 0..100 {
            latency.record_us(latency_us);
            send_lag.record_us(send_lag_us);
        }
        let outcome = Outcome {
            counts,
            latency,
            send_lag,
            measured_s: 1.0,
            server: None,
            errors: Vec::new(),
            publisher_errors: Vec::new(),
        };
        Report::new("step", None, &crate::shapes::tests::workload(), &outcome)
    }

    fn counts(expected: u64, delivered: u64, lost: u64, refused: u64) -> Counts {
        Counts {
            deliveries_expected: expected,
            delivered,
            lost,
            refused,
            ..Counts::default()
        }
    }

    #[test]
    fn a_step_is_judged_by_loss_then_schedule_then_lag() {
        let limit = 500_000;
        let all = counts(1000, 1000, 0, 0);
        assert_eq!(
            verdict(&report(all.clone(), 2_000, 100), limit),
            Verdict::Kept
        );
        assert_eq!(
            verdict(&report(counts(1000, 990, 0, 0), 2_000, 100), limit),
            Verdict::Loss {
                missing: 10,
                refused: 0
            }
        );
        // Lost in the middle but made up in count by nothing else: the trackers' count rules.
        assert_eq!(
            verdict(&report(counts(1000, 1000, 3, 2), 2_000, 100), limit),
            Verdict::Loss {
                missing: 3,
                refused: 2
            }
        );
        let behind = verdict(&report(all.clone(), 900_000, 800_000), limit);
        assert!(matches!(behind, Verdict::Behind { .. }), "{behind:?}");
        let lag = verdict(&report(all, 900_000, 100), limit);
        assert!(
            matches!(lag, Verdict::Lag { p99_us } if p99_us >= 800_000),
            "{lag:?}"
        );
        assert!(lag.describe().starts_with("lag (p99 "));
    }
}
