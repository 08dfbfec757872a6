//! Reading a configuration file: a regular file of bounded size, or a clear refusal.
//!
//! `std::fs::read_to_string` would read `/dev/zero` until memory runs out and block forever on a
//! FIFO nobody writes to. The file is therefore opened without blocking (`O_NONBLOCK`, which
//! changes nothing for regular files), checked to be a regular file on the opened descriptor (no
//! window for a swap between check and read), and read up to one byte past the bound.

use std::fs::OpenOptions;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The largest configuration file read (16 MiB): far above any real one, small enough that a
/// wrong path cannot exhaust memory.
pub const MAX_CONFIG_BYTES: u64 = 16 * 1024 * 1024;

/// The text of the configuration file at `path`, or what is wrong with it (one sentence).
pub(crate) fn read_config_file(path: &Path) -> Result<String, String> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|error| format!("cannot read the file: {error}"))?;
    let metadata = file
        .metadata()
        .map_err(|error| format!("cannot read the file: {error}"))?;
    if !metadata.is_file() {
        return Err(format!(
            "not a regular file ({}); give the path of a YAML file",
            kind_of(&metadata.file_type())
        ));
    }
    if metadata.len() > MAX_CONFIG_BYTES {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| format!("cannot read the file: {error}"))?;
    // The file may have grown since `metadata`.
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(too_large());
    }
    String::from_utf8(bytes).map_err(|error| {
        format!(
            "the file is not UTF-8 text (invalid byte at offset {})",
            error.utf8_error().valid_up_to()
        )
    })
}

fn too_large() -> String {
    format!(
        "the file is larger than {} MiB, the most a configuration may be",
        MAX_CONFIG_BYTES / (1024 * 1024)
    )
}

fn kind_of(file_type: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_fifo() {
        "a FIFO"
    } else if file_type.is_char_device() || file_type.is_block_device() {
        "a device"
    } else if file_type.is_socket() {
        "a socket"
    } else {
        "not a file"
    }
}
