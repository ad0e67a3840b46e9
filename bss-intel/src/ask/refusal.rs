//! Questions that are not questions: requests to change the store
//! ("delete customer-42", "please cancel ticket-8812") and SQL typed in
//! ("SELECT * FROM bss.events"). Owns recognising them before any template
//! is considered, so that a write request never gets a read's answer
//! that looks like a yes. Must never refuse a question that only uses a
//! write verb as a noun or a past participle ("how many were cancelled",
//! "the latest update of customer-42"): only the verb that opens the
//! request counts, after words of politeness, or one whose object is a
//! stream id.

use super::extract::{stream_id_of, tokenize};

/// Why ask will not answer a request to change the store.
pub const WRITE_REFUSAL: &str =
    "ask only reads: it never appends, changes or deletes anything (write through the application, or bss.append_event as a member of bss_writer)";
/// Why ask will not run SQL it was given.
pub const SQL_REFUSAL: &str =
    "ask runs only its own whitelisted queries, never SQL it is given: run your SQL with psql under your own role";

/// Words that may open a request before its verb.
const POLITE: &[&str] = &[
    "please",
    "pls",
    "plz",
    "kindly",
    "can",
    "could",
    "would",
    "will",
    "you",
    "u",
    "i",
    "we",
    "i'd",
    "id",
    "want",
    "wanna",
    "need",
    "like",
    "to",
    "let",
    "us",
    "go",
    "ahead",
    "and",
    "just",
    "now",
    "hey",
    "hi",
    "ok",
    "okay",
    "bss-intel",
    "then",
    "quickly",
    "also",
];

/// Verbs that ask for a change when they open a request.
const WRITE_VERBS: &[&str] = &[
    "delete",
    "remove",
    "drop",
    "truncate",
    "erase",
    "purge",
    "wipe",
    "clear",
    "update",
    "insert",
    "append",
    "add",
    "create",
    "alter",
    "modify",
    "change",
    "edit",
    "rename",
    "set",
    "reset",
    "grant",
    "revoke",
    "cancel",
    "terminate",
    "suspend",
    "refund",
    "reverse",
    "undo",
    "rollback",
    "rebuild",
    "write",
    "register",
    "reassign",
    "assign",
    "close",
    "reopen",
    "move",
    "merge",
    "fix",
    "correct",
    "mark",
    "block",
    "unblock",
    "activate",
    "deactivate",
    "disable",
    "enable",
    "kill",
    "restart",
    "stop",
    "backfill",
    "import",
    "send",
    "notify",
    "escalate",
    "route",
    "charge",
    "bill",
    "upgrade",
    "downgrade",
];

/// Verbs that ask for a change only with a new thing as their object.
const MAKE_VERBS: &[&str] = &[
    "open", "raise", "file", "log", "submit", "lodge", "make", "start",
];
/// Words that make the object new.
const NEW_THING: &[&str] = &["a", "an", "new", "another"];

/// First words of SQL statements.
const SQL_STARTS: &[&str] = &[
    "select", "with", "insert", "update", "delete", "drop", "create", "alter", "truncate", "grant",
    "revoke", "copy", "call", "vacuum", "explain", "do", "begin", "set",
];

/// Why `question` is refused, if it is.
pub fn refusal(question: &str) -> Option<&'static str> {
    let tokens = tokenize(question);
    let words: Vec<&str> = tokens.iter().map(|t| t.word.as_str()).collect();
    let first = words.first().copied().unwrap_or("");
    let sql_marks = question.contains(';')
        || question.contains('*')
        || question.contains("bss.")
        || (words.contains(&"from") && words.contains(&"where"));
    if SQL_STARTS.contains(&first) && sql_marks {
        return Some(SQL_REFUSAL);
    }
    let at = words.iter().position(|w| !POLITE.contains(w));
    let opening = at.map(|i| words[i]);
    let object = at.and_then(|i| words.get(i + 1)).copied().unwrap_or("");
    if opening.is_some_and(|verb| WRITE_VERBS.contains(&verb)) {
        return Some(WRITE_REFUSAL);
    }
    // "open a ticket": verbs that also describe what is read ("open
    // tickets") ask for a change when a new thing is their object.
    if opening.is_some_and(|verb| MAKE_VERBS.contains(&verb)) && NEW_THING.contains(&object) {
        return Some(WRITE_REFUSAL);
    }
    // "how do I delete customer-42": a write verb whose object is a stream.
    let acts_on_stream = tokens.windows(2).any(|pair| {
        WRITE_VERBS.contains(&pair[0].word.as_str()) && stream_id_of(pair[1].raw).is_some()
    });
    acts_on_stream.then_some(WRITE_REFUSAL)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_to_change_the_store_are_refused() {
        for q in [
            "delete customer-42",
            "Please remove all failed payments from yesterday",
            "can you cancel ticket-8812",
            "I want to update customer-42's segment to business",
            "go ahead and drop the dead letters",
            "could you please refund customer-7",
            "Append a payment.received to customer-42",
            "how do I delete customer-42?",
            "please open a ticket for customer-5",
            "raise a new ticket for customer-7",
        ] {
            assert_eq!(refusal(q), Some(WRITE_REFUSAL), "{q}");
        }
    }

    #[test]
    fn sql_is_refused() {
        for q in [
            "SELECT * FROM bss.events",
            "select count(*) from bss.read_all()",
            "with x as (select 1) select * from x;",
            "delete from bss.events where true;",
        ] {
            assert_eq!(refusal(q), Some(SQL_REFUSAL), "{q}");
        }
    }

    #[test]
    fn questions_that_use_a_write_word_are_answered() {
        for q in [
            "how many subscriptions were cancelled last week",
            "what was the latest update to customer-42",
            "show the cancellations since Monday",
            "which customers were created this month",
            "select the failed payments from yesterday",
            "can you show me customer-42",
            "please list the anomalies",
            "open tickets of business customers",
            "",
        ] {
            assert_eq!(refusal(q), None, "{q}");
        }
    }
}
