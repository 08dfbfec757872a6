//! Why a load-test run could not be done (as opposed to what it measured).

use std::path::Path;

use crate::servers::ServerKind;

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{path}: {err}")]
    Io { path: String, err: std::io::Error },
    #[error("cannot start {program}: {err}")]
    Spawn {
        program: String,
        err: std::io::Error,
    },
    #[error("{kind:?} server stopped or never listened ({status}); its log ends with:\n{log}")]
    ServerDied {
        kind: ServerKind,
        status: String,
        log: String,
    },
    #[error(
        "{need} file descriptors are needed but this process may open at most {hard} \
         (RLIMIT_NOFILE hard limit; raising it needs CAP_SYS_RESOURCE or a higher limit from \
         the service manager, e.g. `ulimit -Hn`)"
    )]
    FdLimit { need: u64, hard: u64 },
    #[error("{0}")]
    Setup(String),
    #[error("invalid options: {0}")]
    Options(String),
}

impl LoadError {
    pub fn io(path: &Path, err: std::io::Error) -> LoadError {
        LoadError::Io {
            path: path.display().to_string(),
            err,
        }
    }
}
