//! What the proxy's tests share: an echo server upstream, a proxy running
//! in-process on a free port with its control socket in a temporary
//! directory, and blocking clients with timeouts, so a test that hangs
//! fails instead.

#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use bss_faultproxy::protocol::{Request, Status};
use bss_faultproxy::{client, Proxy, ProxyConfig};

/// How long a client read waits before the test calls it a hang.
pub const READ_TIMEOUT: Duration = Duration::from_secs(20);

/// Echoes every byte back on each connection until the client's end, then
/// closes its side. Runs until the test process ends.
pub struct EchoServer {
    pub addr: SocketAddr,
}

impl EchoServer {
    pub fn start() -> Self {
        Self::on(0)
    }

    pub fn on(port: u16) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the echo server");
        let addr = listener.local_addr().expect("the echo server's address");
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                thread::spawn(move || echo(stream));
            }
        });
        EchoServer { addr }
    }
}

fn echo(mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if stream.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
    let _ = stream.shutdown(Shutdown::Write);
}

/// A proxy served by the library on its own runtime thread; stopped (and
/// its control socket removed) when dropped.
pub struct RunningProxy {
    pub addr: SocketAddr,
    pub control: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl RunningProxy {
    pub fn start(upstream: SocketAddr) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let control = dir.path().join("control.sock");
        let config = ProxyConfig {
            name: "test".into(),
            listen: "127.0.0.1:0".parse().expect("an address"),
            upstream: upstream.to_string(),
            control: control.clone(),
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (bound, bound_at) = std::sync::mpsc::channel();
        let thread = thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a tokio runtime");
            runtime.block_on(async move {
                let proxy = Proxy::bind(config).await.expect("the proxy binds");
                bound.send(proxy.local_addr()).expect("the test waits");
                proxy
                    .run(async {
                        let _ = stopped.await;
                    })
                    .await;
            });
        });
        let addr = bound_at
            .recv_timeout(Duration::from_secs(10))
            .expect("the proxy bound within 10 s");
        RunningProxy {
            addr,
            control,
            stop: Some(stop),
            thread: Some(thread),
            _dir: dir,
        }
    }

    /// Sends `request` over the control socket; panics if refused.
    pub fn set(&self, request: Request) -> Status {
        client::request(&self.control, &request).expect("the proxy answers")
    }

    pub fn status(&self) -> Status {
        self.set(Request::Status)
    }

    /// The status once `holds` says yes, or after 10 s the last one: what
    /// a connection's end does in the proxy happens a moment after the
    /// client sees it.
    pub fn status_once(&self, holds: impl Fn(&Status) -> bool) -> Status {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let status = self.status();
            if holds(&status) || Instant::now() > deadline {
                return status;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// A client connection through the proxy.
    pub fn connect(&self) -> TcpStream {
        connect(self.addr)
    }
}

impl Drop for RunningProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect to the proxy");
    stream.set_nodelay(true).expect("TCP_NODELAY");
    stream
        .set_read_timeout(Some(READ_TIMEOUT))
        .expect("a read timeout");
    stream
}

/// Reads exactly `len` bytes or panics naming what came instead.
pub fn read_exactly(stream: &mut TcpStream, len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    stream
        .read_exact(&mut buf)
        .unwrap_or_else(|e| panic!("reading {len} bytes through the proxy: {e}"));
    buf
}

/// Writes `message` and reads its echo; returns how long that took.
pub fn round_trip(stream: &mut TcpStream, message: &[u8]) -> Duration {
    let start = Instant::now();
    stream.write_all(message).expect("write through the proxy");
    let echoed = read_exactly(stream, message.len());
    assert_eq!(echoed, message, "the echo is what was sent");
    start.elapsed()
}

/// True if nothing arrives on `stream` within `wait`.
pub fn nothing_arrives_within(stream: &mut TcpStream, wait: Duration) -> bool {
    stream.set_read_timeout(Some(wait)).expect("a read timeout");
    let mut buf = [0u8; 1024];
    let quiet = match stream.read(&mut buf) {
        Ok(_) => false,
        Err(e) => matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
    };
    stream
        .set_read_timeout(Some(READ_TIMEOUT))
        .expect("a read timeout");
    quiet
}

/// True if the connection ends (reset or closed) within `READ_TIMEOUT`,
/// draining anything that was still in flight.
pub fn ends(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 64 * 1024];
    let deadline = Instant::now() + READ_TIMEOUT;
    while Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false
            }
            Err(_) => return true,
        }
    }
    false
}

/// `len` bytes from a deterministic generator, so a failure repeats.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = bss_tests::Rng::new(seed);
    (0..len).map(|_| rng.below(256) as u8).collect()
}
