//! The whitelist: every question `ask` answers is one of these templates,
//! a fixed SQL text over pg_bss's documented read functions and views
//! (`bss.read_period`, `bss.read_category`, `bss.read_stream`,
//! `bss.stream_version`, `bss.aggregate`, `bss.stats`) with numbered
//! parameters. Owns each
//! template's id, what it answers, the example questions that find it
//! (and are shown as the nearest supported questions), the slots it needs
//! and the order of its parameters.
//!
//! Must never hold SQL built from a question: the text here is all the SQL
//! `ask` ever runs. Every parameter is sent as text and cast in the SQL
//! (`$1::text::timestamptz`), so any client can bind them the same way; a
//! template answers one JSON array of row objects ([`Template::wrapped_sql`]).
//! Time is business time, each event's `time` (set at append), so a store
//! loaded with past events answers as it did then.

/// What a question may fill in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    Period,
    Stream,
    EventType,
    Segment,
    Limit,
    Stat,
}

impl Slot {
    pub fn name(self) -> &'static str {
        match self {
            Slot::Period => "period",
            Slot::Stream => "stream",
            Slot::EventType => "event type",
            Slot::Segment => "segment",
            Slot::Limit => "limit",
            Slot::Stat => "statistic",
        }
    }

    /// What to add to a question that lacks this slot.
    pub fn hint(self) -> &'static str {
        match self {
            Slot::Period => "say when, e.g. yesterday, last week, since Monday or on 2026-11-24",
            Slot::Stream => "name the stream, e.g. customer-42",
            Slot::EventType => "say which events, e.g. failed payments, tickets, cancellations or payment.failed",
            Slot::Segment => "name the segment: business or consumer",
            Slot::Limit => "say how many, e.g. top 5",
            Slot::Stat => "say which statistic: slot lag, slot active, head position, streams, dead letters, events per minute or partition sizes",
        }
    }
}

/// Whether a template needs a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Required,
    /// Absent: no restriction (all time, every segment, any stream or type).
    Optional,
    /// Absent: this value.
    Default(&'static str),
}

/// One numbered parameter of a template's SQL, and where its text comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Param {
    /// The period's start (RFC 3339; absent: `-infinity`).
    PeriodStart,
    /// The period's end, exclusive (RFC 3339; absent: `infinity`).
    PeriodEnd,
    /// A stream id (absent: '').
    Stream,
    /// A CloudEvents type (absent: '').
    EventType,
    /// A customer segment (absent: '').
    Segment,
    /// How many rows.
    Limit,
    /// A `bss.stats` stat.
    Stat,
}

impl Param {
    pub fn slot(self) -> Slot {
        match self {
            Param::PeriodStart | Param::PeriodEnd => Slot::Period,
            Param::Stream => Slot::Stream,
            Param::EventType => Slot::EventType,
            Param::Segment => Slot::Segment,
            Param::Limit => Slot::Limit,
            Param::Stat => Slot::Stat,
        }
    }

    /// The text of an optional parameter the question does not fill.
    pub fn absent(self) -> &'static str {
        match self {
            Param::PeriodStart => "-infinity",
            Param::PeriodEnd => "infinity",
            _ => "",
        }
    }
}

/// One whitelisted question.
#[derive(Debug, PartialEq)]
pub struct Template {
    pub id: &'static str,
    pub description: &'static str,
    pub examples: &'static [&'static str],
    pub slots: &'static [(Slot, Need)],
    /// Words of which a question for this template says at least one (a
    /// count is asked with "how many", "number", ...); empty: no such word.
    pub cues: &'static [&'static str],
    /// Words that ask for something else: a question that says one of them
    /// is not for this template however near its examples ("how many"
    /// asks for a count, not a list of events; "each" for a breakdown).
    pub contrary: &'static [&'static str],
    /// For a template without an event type slot: the types its questions
    /// name ("why did payments fail": `payment.failed`). A question that
    /// names another type asks something else.
    pub subject_types: &'static [&'static str],
    /// `$1`, `$2`, ... in order.
    pub params: &'static [Param],
    /// A query; see [`Template::wrapped_sql`].
    pub sql: &'static str,
}

impl Template {
    /// How much the template needs `slot`; None: it does not use it.
    pub fn need(&self, slot: Slot) -> Option<Need> {
        self.slots.iter().find(|(s, _)| *s == slot).map(|(_, n)| *n)
    }

