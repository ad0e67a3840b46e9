//! Owns one round of the keeper: the local heartbeat first (a lease is
//! measured from its time, before any peer has confirmed), then every peer
//! at once, the decision, and acting on it in the local database: the lease
//! renewal, then the takeovers. Must never renew a lease or move a region
//! that this same round's decision did not call for, never act in a round
//! whose local heartbeat failed, and never take over when the renewal of
//! the round failed.

use std::collections::BTreeMap;

use tracing::{error, info};

use crate::changes::Changes;
use crate::config::Settings;
use crate::decide::{decide, Decision, Rules};
use crate::local::LocalDb;
use crate::peers::Peers;
use crate::session::SessionError;

pub struct Keeper {
    rules: Rules,
    local: LocalDb,
    peers: Peers,
    changes: Changes,
}

impl Keeper {
    pub fn new(settings: &Settings) -> Keeper {
        Keeper {
            rules: settings.rules.clone(),
            // A local step that outlasts a lease is of no use to it.
            local: LocalDb::new(settings.database_url.clone(), settings.rules.lease_ttl),
            peers: Peers::new(settings.peer_timeout),
            changes: Changes::default(),
        }
    }

    /// One round; an error is the local database's (logged already): the
    /// round was skipped from there on.
    pub async fn round(&mut self) -> Result<Decision, SessionError> {
        let opening = match self.local.open_round(self.rules.witness).await {
            Ok(o) => o,
            Err(e) => return Err(self.local_failed(e)),
        };
        let us = opening.answer.region.clone();
        self.changes.local_answered(&us);
        let asked = self
            .peers
            .ask(&opening.peers, &us, self.rules.witness)
            .await;
        self.changes.peers(&asked);
        let answers: BTreeMap<_, _> = asked.into_iter().map(|(n, a)| (n, a.ok())).collect();
        let decision = decide(&self.rules, &opening.answer, &answers);
        if let Some(renewal) = &decision.renewal {
            if let Err(e) = self.local.renew(&opening.answer.now, renewal).await {
                return Err(self.local_failed(e));
            }
        }
        self.changes.lease(&decision);
        for t in &decision.takeovers {
            match self.local.take_over(t).await {
                Ok(epoch) => info!(home = %t.home, lost = %t.lost, epoch, reason = %t.reason,
                    "took over home region {} from region {}", t.home, t.lost),
                Err(e) => {
                    error!(home = %t.home, lost = %t.lost, error = %e, reason = %t.reason,
                        "could not take over home region {}", t.home);
                    return Err(self.local_failed(e));
                }
            }
        }
        Ok(decision)
    }

    fn local_failed(&mut self, e: SessionError) -> SessionError {
        self.changes.local_failed(&e);
        e
    }
}
