//! Owns what the keeper last reported, so that it logs changes of state
//! rather than rounds: the local database's health, each peer's
//! reachability, and the lease (granted or fenced, and why). Must never
//! pass over a change in silence, nor repeat an unchanged state above debug.

use std::collections::BTreeMap;

use tracing::{debug, info, warn};

use crate::answer::Answer;
use crate::decide::Decision;
use crate::session::SessionError;

#[derive(Debug, Default)]
pub struct Changes {
    /// The local error last reported; None while the local database answers.
    local_error: Option<String>,
    /// Whether each peer answered in the last round it was asked.
    reachable: BTreeMap<String, bool>,
    /// The last lease state reported; None when unknown (after a local error).
    state: Option<String>,
}

impl Changes {
    /// The local database failed; true when that was news and was logged.
    pub fn local_failed(&mut self, error: &SessionError) -> bool {
        let text = error.to_string();
        // The lease lapses by itself now: report its state afresh once back.
        self.state = None;
        if self.local_error.as_deref() == Some(&text) {
            debug!(error = %text, "the local database still fails; round skipped");
            return false;
        }
        warn!(error = %text, "the local database failed; round skipped, the lease lapses unless renewed");
        self.local_error = Some(text);
        true
    }

    /// The local database answered as `region`; true when it had failed before.
    pub fn local_answered(&mut self, region: &str) -> bool {
        let Some(error) = self.local_error.take() else {
            return false;
        };
        info!(region, after = %error, "the local database answers again");
        true
    }

    /// Each peer's outcome this round; answers the peers whose reachability changed.
    pub fn peers(&mut self, asked: &BTreeMap<String, Result<Answer, SessionError>>) -> Vec<String> {
        self.reachable.retain(|name, _| asked.contains_key(name));
        let mut changed = Vec::new();
        for (name, result) in asked {
            let now = result.is_ok();
            if self.reachable.insert(name.clone(), now) == Some(now) {
                continue;
            }
            match result {
                Ok(_) => info!(peer = %name, "peer reachable"),
                Err(e) => warn!(peer = %name, error = %e, "peer unreachable"),
            }
            changed.push(name.clone());
        }
        changed
    }

    /// The lease as this round left it; true when its state changed.
    pub fn lease(&mut self, decision: &Decision) -> bool {
        if self.state.as_deref() == Some(decision.state.as_str()) {
            return false;
        }
        if decision.renewal.is_some() {
            info!(state = %decision.state, "lease granted");
        } else {
            warn!(state = %decision.state, "fenced");
        }
        self.state = Some(decision.state.clone());
        true
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn decision(state: &str) -> Decision {
        Decision {
            renewal: None,
            takeovers: Vec::new(),
            state: state.to_owned(),
        }
    }

    #[test]
    fn an_unchanged_lease_state_is_reported_once() {
        let mut c = Changes::default();
        assert!(c.lease(&decision("fenced: only 1 of 3 regions confirm")));
        assert!(!c.lease(&decision("fenced: only 1 of 3 regions confirm")));
        assert!(c.lease(&decision("fenced: no peer answered")));
    }

    #[test]
    fn after_a_local_failure_the_lease_state_is_reported_again() {
        let mut c = Changes::default();
        assert!(c.lease(&decision("lease granted")));
        assert!(c.local_failed(&SessionError::Timeout(Duration::from_secs(5))));
        assert!(!c.local_failed(&SessionError::Timeout(Duration::from_secs(5))));
        assert!(c.local_answered("eu"));
        assert!(!c.local_answered("eu"));
        assert!(c.lease(&decision("lease granted")));
    }

    #[test]
    fn a_peer_is_reported_when_its_reachability_changes() {
        let mut c = Changes::default();
        let down = || BTreeMap::from([("us".to_owned(), Err(SessionError::NotConnected))]);
        assert_eq!(c.peers(&down()), ["us"]);
        assert!(c.peers(&down()).is_empty());
        let answer: Answer = Answer::parse(
            r#"{"region": "us", "now": "x", "epochs": [], "owners": {}, "contacts": {}}"#,
        )
        .unwrap();
        assert_eq!(
            c.peers(&BTreeMap::from([("us".to_owned(), Ok(answer))])),
            ["us"]
        );
    }
}
