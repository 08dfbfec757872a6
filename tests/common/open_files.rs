//! The open-file limit for tests that hold many sockets. The clients and the in-process gateway
//! share the test process, so each client costs two descriptors, and the tests of one binary
//! run in parallel: a soft limit of 1024, a common default, fails such tests with `Too many
//! open files` partway through.

/// Descriptors kept free for everything else the test process holds (listeners, io_uring
/// rings, broker clients, other tests running in parallel).
const SPARE: u64 = 512;

/// The soft limit aimed for: enough for several many-client tests at once, and under the
/// kernel's `fs.nr_open` ceiling (1 Mi by default), which a soft limit may not exceed.
const WANTED: u64 = 1 << 16;

/// Makes room for `clients` connections to the in-process gateway: raises the soft open-file
/// limit towards the hard limit (the limit is per process, and other tests of the binary run
/// beside this one), and panics, saying what to raise, when the hard limit is too low for
/// this test alone.
pub fn make_room_for_clients(clients: u64) {
    let needed = clients * 2 + SPARE;
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `rlimit` through a valid, exclusive pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        panic!(
            "cannot read the open-file limit: {}",
            std::io::Error::last_os_error()
        );
    }
    // RLIM_INFINITY is the largest value, so it passes these comparisons as unlimited.
    assert!(
        limit.rlim_max >= needed,
        "this test holds {clients} client sockets and needs {needed} open files, but the hard \
         open-file limit is {}: raise it (ulimit -Hn, or LimitNOFILE= for a service) and run again",
        limit.rlim_max
    );
    let target = limit.rlim_max.min(WANTED);
    if limit.rlim_cur >= target {
        return;
    }
    limit.rlim_cur = target;
    // SAFETY: setrlimit reads one `rlimit` through a valid pointer.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
        panic!(
            "cannot raise the soft open-file limit to {target}: {}",
            std::io::Error::last_os_error()
        );
    }
}
