//! The words of a BSS operator: which event type ("failed payments",
//! "payments that failed", "cancellations", `payment.failed`), customer
//! segment ("business", "b2b") and store statistic ("slot lag", "dead
//! letters") a question means. The types are those bss-loadgen's simulator
//! appends and the sidecar's stages add (`ticket.classified`,
//! `anomaly.detected`); the segments are the simulator's; the statistics
//! are `bss.stats`'. A CloudEvents type written out (`line.activated`) is
//! taken as it is when its last part is a past tense, as event types are.
//!
//! Owns the phrases. Must never match inside a phrase that means something
//! else: "business days" is no segment, a "consumer group" no consumer.
//! The leftmost phrase wins, the longest there.

use super::Token;

/// The customer segments the store's `customer.created` events carry.
pub const SEGMENTS: &[&str] = &["business", "consumer"];

/// The statistics of `bss.stats`, by their `stat`.
pub const STATS: &[&str] = &[
    "slot_lag_bytes",
    "slot_active",
    "head_position",
    "streams",
    "dead_letters",
    "events_last_minute",
    "partition_bytes",
];

/// How many other words may stand inside a phrase at a `~`
/// ("payments *that have* failed").
const MAX_GAP_WORDS: usize = 2;

/// A phrase is words separated by spaces, each a `|`-separated set of
/// spellings; `~` lets up to MAX_GAP_WORDS other words stand there. What it
/// means; None: nothing (it shadows a shorter phrase inside it).
type Phrase = (&'static str, Option<&'static str>);

const EVENT_TYPES: &[Phrase] = &[
    (
        "failed|declined|unsuccessful|bounced|rejected|refused|failing payment|payments|debit|debits|charge|charges|card|cards",
        Some("payment.failed"),
    ),
    (
        "payment|payments|debit|debits|charge|charges|card|cards ~ failed|fail|failing|fails|bounced|declined|rejected|refused|unsuccessful",
        Some("payment.failed"),
    ),
    (
        "payment|payments|pay|debit|card failure|failures|declines|problems|errors",
        Some("payment.failed"),
    ),
    ("failed|unable to pay", Some("payment.failed")),
    ("couldn't|couldnt|didn't|didnt|cannot|can't pay", Some("payment.failed")),
    ("could|did not pay", Some("payment.failed")),
    (
        "received|successful|incoming|completed|collected|cleared|settled|inbound payment|payments",
        Some("payment.received"),
    ),
    (
        "payment|payments ~ received|succeeded|successful|collected|cleared|settled|came|arrived|went",
        Some("payment.received"),
    ),
    (
        "paid|pay|payment|payments|revenue|money|cash|collections|takings|income",
        Some("payment.received"),
    ),
    (
        "ticket|tickets|complaint|complaints ~ classified|routed|triaged|assigned",
        Some("ticket.classified"),
    ),
    ("classified|routed|triaged ticket|tickets", Some("ticket.classified")),
    ("classification|classifications", Some("ticket.classified")),
    (
        "ticket|tickets|complaint|complaints|trouble-tickets",
        Some("ticket.opened"),
    ),
    ("support|service request|requests|case|cases", Some("ticket.opened")),
    (
        "cancellation|cancellations|cancelation|cancelations|churn|churned|churning|cancels|cancelled|canceled|terminations|disconnections",
        Some("subscription.cancelled"),
    ),
    (
        "customer|customers|subscriber|subscribers|people|users|clients ~ left|quit|churned|cancelled|canceled|cancel",
        Some("subscription.cancelled"),
    ),
    (
        "activation|activations|activated|provisioned|provisionings",
        Some("subscription.activated"),
    ),
    (
        "new|started subscription|subscriptions|contracts|lines",
        Some("subscription.activated"),
    ),
    (
        "subscription|subscriptions|plan|plans|line|lines ~ activated|started|provisioned|opened|added",
        Some("subscription.activated"),
    ),
    (
        "new customer|customers|accounts|subscribers|clients|sign-ups|signups",
        Some("customer.created"),
    ),
    (
        "customer|customers|account|accounts|subscriber|subscribers|client|clients|people|users ~ created|signed|onboarded|joined|registered|added|acquired",
        Some("customer.created"),
    ),
    (
        "sign-up|sign-ups|signup|signups|registration|registrations|onboarding|onboardings|onboarded|acquisitions",
        Some("customer.created"),
    ),
    (
        "invoice|invoices|bill|bills|invoiced|billed|invoicing",
        Some("invoice.issued"),
    ),
    ("usage|cdr|cdrs|xdr|xdrs", Some("usage.recorded")),
    ("call detail record|records", Some("usage.recorded")),
    (
        "anomaly|anomalies|anomalous|alert|alerts|detections|outliers|spikes|unusual",
        Some("anomaly.detected"),
    ),
];

