//! Routing: rules over what is known of a ticket (its class and the
//! classifier's confidence, its sentiment, the customer's segment and plan,
//! recent anomalies) decide its priority and team. The rules are data
//! (`routing.toml` beside this crate is the default): an ordered list,
//! first match wins, a default otherwise. Owns the rules' format, its
//! checks and their evaluation; must never look anything up itself (the
//! caller gathers the facts) nor have a rule it was not given.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// A ticket's priority, as `ticket.opened` carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Low,
    Normal,
    High,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
        }
    }
}

/// What routing is decided on.
#[derive(Debug, Clone, Default)]
pub struct Facts<'a> {
    pub class: &'a str,
    pub confidence: f64,
    /// VADER compound, -1 to 1.
    pub sentiment: f64,
    pub segment: Option<&'a str>,
    pub plan: Option<&'a str>,
    /// Anomalies detected recently.
    pub anomalies: u32,
}

/// The decision and the rule that made it (`None`: the default).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Route {
    pub priority: Priority,
    pub team: String,
    pub rule: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct When {
    class: Option<Vec<String>>,
    segment: Option<Vec<String>>,
    plan: Option<Vec<String>>,
    sentiment_below: Option<f64>,
    confidence_below: Option<f64>,
    anomalies_at_least: Option<u32>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Rule {
    name: String,
    #[serde(default)]
    when: When,
    priority: Priority,
    team: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Default {
    priority: Priority,
    team: String,
}

/// The rules, checked.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    #[serde(default, rename = "rule")]
    rules: Vec<Rule>,
    default: Default,
}

#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("cannot read the routing rules {path}: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("routing rules {path}: {reason}")]
    Invalid { path: String, reason: String },
}

fn matches_any(list: &Option<Vec<String>>, value: Option<&str>) -> bool {
    match list {
        None => true,
        Some(list) => value.is_some_and(|v| list.iter().any(|x| x == v)),
    }
}

impl When {
    fn holds(&self, f: &Facts<'_>) -> bool {
        matches_any(&self.class, Some(f.class))
            && matches_any(&self.segment, f.segment)
            && matches_any(&self.plan, f.plan)
            && self.sentiment_below.is_none_or(|x| f.sentiment < x)
            && self.confidence_below.is_none_or(|x| f.confidence < x)
            && self.anomalies_at_least.is_none_or(|n| f.anomalies >= n)
    }
}

impl Rules {
    /// Rules from TOML text; `path` names them in errors.
    pub fn parse(text: &str, path: &str) -> Result<Self, RulesError> {
        let invalid = |reason: String| RulesError::Invalid {
            path: path.to_owned(),
            reason,
        };
        let rules: Rules = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        let mut names = std::collections::HashSet::new();
        for r in &rules.rules {
            if !names.insert(r.name.as_str()) {
                return Err(invalid(format!("two rules are named {:?}", r.name)));
            }
            if r.team.trim().is_empty() {
                return Err(invalid(format!("rule {:?} has an empty team", r.name)));
            }
            let w = &r.when;
            if let Some(x) = w.sentiment_below.filter(|x| !(-1.0..=1.0).contains(x)) {
                return Err(invalid(format!(
                    "rule {:?}: sentiment_below = {x} is outside -1 to 1 (VADER's compound)",
                    r.name
                )));
            }
            if let Some(x) = w.confidence_below.filter(|x| !(0.0..=1.0).contains(x)) {
                return Err(invalid(format!(
                    "rule {:?}: confidence_below = {x} is outside 0 to 1",
                    r.name
                )));
            }
            for (what, list) in [
                ("class", &w.class),
                ("segment", &w.segment),
                ("plan", &w.plan),
            ] {
                if list.as_ref().is_some_and(Vec::is_empty) {
                    return Err(invalid(format!(
                        "rule {:?}: {what} = [] can never hold (leave it out to match any)",
                        r.name
                    )));
                }
            }
        }
        Ok(rules)
    }