    /// The SQL run: the template's rows as one JSON array of objects (`[]`
    /// for none), in the template's order.
    pub fn wrapped_sql(&self) -> String {
        // A sorted subquery feeds jsonb_agg in its order: the outer query
        // does nothing else that could reorder it.
        format!(
            "SELECT coalesce(jsonb_agg(to_jsonb(q)), '[]'::jsonb) FROM (\n{}\n) q",
            self.sql
        )
    }
}

/// The template with this id.
pub fn by_id(id: &str) -> Option<&'static Template> {
    TEMPLATES.iter().find(|t| t.id == id)
}

/// The events of the period `[$1, $2)` of business time through
/// bss.read_period, found by its BRIN index on `time` rather than by
/// reading the whole store: the caller's tenant, personal data as the
/// caller may see it, every page at once. A question's cost is bounded by
/// the statement_timeout it runs under.
macro_rules! period_store {
    () => {
        "bss.read_period(from_time => $1::text::timestamptz, to_time => $2::text::timestamptz, after_position => 0, max_count => 2147483647)"
    };
}

/// A timestamptz as RFC 3339 in UTC to the second, whatever the session's
/// TimeZone.
macro_rules! utc {
    ($value:literal) => {
        concat!(
            "to_char(",
            $value,
            " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
        )
    };
}

/// A field of `data` as a number, NULL when it is not a JSON number.
macro_rules! number {
    ($field:literal) => {
        concat!(
            "CASE WHEN jsonb_typeof(data->'",
            $field,
            "') = 'number' THEN (data->>'",
            $field,
            "')::numeric END"
        )
    };
}

/// `customer_events`: the events of category `customer` (bss.read_category,
/// by its index), read only where `$when` holds (a constant once the
/// parameters are bound: otherwise the read is skipped); `customers`: each
/// of those streams that has a `customer.created` event, with its segment,
/// the newest `segment` among its events (as the default merge-patch fold
/// has it).
macro_rules! customers {
    ($when:literal) => {
        concat!(
            "customer_events AS MATERIALIZED (
    SELECT c.global_position, c.stream_id, c.type, c.data
    FROM bss.read_category(category => 'customer', after_position => 0, max_count => 2147483647) c
    WHERE ",
            $when,
            "),
customers AS (
    SELECT DISTINCT ON (c.stream_id) c.stream_id AS customer, c.data->>'segment' AS segment
    FROM customer_events c
    WHERE c.data->>'segment' IS NOT NULL
      AND c.stream_id IN (SELECT s.stream_id FROM customer_events s WHERE s.type = 'customer.created')
    ORDER BY c.stream_id, c.global_position DESC)"
        )
    };
}

