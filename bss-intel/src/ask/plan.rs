//! What a question comes to: a [`Plan`] (a template, its wrapped SQL and
//! the text of each parameter, from the question's entities or the
//! template's defaults), or a [`CannotAnswer`] with the reason and the
//! nearest supported questions. Owns turning entities into parameters.
//!
//! Must never put anything but a parameter's text in `params`: the SQL is
//! the template's, whatever the question said.

use serde_json::{json, Value};

use super::extract::Entities;
use super::template::{Need, Param, Slot, Template};

/// A template a question was compared with, and how alike they are (the
/// best cosine of the question with one of its examples, less any
/// penalty for what the question names and the template cannot use).
#[derive(Debug, Clone, PartialEq)]
pub struct Ranked {
    pub template: &'static str,
    pub similarity: f32,
    /// Its example most like the question.
    pub nearest_example: &'static str,
}

/// A question turned into a whitelisted query.
#[derive(Debug, Clone)]
pub struct Plan {
    pub template: &'static Template,
    /// The SQL to run: [`Template::wrapped_sql`].
    pub sql: String,
    /// `$1`, `$2`, ... as text.
    pub params: Vec<String>,
    pub entities: Entities,
    /// The question as it was compared with the examples (its stream id
    /// and period masked).
    pub compared: String,
    /// The best templates, best first.
    pub ranking: Vec<Ranked>,
}

/// A question no template answers.
#[derive(Debug, Clone, PartialEq)]
pub struct CannotAnswer {
    pub reason: String,
    /// Example questions of the nearest templates, nearest first.
    pub nearest: Vec<&'static str>,
    /// The question as it was compared with the examples.
    pub compared: String,
    pub ranking: Vec<Ranked>,
}

#[derive(Debug, Clone)]
pub enum Answer {
    Plan(Plan),
    CannotAnswer(CannotAnswer),
}

impl Plan {
    /// `template` with its parameters from `entities`; Err: the first
    /// slot it requires that they lack.
    pub fn new(
        template: &'static Template,
        entities: Entities,
        compared: String,
        ranking: Vec<Ranked>,
    ) -> Result<Plan, Slot> {
        let mut params = Vec::with_capacity(template.params.len());
        for &param in template.params {
            let need = template.need(param.slot()).unwrap_or(Need::Optional);
            params.push(value(param, need, &entities).ok_or(param.slot())?);
        }
        Ok(Plan {
            template,
            sql: template.wrapped_sql(),
            params,
            entities,
            compared,
            ranking,
        })
    }

    pub fn to_json(&self) -> Value {
        json!({
            "template": self.template.id,
            "sql": self.sql,
            "params": self.params,
            "entities": self.entities.to_json(),
            "compared": self.compared,
            "ranking": ranking_json(&self.ranking),
        })
    }
}

impl CannotAnswer {
    pub fn to_json(&self) -> Value {
        json!({
            "cannot_answer": self.reason,
            "nearest": self.nearest,
            "compared": self.compared,
            "ranking": ranking_json(&self.ranking),
        })
    }
}

fn ranking_json(ranking: &[Ranked]) -> Value {
    ranking
        .iter()
        .map(|r| json!({"template": r.template, "similarity": r.similarity, "nearest_example": r.nearest_example}))
        .collect()
}

/// The first slot `template` requires that `entities` lack.
pub fn missing(template: &Template, entities: &Entities) -> Option<Slot> {
    template
        .params
        .iter()
        .find(|p| {
            let need = template.need(p.slot()).unwrap_or(Need::Optional);
            value(**p, need, entities).is_none()
        })
        .map(|p| p.slot())
}

/// The text of `param`: what the question says, else the default, else
/// "no restriction"; None when it is required and absent.
fn value(param: Param, need: Need, e: &Entities) -> Option<String> {
    let said = match param {
        Param::PeriodStart => e.period.as_ref().map(|p| p.from_text()),
        Param::PeriodEnd => e.period.as_ref().map(|p| p.to_text()),
        Param::Stream => e.stream.clone(),
        Param::EventType => e.event_type.clone(),
        Param::Segment => e.segment.map(str::to_owned),
        Param::Limit => e.limit.map(|n| n.to_string()),
        Param::Stat => e.stat.map(str::to_owned),
    };
    said.or(match need {
        Need::Required => None,
        Need::Default(v) => Some(v.to_owned()),
        Need::Optional => Some(param.absent().to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::super::extract::extract;
    use super::super::extract::tests::now;
    use super::super::template::by_id;
    use super::*;

    fn plan(id: &str, q: &str) -> Result<Plan, Slot> {
        let x = extract(q, now());
        Plan::new(by_id(id).unwrap(), x.entities, x.masked, Vec::new())
    }

    #[test]
    fn parameters_come_from_the_question_in_the_templates_order() {
        let p = plan(
            "count_events",
            "how many payments failed yesterday for business customers",
        )
        .unwrap();
        assert_eq!(
            p.params,
            [
                "2026-11-24T00:00:00Z",
                "2026-11-25T00:00:00Z",
                "business",
                "",
                "payment.failed"
            ]
        );
        assert_eq!(p.sql, by_id("count_events").unwrap().wrapped_sql());
    }

    #[test]
    fn what_is_not_said_is_no_restriction_or_the_default() {
        let p = plan("amount_total", "how much came in").unwrap();
        assert_eq!(
            p.params,
            ["-infinity", "infinity", "", "", "payment.received"]
        );
        let p = plan("top_customers", "top customers by tickets").unwrap();
        assert_eq!(p.params[4..], ["ticket.opened", "5"]);
        let p = plan("top_customers", "top 3 customers by tickets").unwrap();
        assert_eq!(p.params[5], "3");
    }

    #[test]
    fn a_missing_required_slot_is_named() {
        assert_eq!(
            plan("stream_history", "show the history").unwrap_err(),
            Slot::Stream
        );
        assert_eq!(
            plan("stream_state_as_of", "state of customer-42").unwrap_err(),
            Slot::Period
        );
        let e = extract("state of customer-42", now()).entities;
        assert_eq!(
            missing(by_id("stream_state_as_of").unwrap(), &e),
            Some(Slot::Period)
        );
        assert_eq!(missing(by_id("stream_state").unwrap(), &e), None);
    }

    #[test]
    fn the_state_as_of_a_day_is_at_its_end() {
        let p = plan("stream_state_as_of", "customer-42 on 20 November").unwrap();
        assert_eq!(p.params, ["customer-42", "2026-11-21T00:00:00Z"]);
    }

    #[test]
    fn question_text_never_reaches_the_sql() {
        let q = "how many payments failed for customer-42'); DROP TABLE x; -- yesterday";
        let p = plan("count_events", q).unwrap();
        assert!(!p.sql.contains("DROP"));
        assert!(!p.sql.contains("customer-42"));
    }
}
