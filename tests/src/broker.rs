//! Owns starting a real Kafka-protocol broker for tests: tansu (a Kafka
//! compatible broker from crates.io) on a free loopback port with in-memory
//! storage, paused and resumed with SIGSTOP/SIGCONT to play an unavailable
//! broker that keeps its data, and killed when dropped. Never creates topics
//! (tansu does not auto-create them; the code under test must) and never
//! reuses a broker another test started.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::process::{free_port, wait_for_port, ChildGuard};

/// How long tansu may take to listen.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A running tansu broker, killed on drop.
pub struct Broker {
    port: u16,
    guard: ChildGuard,
    paused: bool,
}

/// The broker `scripts/tansu/build.sh` installs in cargo's bin folder (tansu
/// with the project's patches), else `tansu` on PATH.
fn tansu_binary() -> PathBuf {
    let cargo_bin = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .map(|d| d.join("bin"));
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    cargo_bin
        .into_iter()
        .chain(on_path)
        .map(|d| d.join("tansu"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "tansu (the Kafka-protocol broker these tests run against) is not in \
                 ~/.cargo/bin nor on PATH: run `make test`, which builds it, or \
                 scripts/tansu/build.sh"
            )
        })
}

impl Broker {
    /// Starts tansu on a free loopback port and waits until it listens.
    pub fn start() -> Broker {
        let port = free_port();
        Broker {
            port,
            guard: spawn_tansu(port),
            paused: false,
        }
    }

    /// Kills the broker (SIGKILL) and starts an empty one on the same port:
    /// a broker lost with its data and replaced, as tansu's in-memory
    /// storage makes every restart. Topics and records are gone.
    pub fn replace_with_empty(&mut self) {
        if self.paused {
            self.resume();
        }
        // Killed and reaped: the port is free before the new one binds it.
        self.guard.kill();
        self.guard = spawn_tansu(self.port);
    }

    /// `127.0.0.1:PORT`, for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn pid(&self) -> u32 {
        self.guard.pid()
    }

    /// Stops the broker (SIGSTOP): connections stay open but nothing is
    /// answered, as with a hung or partitioned broker. Its data is kept.
    pub fn pause(&mut self) {
        self.signal("STOP");
        self.paused = true;
    }

    /// Lets a paused broker run again (SIGCONT).
    pub fn resume(&mut self) {
        self.signal("CONT");
        self.paused = false;
    }

    pub fn is_paused(&self) -> bool {
        self.paused
    }

    fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap_or_else(|e| panic!("cannot run kill -{sig}: {e}"));
        assert!(status.success(), "kill -{sig} {} failed", self.pid());
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        // SIGKILL also ends a stopped process; ChildGuard sends it and reaps.
        if self.paused {
            let _ = Command::new("kill")
                .arg("-CONT")
                .arg(self.pid().to_string())
                .status();
        }
    }
}

/// tansu on 127.0.0.1:`port` with in-memory storage (an empty broker each
/// time), once it listens.
pub fn spawn_tansu(port: u16) -> ChildGuard {
    let url = format!("tcp://127.0.0.1:{port}");
    let child = Command::new(tansu_binary())
        .arg("broker")
        .args(["--listener-url", &url])
        .args(["--advertised-listener-url", &url])
        .args(["--storage-engine", "memory://tansu/"])
        .args(["--cluster-id", &format!("bss-test-{port}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start tansu: {e}"));
    let guard = ChildGuard::new(format!("tansu:{port}"), child);
    wait_for_port(port, "tansu", START_TIMEOUT);
    guard
}
