//! The real `tidegate` binary as a child process: started with a configuration on ephemeral ports
//! (it logs the addresses it bound, in JSON, and the helper reads them back), signalled, and
//! waited for. A test that fails kills the child when the handle drops.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::eventually;

/// A running `tidegate run -c FILE`.
pub struct Binary {
    child: Child,
    /// Every log line so far (stderr, JSON).
    lines: Arc<Mutex<Vec<String>>>,
    /// Where clients connect.
    pub addr: SocketAddr,
    /// Where `/health` and `/metrics` are served, when the log line named it.
    pub admin: Option<SocketAddr>,
    _dir: tempfile::TempDir,
}

/// `gateway:` settings for a test binary: loopback, ephemeral ports, two unpinned shards. `extra`
/// is more keys for that section, each line indented by two spaces.
pub fn gateway_yaml(extra: &str) -> String {
    format!(
        "gateway:\n  listen: \"127.0.0.1:0\"\n  adminListen: \"127.0.0.1:0\"\n  shards: 2\n  pinShards: false\n{extra}"
    )
}

impl Binary {
    /// Starts the binary on `yaml` and waits until it logs that it is listening.
    pub fn start(yaml: &str) -> Binary {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tidegate.yaml");
        std::fs::write(&path, yaml).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_tidegate"))
            .args(["--log-format", "json", "--log-level", "info", "run", "-c"])
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts");
        let stderr = child.stderr.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line);
            }
        });
        let mut binary = Binary {
            child,
            lines,
            addr: "0.0.0.0:0".parse().unwrap(),
            admin: None,
            _dir: dir,
        };
        let listening = binary.wait_for_log(Duration::from_secs(30), "tidegate is listening");
        let fields = listening
            .unwrap_or_else(|| panic!("the binary never listened:\n{}", binary.log()))["fields"]
            .clone();
        binary.addr = fields["addr"].as_str().unwrap().parse().unwrap();
        binary.admin = fields["admin"].as_str().and_then(|a| a.parse().ok());
        binary
    }

    /// Waits for a log line whose message contains `message`; returns it, parsed.
    pub fn wait_for_log(&self, timeout: Duration, message: &str) -> Option<serde_json::Value> {
        let mut found = None;
        eventually(timeout, || {
            found = self.find_log(message);
            found.is_some()
        });
        found
    }

    /// The first log line so far whose message contains `message`.
    pub fn find_log(&self, message: &str) -> Option<serde_json::Value> {
        self.lines.lock().unwrap().iter().find_map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).ok()?;
            let text = value["fields"]["message"].as_str()?;
            text.contains(message).then_some(value)
        })
    }

    /// Every log line so far, for failure messages.
    pub fn log(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// The configuration file the binary runs with (rewrite it, then SIGHUP, to reload).
    pub fn config_path(&self) -> std::path::PathBuf {
        self._dir.path().join("tidegate.yaml")
    }

    /// Sends `signal` (e.g. "TERM", "INT") to the process.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args(["-s", signal, &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -s {signal} failed");
    }

    /// Waits up to `timeout` for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let end = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() > end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
