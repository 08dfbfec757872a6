//! Which I/O driver a shard's monoio runtime uses: io_uring where the kernel allows it, epoll
//! otherwise (containers under Docker's default seccomp profile refuse io_uring).

use std::fmt;
use std::future::Future;
use std::io;

use monoio::{IoUringDriver, LegacyDriver, RuntimeBuilder};

use crate::config::DriverChoice;

/// The driver a shard actually runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    /// Linux io_uring.
    IoUring,
    /// epoll (monoio's "legacy" driver).
    Epoll,
}

impl fmt::Display for Driver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Driver::IoUring => "io_uring",
            Driver::Epoll => "epoll",
        })
    }
}

/// Submission queue entries per io_uring instance.
const URING_ENTRIES: u32 = 1024;

/// Builds a runtime for `choice` on the current thread and runs `make()`'s future to completion.
///
/// `on_started` is told which driver was built (or why none could be) before the future starts;
/// with `DriverChoice::Auto` a refused io_uring falls back to epoll.
pub fn run_on_driver<F, Fut>(
    choice: DriverChoice,
    on_started: impl FnOnce(io::Result<Driver>),
    make: F,
) where
    F: FnOnce() -> Fut,
    Fut: Future<Output = ()>,
{
    let want_uring = match choice {
        DriverChoice::IoUring => true,
        DriverChoice::Epoll => false,
        DriverChoice::Auto => monoio::utils::detect_uring(),
    };
    if want_uring {
        match RuntimeBuilder::<IoUringDriver>::new()
            .with_entries(URING_ENTRIES)
            .enable_timer()
            .build()
        {
            Ok(mut runtime) => {
                on_started(Ok(Driver::IoUring));
                runtime.block_on(make());
                return;
            }
            Err(err) if choice == DriverChoice::Auto => {
                tracing::warn!(error = %err, "io_uring refused; falling back to epoll");
            }
            Err(err) => {
                on_started(Err(io::Error::new(
                    err.kind(),
                    format!("io_uring was forced by `driver: io-uring` but could not start: {err}"),
                )));
                return;
            }
        }
    }
    match RuntimeBuilder::<LegacyDriver>::new().enable_timer().build() {
        Ok(mut runtime) => {
            on_started(Ok(Driver::Epoll));
            runtime.block_on(make());
        }
        Err(err) => on_started(Err(err)),
    }
}
