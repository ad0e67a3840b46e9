//! Owns what the intelligence stage takes from an event it classifies (a
//! [`Ticket`]: its ids, tenant, free text and customer) and what it writes
//! back: the `<prefix>.classified` event of the ticket's stream, named by
//! the ticket's event id so that classifying it again stores nothing new.
//! Must never read the store or run the model.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;

use super::config::{classified_type, IntelligenceConfig};
use crate::event::Event;

/// Names classified events: UUID v5 in this namespace of the ticket's event id.
const CLASSIFIED_NAMESPACE: Uuid = Uuid::from_u128(0x6d2f_3c1e_8a4b_5b7d_9e0f_1a2b_3c4d_5e6f);

/// An event to classify, as the stage keeps it until its classification is
/// stored (also in its state file, so a crash loses none).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ticket {
    pub event_id: String,
    pub event_type: String,
    pub stream_id: String,
    pub subject: Option<String>,
    pub tenant: String,
    /// The free text; None when the event has no string at the pointer.
    pub text: Option<String>,
    /// The customer's stream id; None when the event names none.
    pub customer: Option<String>,
    pub commit_time_us: i64,
    /// Whether it waits for the model; false: routed without a class
    /// because the backlog was full when it came.
    pub model: bool,
}

impl Ticket {
    /// The ticket in `e`, if `e` is of a type the stage classifies.
    pub fn of(e: &Event, cfg: &IntelligenceConfig, model: bool) -> Option<Ticket> {
        if !cfg.types.contains(&e.event_type) {
            return None;
        }
        let data: Value = serde_json::from_str(&e.data).unwrap_or(Value::Null);
        let string_at = |pointer: &str| {
            data.pointer(pointer)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let text = string_at(&cfg.text).filter(|t| !t.trim().is_empty());
        Some(Ticket {
            event_id: e.event_id.clone(),
            event_type: e.event_type.clone(),
            stream_id: e.stream_id.clone(),
            subject: e.subject.clone(),
            tenant: e.tenant.clone(),
            model: model && text.is_some(),
            text,
            customer: string_at(&cfg.customer),
            commit_time_us: e.commit_time_us,
        })
    }

    /// Why it has no class, if it has none.
    pub fn unclassified_because(&self) -> Option<&'static str> {
        match (&self.text, self.model) {
            (None, _) => Some("no_text"),
            (Some(_), false) => Some("backlog"),
            (Some(_), true) => None,
        }
    }

    /// The id of its classified event: the same each time it is classified.
    pub fn classified_id(&self) -> Uuid {
        Uuid::new_v5(&CLASSIFIED_NAMESPACE, self.event_id.as_bytes())
    }

    pub fn classified_type(&self) -> String {
        classified_type(&self.event_type)
    }
}

/// What the stage decided about a ticket.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The class and the classifier's probability; None without the model.
    pub class: Option<(String, f64)>,
    /// VADER compound, -1 to 1.
    pub sentiment: f64,
    pub segment: Option<String>,
    pub plan: Option<String>,
    pub anomalies: u32,
    pub route: bss_intel::routing::Route,
}

impl Decision {
    /// The data of the classified event.
    pub fn data(&self, ticket: &Ticket) -> Value {
        let (class, confidence) = match &self.class {
            Some((c, p)) => (json!(c), json!(p)),
            None => (Value::Null, Value::Null),
        };
        json!({
            "ticket_event_id": ticket.event_id,
            "class": class,
            "confidence": confidence,
            "unclassified": ticket.unclassified_because(),
            "sentiment": self.sentiment,
            "segment": self.segment,
            "plan": self.plan,
            "recent_anomalies": self.anomalies,
            "priority": self.route.priority,
            "team": self.route.team,
            "rule": self.route.rule,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> IntelligenceConfig {
        toml::from_str("data_dir = \"/nonexistent\"").unwrap()
    }

    fn ticket_event(data: &str) -> Event {
        let mut e = crate::event::example("ticket-7", 1);
        e.event_type = "ticket.opened".into();
        e.data = data.into();
        e
    }

    #[test]
    fn a_ticket_takes_its_text_and_customer_from_the_configured_pointers() {
        let cfg = config();
        assert!(Ticket::of(&crate::event::example("usage-1", 1), &cfg, true).is_none());
        let t = Ticket::of(
            &ticket_event(r#"{"text": "no signal", "customer_id": "customer-4"}"#),
            &cfg,
            true,
        )
        .unwrap();
        assert_eq!(t.text.as_deref(), Some("no signal"));
        assert_eq!(t.customer.as_deref(), Some("customer-4"));
        assert_eq!(t.unclassified_because(), None);
        assert_eq!(t.classified_type(), "ticket.classified");
        let blank = Ticket::of(&ticket_event(r#"{"text": "  "}"#), &cfg, true).unwrap();
        assert_eq!(blank.unclassified_because(), Some("no_text"));
        let late = Ticket::of(&ticket_event(r#"{"text": "x"}"#), &cfg, false).unwrap();
        assert_eq!(late.unclassified_because(), Some("backlog"));
    }

    #[test]
    fn a_ticket_classified_again_gets_the_same_id_and_another_ticket_another() {
        let cfg = config();
        let a = Ticket::of(&ticket_event(r#"{"text": "x"}"#), &cfg, true).unwrap();
        let mut other = ticket_event(r#"{"text": "x"}"#);
        other.event_id = "0190f0f0-0000-7000-8000-00000000beef".into();
        let b = Ticket::of(&other, &cfg, true).unwrap();
        assert_eq!(a.classified_id(), a.clone().classified_id());
        assert_ne!(a.classified_id(), b.classified_id());
        assert_eq!(a.classified_id().get_version_num(), 5);
    }
}
