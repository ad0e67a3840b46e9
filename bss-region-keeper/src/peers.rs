//! Owns the keeper's sessions with its peer regions: one kept per peer of
//! `bss.regions`, dropped on any error or timeout so that the next round
//! connects again, and asking every peer for its heartbeat at once. Must
//! never run anything in a peer but the heartbeat, and never let a peer
//! hold a round longer than the peer timeout.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::future::join_all;
use tokio_postgres::Client;

use crate::answer::Answer;
use crate::heartbeat::heartbeat;
use crate::session::{connect, within, SessionError};

struct Peer {
    conninfo: String,
    client: Option<Client>,
}

pub struct Peers {
    /// Covers connecting and the heartbeat of one peer.
    timeout: Duration,
    peers: BTreeMap<String, Peer>,
}

impl Peers {
    pub fn new(timeout: Duration) -> Peers {
        Peers {
            timeout,
            peers: BTreeMap::new(),
        }
    }

    /// Each peer of `listed` (region, conninfo) asked for its heartbeat by
    /// the keeper of region `us`, all at once.
    pub async fn ask(
        &mut self,
        listed: &[(String, String)],
        us: &str,
        witness: bool,
    ) -> BTreeMap<String, Result<Answer, SessionError>> {
        // A peer gone from bss.regions, or given a new conninfo, starts afresh.
        self.peers
            .retain(|name, p| listed.iter().any(|(n, c)| n == name && *c == p.conninfo));
        let asks: Vec<_> = listed
            .iter()
            .map(|(name, conninfo)| {
                let kept = self.peers.get_mut(name).and_then(|p| p.client.take());
                let timeout = self.timeout;
                async move {
                    let asked = within(timeout, async {
                        let client = match kept {
                            Some(c) if !c.is_closed() => c,
                            _ => connect(conninfo, timeout).await?,
                        };
                        let answer = heartbeat(&client, us, witness, name).await?;
                        Ok((client, answer))
                    })
                    .await;
                    (name, conninfo, asked)
                }
            })
            .collect();
        let mut answers = BTreeMap::new();
        for (name, conninfo, asked) in join_all(asks).await {
            // On an error the client was dropped with the failed step.
            let (client, answer) = match asked {
                Ok((client, answer)) => (Some(client), Ok(answer)),
                Err(e) => (None, Err(e)),
            };
            self.peers.insert(
                name.clone(),
                Peer {
                    conninfo: conninfo.clone(),
                    client,
                },
            );
            answers.insert(name.clone(), answer);
        }
        answers
    }
}
