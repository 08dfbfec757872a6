//! The shard context: what a shard hands to the code that serves its clients (entrypoints,
//! endpoints, the server, webhooks, the admin endpoint), and the shard-local primitives they use.
//!
//! It sits below those modules and below `runtime`: `runtime` (threads, drivers, the accept loop,
//! live apply) builds a [`Shard`] and runs it; nothing outside `runtime` (but the node that starts
//! a gateway, `manage::node`, and `main`) names `runtime`. `tests/module_layers.rs` keeps it so.
//!
//! - context.rs: [`Shard`], the per-shard state every connection reads, with the handles to
//!   node-wide state it holds ([`ShardHandles`], made on the main thread);
//! - alarms.rs: one timer for many deadlines (hibernating streams' pings);
//! - local_signal.rs: a shard-local broadcast flag (shutdown, drains, credential ends);
//! - lifeline.rs: what a connection keeps alive for its whole life (its connection slot, its
//!   request's record), carried along by a stream that hibernates;
//! - supervisor.rs: every task is spawned through it (a panic closes one connection, or takes
//!   the shard down visibly); catch_panic.rs the future wrapper it uses;
//! - log_throttle.rs: one log line per interval for errors that repeat;
//! - driver.rs: which I/O driver a shard runs on (io_uring / epoll), and building its runtime;
//! - io_buf.rs: buffer handling every socket reader shares;
//! - fault.rs: test-only fault injection (feature `fault-injection`).

mod alarms;
mod catch_panic;
mod context;
mod driver;
pub mod fault;
pub mod io_buf;
mod lifeline;
mod local_signal;
mod log_throttle;
pub mod supervisor;

pub use alarms::{Alarm, Alarms};
pub use catch_panic::{panic_message, CatchPanic};
pub use context::{Shard, ShardHandles};
pub use driver::{run_on_driver, Driver};
pub use lifeline::Lifeline;
pub use local_signal::LocalSignal;
pub use log_throttle::{LogThrottle, ACCEPT_ERROR_LOG_INTERVAL};
