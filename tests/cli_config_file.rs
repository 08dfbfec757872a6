//! `tidegate check` and `tidegate run -c FILE` on configuration files that are not ordinary YAML
//! files: endless devices, FIFOs, huge files, and addresses that `run` could never bind.
//!
//! Each command runs under `ulimit -v` (a runaway read fails instead of exhausting the machine)
//! and is killed if it has not exited within a generous deadline, so a hang fails the test.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Longest a command may take before it counts as hung (it needs well under a second).
const HANG: Duration = Duration::from_secs(60);

/// Runs the binary with `args` under a 2 GiB address-space limit; `None` if it hung.
fn tidegate(args: &[&str]) -> Option<Output> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 2097152; exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_tidegate"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs");
    let deadline = Instant::now() + HANG;
    while Instant::now() < deadline {
        if child.try_wait().expect("waits").is_some() {
            return Some(child.wait_with_output().expect("output"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("kills the hung command it started");
    let _ = child.wait();
    None
}

/// The command's exit code and stderr; panics if it hung.
fn refused(args: &[&str]) -> (Option<i32>, String) {
    let output = tidegate(args).unwrap_or_else(|| panic!("`tidegate {}` hung", args.join(" ")));
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn an_endless_device_is_refused_at_once() {
    for args in [
        ["check", "/dev/zero"].as_slice(),
        ["run", "-c", "/dev/zero"].as_slice(),
    ] {
        let (code, stderr) = refused(args);
        assert_eq!(code, Some(1), "{stderr}");
        assert!(
            stderr.contains("/dev/zero") && stderr.contains("not a regular file"),
            "{stderr}"
        );
    }
}

#[test]
fn a_fifo_is_refused_without_waiting_for_a_writer() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("config.yaml");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    for args in [
        ["check", path_str(&fifo)].as_slice(),
        ["run", "-c", path_str(&fifo)].as_slice(),
    ] {
        let (code, stderr) = refused(args);
        assert_eq!(code, Some(1), "{stderr}");
        assert!(stderr.contains("not a regular file"), "{stderr}");
    }
}

#[test]
fn a_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stderr) = refused(&["check", path_str(dir.path())]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("not a regular file"), "{stderr}");
}

#[test]
fn a_file_over_16_mib_is_refused_with_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.yaml");
    let file = std::fs::File::create(&path).unwrap();
    // Sparse: no disk is used.
    file.set_len(16 * 1024 * 1024 + 1).unwrap();
    for args in [
        ["check", path_str(&path)].as_slice(),
        ["run", "-c", path_str(&path)].as_slice(),
    ] {
        let (code, stderr) = refused(args);
        assert_eq!(code, Some(1), "{stderr}");
        assert!(stderr.contains("16 MiB"), "{stderr}");
    }
    // Exactly at the limit is read (and then found not to be a configuration).
    file.set_len(16 * 1024 * 1024).unwrap();
    let (code, stderr) = refused(&["check", path_str(&path)]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(!stderr.contains("16 MiB"), "{stderr}");
}

/// A port nothing listens on now (the listener is closed again).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn check_refuses_an_admin_address_that_run_could_not_bind() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    for (listen, admin) in [
        (format!("127.0.0.1:{port}"), format!("127.0.0.1:{port}")),
        // The wildcard address covers loopback: the second bind would fail the same way.
        (format!("0.0.0.0:{port}"), format!("127.0.0.1:{port}")),
        (format!("[::]:{port}"), format!("127.0.0.1:{port}")),
    ] {
        let path = dir.path().join("same.yaml");
        std::fs::write(
            &path,
            format!("gateway:\n  listen: \"{listen}\"\n  adminListen: \"{admin}\"\n  shards: 1\n  pinShards: false\napis: []\n"),
        )
        .unwrap();
        for args in [
            ["check", path_str(&path)].as_slice(),
            ["run", "-c", path_str(&path)].as_slice(),
        ] {
            let (code, stderr) = refused(args);
            assert_eq!(code, Some(1), "{listen} / {admin}: {stderr}");
            assert!(
                stderr.contains("gateway.adminListen") && stderr.contains("gateway.listen"),
                "{listen} / {admin}: {stderr}"
            );
        }
    }
    // Different ports, or ephemeral ones, are fine.
    let path = dir.path().join("apart.yaml");
    std::fs::write(
        &path,
        format!(
            "gateway:\n  listen: \"127.0.0.1:{port}\"\n  adminListen: \"127.0.0.1:0\"\napis: []\n"
        ),
    )
    .unwrap();
    let output = tidegate(&["check", path_str(&path)]).expect("check ends");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
