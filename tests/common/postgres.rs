//! A real PostgreSQL server for a test: installed when missing (tests/setup/postgresql.sh), a
//! fresh cluster (`initdb`) in its own temp dir, started on a free loopback port with its unix
//! socket in that dir, and stopped by PID. It can be stopped and started again on the same port
//! with its data kept (store outages).
//!
//! PostgreSQL refuses to run as root: when the tests run as root, the temp dir is given to the
//! `postgres` user and `initdb` / `postgres` run as that user (set on the child process itself
//! rather than through `runuser`, so the PID we hold is the server's own).

use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use super::eventually;

fn install() -> &'static PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/setup/postgresql.sh");
        let status = Command::new("bash")
            .arg(&script)
            .status()
            .expect("run postgresql.sh");
        assert!(
            status.success(),
            "{} failed: PostgreSQL is needed for the management store tests",
            script.display()
        );
        let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .expect("/usr/lib/postgresql after postgresql.sh")
            .filter_map(|entry| Some(entry.ok()?.path().join("bin")))
            .filter(|bin| bin.join("postgres").exists())
            .collect();
        // The newest major version when several are installed.
        found.sort_by_key(|bin| {
            bin.parent()
                .and_then(|dir| dir.file_name()?.to_str()?.parse::<u32>().ok())
                .unwrap_or(0)
        });
        found
            .pop()
            .expect("a PostgreSQL bin dir under /usr/lib/postgresql")
    })
}

/// The `postgres` user's (uid, gid) when we are root, else `None` (run as ourselves).
fn run_as() -> Option<(u32, u32)> {
    let id = |args: &[&str]| -> u32 {
        let out = Command::new("id").args(args).output().expect("run id");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("the postgres user (created by the postgresql package)")
    };
    if id(&["-u"]) != 0 {
        return None;
    }
    Some((id(&["-u", "postgres"]), id(&["-g", "postgres"])))
}

/// One PostgreSQL server with user `tidegate` (trust authentication on loopback only).
pub struct Postgres {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
    bin: PathBuf,
    user: Option<(u32, u32)>,
    /// Whether it accepts TLS connections only (`start_tls`).
    tls_only: bool,
}

impl Postgres {
    /// Creates a cluster and starts it on a free loopback port.
    pub fn start() -> Postgres {
        let bin = install().clone();
        let user = run_as();
        let dir = tempfile::tempdir().unwrap();
        if let Some((uid, gid)) = user {
            chown(dir.path(), uid, gid);
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut postgres = Postgres {
            child: None,
            port,
            dir,
            bin,
            user,
            tls_only: false,
        };
        let status = postgres
            .command("initdb")
            .args([
                "--auth=trust",
                "--username=tidegate",
                "--encoding=UTF8",
                "--no-sync",
            ])
            .arg("-D")
            .arg(postgres.data_dir())
            .stdout(Stdio::null())
            .status()
            .expect("run initdb");
        assert!(status.success(), "initdb failed");
        postgres.resume();
        postgres
    }

    /// As `start`, accepting TLS connections only (`hostssl` in pg_hba.conf), with a server
    /// certificate for 127.0.0.1 and localhost signed by `authority`.
    pub fn start_tls(authority: &super::test_ca::TestCa) -> Postgres {
        Postgres::start_tls_with(authority, false)
    }

    /// As `start_tls`, also requiring a client certificate signed by `authority`
    /// (`clientcert=verify-ca`).
    pub fn start_tls_with_client_certs(authority: &super::test_ca::TestCa) -> Postgres {
        Postgres::start_tls_with(authority, true)
    }

    fn start_tls_with(authority: &super::test_ca::TestCa, client_certs: bool) -> Postgres {
        let mut postgres = Postgres::start();
        postgres.stop();
        let data = postgres.data_dir();
        let (cert, key) = authority.issue(&["127.0.0.1", "localhost"], "postgres-server");
        let files = [
            (cert, "server.crt"),
            (key, "server.key"),
            (authority.ca_file.clone(), "ca.crt"),
        ];
        for (from, to) in files {
            let target = data.join(to);
            std::fs::copy(from, &target).unwrap();
            // PostgreSQL refuses a key others can read.
            std::fs::set_permissions(&target, std::os::unix::fs::PermissionsExt::from_mode(0o600))
                .unwrap();
            if let Some((uid, gid)) = postgres.user {
                chown(&target, uid, gid);
            }
        }
        let conf = data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).unwrap();
        text.push_str("\nssl = on\nssl_ca_file = 'ca.crt'\n");
        std::fs::write(&conf, text).unwrap();
        let hba = data.join("pg_hba.conf");
        let text: String = std::fs::read_to_string(&hba)
            .unwrap()
            .lines()
            .map(|line| match line.strip_prefix("host ") {
                Some(rest) if client_certs => format!("hostssl {rest} clientcert=verify-ca\n"),
                Some(rest) => format!("hostssl {rest}\n"),
                None => format!("{line}\n"),
            })
            .collect();
        std::fs::write(&hba, text).unwrap();
        postgres.tls_only = true;
        postgres.resume();
        postgres
    }

    /// `postgres://tidegate@127.0.0.1:<port>/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://tidegate@127.0.0.1:{}/postgres", self.port)
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(self.bin.join(program));
        if let Some((uid, gid)) = self.user {
            command.uid(uid).gid(gid);
        }
        command.current_dir(self.dir.path());
        command
    }

    /// Stops the server (SIGINT: PostgreSQL's fast shutdown, by its PID) and waits until it is
    /// gone and its port refuses connections.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(&child, "-INT");
            let _ = child.wait();
        }
        let port = self.port;
        assert!(eventually(Duration::from_secs(60), || TcpStream::connect(
            ("127.0.0.1", port)
        )
        .is_err()));
    }

    /// Starts the server (again) on the same port and data, and waits until it accepts
    /// connections.
    pub fn resume(&mut self) {
        let child = self
            .command("postgres")
            .arg("-D")
            .arg(self.data_dir())
            .args([
                "-p",
                &self.port.to_string(),
                "-c",
                "listen_addresses=127.0.0.1",
            ])
            .arg("-c")
            .arg(format!(
                "unix_socket_directories={}",
                self.dir.path().display()
            ))
            .args(["-c", "fsync=off", "-c", "max_connections=50"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start postgres");
        self.child = Some(child);
        if self.tls_only {
            // A plain connection is refused by design: ask pg_isready, which needs no login.
            let (bin, port) = (self.bin.clone(), self.port.to_string());
            assert!(
                eventually(Duration::from_secs(30), || Command::new(
                    bin.join("pg_isready")
                )
                .args(["-q", "-h", "127.0.0.1", "-p", &port])
                .status()
                .is_ok_and(|status| status.success())),
                "postgres did not accept connections on {port}"
            );
            return;
        }
        let url = self.url();
        assert!(
            eventually(Duration::from_secs(30), || ::postgres::Client::connect(
                &url,
                ::postgres::NoTls
            )
            .is_ok()),
            "postgres did not accept connections on {}",
            self.port
        );
    }
}

/// Sends `signal` to our own child (by its PID, not yet waited for, so not reused).
fn signal(child: &Child, signal: &str) {
    let _ = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status();
}

fn chown(path: &Path, uid: u32, gid: u32) {
    let status = Command::new("chown")
        .arg(format!("{uid}:{gid}"))
        .arg(path)
        .status()
        .expect("chown");
    assert!(status.success(), "chown {} failed", path.display());
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGQUIT: immediate shutdown; the temp dir goes next.
            signal(&child, "-QUIT");
            let _ = child.wait();
        }
    }
}
