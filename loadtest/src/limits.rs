//! RLIMIT_NOFILE: every connection is a descriptor, on both ends.

use crate::error::LoadError;

/// The hard limit of this process.
pub fn nofile_hard() -> u64 {
    get().map_or(1024, |limit| limit.rlim_max)
}

/// Raises the soft limit (and, if allowed, the hard limit) to at least `need`; children started
/// afterwards (the servers under test) inherit it.
pub fn raise_nofile(need: u64) -> Result<u64, LoadError> {
    let current = get().map_err(|err| LoadError::Setup(format!("getrlimit: {err}")))?;
    let wanted = libc::rlimit {
        rlim_cur: current.rlim_max.max(need),
        rlim_max: current.rlim_max.max(need),
    };
    if set(&wanted).is_ok() {
        return Ok(wanted.rlim_cur);
    }
    let soft_only = libc::rlimit {
        rlim_cur: current.rlim_max,
        rlim_max: current.rlim_max,
    };
    set(&soft_only).map_err(|err| LoadError::Setup(format!("setrlimit: {err}")))?;
    if need > current.rlim_max {
        return Err(LoadError::FdLimit {
            need,
            hard: current.rlim_max,
        });
    }
    Ok(current.rlim_max)
}

fn get() -> std::io::Result<libc::rlimit> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a valid resource and a pointer to a writable rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
        Ok(limit)
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn set(limit: &libc::rlimit) -> std::io::Result<()> {
    // SAFETY: a valid resource and a pointer to an initialised rlimit.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, limit) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
