//! Owns the keeper's decision for one round, made from that round's
//! heartbeat answers alone: whether this region's write lease is renewed,
//! and which home regions this region takes over. Pure: no I/O, no clock.
//!
//! A region holding a lease keeps it while a majority confirms (quorum
//! mode). A region without one (first start, restart, lapse) regains it
//! only when, besides, every region that could have taken it over (every
//! peer that is not a witness) answers with no epoch it lacks: a witness
//! keeps no epochs, so a majority made with one cannot tell that the
//! region's streams moved while it was away.
//!
//! Must never renew a lease that this round's answers do not confirm; never
//! take over a region unless enough regions agree it is lost that it cannot
//! hold a lease any more; never take over in startup mode, in a witness, or
//! in a round whose lease was not renewed.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::answer::Answer;
use crate::duration::format_duration;

/// How this keeper decides (from its command line).
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    /// A witness votes and keeps contacts, and never takes a region over.
    pub witness: bool,
    /// Quorum mode: leases of `lease_ttl` confirmed by a majority, and
    /// takeovers. Otherwise startup mode: a lease until the server restarts.
    pub quorum: bool,
    pub lease_ttl: Duration,
    pub takeover_after: Duration,
}

/// Where a renewed lease ends.
#[derive(Debug, Clone, PartialEq)]
pub enum LeaseEnd {
    /// This long after the local database's `now` of this round.
    After(Duration),
    /// Until the local server restarts (PostgreSQL ties it to the postmaster).
    Infinity,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Renewal {
    pub until: LeaseEnd,
    pub reason: String,
}

/// Serve `home`'s streams here, in place of the lost region `lost`.
#[derive(Debug, Clone, PartialEq)]
pub struct Takeover {
    pub home: String,
    pub lost: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub renewal: Option<Renewal>,
    pub takeovers: Vec<Takeover>,
    /// Granted or fenced, and why, in one line: logged when it changes, so
    /// it holds nothing that changes every round (no times).
    pub state: String,
}

/// More than half of `regions`.
pub fn majority(regions: usize) -> usize {
    regions / 2 + 1
}

/// How many regions must agree that a region is lost: a majority (two
/// groups cannot both take it over), and enough to meet every majority the
/// lost region could have had confirm its lease (n - m + 1 of n regions
/// always include one of any m).
pub fn takeover_quorum(regions: usize) -> usize {
    let m = majority(regions);
    m.max(regions - m + 1)
}

/// The decision of one round. `ours` is the local answer; `peers` holds
/// every peer of `bss.regions`, with its answer of this round if it gave one.
pub fn decide(rules: &Rules, ours: &Answer, peers: &BTreeMap<String, Option<Answer>>) -> Decision {
    let regions = 1 + peers.len();
    let mut confirming = vec![ours.region.as_str()];
    let mut silent = Vec::new();
    let mut ahead = Vec::new();
    for (name, answer) in peers {
        match answer {
            None => silent.push(name.as_str()),
            Some(a) => {
                let missing: Vec<String> = a
                    .epochs
                    .difference(&ours.epochs)
                    .map(ToString::to_string)
                    .collect();
                if missing.is_empty() {
                    confirming.push(name);
                } else {
                    ahead.push(format!(
                        "peer {name} knows epochs this region has not applied yet: [{}]",
                        missing.join(", ")
                    ));
                }
            }
        }
    }
    confirming.sort_unstable();
    // Regaining a lease: every peer that could have taken this region over
    // (not a witness; unknown counts as one that could) must confirm.
    let regaining = ours.fenced.is_some();
    let unconfirmed_takers: Vec<&str> = peers
        .keys()
        .map(String::as_str)
        .filter(|p| !confirming.contains(p))
        .filter(|p| !ours.contacts.get(*p).is_some_and(|c| c.witness))
        .collect();
    let mut objections = ahead.clone();
    if regaining && !unconfirmed_takers.is_empty() {
        objections.push(format!(
            "regaining the lease needs every region that could have taken this one over to confirm: not yet {}",
            unconfirmed_takers.join(", ")
        ));
    }
    if !silent.is_empty() {
        objections.push(format!("no answer from {}", silent.join(", ")));
    }
    let objections = objections
        .iter()
        .map(|o| format!("; {o}"))
        .collect::<String>();

    if !rules.quorum {
        let answered = peers.len() - silent.len();
        let (renewal, state) = if !regaining {
            (
                None,
                format!("lease held until the server restarts{objections}"),
            )
        } else if answered == 0 {
            (None, format!("fenced: no peer answered{objections}"))
        } else if !ahead.is_empty() || !unconfirmed_takers.is_empty() {
            (None, format!("fenced{objections}"))
        } else {
            let reason = format!(
                "startup: every peer that answered confirms ({})",
                confirming.join(", ")
            );
            let state = format!("lease granted until the server restarts: {reason}{objections}");
            let renewal = Renewal {
                until: LeaseEnd::Infinity,
                reason,
            };
            (Some(renewal), state)
        };
        return Decision {
            renewal,
            takeovers: Vec::new(),
            state,
        };
    }

    let m = majority(regions);
    let count = format!(
        "{} of {regions} regions confirm ({}), majority {m}",
        confirming.len(),
        confirming.join(", ")
    );
    if confirming.len() < m || (regaining && !unconfirmed_takers.is_empty()) {
        let only = if confirming.len() < m { "only " } else { "" };
        return Decision {
            renewal: None,
            takeovers: Vec::new(),
            state: format!("fenced: {only}{count}{objections}"),
        };
    }
    let reason = format!("quorum: {count}");
    Decision {
        state: format!(
            "lease granted for {}: {count}{objections}",
            format_duration(rules.lease_ttl)
        ),
        renewal: Some(Renewal {
            until: LeaseEnd::After(rules.lease_ttl),
            reason,
        }),
        takeovers: if rules.witness {
            Vec::new()
        } else {
            takeovers(rules, ours, peers)
        },
    }
}

/// The home regions this region takes over this round, in a round whose
/// lease was renewed in quorum mode by a keeper that is not a witness.
fn takeovers(
    rules: &Rules,
    ours: &Answer,
    peers: &BTreeMap<String, Option<Answer>>,
) -> Vec<Takeover> {
    let us = ours.region.as_str();
    let after_ms = rules.takeover_after.as_millis() as f64;
    // A region never seen there is not silent: nothing says it ever lived.
    let silent_in = |a: &Answer, x: &str| a.contacts.get(x).is_some_and(|c| c.silent_ms > after_ms);
    // Unknown is not a witness: deferring to a region that cannot take over
    // only delays a takeover, while two takers would both move the region.
    let witness = |r: &str| {
        if r == us {
            rules.witness
        } else {
            ours.contacts.get(r).is_some_and(|c| c.witness)
        }
    };
    let servers: BTreeSet<&str> = ours
        .owners
        .values()
        .map(String::as_str)
        .filter(|s| *s != us)
        .collect();
    let mut out = Vec::new();
    for lost in servers {
        let answered = matches!(peers.get(lost), Some(Some(_)));
        if answered || !silent_in(ours, lost) {
            continue;
        }
        let mut agreeing: BTreeSet<&str> = BTreeSet::from([us]);
        for (name, answer) in peers {
            if let Some(a) = answer {
                if name != lost && silent_in(a, lost) {
                    agreeing.insert(name);
                }
            }
        }
        if agreeing.len() < takeover_quorum(1 + peers.len()) {
            continue;
        }
        if agreeing.iter().find(|r| !witness(r)) != Some(&us) {
            continue;
        }
        let reason = format!(
            "taken over by quorum: region {lost} silent for more than {} in {}",
            format_duration(rules.takeover_after),
            agreeing.into_iter().collect::<Vec<_>>().join(", ")
        );
        for (home, server) in &ours.owners {
            if server == lost {
                out.push(Takeover {
                    home: home.clone(),
                    lost: lost.to_owned(),
                    reason: reason.clone(),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answer::{Contact, Epoch};

    const SECOND: f64 = 1_000.0;
    const LONG_AGO: f64 = 60.0 * SECOND;

    fn rules(quorum: bool, witness: bool) -> Rules {
        Rules {
            witness,
            quorum,
            lease_ttl: Duration::from_secs(5),
            takeover_after: Duration::from_secs(10),
        }
    }

    /// An answer from `region` holding epoch 1 (eu served by eu), with
    /// every home region served by itself, and these contacts.
    fn answer(region: &str, contacts: &[(&str, f64, bool)]) -> Answer {
        Answer {
            region: region.to_owned(),
            now: "2026-12-08T03:00:00.123456+00:00".to_owned(),
            epochs: BTreeSet::from([Epoch("eu".into(), 1, "eu".into())]),
            owners: ["ap", "eu", "us", "wt"]
                .iter()
                .map(|r| (r.to_string(), r.to_string()))
                .collect(),
            contacts: contacts
                .iter()
                .map(|(r, silent_ms, witness)| {
                    let contact = Contact {
                        silent_ms: *silent_ms,
                        witness: *witness,
                    };
                    (r.to_string(), contact)
                })
                .collect(),
            fenced: None,
        }
    }

    /// `a` as a region without a lease answers.
    fn without_lease(mut a: Answer) -> Answer {
        a.fenced = Some("no region keeper has given this region a lease yet".to_owned());
        a
    }

    fn peers(list: &[(&str, Option<Answer>)]) -> BTreeMap<String, Option<Answer>> {
        list.iter()
            .map(|(r, a)| (r.to_string(), a.clone()))
            .collect()
    }

    /// Region eu's view with us silent for a minute everywhere, wt a witness
    /// that answered, us no answer.
    fn us_lost() -> (Answer, BTreeMap<String, Option<Answer>>) {
        let ours = answer(
            "eu",
            &[
                ("eu", 3.0, false),
                ("us", LONG_AGO, false),
                ("wt", 500.0, true),
            ],
        );
        let wt = answer("wt", &[("eu", 400.0, false), ("us", LONG_AGO, false)]);
        (ours, peers(&[("us", None), ("wt", Some(wt))]))
    }

    #[test]
    fn majority_and_takeover_quorum_for_one_to_five_regions() {
        let m: Vec<usize> = (1..=5).map(majority).collect();
        assert_eq!(m, [1, 2, 2, 3, 3]);
        let q: Vec<usize> = (1..=5).map(takeover_quorum).collect();
        assert_eq!(q, [1, 2, 2, 3, 3]);
    }

    #[test]
    fn a_peer_with_an_epoch_this_region_lacks_does_not_confirm() {
        let ours = answer("eu", &[]);
        let mut ahead = answer("us", &[]);
        ahead.epochs.insert(Epoch("eu".into(), 3, "us".into()));
        let d = decide(
            &rules(true, false),
            &ours,
            &peers(&[("us", Some(ahead)), ("wt", None)]),
        );
        assert_eq!(d.renewal, None);
        assert!(
            d.state.contains("only 1 of 3 regions confirm"),
            "{}",
            d.state
        );
        assert!(
            d.state
                .contains("peer us knows epochs this region has not applied yet: [[eu, 3, us]]"),
            "{}",
            d.state
        );
    }

    #[test]
    fn quorum_mode_renews_with_two_of_three() {
        let ours = answer("eu", &[]);
        let d = decide(
            &rules(true, false),
            &ours,
            &peers(&[("us", None), ("wt", Some(answer("wt", &[])))]),
        );
        let renewal = d.renewal.expect("renewed");
        assert_eq!(renewal.until, LeaseEnd::After(Duration::from_secs(5)));
        assert!(
            renewal.reason.contains("2 of 3 regions confirm (eu, wt)"),
            "{}",
            renewal.reason
        );
        assert!(d.state.contains("no answer from us"), "{}", d.state);
    }

    #[test]
    fn quorum_mode_does_not_renew_with_one_of_three() {
        let d = decide(
            &rules(true, false),
            &answer("eu", &[]),
            &peers(&[("us", None), ("wt", None)]),
        );
        assert_eq!(d.renewal, None);
        assert!(
            d.state.starts_with("fenced: only 1 of 3 regions confirm"),
            "{}",
            d.state
        );
    }

    #[test]
    fn startup_mode_grants_infinity_only_when_every_region_that_could_have_taken_over_confirms() {
        let startup = rules(false, false);
        let ours = without_lease(answer("eu", &[("wt", 100.0, true)]));
        let d = decide(&startup, &ours, &peers(&[("us", Some(answer("us", &[])))]));
        assert_eq!(d.renewal.map(|r| r.until), Some(LeaseEnd::Infinity));
        // A silent peer that could have taken eu over (ap, not known as a
        // witness): no.
        let d = decide(
            &startup,
            &ours,
            &peers(&[("ap", None), ("us", Some(answer("us", &[])))]),
        );
        assert_eq!(d.renewal, None);
        assert!(d.state.contains("not yet ap"), "{}", d.state);
        // A silent witness: it could not have.
        let d = decide(
            &startup,
            &ours,
            &peers(&[("us", Some(answer("us", &[]))), ("wt", None)]),
        );
        assert_eq!(d.renewal.map(|r| r.until), Some(LeaseEnd::Infinity));
        // One answering peer is ahead: no.
        let mut ahead = answer("us", &[]);
        ahead.epochs.insert(Epoch("us".into(), 2, "us".into()));
        let d = decide(
            &startup,
            &ours,
            &peers(&[("ap", Some(answer("ap", &[]))), ("us", Some(ahead))]),
        );
        assert_eq!(d.renewal, None);
        assert!(d.state.contains("peer us knows epochs"), "{}", d.state);
        // Nobody answered, or there is nobody to ask: no.
        let d = decide(&startup, &ours, &peers(&[("us", None)]));
        assert_eq!(d.renewal, None);
        assert!(d.state.contains("no peer answered"), "{}", d.state);
        assert_eq!(decide(&startup, &ours, &peers(&[])).renewal, None);
        // A lease held already needs nothing.
        let d = decide(&startup, &answer("eu", &[]), &peers(&[("us", None)]));
        assert_eq!(d.renewal, None);
        assert!(d.state.contains("lease held"), "{}", d.state);
    }

    #[test]
    fn a_region_regaining_its_lease_with_only_the_witness_stays_fenced() {
        // eu returns (no lease); wt, which keeps no epochs, confirms; us,
        // which may have taken eu over, does not answer. A majority, but
        // not one that can tell: fenced. Holding a lease, the same answers
        // keep it (us could not have taken eu over while wt heard eu).
        let ours = answer("eu", &[("us", LONG_AGO, false), ("wt", 100.0, true)]);
        let wt = answer("wt", &[("eu", 100.0, false)]);
        let answers = peers(&[("us", None), ("wt", Some(wt))]);
        let d = decide(&rules(true, false), &without_lease(ours.clone()), &answers);
        assert_eq!(d.renewal, None, "{}", d.state);
        assert!(d.state.contains("not yet us"), "{}", d.state);
        let d = decide(&rules(true, false), &ours, &answers);
        assert!(d.renewal.is_some(), "{}", d.state);
    }

    #[test]
    fn three_regions_take_over_a_region_silent_everywhere() {
        let (ours, peers) = us_lost();
        let d = decide(&rules(true, false), &ours, &peers);
        assert!(d.renewal.is_some());
        assert_eq!(
            d.takeovers,
            [Takeover {
                home: "us".into(),
                lost: "us".into(),
                reason: "taken over by quorum: region us silent for more than 10s in eu, wt".into(),
            }]
        );
    }

    #[test]
    fn every_home_region_the_lost_region_serves_is_taken_over() {
        let (mut ours, peers) = us_lost();
        ours.owners.insert("ap".into(), "us".into());
        let d = decide(&rules(true, false), &ours, &peers);
        let homes: Vec<&str> = d.takeovers.iter().map(|t| t.home.as_str()).collect();
        assert_eq!(homes, ["ap", "us"]);
    }

    #[test]
    fn no_takeover_when_the_witness_heard_the_region_recently() {
        let (ours, mut peers) = us_lost();
        let wt = answer("wt", &[("eu", 400.0, false), ("us", 2.0 * SECOND, false)]);
        peers.insert("wt".into(), Some(wt));
        let d = decide(&rules(true, false), &ours, &peers);
        assert!(d.renewal.is_some());
        assert_eq!(d.takeovers, []);
    }

    #[test]
    fn no_takeover_when_another_peer_heard_the_region_recently() {
        // Four regions need three agreeing; ap heard us a second ago.
        let (ours, mut peers) = us_lost();
        let ap = answer("ap", &[("us", SECOND, false)]);
        peers.insert("ap".into(), Some(ap));
        let d = decide(&rules(true, false), &ours, &peers);
        assert!(d.renewal.is_some());
        assert_eq!(d.takeovers, []);
    }

    #[test]
    fn no_takeover_of_a_region_that_answered() {
        let (ours, mut peers) = us_lost();
        peers.insert("us".into(), Some(answer("us", &[])));
        let d = decide(&rules(true, false), &ours, &peers);
        assert_eq!(d.takeovers, []);
    }

    #[test]
    fn a_witness_never_takes_over() {
        let (ours, peers) = us_lost();
        let d = decide(&rules(true, true), &ours, &peers);
        assert!(d.renewal.is_some());
        assert_eq!(d.takeovers, []);
    }

    #[test]
    fn only_the_smallest_agreeing_region_that_is_not_a_witness_takes_over() {
        let (mut ours, mut peers) = us_lost();
        peers.insert("ap".into(), Some(answer("ap", &[("us", LONG_AGO, false)])));
        ours.contacts.insert(
            "ap".into(),
            Contact {
                silent_ms: 300.0,
                witness: false,
            },
        );
        let d = decide(&rules(true, false), &ours, &peers);
        assert!(d.renewal.is_some());
        assert_eq!(d.takeovers, [], "ap takes over, not eu");
        // The same with ap a witness: eu is the smallest that can.
        ours.contacts.get_mut("ap").unwrap().witness = true;
        let d = decide(&rules(true, false), &ours, &peers);
        let homes: Vec<&str> = d.takeovers.iter().map(|t| t.home.as_str()).collect();
        assert_eq!(homes, ["us"]);
        assert!(
            d.takeovers[0].reason.ends_with("in ap, eu, wt"),
            "{}",
            d.takeovers[0].reason
        );
    }

    #[test]
    fn two_regions_never_take_over() {
        let ours = answer("eu", &[("us", LONG_AGO, false)]);
        let two = peers(&[("us", None)]);
        let quorum = rules(true, false);
        assert_eq!(decide(&quorum, &ours, &two).takeovers, []);
        // Even with the lease renewed, one region alone is no quorum of two.
        assert_eq!(takeovers(&quorum, &ours, &two), []);
    }

    #[test]
    fn startup_mode_never_takes_over() {
        let (ours, peers) = us_lost();
        for ours in [ours.clone(), without_lease(ours)] {
            let d = decide(&rules(false, false), &ours, &peers);
            assert_eq!(d.takeovers, []);
        }
    }

    #[test]
    fn a_region_never_seen_here_is_not_taken_over() {
        let (mut ours, peers) = us_lost();
        ours.contacts.remove("us");
        let d = decide(&rules(true, false), &ours, &peers);
        assert!(d.renewal.is_some());
        assert_eq!(d.takeovers, []);
    }
}
