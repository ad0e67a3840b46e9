//! Owns starting a real redis-server for tests: on a free loopback port,
//! without persistence, stopped and started again on the same port, killed
//! when dropped. Never touches a system redis or any port it did not pick.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::process::{free_port, wait_for_port, ChildGuard};

/// How long a fresh redis-server may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// Ports tried before giving up, when another process takes the free port.
const START_ATTEMPTS: usize = 5;

/// A redis-server child process (`--save "" --appendonly no`: a restart
/// starts empty, as a cache without persistence does).
pub struct RedisServer {
    port: u16,
    binary: PathBuf,
    child: Option<ChildGuard>,
}

impl RedisServer {
    /// Starts redis-server on a free loopback port and waits until it accepts
    /// connections. Panics when the binary is missing.
    pub fn start() -> RedisServer {
        let mut server = RedisServer {
            port: free_port(),
            binary: redis_server_binary(),
            child: None,
        };
        // Another process may take the free port before redis-server binds
        // it: then try another port.
        for _ in 0..START_ATTEMPTS {
            if server.spawn() {
                return server;
            }
            server.stop();
            server.port = free_port();
        }
        panic!("redis-server did not start on a free port in {START_ATTEMPTS} attempts");
    }

    /// `redis://127.0.0.1:<port>/`
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether the process is running (not stopped).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Kills the server (SIGKILL); its data is gone. The port stays reserved
    /// for `restart` only by convention.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill();
        }
    }

    /// Stops the server if it runs and starts an empty one on the same port.
    pub fn restart(&mut self) {
        self.stop();
        assert!(
            self.spawn(),
            "redis-server did not start again on port {}: another process has it",
            self.port
        );
    }

    /// Freezes the process (SIGSTOP): connections stay open, nothing answers.
    pub fn freeze(&self) {
        self.signal("-STOP");
    }

    /// Resumes a frozen process (SIGCONT).
    pub fn thaw(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, sig: &str) {
        let child = self.child.as_ref().expect("redis-server is not running");
        let status = Command::new("kill")
            .arg(sig)
            .arg(child.pid().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {sig} {} failed", child.pid());
    }

    /// Starts redis-server on `self.port`; false when the process listening
    /// there is not the one started.
    fn spawn(&mut self) -> bool {
        assert!(self.child.is_none(), "redis-server already running");
        let child = Command::new(&self.binary)
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            // The test process owns this server: no pid file, no log file.
            .args(["--daemonize", "no", "--logfile", ""])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.binary.display()));
        let guard = ChildGuard::new(format!("redis-server :{}", self.port), child);
        let pid = guard.pid();
        self.child = Some(guard);
        wait_for_port(self.port, "redis-server", START_TIMEOUT);
        server_pid(self.port) == Some(pid)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The `process_id` that INFO reports on `127.0.0.1:port`.
fn server_pid(port: u16) -> Option<u32> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n").ok()?;
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    // The bulk reply ends with the last line of the section and "\r\n".
    while !reply.windows(11).any(|w| w == b"process_id:") || !reply.ends_with(b"\r\n\r\n") {
        let n = s.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        reply.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&reply);
    text.lines()
        .find_map(|l| l.strip_prefix("process_id:"))
        .and_then(|v| v.trim().parse().ok())
}

/// `redis-server` on PATH, else /usr/bin/redis-server; panics saying how to
/// install it when neither exists.
fn redis_server_binary() -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("redis-server"))
            .find(|p| p.is_file())
    });
    let fallback = PathBuf::from("/usr/bin/redis-server");
    match on_path {
        Some(p) => p,
        None if fallback.is_file() => fallback,
        None => panic!(
            "redis-server not found on PATH or at /usr/bin/redis-server: \
             run `make test` (it installs what is missing) or \
             `apt-get install -y redis-server` (then `systemctl disable --now redis-server`)"
        ),
    }
}
