//! Test-only fault injection: lets the tests make a chosen kind of task panic, to show that the
//! supervisor (`shard::supervisor`) contains it.
//!
//! It exists only with the cargo feature `fault-injection`, which nothing but the tests turns on
//! (the crate is its own dev-dependency with that feature, so `cargo test` builds the library and
//! the `tidegate` binary with it, and `cargo build` / `cargo install` never do). Without the
//! feature `trip` is an empty inline function: no configuration key, environment variable or
//! payload can make a shipped gateway panic on purpose.
//!
//! A fault is armed by data the test controls and no other test uses, so tests running side by
//! side in one process do not trip each other: the site's marker (`tidegate-fault.<site>`) in the
//! bytes a site looks at (what a client sent, a Mock API's `messageContent`, a topic's name).

/// The places a test can make panic, one per kind of supervised task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Site {
    /// The read loop of a streaming connection (WebSocket, SSE): a per-connection task.
    ReadLoop,
    /// A Mock endpoint's generator: a per-subscriber (so per-connection) task.
    MockGenerator,
    /// A shard's in-memory topic delivery: a shard-wide task.
    TopicDelivery,
}

impl Site {
    /// The marker that trips this site.
    pub const fn marker(self) -> &'static str {
        match self {
            Site::ReadLoop => "tidegate-fault.read-loop",
            Site::MockGenerator => "tidegate-fault.mock-generator",
            Site::TopicDelivery => "tidegate-fault.topic-delivery",
        }
    }
}

/// Panics when `data` holds `site`'s marker (only with the `fault-injection` feature).
#[cfg(feature = "fault-injection")]
pub fn trip(site: Site, data: &[u8]) {
    let marker = site.marker().as_bytes();
    if data.windows(marker.len()).any(|window| window == marker) {
        panic!("fault injected at {site:?}");
    }
}

/// Does nothing: fault injection is compiled out of builds without the test-only feature.
#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn trip(_site: Site, _data: &[u8]) {}
