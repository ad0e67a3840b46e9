//! Owns a running proxy (`bss-faultproxy serve`): its listening socket,
//! its control socket, the toxics' watch channel and the counters; accepts
//! clients and hands each to its own connection task, accepts control
//! clients and hands each to a control session, and on shutdown stops
//! both (aborting every open connection) and removes the control socket.
//! It must never forward a byte itself; a failure of one connection must
//! never stop it.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{info, warn};

use crate::connection::{self, Route};
use crate::control::{self, ControlError, ControlSocket, Controlled};
use crate::counters::Counters;
use crate::toxics::Toxics;

/// After a failed accept (out of file descriptors, say), wait this long
/// before the next one, so the proxy does not spin while it lasts.
const ACCEPT_RETRY_PAUSE: Duration = Duration::from_millis(50);

#[derive(Clone, Debug)]
pub struct ProxyConfig {
    /// Named in logs and the status, as `--name` (default: the listen address).
    pub name: String,
    pub listen: SocketAddr,
    /// ADDR:PORT or HOST:PORT, resolved at each connect.
    pub upstream: String,
    pub control: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: SocketAddr, source: io::Error },
    #[error(transparent)]
    Control(#[from] ControlError),
}

pub struct Proxy {
    listener: TcpListener,
    local_addr: SocketAddr,
    control: ControlSocket,
    route: Route,
    controlled: Arc<Controlled>,
}

impl Proxy {
    /// Binds the listening socket and the control socket, no toxics set.
    pub async fn bind(config: ProxyConfig) -> Result<Self, ProxyError> {
        // The control socket first: once the port accepts, scripts that
        // waited for it can set toxics at once.
        let control = ControlSocket::bind(&config.control)?;
        let listen_error = |source| ProxyError::Listen {
            addr: config.listen,
            source,
        };
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(listen_error)?;
        let local_addr = listener.local_addr().map_err(listen_error)?;
        let (toxics, watching) = watch::channel(Toxics::default());
        let counters = Arc::new(Counters::default());
        let route = Route {
            name: config.name.as_str().into(),
            upstream: config.upstream.as_str().into(),
            toxics: watching,
            counters: counters.clone(),
        };
        let controlled = Arc::new(Controlled {
            name: config.name,
            listen: local_addr.to_string(),
            upstream: config.upstream,
            toxics,
            counters,
        });
        Ok(Proxy {
            listener,
            local_addr,
            control,
            route,
            controlled,
        })
    }

    /// The address clients connect to (the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Proxies and answers control requests until `shutdown` completes.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let name = self.controlled.name.as_str();
        info!(
            %name,
            listen = %self.local_addr,
            upstream = %self.controlled.upstream,
            "proxying"
        );
        let mut connections = JoinSet::new();
        let mut sessions = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                accepted = self.listener.accept() => match accepted {
                    Ok((client, peer)) => {
                        connections.spawn(connection::proxy(client, peer, self.route.clone()));
                    }
                    Err(error) => {
                        warn!(%name, %error, "cannot accept a client");
                        tokio::time::sleep(ACCEPT_RETRY_PAUSE).await;
                    }
                },
                accepted = self.control.accept() => match accepted {
                    Ok(stream) => {
                        sessions.spawn(control::serve_session(stream, self.controlled.clone()));
                    }
                    Err(error) => {
                        warn!(%name, %error, "cannot accept a control client");
                        tokio::time::sleep(ACCEPT_RETRY_PAUSE).await;
                    }
                },
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
                Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
            }
        }
        info!(%name, open = connections.len(), "stopping");
        // Dropping the sets aborts every connection and session; dropping
        // the control socket removes its file.
    }
}