const SEGMENT_PHRASES: &[Phrase] = &[
    (
        "business day|days|hour|hours|week|weeks|logic|rules|case|model",
        None,
    ),
    (
        "business|businesses|b2b|corporate|enterprise|enterprises|sme|smes|smb|company|companies",
        Some("business"),
    ),
    ("consumer group|groups|lag|offset|offsets|slot|slots", None),
    (
        "consumer|consumers|residential|private|b2c|retail|household|households|individual|individuals",
        Some("consumer"),
    ),
];

const STAT_PHRASES: &[Phrase] = &[
    (
        "slot|slots|sidecar|consumer|subscriber|replication ~ active|connected|streaming|attached|alive|running|up",
        Some("slot_active"),
    ),
    ("active|connected|live slot|slots", Some("slot_active")),
    ("lag|lags|lagging|behind|backlog|delay", Some("slot_lag_bytes")),
    (
        "head|newest|latest|highest|last|current|global|max position|positions",
        Some("head_position"),
    ),
    ("head|position", Some("head_position")),
    ("stream|streams ~ are|count|exist|there", Some("streams")),
    ("streams|aggregates", Some("streams")),
    ("dead letter|letters", Some("dead_letters")),
    (
        "dead-letter|dead-letters|deadletter|deadletters|dlq|quarantine|quarantined",
        Some("dead_letters"),
    ),
    ("invalid|rejected events", Some("dead_letters")),
    ("per|a|last minute", Some("events_last_minute")),
    ("throughput|rate", Some("events_last_minute")),
    (
        "partition|partitions|disk|storage|size|sizes",
        Some("partition_bytes"),
    ),
];

