//! The subject keys a session keeps between appends (pii/keys.rs): an
//! erasure committed by another session reaches it before its next
//! transaction, and a key made by a transaction or subtransaction that
//! rolled back is never used again. Each would otherwise leave later events
//! sealed under a key that no longer exists: unreadable, lost.

use bss_tests::*;
use postgres::Client;
use serde_json::{json, Value};

/// A type whose `name` is personal (sealed under the stream's key).
fn personal_type(c: &mut Client) -> String {
    let type_ = unique("pii.test.");
    let schema =
        json!({"type": "object", "properties": {"name": {"type": "string", "x-pii": true}}});
    c.execute("SELECT bss.register_schema($1, $2)", &[&type_, &schema])
        .unwrap();
    type_
}

fn append_name(c: &mut Client, stream: &str, type_: &str, name: &str) {
    c.execute(
        "SELECT bss.append_event($1, $2, $3)",
        &[&stream, &type_, &json!({"name": name})],
    )
    .unwrap();
}

/// The names of the stream's events as a superuser reads them.
fn names(c: &mut Client, stream: &str) -> Vec<Value> {
    c.query(
        "SELECT data->'name' FROM bss.read_stream($1) ORDER BY stream_version",
        &[&stream],
    )
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect()
}

#[test]
fn an_erasure_by_another_session_reaches_a_session_that_kept_the_key() {
    let (mut a, mut b) = (session(), session());
    let type_ = personal_type(&mut a);
    let stream = unique("customer-");
    append_name(&mut a, &stream, &type_, "Alice Before");
    append_name(&mut a, &stream, &type_, "Alice Kept"); // sealed under the kept key
    let destroyed: i64 = b
        .query_one("SELECT bss.erase_subject($1)", &[&stream])
        .unwrap()
        .get(0);
    assert_eq!(destroyed, 1);
    append_name(&mut a, &stream, &type_, "Alice After");
    assert_eq!(
        names(&mut b, &stream),
        vec![json!("[erased]"), json!("[erased]"), json!("Alice After")],
        "the append after the erasure committed is sealed under a new key"
    );
}

#[test]
fn a_key_made_by_a_transaction_that_rolled_back_is_not_kept() {
    let mut a = session();
    let type_ = personal_type(&mut a);
    let stream = unique("customer-");
    a.batch_execute("BEGIN").unwrap();
    append_name(&mut a, &stream, &type_, "Rolled Back");
    a.batch_execute("ROLLBACK").unwrap();
    append_name(&mut a, &stream, &type_, "Kept");
    assert_eq!(names(&mut a, &stream), vec![json!("Kept")]);
}

#[test]
fn a_key_made_by_a_subtransaction_that_rolled_back_is_not_kept() {
    let mut a = session();
    let type_ = personal_type(&mut a);
    let stream = unique("customer-");
    a.batch_execute("BEGIN; SAVEPOINT s").unwrap();
    append_name(&mut a, &stream, &type_, "Rolled Back");
    a.batch_execute("ROLLBACK TO SAVEPOINT s").unwrap();
    append_name(&mut a, &stream, &type_, "In The Transaction");
    a.batch_execute("COMMIT").unwrap();
    append_name(&mut a, &stream, &type_, "Next Transaction");
    assert_eq!(
        names(&mut a, &stream),
        vec![json!("In The Transaction"), json!("Next Transaction")]
    );
}
