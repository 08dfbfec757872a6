//! A real mosquitto broker for a test: installed when missing (tests/setup/mosquitto.sh), started
//! on a free loopback port with its own config, persistence directory and log, and killed by PID
//! when dropped. `mosquitto_pub` / `mosquitto_sub` are the independent clients.

use std::collections::HashSet;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use super::eventually;

/// Makes sure the broker and clients are installed (once per test binary).
fn install() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/setup/mosquitto.sh");
        let status = Command::new("bash")
            .arg(&script)
            .status()
            .expect("run mosquitto.sh");
        assert!(
            status.success(),
            "{} failed: mosquitto is needed for the MQTT tests",
            script.display()
        );
    });
}

fn binary(name: &str) -> PathBuf {
    let sbin = Path::new("/usr/sbin").join(name);
    if sbin.exists() {
        sbin
    } else {
        PathBuf::from(name)
    }
}

/// One running broker.
pub struct Mosquitto {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Mosquitto {
    /// Starts a broker on a free loopback port.
    pub fn start() -> Mosquitto {
        Self::start_with("")
    }

    /// Starts a broker whose listener speaks TLS with a certificate for `localhost` and `127.0.0.1`,
    /// issued by a
    /// fresh test CA; returns it and the CA's PEM file (what `tls.caFile` should trust).
    pub fn start_tls() -> (Mosquitto, PathBuf) {
        let (broker, ca, _client) = Self::start_tls_with(false);
        (broker, ca)
    }

    /// `start_tls` requiring a client certificate from the same CA; returns also the PEM files
    /// of a client certificate and key it issued (what `tls.certFile` and `tls.keyFile` name).
    pub fn start_mtls() -> (Mosquitto, PathBuf, (PathBuf, PathBuf)) {
        Self::start_tls_with(true)
    }

    /// Starts a broker that admits only `users` (name, password) and lets them read and write
    /// only the topics `acl` grants (mosquitto `acl_file` lines, e.g. `topic readwrite a/#`).
    pub fn start_with_users(users: &[(&str, &str)], acl: &str) -> Mosquitto {
        install();
        let files = tempfile::tempdir().unwrap().keep();
        let (passwords, acl_file) = (files.join("passwords"), files.join("acl"));
        for (index, (user, password)) in users.iter().enumerate() {
            let create = if index == 0 { &["-c"][..] } else { &[][..] };
            let status = Command::new(binary("mosquitto_passwd"))
                .args(create)
                .arg("-b")
                .arg(&passwords)
                .args([user, password])
                .status()
                .expect("run mosquitto_passwd");
            assert!(status.success(), "mosquitto_passwd failed");
        }
        std::fs::write(&acl_file, acl).unwrap();
        Self::start_with(&format!(
            "allow_anonymous false\npassword_file {}\nacl_file {}\n",
            passwords.display(),
            acl_file.display()
        ))
    }

    fn start_tls_with(require_certificate: bool) -> (Mosquitto, PathBuf, (PathBuf, PathBuf)) {
        let authority = super::test_ca::TestCa::new();
        let (cert, key) = authority.issue(&["localhost", "127.0.0.1"], "server");
        let client = authority.issue(&["gateway"], "client");
        let ca = authority.ca_file.clone();
        let tls = format!(
            "cafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate {require_certificate}\n",
            ca.display(),
            cert.display(),
            key.display()
        );
        (Self::start_with(&tls), ca, client)
    }

    /// Starts a broker whose config ends with `listener_options` (lines that add to or override
    /// the defaults, e.g. `allow_anonymous false`).
    pub fn start_with(listener_options: &str) -> Mosquitto {
        install();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().expect("temp dir");
        let config = format!(
            "listener {port} 127.0.0.1\n\
             allow_anonymous true\n\
             persistence true\n\
             persistence_location {dir}/\n\
             autosave_interval 1\n\
             autosave_on_changes true\n\
             log_dest file {dir}/mosquitto.log\n\
             log_type all\n\
             connection_messages true\n\
             user root\n\
             {listener_options}",
            dir = dir.path().display()
        );
        std::fs::write(dir.path().join("mosquitto.conf"), config).unwrap();
        let mut broker = Mosquitto {
            child: None,
            port,
            dir,
        };
        broker.spawn();
        broker
    }

