//! Owns one proxied connection from accept to close: connecting to the
//! upstream server (after a stall heals; a failed connect closes the
//! client and is logged), running its two links, and resetting both
//! sockets when a reset is set or a link fails. Reset means close with
//! SO_LINGER 0, so each peer gets an RST and sees ECONNRESET. It must
//! never change the toxics, only read them, and holds nothing but its
//! sockets, so aborting its task (the proxy stopping) leaves nothing behind.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpStream;
use tokio::sync::watch;
use tracing::{debug, warn};

use crate::counters::Counters;
use crate::link;
use crate::toxics::{next_change, reset_set, Fault, Flow, Toxics};

/// What one proxied connection needs besides its client socket.
#[derive(Clone)]
pub struct Route {
    pub name: Arc<str>,
    pub upstream: Arc<str>,
    pub toxics: watch::Receiver<Toxics>,
    pub counters: Arc<Counters>,
}

enum Ending {
    /// Both directions ended with their peer's close.
    Closed,
    Failed(io::Error),
    Reset,
}

/// Proxies `client` to the route's upstream until both directions end.
pub async fn proxy(client: TcpStream, peer: SocketAddr, route: Route) {
    let Route {
        name,
        upstream,
        mut toxics,
        counters,
    } = route;
    let _open = counters.accepted();
    loop {
        let fault = toxics.borrow_and_update().fault;
        match fault {
            Some(Fault::Reset) => {
                debug!(%name, %peer, "reset on accept");
                counters.reset();
                reset(client);
                return;
            }
            // A partition: the upstream server sees nothing until it heals.
            Some(Fault::Stall) => next_change(&mut toxics).await,
            Some(Fault::Blackhole) | None => break,
        }
    }
    let connected = tokio::select! {
        connected = TcpStream::connect(&*upstream) => connected,
        () = reset_set(toxics.clone()) => {
            counters.reset();
            reset(client);
            return;
        }
    };
    let mut server = match connected {
        Ok(server) => server,
        Err(error) => {
            warn!(%name, %peer, %upstream, %error, "cannot connect to the upstream server; closing the client's connection");
            counters.upstream_connect_failed();
            return;
        }
    };
    let mut client = client;
    // Chunks are written as they come; Nagle would hold small ones back.
    for socket in [&client, &server] {
        if let Err(error) = socket.set_nodelay(true) {
            debug!(%name, %peer, %error, "cannot set TCP_NODELAY");
        }
    }
    debug!(%name, %peer, %upstream, "connected");
    let ending = {
        let (client_read, client_write) = client.split();
        let (server_read, server_write) = server.split();
        let links = async {
            tokio::try_join!(
                link::forward(
                    Flow::Upstream,
                    client_read,
                    server_write,
                    toxics.clone(),
                    &counters
                ),
                link::forward(
                    Flow::Downstream,
                    server_read,
                    client_write,
                    toxics.clone(),
                    &counters
                ),
            )
        };
        tokio::select! {
            ended = links => match ended {
                Ok(_) => Ending::Closed,
                Err(error) => Ending::Failed(error),
            },
            () = reset_set(toxics.clone()) => Ending::Reset,
        }
    };
    match ending {
        Ending::Closed => debug!(%name, %peer, "closed"),
        Ending::Failed(error) => {
            // An abnormal end on one side is passed on as one to the other.
            debug!(%name, %peer, %error, "failed; resetting both sides");
            reset(client);
            reset(server);
        }
        Ending::Reset => {
            debug!(%name, %peer, "reset");
            counters.reset();
            reset(client);
            reset(server);
        }
    }
}

/// Closes `socket` with SO_LINGER 0: the kernel sends an RST instead of a
/// FIN, and the peer's next read or write fails with ECONNRESET.
fn reset(socket: TcpStream) {
    if let Err(error) = socket.set_zero_linger() {
        debug!(%error, "cannot set SO_LINGER 0; closing normally");
    }
    drop(socket);
}
