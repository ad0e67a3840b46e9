//! Owns the server side of the control socket (the protocol is in
//! `protocol.rs`): the socket file's life (a stale one is removed at bind,
//! ours is removed when dropped), reading request lines, turning each into
//! a change of the toxics, and answering with the status. It must never
//! forward bytes or touch a proxied connection: links and connections see
//! a change through the toxics' watch channel.

use std::io;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::OwnedWriteHalf;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;
use tracing::{debug, info};

use crate::counters::Counters;
use crate::limits::CONTROL_LINE_MAX_BYTES;
use crate::protocol::{Answer, Request, Status};
use crate::toxics::{Fault, Toxics};

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("{path} exists and is not a socket; refusing to remove it")]
    NotASocket { path: PathBuf },
    #[error("{path} is the control socket of a running proxy")]
    InUse { path: PathBuf },
    #[error("cannot remove the stale control socket {path}: {source}")]
    RemoveStale { path: PathBuf, source: io::Error },
    #[error("cannot listen on the control socket {path}: {source}")]
    Bind { path: PathBuf, source: io::Error },
}

/// The listening control socket; its file is removed when this is dropped.
pub struct ControlSocket {
    listener: UnixListener,
    path: PathBuf,
}

impl ControlSocket {
    pub fn bind(path: &Path) -> Result<Self, ControlError> {
        match std::fs::symlink_metadata(path) {
            Ok(meta) if !meta.file_type().is_socket() => {
                return Err(ControlError::NotASocket { path: path.into() })
            }
            Ok(_) => {
                if std::os::unix::net::UnixStream::connect(path).is_ok() {
                    return Err(ControlError::InUse { path: path.into() });
                }
                std::fs::remove_file(path).map_err(|source| ControlError::RemoveStale {
                    path: path.into(),
                    source,
                })?;
                info!(path = %path.display(), "removed a stale control socket");
            }
            Err(_) => {}
        }
        let listener = UnixListener::bind(path).map_err(|source| ControlError::Bind {
            path: path.into(),
            source,
        })?;
        Ok(ControlSocket {
            listener,
            path: path.into(),
        })
    }

    pub async fn accept(&self) -> io::Result<UnixStream> {
        self.listener.accept().await.map(|(stream, _)| stream)
    }
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        if let Err(error) = std::fs::remove_file(&self.path) {
            debug!(path = %self.path.display(), %error, "cannot remove the control socket");
        }
    }
}

/// What the control socket acts on and reports.
pub struct Controlled {
    pub name: String,
    pub listen: String,
    pub upstream: String,
    pub toxics: watch::Sender<Toxics>,
    pub counters: Arc<Counters>,
}

impl Controlled {
    fn status(&self) -> Status {
        Status {
            name: self.name.clone(),
            listen: self.listen.clone(),
            upstream: self.upstream.clone(),
            toxics: *self.toxics.borrow(),
            counters: self.counters.snapshot(),
        }
    }

    /// Carries out one request line; the answer says what came of it.
    fn answer(&self, line: &str) -> Answer {
        let request: Request = match serde_json::from_str(line) {
            Ok(request) => request,
            Err(error) => return Answer::refused(format!("not a request: {error}")),
        };
        let mut toxics = *self.toxics.borrow();
        match request {
            Request::Latency(latency) => toxics.latency = Some(latency),
            Request::Bandwidth(bandwidth) if bandwidth.kbytes_per_second == 0 => {
                return Answer::refused(
                    "kbytes_per_second must be at least 1 (to stop bytes, stall)",
                )
            }
            Request::Bandwidth(bandwidth) => toxics.bandwidth = Some(bandwidth),
            Request::Stall => toxics.fault = Some(Fault::Stall),
            Request::Blackhole => toxics.fault = Some(Fault::Blackhole),
            Request::Reset => toxics.fault = Some(Fault::Reset),
            Request::Clear => toxics = Toxics::default(),
            Request::Status => return Answer::ok(self.status()),
        }
        self.toxics.send_if_modified(|current| {
            let changed = *current != toxics;
            *current = toxics;
            changed
        });
        match serde_json::to_string(&toxics) {
            Ok(json) => info!(name = %self.name, toxics = %json, "toxics set"),
            Err(_) => info!(name = %self.name, ?toxics, "toxics set"),
        }
        Answer::ok(self.status())
    }
}

/// Answers the requests of one control client until it hangs up.
pub async fn serve_session(stream: UnixStream, proxy: Arc<Controlled>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    let mut line = String::new();
    loop {
        line.clear();
        let read = (&mut lines)
            .take(CONTROL_LINE_MAX_BYTES)
            .read_line(&mut line)
            .await;
        match read {
            Ok(0) => return,
            Ok(_) if !line.ends_with('\n') && line.len() as u64 >= CONTROL_LINE_MAX_BYTES => {
                // The rest of an overlong line is not a request: answer, hang up.
                let refusal = format!("a request line is at most {CONTROL_LINE_MAX_BYTES} bytes");
                send(&mut write, &Answer::refused(refusal)).await;
                return;
            }
            Ok(_) => {
                if !send(&mut write, &proxy.answer(line.trim())).await {
                    return;
                }
            }
            Err(error) => {
                debug!(%error, "control client failed");
                return;
            }
        }
    }
}

/// Writes `answer` as one line; false if the client is gone.
async fn send(write: &mut OwnedWriteHalf, answer: &Answer) -> bool {
    let mut out = match serde_json::to_vec(answer) {
        Ok(out) => out,
        Err(error) => {
            debug!(%error, "cannot encode an answer");
            return false;
        }
    };
    out.push(b'\n');
    if let Err(error) = write.write_all(&out).await {
        debug!(%error, "control client went away before its answer");
        return false;
    }
    true
}