    fn spawn(&mut self) {
        let child = Command::new(binary("mosquitto"))
            .arg("-c")
            .arg(self.dir.path().join("mosquitto.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mosquitto");
        self.child = Some(child);
        let port = self.port;
        assert!(
            eventually(Duration::from_secs(60), || TcpStream::connect((
                "127.0.0.1",
                port
            ))
            .is_ok()),
            "mosquitto did not start listening on {port}: {}",
            self.log()
        );
    }

    /// The broker's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// SIGKILL (what `kill -9` sends) by PID: no chance to save anything.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the broker again with the same config, port and persistence directory.
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// The broker's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("mosquitto.log")).unwrap_or_default()
    }

    /// How many log lines contain `needle`.
    pub fn log_count(&self, needle: &str) -> usize {
        self.log()
            .lines()
            .filter(|line| line.contains(needle))
            .count()
    }

    /// The persistence file's bytes (empty until the broker saved once).
    pub fn persisted(&self) -> Vec<u8> {
        std::fs::read(self.dir.path().join("mosquitto.db")).unwrap_or_default()
    }

    /// Established TCP connections held by the broker process on its port (its sockets in
    /// /proc, matched against /proc/net/tcp), not counting the listener.
    pub fn established_connections(&self) -> usize {
        let pid = self.pid();
        let inodes: HashSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|dir| {
                dir.filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
                    .filter_map(|link| {
                        let link = link.to_string_lossy().into_owned();
                        Some(link.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned())
                    })
                    .collect()
            })
            .unwrap_or_default();
        // Only sockets on the broker's port: a process may also hold sockets it inherited.
        let local_port = format!(":{:04X}", self.port);
        let tcp = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
        tcp.lines()
            .skip(1)
            .filter(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                // sl local rem st tx:rx tr:when retrnsmt uid timeout inode
                fields.len() > 9
                    && fields[1].ends_with(&local_port)
                    && fields[3] == "01"
                    && inodes.contains(fields[9])
            })
            .count()
    }

    /// `mosquitto_pub` one message (QoS 1 unless `extra` says otherwise); panics on failure.
    pub fn publish(&self, topic: &str, message: &str, extra: &[&str]) {
        let output = self.client(
            "mosquitto_pub",
            &["-t", topic, "-m", message, "-q", "1"],
            extra,
        );
        assert!(
            output.status.success(),
            "mosquitto_pub failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn client(&self, name: &str, args: &[&str], extra: &[&str]) -> Output {
        Command::new(binary(name))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(args)
            .args(extra)
            .output()
            .unwrap_or_else(|e| panic!("run {name}: {e}"))
    }

    /// Starts `mosquitto_sub -v` on `filter` for `count` messages (client id `id`) and waits until
    /// the broker has its subscription.
    pub fn subscriber(&self, id: &str, filter: &str, count: usize) -> Subscriber {
        let child = Command::new(binary("mosquitto_sub"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args([
                "-i",
                id,
                "-t",
                filter,
                "-q",
                "1",
                "-v",
                "-C",
                &count.to_string(),
                "-W",
                "60",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start mosquitto_sub");
        let needle = format!("Sending SUBACK to {id}");
        assert!(
            eventually(Duration::from_secs(60), || self.log_count(&needle) > 0),
            "mosquitto_sub did not subscribe: {}",
            self.log()
        );
        Subscriber { child: Some(child) }
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A running `mosquitto_sub`.
pub struct Subscriber {
    child: Option<Child>,
}

impl Subscriber {
    /// Waits for it to exit (after its `count` messages, or its 60 s timeout) and returns its
    /// `topic payload` lines.
    pub fn lines(mut self) -> Vec<String> {
        let output = self
            .child
            .take()
            .expect("running")
            .wait_with_output()
            .expect("wait");
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