/// `store`: the events of the period `[$1, $2)` of business time, each
/// with the customer it is about (`data.customer_id`, else its own
/// stream); `scoped`: those of customers of segment `$3` ('' any) and about
/// stream `$4` ('' any: the event's own stream or its customer), each with
/// its segment, which is read where `$segments` holds.
macro_rules! scoped_with {
    ($segments:literal, $select:expr) => {
        concat!(
            "WITH ",
            customers!($segments),
            ",
store AS MATERIALIZED (
    SELECT ev.global_position, ev.stream_id, ev.stream_version, ev.type, ev.time, ev.data,
           coalesce(ev.data->>'customer_id', ev.stream_id) AS customer
    FROM ",
            period_store!(),
            " ev),
scoped AS (
    SELECT e.*, k.segment
    FROM store e LEFT JOIN customers k USING (customer)
    WHERE ($3::text = '' OR k.segment = $3::text)
      AND ($4::text = '' OR e.stream_id = $4::text OR e.customer = $4::text))
",
            $select
        )
    };
}

/// [`scoped_with!`] whose segments are read only when a segment is asked.
macro_rules! scoped {
    ($select:expr) => {
        scoped_with!("$3::text <> ''", $select)
    };
}

use Need::{Optional, Required};
use Param::*;

/// The period, segment and stream a question may narrow the store's
/// events to ([`scoped!`]'s `$1` to `$4`).
const SCOPE: [Param; 4] = [PeriodStart, PeriodEnd, Segment, Stream];
const SCOPE_SLOTS: [(Slot, Need); 3] = [
    (Slot::Period, Optional),
    (Slot::Segment, Optional),
    (Slot::Stream, Optional),
];

pub static TEMPLATES: &[Template] = &[
    Template {
        id: "count_events",
        description: "how many events of a type there were in a period, optionally for a customer segment or one customer",
        examples: &[
            "how many payments failed yesterday for business customers",
            "number of tickets opened last week",
            "how many customers signed up this month",
            "count the cancellations since Monday",
            "how many invoices were issued in October",
            "how many failed payments did consumer customers have today",
            "how many usage records came in during the last 24 hours",
            "total number of payment.failed events on 2026-11-20",
            "how many tickets has customer-42 opened",
            "how many anomalies were detected last month",
        ],
        slots: &[
            (Slot::Period, Optional),
            (Slot::Segment, Optional),
            (Slot::Stream, Optional),
            (Slot::EventType, Required),
        ],
        cues: &["many", "number", "count", "counts", "total", "tally"],
        contrary: &["each", "per", "breakdown", "kinds", "types", "mix", "much"],
        subject_types: &[],
        params: &[PeriodStart, PeriodEnd, Segment, Stream, EventType],
        sql: scoped!("SELECT $5::text AS type, count(*) AS events FROM scoped WHERE scoped.type = $5::text"),
    },
    Template {
        id: "events_by_type",
        description: "how many events of each type there were in a period, optionally for a segment or one customer",
        examples: &[
            "how many events of each type were there yesterday",
            "break down last week's events by type",
            "event counts per type this month",
            "what kinds of events came in today and how many of each",
            "show the mix of event types since Monday",
            "which event types did business customers generate last week",
            "per-type totals for customer-42",
            "what happened in the store yesterday, by type",
        ],
        slots: &SCOPE_SLOTS,
        cues: &[],
        contrary: &["newest", "latest", "recent", "much"],
        subject_types: &[],
        params: &SCOPE,
        sql: scoped!(
            "SELECT scoped.type, count(*) AS events FROM scoped
GROUP BY scoped.type ORDER BY events DESC, scoped.type"
        ),
    },
    Template {
        id: "list_events",
        description: "the newest events (of a type) in a period, newest first, optionally for a segment or one customer",
        examples: &[
            "show me the failed payments from yesterday",
            "list the last 5 cancellations",
            "which tickets were opened today",
            "show the latest 10 invoices",
            "list yesterday's new customers",
            "give me the most recent payment.failed events",
            "what were the 3 most recent failed payments of customer-42",
            "show the events of business customers from yesterday",
            "show the usage records of customer-42 from last week",
            "show the subscriptions cancelled on 2026-11-20",
            "list every payment received since Monday",
            "show the latest events",
            "list the 20 newest events",
            "list all events from yesterday",
            "what happened today, newest first",
            "show customer-42's events from this week, newest first",
        ],
        slots: &[
            (Slot::Period, Optional),
            (Slot::Segment, Optional),
            (Slot::Stream, Optional),
            (Slot::EventType, Optional),
            (Slot::Limit, Need::Default("10")),
        ],
        cues: &["show", "list", "display", "give", "see", "find", "get", "which", "what", "recent", "latest", "newest", "last", "fetch"],
        contrary: &["many", "number", "count", "counts", "total", "totals", "tally", "much", "each", "per", "breakdown", "types", "kinds"],
        subject_types: &[],
        params: &[PeriodStart, PeriodEnd, Segment, Stream, EventType, Limit],
        sql: scoped!(concat!(
            "SELECT ",
            utc!("scoped.time"),
            " AS time, scoped.stream_id, scoped.type, scoped.data FROM scoped
WHERE $5::text = '' OR scoped.type = $5::text
ORDER BY scoped.time DESC, scoped.global_position DESC LIMIT $6::text::int"
        )),
    },
    Template {
        id: "stream_history",
        description: "a stream's events in version order (bss.read_stream), optionally of a type or in a period",
        examples: &[
            "show me the history of customer-42",
            "what happened to customer-42",
            "list all events in stream ticket-8812",
            "read stream usage-42",
            "timeline of customer-42 since 1 November",
            "every event of customer-42 in order",
            "the events of account-7 from last week",
            "what did customer-42 go through",
        ],
        slots: &[
            (Slot::Stream, Required),
            (Slot::Period, Optional),
            (Slot::EventType, Optional),
        ],
        cues: &[],
        contrary: &["many", "number", "count", "counts", "total", "totals", "tally", "much", "each", "per", "breakdown", "types", "kinds", "newest", "latest", "recent"],
        subject_types: &[],
        params: &[Stream, PeriodStart, PeriodEnd, EventType],
        sql: concat!(
            "SELECT h.stream_version AS version, h.type, ",
            utc!("h.time"),
            " AS time, h.data
FROM bss.read_stream($1::text, from_version => 1, max_count => 2147483647) h
WHERE h.time >= $2::text::timestamptz AND h.time < $3::text::timestamptz
  AND ($4::text = '' OR h.type = $4::text)
ORDER BY h.stream_version"
        ),
    },
    Template {
        id: "stream_state",
        description: "a stream's current state (bss.aggregate: its category's reducer over every event) and version",
        examples: &[
            "what is the current state of customer-42",
            "show customer-42 as it is now",
            "aggregate customer-42",
            "what do we know about customer-42",
            "current plan and segment of customer-42",
            "give me the latest state of ticket-8812",
            "summarize customer-42",
            "what does account-7 look like right now",
        ],
        slots: &[(Slot::Stream, Required)],
        cues: &["state", "current", "currently", "now", "moment", "look", "looks", "like", "know", "aggregate", "summary", "summarize", "plan", "segment", "latest", "status", "stand", "details", "profile", "everything"],
        contrary: &[],
        subject_types: &[],
        params: &[Stream],
        sql: "SELECT $1::text AS stream_id, v.version,
       CASE WHEN v.version > 0 THEN bss.aggregate($1::text) END AS state
FROM (SELECT bss.stream_version($1::text) AS version) v",
    },
    Template {
        id: "stream_state_as_of",
        description: "a stream's state at the end of a period of business time: bss.aggregate up to the version before its first event at or after that moment",
        examples: &[
            "what did customer-42 look like on 1 November",
            "state of customer-42 as of 2026-11-01",
            "show customer-42 as it was last week",
            "what was customer-42's plan at the end of October",
            "how did ticket-8812 look on Monday",
            "the state of customer-42 before 20 November",
            "what was account-7 like yesterday",
            "customer-42 back in October",
        ],
        slots: &[(Slot::Stream, Required), (Slot::Period, Required)],
        cues: &[],
        contrary: &[],
        subject_types: &[],
        params: &[Stream, PeriodEnd],
        sql: concat!(
            "SELECT $1::text AS stream_id, v.version, ",
            utc!("$2::text::timestamptz"),
            " AS as_of,
       CASE WHEN v.version > 0 THEN bss.aggregate($1::text, at_version => v.version) END AS state
FROM (SELECT coalesce(
          (SELECT min(h.stream_version) - 1
           FROM bss.read_stream($1::text, from_version => 1, max_count => 2147483647) h
           WHERE h.time >= $2::text::timestamptz),
          bss.stream_version($1::text)) AS version) v"
        ),
    },
    Template {
        id: "stream_version",
        description: "a stream's current version (bss.stream_version: its number of events, 0 when it does not exist)",
        examples: &[
            "what version is customer-42 at",
            "how many events does customer-42 have",
            "current version of stream usage-42",
            "stream version of ticket-8812",
            "how long is the customer-42 stream",
            "does customer-42 exist",
            "latest version number for account-7",
        ],
        slots: &[(Slot::Stream, Required)],
        cues: &[],
        contrary: &["order", "ordered", "history", "timeline", "log", "list", "sequence"],
        subject_types: &[],
        params: &[Stream],
        sql: "SELECT $1::text AS stream_id, bss.stream_version($1::text) AS version",
    },
    Template {
        id: "amount_total",
        description: "the sum of the amounts of events of a type (payments received unless another is named) in a period, per currency",
        examples: &[
            "how much money did we receive yesterday",
            "total amount of payments received last week",
            "sum of failed payment amounts this month",
            "how much did business customers pay in November",
            "what is the total invoiced amount for October",
            "revenue today",
            "how much has customer-42 paid",
            "value of all payments since Monday",
        ],
        slots: &[
            (Slot::Period, Optional),
            (Slot::Segment, Optional),
            (Slot::Stream, Optional),
            (Slot::EventType, Need::Default("payment.received")),
        ],
        cues: &["much", "sum", "total", "totals", "amount", "amounts", "value", "revenue", "money", "paid", "pay", "collect", "collected", "cash", "income", "worth", "cost", "costs"],
        contrary: &["many", "number", "count", "counts"],
        subject_types: &[],
        params: &[PeriodStart, PeriodEnd, Segment, Stream, EventType],
        sql: scoped!(concat!(
            "SELECT $5::text AS type, scoped.data->>'currency' AS currency, count(*) AS events, sum(",
            number!("amount"),
            ") AS total
FROM scoped WHERE scoped.type = $5::text
GROUP BY scoped.data->>'currency' ORDER BY currency"
        )),
    },
    Template {
        id: "top_customers",
        description: "the customers with the most events of a type in a period (5 unless a number is given)",
        examples: &[
            "top 5 customers by failed payments this month",
            "which customers opened the most tickets last week",
            "who has the most payment failures",
            "rank customers by number of tickets",
            "which business customers failed to pay most often in November",
            "top 10 customers by usage records today",
            "which customer had the most failed payments yesterday",
        ],
        slots: &[
            (Slot::Period, Optional),
            (Slot::Segment, Optional),
            (Slot::Stream, Optional),
            (Slot::EventType, Required),
            (Slot::Limit, Need::Default("5")),
        ],
        cues: &["top", "most", "rank", "ranking", "ranked", "biggest", "largest", "highest", "heaviest", "worst", "best", "often", "frequently", "leading", "busiest"],
        contrary: &[],
        subject_types: &[],
        params: &[PeriodStart, PeriodEnd, Segment, Stream, EventType, Limit],
        sql: scoped_with!(
            "true",
            "SELECT scoped.customer, scoped.segment, count(*) AS events FROM scoped
WHERE scoped.type = $5::text
GROUP BY scoped.customer, scoped.segment
ORDER BY events DESC, scoped.customer LIMIT $6::text::int"
        ),
    },
    Template {
        id: "failed_payments_by_reason",
        description: "failed payments per reason in a period, with their amounts",
        examples: &[
            "why did payments fail yesterday",
            "failed payments by reason last week",
            "what are the reasons for payment failures this month",
            "break down payment failures by cause",
            "most common reason payments failed in November",
            "decline reasons for business customers since Monday",
            "why are customer-42's payments failing",
        ],
        slots: &SCOPE_SLOTS,
        cues: &["why", "reason", "reasons", "cause", "causes", "because", "explain"],
        contrary: &[],
        subject_types: &["payment.failed"],
        params: &SCOPE,
        sql: scoped!(concat!(
            "SELECT scoped.data->>'reason' AS reason, count(*) AS payments, sum(",
            number!("amount"),
            ") AS amount
FROM scoped WHERE scoped.type = 'payment.failed'
GROUP BY scoped.data->>'reason' ORDER BY payments DESC, reason"
        )),
    },
    Template {
        id: "anomalies",
        description: "the anomalies the detectors stored (anomaly.detected) in a period, oldest first",
        examples: &[
            "which anomalies were detected yesterday",
            "show me the anomalies from last week",
            "list the alerts the detectors raised today",
            "were there any anomalies since Monday",
            "what did the anomaly detectors find this month",
            "anything unusual in the last 24 hours",
            "show detected fraud or spikes on 2026-11-24",
        ],
        slots: &[(Slot::Period, Optional)],
        cues: &[],
        contrary: &[],
        subject_types: &["anomaly.detected"],
        params: &[PeriodStart, PeriodEnd],
        sql: concat!(
            "SELECT ",
            utc!("a.time"),
            " AS time, a.stream_id, a.data->>'detector' AS detector, a.data->>'key' AS key,
       a.data->'score' AS score, a.data->>'source_event_type' AS source_event_type
FROM ",
            period_store!(),
            " a
WHERE a.type = 'anomaly.detected'
ORDER BY a.time, a.global_position"
        ),
    },
    Template {
        id: "tickets_by_team",
        description: "classified tickets (ticket.classified) per team and priority in a period, optionally of a segment",
        examples: &[
            "how many tickets went to each team yesterday",
            "tickets routed per team last week",
            "which teams got the classified tickets this month",
            "ticket load by team and priority since Monday",
            "how many high priority tickets did the noc get today",
            "workload per support team",
            "show ticket routing by team for business customers",
        ],
        slots: &[(Slot::Period, Optional), (Slot::Segment, Optional)],
        cues: &["team", "teams", "routed", "routing", "route", "noc", "queue", "queues", "priority", "priorities", "workload", "load", "assigned"],
        contrary: &[],
        subject_types: &["ticket.opened", "ticket.classified"],
        params: &[PeriodStart, PeriodEnd, Segment],
        sql: concat!(
            "SELECT t.data->>'team' AS team, t.data->>'priority' AS priority, count(*) AS tickets
FROM ",
            period_store!(),
            " t
WHERE t.type = 'ticket.classified'
  AND ($3::text = '' OR t.data->>'segment' = $3::text)
GROUP BY t.data->>'team', t.data->>'priority' ORDER BY tickets DESC, team, priority"
        ),
    },
    Template {
        id: "tickets_by_class",
        description: "classified tickets (ticket.classified) per class in a period, optionally of a segment",
        examples: &[
            "tickets by class last week",
            "what were customers complaining about yesterday",
            "how many network, billing and device tickets this month",
            "classification of tickets since Monday",
            "which ticket categories are most common",
            "break down today's tickets by topic",
            "what kind of problems do business customers report",
        ],
        slots: &[(Slot::Period, Optional), (Slot::Segment, Optional)],
        cues: &["class", "classes", "classified", "classification", "category", "categories", "topic", "topics", "kind", "kinds", "complain", "complaining", "complained", "problem", "problems", "issue", "issues", "network", "billing", "device", "contract"],
        contrary: &[],
        subject_types: &["ticket.opened", "ticket.classified"],
        params: &[PeriodStart, PeriodEnd, Segment],
        sql: concat!(
            "SELECT t.data->>'class' AS class, count(*) AS tickets
FROM ",
            period_store!(),
            " t
WHERE t.type = 'ticket.classified'
  AND ($3::text = '' OR t.data->>'segment' = $3::text)
GROUP BY t.data->>'class' ORDER BY tickets DESC, class"
        ),
    },
    Template {
        id: "customers_by_segment",
        description: "customers per segment, and how many are active (their newest subscription event is not a cancellation)",
        examples: &[
            "how many customers do we have per segment",
            "how many business customers are there",
            "number of consumer customers",
            "customer count by segment",
            "how many active business customers do we have",
            "split of customers between business and consumer",
            "how big is our customer base",
        ],
        slots: &[(Slot::Segment, Optional)],
        cues: &["segment", "segments", "base", "active", "customer", "customers", "accounts", "subscribers", "clients"],
        contrary: &[],
        subject_types: &[],
        params: &[Segment],
        sql: concat!(
            "WITH ",
            customers!("true"),
            ",
lifecycle AS (
    SELECT DISTINCT ON (l.stream_id) l.stream_id AS customer, l.type
    FROM customer_events l WHERE l.type IN ('subscription.activated', 'subscription.cancelled')
    ORDER BY l.stream_id, l.global_position DESC)
SELECT k.segment, count(*) AS customers,
       count(*) FILTER (WHERE l.type IS DISTINCT FROM 'subscription.cancelled') AS active
FROM customers k LEFT JOIN lifecycle l USING (customer)
WHERE $1::text = '' OR k.segment = $1::text
GROUP BY k.segment ORDER BY customers DESC, k.segment"
        ),
    },
    Template {
        id: "usage_summary",
        description: "usage records (usage.recorded) per kind in a period with their bytes, seconds and charges, optionally for a segment or one customer",
        examples: &[
            "how much data did customer-42 use last week",
            "usage summary for yesterday",
            "total voice seconds, sms and data today",
            "usage by kind this month",
            "how much usage did business customers generate since Monday",
            "what did usage-42 cost in November",
            "data volume and call seconds last week",
        ],
        slots: &SCOPE_SLOTS,
        cues: &["usage", "data", "voice", "sms", "calls", "call", "minutes", "seconds", "bytes", "traffic", "used", "use", "consume", "consumed", "consumption", "volume", "cdr", "cdrs"],
        contrary: &[],
        subject_types: &["usage.recorded"],
        params: &SCOPE,
        sql: scoped!(concat!(
            "SELECT scoped.data->>'kind' AS kind, count(*) AS records,
       coalesce(sum(",
            number!("bytes"),
            "), 0) AS bytes,
       coalesce(sum(",
            number!("seconds"),
            "), 0) AS seconds,
       coalesce(sum(",
            number!("charge"),
            "), 0) AS charge
FROM scoped WHERE scoped.type = 'usage.recorded'
GROUP BY scoped.data->>'kind' ORDER BY kind"
        )),
    },
    Template {
        id: "store_stat",
        description: "one statistic of bss.stats: slot lag, slot active, head position, streams, dead letters, events in the last minute or partition sizes",
        examples: &[
            "what is the replication slot lag",
            "how far behind is the sidecar",
            "what is the head position of the store",
            "how many streams are there",
            "how many dead letters are there",
            "is the sidecar's slot active",
            "how big are the partitions",
        ],
        slots: &[(Slot::Stat, Required)],
        cues: &[],
        contrary: &[],
        subject_types: &[],
        params: &[Stat],
        sql: "SELECT s.stat, s.key, s.value FROM bss.stats s WHERE s.stat = $1::text ORDER BY s.key",
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_examples_are_unique() {
        let mut ids: Vec<&str> = TEMPLATES.iter().map(|t| t.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), TEMPLATES.len());
        let mut examples: Vec<String> = TEMPLATES
            .iter()
            .flat_map(|t| t.examples.iter().map(|e| e.to_lowercase()))
            .collect();
        let n = examples.len();
        examples.sort();
        examples.dedup();
        assert_eq!(examples.len(), n);
    }

    #[test]
    fn every_parameter_is_used_and_no_other() {
        for t in TEMPLATES {
            for (i, _) in t.params.iter().enumerate() {
                let placeholder = format!("${}::text", i + 1);
                assert!(
                    t.sql.contains(&placeholder),
                    "{}: {placeholder} unused",
                    t.id
                );
            }
            let beyond = format!("${}", t.params.len() + 1);
            assert!(
                !t.sql.contains(&beyond),
                "{}: {beyond} has no parameter",
                t.id
            );
            // Sent as text and cast: a bare $n would make PostgreSQL infer
            // another type than the text the client binds.
            let bare = t.sql.match_indices('$').count();
            let cast = t.sql.matches("::text").count();
            assert!(cast >= bare, "{}: a parameter is not cast from text", t.id);
        }
    }

    #[test]
    fn slots_and_parameters_agree() {
        for t in TEMPLATES {
            for p in t.params {
                assert!(t.need(p.slot()).is_some(), "{}: {:?} has no slot", t.id, p);
            }
            for (slot, need) in t.slots {
                assert!(
                    t.params.iter().any(|p| p.slot() == *slot),
                    "{}: slot {:?} feeds no parameter",
                    t.id,
                    slot
                );
                if *slot == Slot::Limit {
                    assert!(
                        matches!(need, Need::Default(_)),
                        "{}: a limit needs a default",
                        t.id
                    );
                }
            }
            assert!(t.examples.len() >= 5, "{}: too few examples", t.id);
            assert!(
                t.subject_types.is_empty() || t.need(Slot::EventType).is_none(),
                "{}: subject types beside an event type slot",
                t.id
            );
        }
    }

    #[test]
    fn the_sql_only_reads_and_names_only_documented_objects() {
        let documented = [
            "bss.read_period(",
            "bss.read_category(",
            "bss.read_stream(",
            "bss.stream_version(",
            "bss.aggregate(",
            "bss.stats",
        ];
        for t in TEMPLATES {
            let sql = t.wrapped_sql().to_lowercase();
            for word in [
                "insert", "update", "delete", "append", "truncate", "drop", "set ",
            ] {
                assert!(!sql.contains(word), "{}: {word}", t.id);
            }
            let mut rest = sql.as_str();
            while let Some(at) = rest.find("bss.") {
                rest = &rest[at..];
                assert!(
                    documented.iter().any(|d| rest.starts_with(d)),
                    "{}: {}",
                    t.id,
                    &rest[..rest.len().min(30)]
                );
                rest = &rest[4..];
            }
        }
    }

    #[test]
    fn a_template_is_wrapped_into_one_json_array() {
        let sql = by_id("stream_version").unwrap().wrapped_sql();
        assert!(sql.starts_with("SELECT coalesce(jsonb_agg(to_jsonb(q)), '[]'::jsonb) FROM ("));
        assert!(sql.ends_with(") q"));
        assert!(by_id("drop_everything").is_none());
    }
}
