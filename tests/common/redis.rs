//! A real redis-server for a test: installed when missing (tests/setup/redis.sh), started on a
//! free loopback port in its own temp dir without persistence, and killed by PID when stopped
//! or dropped. It can be stopped and started again on the same port (Redis outages).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use super::eventually;

fn install() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/setup/redis.sh");
        let status = Command::new("bash")
            .arg(&script)
            .status()
            .expect("run redis.sh");
        assert!(
            status.success(),
            "{} failed: redis-server is needed for the Redis rate-limit tests",
            script.display()
        );
    });
}

/// One redis-server.
pub struct Redis {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Redis {
    /// Starts a server on a free loopback port.
    pub fn start() -> Redis {
        install();
        let port = free_port();
        let mut redis = Redis {
            child: None,
            port,
            dir: tempfile::tempdir().unwrap(),
        };
        // The port picked may be taken by another test's listener before redis-server binds it:
        // then it exits, and another port is tried.
        for _ in 0..5 {
            if redis.launch() {
                return redis;
            }
            redis.port = free_port();
        }
        panic!("redis-server did not start on any of 5 ports");
    }

    /// `redis://127.0.0.1:<port>/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Kills the server (by its PID) and waits until the port refuses connections.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let port = self.port;
        assert!(eventually(Duration::from_secs(60), || TcpStream::connect(
            ("127.0.0.1", port)
        )
        .is_err()));
    }

    /// Starts the server again on the same port and waits until it accepts connections.
    pub fn resume(&mut self) {
        assert!(
            self.launch(),
            "redis-server did not answer PING on {}",
            self.port
        );
    }

    /// Starts the server on its port; true once it answers `PING`, false when it exited or
    /// did not answer within 20 s.
    fn launch(&mut self) -> bool {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        let mut child = child;
        let port = self.port;
        // Answered by Redis itself: the port was free when picked, but another test's listener
        // (a gateway bound to port 0) may have taken it before redis-server bound it, and a bare
        // connect would then reach that listener.
        let mut exited = false;
        let up = eventually(Duration::from_secs(20), || {
            exited = matches!(child.try_wait(), Ok(Some(_)));
            exited || answers_ping(port)
        }) && !exited;
        if up {
            self.child = Some(child);
        } else {
            let _ = child.kill();
            let _ = child.wait();
        }
        up
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// True when what listens on `port` answers a Redis `PING` with `+PONG`.
fn answers_ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut answer = [0u8; 7];
    stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut answer).is_ok()
        && &answer == b"+PONG\r\n"
}

/// A loopback port free now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
