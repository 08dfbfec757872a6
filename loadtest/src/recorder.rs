//! What a subscriber thread learns from each delivery: latency, loss and duplicate accounting,
//! and the shared progress counters the main thread prints.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::latency::Latency;
use crate::schedule::Clock;
use crate::sequence::{Arrival, SeqTracker};
use crate::stamp::Stamp;

/// Counters shared by every thread of a run (relaxed: they are only read for progress and
/// after the threads are joined).
#[derive(Debug, Default)]
pub struct Progress {
    pub subscribers_ready: AtomicU64,
    pub connections_failed: AtomicU64,
    pub delivered: AtomicU64,
    pub published: AtomicU64,
    pub acknowledged: AtomicU64,
}

/// The measured window, known only once every subscriber is ready and publishing starts; until
/// then nothing is measured.
#[derive(Debug)]
pub struct Window {
    warmup_end_ns: AtomicU64,
    end_ns: AtomicU64,
}

impl Default for Window {
    fn default() -> Self {
        Window {
            warmup_end_ns: AtomicU64::new(u64::MAX),
            end_ns: AtomicU64::new(u64::MAX),
        }
    }
}

impl Window {
    pub fn set(&self, warmup_end_ns: u64, end_ns: u64) {
        self.end_ns.store(end_ns, Ordering::Relaxed);
        self.warmup_end_ns.store(warmup_end_ns, Ordering::Relaxed);
    }

    pub fn warmup_end_ns(&self) -> u64 {
        self.warmup_end_ns.load(Ordering::Relaxed)
    }

    fn measures(&self, intended_ns: u64) -> bool {
        intended_ns >= self.warmup_end_ns() && intended_ns < self.end_ns.load(Ordering::Relaxed)
    }
}

/// One subscriber thread's sink for deliveries.
pub struct Recorder {
    clock: Clock,
    window: Arc<Window>,
    progress: Arc<Progress>,
    /// Latencies of messages due inside the measured window (receive − intended send).
    pub latency: Latency,
    /// First arrivals (duplicates excluded), all phases.
    pub delivered: u64,
    /// First arrivals received after warm-up ended (by receive time): the throughput numerator.
    pub delivered_after_warmup: u64,
    pub duplicates: u64,
    /// Payloads that carry no stamp, or a publisher index beyond the run's publishers.
    pub foreign: u64,
    /// Why connections ended, counted by message (first 100 distinct messages).
    pub errors: Vec<(String, u64)>,
    unflushed: u64,
    /// Scratch space for decoders, reused for every delivery.
    pub scratch: Vec<u8>,
}

impl Recorder {
    pub fn new(clock: Clock, window: Arc<Window>, progress: Arc<Progress>) -> Recorder {
        Recorder {
            clock,
            window,
            progress,
            latency: Latency::new(),
            delivered: 0,
            delivered_after_warmup: 0,
            duplicates: 0,
            foreign: 0,
            errors: Vec::new(),
            unflushed: 0,
            scratch: Vec::new(),
        }
    }

    pub fn progress(&self) -> &Progress {
        &self.progress
    }

    /// Accounts for one delivered payload against this subscriber's `trackers` (one per
    /// publisher).
    pub fn deliver(&mut self, trackers: &mut [SeqTracker], payload: &[u8]) {
        let now_ns = self.clock.now_ns();
        let Some(stamp) = Stamp::decode(payload) else {
            self.foreign += 1;
            return;
        };
        let Some(tracker) = trackers.get_mut(stamp.publisher as usize) else {
            self.foreign += 1;
            return;
        };
        if tracker.observe(stamp.seq) == Arrival::Duplicate {
            self.duplicates += 1;
            return;
        }
        self.delivered += 1;
        self.unflushed += 1;
        if now_ns >= self.window.warmup_end_ns() {
            self.delivered_after_warmup += 1;
        }
        if self.window.measures(stamp.intended_ns) {
            self.latency
                .record_us(now_ns.saturating_sub(stamp.intended_ns) / 1_000);
        }
    }

    /// Counts a connection's end by its reason.
    pub fn count_error(&mut self, reason: String) {
        self.progress
            .connections_failed
            .fetch_add(1, Ordering::Relaxed);
        if let Some(entry) = self.errors.iter_mut().find(|(known, _)| *known == reason) {
            entry.1 += 1;
        } else if self.errors.len() < 100 {
            self.errors.push((reason, 1));
        }
    }

    /// Publishes the local delivery count to the shared progress counters.
    pub fn flush(&mut self) {
        if self.unflushed > 0 {
            self.progress
                .delivered
                .fetch_add(self.unflushed, Ordering::Relaxed);
            self.unflushed = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(publisher: u32, seq: u64, intended_ns: u64) -> Vec<u8> {
        let mut text = String::new();
        Stamp {
            publisher,
            seq,
            intended_ns,
        }
        .encode(64, &mut text);
        text.into_bytes()
    }

    #[test]
    fn counts_news_duplicates_and_foreign_payloads() {
        let clock = Clock::new();
        let window = Arc::new(Window::default());
        let mut recorder = Recorder::new(clock, window.clone(), Arc::default());
        let mut trackers = vec![SeqTracker::default(); 2];
        recorder.deliver(&mut trackers, &payload(0, 0, 0));
        recorder.deliver(&mut trackers, &payload(0, 0, 0));
        recorder.deliver(&mut trackers, &payload(1, 0, 0));
        recorder.deliver(&mut trackers, &payload(2, 0, 0));
        recorder.deliver(&mut trackers, b"not ours");
        assert_eq!(recorder.delivered, 2);
        assert_eq!(recorder.duplicates, 1);
        assert_eq!(recorder.foreign, 2);
        // The window was never set: nothing is measured.
        assert_eq!(recorder.latency.count(), 0);
        recorder.flush();
        assert_eq!(recorder.progress().delivered.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn measures_only_inside_the_window() {
        let clock = Clock::new();
        let window = Arc::new(Window::default());
        window.set(1_000, 2_000);
        let mut recorder = Recorder::new(clock, window, Arc::default());
        let mut trackers = vec![SeqTracker::default()];
        for (seq, intended_ns) in [(0, 999), (1, 1_000), (2, 1_999), (3, 2_000)] {
            recorder.deliver(&mut trackers, &payload(0, seq, intended_ns));
        }
        assert_eq!(recorder.delivered, 4);
        assert_eq!(recorder.latency.count(), 2);
    }
}