    pub fn load(path: &Path) -> Result<Self, RulesError> {
        let text = std::fs::read_to_string(path).map_err(|e| RulesError::Unreadable {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// The default rules (`routing.toml` of this crate).
    pub fn builtin() -> Self {
        Self::parse(include_str!("../routing.toml"), "bss-intel/routing.toml")
            .expect("the default routing rules are valid")
    }

    /// The route of a ticket: the first rule that holds, else the default.
    pub fn route(&self, facts: &Facts<'_>) -> Route {
        match self.rules.iter().find(|r| r.when.holds(facts)) {
            Some(r) => Route {
                priority: r.priority,
                team: r.team.clone(),
                rule: Some(r.name.clone()),
            },
            None => Route {
                priority: self.default.priority,
                team: self.default.team.clone(),
                rule: None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(class: &str) -> Facts<'_> {
        Facts {
            class,
            confidence: 0.9,
            sentiment: 0.0,
            segment: Some("consumer"),
            plan: Some("postpaid-m"),
            anomalies: 0,
        }
    }

    fn route(f: &Facts<'_>) -> (Priority, String, Option<String>) {
        let r = Rules::builtin().route(f);
        (r.priority, r.team, r.rule)
    }

    #[test]
    fn each_class_goes_to_its_team() {
        for (class, team) in [
            ("billing", "billing"),
            ("network", "network-support"),
            ("device", "device-support"),
            ("contract", "sales-service"),
        ] {
            let (p, t, _) = route(&facts(class));
            assert_eq!((p, t.as_str()), (Priority::Normal, team), "{class}");
        }
        let (p, t, rule) = route(&facts("other"));
        assert_eq!(
            (p, t.as_str(), rule),
            (Priority::Low, "customer-care", None)
        );
    }

    #[test]
    fn network_tickets_during_anomalies_go_to_the_noc_at_high() {
        let mut f = facts("network");
        f.anomalies = 2;
        let (p, t, rule) = route(&f);
        assert_eq!((p, t.as_str()), (Priority::High, "noc"));
        assert_eq!(rule.as_deref(), Some("network-during-anomalies"));
        // Anomalies do not move a billing ticket.
        let mut b = facts("billing");
        b.anomalies = 5;
        assert_eq!(route(&b).1, "billing");
    }

    #[test]
    fn sentiment_segment_and_plan_raise_priority() {
        let mut angry = facts("billing");
        angry.sentiment = -0.8;
        assert_eq!(route(&angry).0, Priority::High);
        angry.segment = Some("business");
        assert_eq!(route(&angry).1, "key-accounts");
        let mut leaving = facts("contract");
        leaving.plan = Some("unlimited-xl");
        leaving.sentiment = -0.3;
        assert_eq!(route(&leaving).1, "retention");
        leaving.sentiment = 0.3;
        assert_eq!(route(&leaving).1, "sales-service");
        // An unknown segment matches no segment condition.
        let mut unknown = facts("network");
        unknown.segment = None;
        assert_eq!(route(&unknown).1, "network-support");
    }

    #[test]
    fn an_unsure_classifier_sends_the_ticket_to_triage_first() {
        let mut f = facts("network");
        f.confidence = 0.3;
        f.anomalies = 3;
        assert_eq!(route(&f).1, "triage");
    }

    #[test]
    fn bad_rules_are_refused_naming_the_rule() {
        let bad = |text: &str| Rules::parse(text, "r.toml").unwrap_err().to_string();
        let default = "[default]\npriority = \"low\"\nteam = \"care\"\n";
        let e = bad(&format!(
            "[[rule]]\nname = \"a\"\nwhen = {{ sentiment_below = 3 }}\npriority = \"high\"\nteam = \"x\"\n{default}"
        ));
        assert!(
            e.contains("rule \"a\"") && e.contains("outside -1 to 1"),
            "{e}"
        );
        let e = bad(&format!(
            "[[rule]]\nname = \"a\"\nwhen = {{ clas = [\"x\"] }}\npriority = \"high\"\nteam = \"x\"\n{default}"
        ));
        assert!(e.contains("clas"), "{e}");
        let e = bad(&format!(
            "[[rule]]\nname = \"a\"\npriority = \"urgent\"\nteam = \"x\"\n{default}"
        ));
        assert!(e.contains("urgent"), "{e}");
        let e = bad(&format!(
            "[[rule]]\nname = \"a\"\nwhen = {{ class = [] }}\npriority = \"high\"\nteam = \"x\"\n{default}"
        ));
        assert!(e.contains("can never hold"), "{e}");
        let twice = "[[rule]]\nname = \"a\"\npriority = \"high\"\nteam = \"x\"\n";
        let e = bad(&format!("{twice}{twice}{default}"));
        assert!(e.contains("two rules are named"), "{e}");
        assert!(
            bad("[[rule]]\nname = \"a\"\npriority = \"high\"\nteam = \"x\"\n").contains("default")
        );
    }
}