pub(super) fn event_type(tokens: &[Token<'_>], taken: &[bool]) -> Option<String> {
    let words = words(tokens);
    for i in 0..words.len() {
        if taken[i] {
            continue;
        }
        if is_event_type(words[i]) {
            return Some(words[i].to_owned());
        }
        match longest(EVENT_TYPES, &words, taken, i) {
            Some((Some(means), _)) => return Some(means.to_owned()),
            _ => continue,
        }
    }
    None
}

pub(super) fn segment(tokens: &[Token<'_>], taken: &[bool]) -> Option<&'static str> {
    first(SEGMENT_PHRASES, &words(tokens), taken)
}

pub(super) fn stat(tokens: &[Token<'_>], taken: &[bool]) -> Option<&'static str> {
    first(STAT_PHRASES, &words(tokens), taken)
}

fn words<'t>(tokens: &'t [Token<'_>]) -> Vec<&'t str> {
    tokens.iter().map(|t| t.word.as_str()).collect()
}

/// A CloudEvents type written out: dotted lower-case words, the last a
/// past tense (`payment.failed`, `bss.subject_erased`; not `bss.stats`).
fn is_event_type(word: &str) -> bool {
    let parts: Vec<&str> = word.split('.').collect();
    parts.len() >= 2
        && parts.iter().all(|p| {
            p.starts_with(|c: char| c.is_ascii_lowercase())
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        })
        && parts.last().is_some_and(|p| p.ends_with("ed"))
}

/// What the leftmost phrase means, skipping phrases that mean nothing.
fn first(phrases: &[Phrase], words: &[&str], taken: &[bool]) -> Option<&'static str> {
    let mut i = 0;
    while i < words.len() {
        match longest(phrases, words, taken, i) {
            Some((Some(means), _)) => return Some(means),
            Some((None, len)) => i += len,
            None => i += 1,
        }
    }
    None
}

/// The longest phrase at word `i` (the first listed among equals) and how
/// many words it covers.
fn longest(
    phrases: &[Phrase],
    words: &[&str],
    taken: &[bool],
    i: usize,
) -> Option<(Option<&'static str>, usize)> {
    let mut best: Option<(Option<&'static str>, usize)> = None;
    for (phrase, means) in phrases {
        let parts: Vec<&str> = phrase.split(' ').collect();
        if let Some(end) = matches(&parts, words, taken, i) {
            if best.is_none_or(|(_, len)| end - i > len) {
                best = Some((*means, end - i));
            }
        }
    }
    best
}

/// Where `parts` matched from word `at` ends, the shortest gaps first.
fn matches(parts: &[&str], words: &[&str], taken: &[bool], at: usize) -> Option<usize> {
    let Some((part, rest)) = parts.split_first() else {
        return Some(at);
    };
    if *part == "~" {
        return (0..=MAX_GAP_WORDS).find_map(|gap| matches(rest, words, taken, at + gap));
    }
    let word = words.get(at)?;
    if taken[at] || !part.split('|').any(|w| w == *word) {
        return None;
    }
    matches(rest, words, taken, at + 1)
}

#[cfg(test)]
mod tests {
    use super::super::tokenize;
    use super::*;

    fn read<T>(q: &str, f: fn(&[Token<'_>], &[bool]) -> T) -> T {
        let tokens = tokenize(q);
        f(&tokens, &vec![false; tokens.len()])
    }

    fn ty(q: &str) -> Option<String> {
        read(q, event_type)
    }

    #[test]
    fn payments_that_failed_in_any_word_order() {
        for q in [
            "how many payments failed yesterday",
            "failed payments for business customers",
            "how many payments have failed",
            "payment failures by reason",
            "which customers failed to pay",
            "who didn't pay",
            "declined cards",
            "why did payments fail",
            "payment.failed events",
        ] {
            assert_eq!(ty(q).as_deref(), Some("payment.failed"), "{q}");
        }
    }

    #[test]
    fn the_other_types_by_their_names() {
        let cases = [
            ("how much money came in", "payment.received"),
            ("payments received last week", "payment.received"),
            ("how much did customer-42 pay", "payment.received"),
            ("tickets opened today", "ticket.opened"),
            ("support requests this week", "ticket.opened"),
            ("tickets routed to the noc", "ticket.classified"),
            ("how many cancellations", "subscription.cancelled"),
            ("how many customers left us", "subscription.cancelled"),
            ("churn last month", "subscription.cancelled"),
            ("new subscriptions", "subscription.activated"),
            ("how many customers signed up", "customer.created"),
            ("new customers this week", "customer.created"),
            ("sign-ups since monday", "customer.created"),
            ("invoices issued in october", "invoice.issued"),
            ("CDRs today", "usage.recorded"),
            ("any anomalies", "anomaly.detected"),
            ("anything unusual", "anomaly.detected"),
            ("how many line.activated events", "line.activated"),
        ];
        for (q, want) in cases {
            assert_eq!(ty(q).as_deref(), Some(want), "{q}");
        }
    }

    #[test]
    fn words_that_name_no_type() {
        for q in [
            "how many customers do we have",
            "what is the slot lag",
            "show bss.stats",
            "customer-42's history",
            "version 3",
            "failed to connect",
        ] {
            assert_eq!(ty(q), None, "{q}");
        }
    }

    #[test]
    fn a_taken_word_names_nothing() {
        let tokens = tokenize("tickets");
        assert_eq!(event_type(&tokens, &[true]), None);
    }

    #[test]
    fn segments_and_what_is_not_one() {
        assert_eq!(
            read("failed payments for business customers", segment),
            Some("business")
        );
        assert_eq!(read("B2B tickets", segment), Some("business"));
        assert_eq!(read("residential customers", segment), Some("consumer"));
        assert_eq!(read("consumers only", segment), Some("consumer"));
        for q in [
            "in 3 business days",
            "the consumer group lag",
            "all customers",
            "business hours only",
        ] {
            assert_eq!(read(q, segment), None, "{q}");
        }
        assert_eq!(
            read("within business hours for business customers", segment),
            Some("business")
        );
    }

    #[test]
    fn statistics_by_their_names() {
        let cases = [
            ("what is the replication slot lag", "slot_lag_bytes"),
            ("how far behind is the sidecar", "slot_lag_bytes"),
            ("is the sidecar's slot active", "slot_active"),
            ("what's the head position", "head_position"),
            ("latest global position", "head_position"),
            ("how many streams are there", "streams"),
            ("how many dead letters", "dead_letters"),
            ("anything in the DLQ", "dead_letters"),
            ("events per minute", "events_last_minute"),
            ("how big are the partitions", "partition_bytes"),
        ];
        for (q, want) in cases {
            assert_eq!(read(q, stat), Some(want), "{q}");
        }
        assert_eq!(read("how many payments failed", stat), None);
    }

    #[test]
    fn every_meaning_is_a_known_segment_or_statistic() {
        for (_, means) in SEGMENT_PHRASES {
            assert!(means.is_none_or(|m| SEGMENTS.contains(&m)));
        }
        for (_, means) in STAT_PHRASES {
            assert!(means.is_none_or(|m| STATS.contains(&m)));
        }
        for (_, means) in EVENT_TYPES {
            assert!(means.is_some_and(is_event_type));
        }
    }
}
