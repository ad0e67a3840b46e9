//! Owns the client side of the control socket, as the subcommands use it:
//! send one request, read its answer, turn a refusal or a silent proxy
//! into an error that says what to check. It must never interpret the
//! status beyond decoding it.

use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use crate::limits::CONTROL_ANSWER_TIMEOUT;
use crate::protocol::{Answer, Request, Status};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the fault proxy's control socket {path}: {source} (is `bss-faultproxy serve --control {path}` running?)")]
    Connect { path: PathBuf, source: io::Error },
    #[error("talking to the fault proxy on {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("the fault proxy on {path} hung up without an answer")]
    NoAnswer { path: PathBuf },
    #[error("the fault proxy on {path} gave an answer that does not parse: {source}")]
    Malformed {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("cannot encode the request: {0}")]
    Encode(serde_json::Error),
    #[error("the fault proxy on {path} refused the request: {error}")]
    Refused { path: PathBuf, error: String },
}

/// Sends `request` to the proxy listening on `control` and returns the
/// status it answers with.
pub fn request(control: &Path, request: &Request) -> Result<Status, ClientError> {
    let path = || control.to_path_buf();
    let io_error = |source| ClientError::Io {
        path: path(),
        source,
    };
    let mut stream = UnixStream::connect(control).map_err(|source| ClientError::Connect {
        path: path(),
        source,
    })?;
    stream
        .set_read_timeout(Some(CONTROL_ANSWER_TIMEOUT))
        .map_err(io_error)?;
    stream
        .set_write_timeout(Some(CONTROL_ANSWER_TIMEOUT))
        .map_err(io_error)?;
    let mut line = serde_json::to_vec(request).map_err(ClientError::Encode)?;
    line.push(b'\n');
    stream.write_all(&line).map_err(io_error)?;
    let mut answer = String::new();
    if BufReader::new(&stream)
        .read_line(&mut answer)
        .map_err(io_error)?
        == 0
    {
        return Err(ClientError::NoAnswer { path: path() });
    }
    let answer: Answer =
        serde_json::from_str(&answer).map_err(|source| ClientError::Malformed {
            path: path(),
            source,
        })?;
    match (answer.ok, answer.status) {
        (true, Some(status)) => Ok(status),
        (_, _) => Err(ClientError::Refused {
            path: path(),
            error: answer
                .error
                .unwrap_or_else(|| "no reason given".to_string()),
        }),
    }
}
