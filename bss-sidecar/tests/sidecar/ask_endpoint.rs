//! `POST /ask` on the sidecar's HTTP endpoint, against the devdb: a
//! question is answered as the PostgreSQL role whose user and password
//! come with HTTP Basic authentication (SCRAM: the devdb checks passwords
//! of bss_password_login's members), with the template, its SQL and the
//! rows; no credentials or a wrong password is 401 with a challenge, a
//! role that may not read events 403 with PostgreSQL's 42501, a request to
//! change the store 422 with the nearest supported questions, a body that
//! is not a question 400.

use std::path::Path;

use base64::Engine;
use serde_json::{json, Value};

use crate::support::{http_request, HttpResponse, Sidecar, SidecarArgs, Slot};

/// Login roles with passwords, dropped at the end.
struct Roles(Vec<String>);

impl Drop for Roles {
    fn drop(&mut self) {
        let Ok(mut c) = std::panic::catch_unwind(bss_tests::session) else {
            return;
        };
        for r in &self.0 {
            let _ = c.batch_execute(&format!("DROP ROLE IF EXISTS {r}"));
        }
    }
}

fn basic(user: &str, password: &str) -> String {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Authorization: Basic {token}")
}

fn ask(port: u16, auth: Option<&str>, body: &Value) -> HttpResponse {
    let mut headers = vec!["Content-Type: application/json"];
    if let Some(a) = auth {
        headers.push(a);
    }
    http_request(port, "POST", "/ask", &headers, &body.to_string()).expect("POST /ask")
}

fn json_of(r: &HttpResponse) -> Value {
    serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", r.body))
}

#[test]
fn questions_are_answered_as_the_callers_role_and_refused_as_postgresql_refuses() {
    let id = bss_tests::unique("").to_lowercase();
    let reader = format!("ask_reader_{id}");
    let outsider = format!("ask_outsider_{id}");
    let _roles = Roles(vec![reader.clone(), outsider.clone()]);
    let mut c = bss_tests::session();
    c.batch_execute(&format!(
        "CREATE ROLE {reader} LOGIN PASSWORD 'reader-pw' IN ROLE bss_reader, bss_password_login;
         CREATE ROLE {outsider} LOGIN PASSWORD 'outsider-pw' IN ROLE bss_password_login;"
    ))
    .unwrap();
    // A stream of three events: its version is the answer.
    let digits: String = id.chars().filter(char::is_ascii_digit).collect();
    let stream = format!("customer-{digits}");
    c.execute(
        "SELECT bss.append_events($1, '[{\"type\":\"customer.created\",\"data\":{\"segment\":\"business\"}},
           {\"type\":\"customer.updated\",\"data\":{\"plan\":\"m\"}},
           {\"type\":\"customer.updated\",\"data\":{\"plan\":\"l\"}}]'::jsonb)",
        &[&stream],
    )
    .unwrap();

    let slot = Slot::new("ask");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sidecar.toml");
    let intel = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/intel");
    std::fs::write(&config, format!("[ask]\ndata_dir = {intel:?}\n")).unwrap();
    let sidecar = Sidecar::start(&SidecarArgs {
        spool_dir: &dir.path().join("spool"),
        slot: &slot.name,
        kafka_brokers: None,
        redis_url: None,
        spool_max_events: None,
        config: Some(&config),
    });
    let port = sidecar.metrics_port;
    let question = json!({ "question": format!("what version is {stream} at") });

    let r = ask(port, None, &question);
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(
        r.headers
            .to_lowercase()
            .contains("www-authenticate: basic realm="),
        "{}",
        r.headers
    );

    let r = ask(port, Some(&basic(&reader, "not-the-password")), &question);
    assert_eq!(r.status, 401, "a wrong password: {}", r.body);
    assert_eq!(json_of(&r)["error"]["sqlstate"], "28P01", "{}", r.body);

    let r = ask(port, Some(&basic(&reader, "reader-pw")), &question);
    assert_eq!(r.status, 200, "{}", r.body);
    let answer = json_of(&r);
    assert_eq!(answer["template"], "stream_version", "{answer}");
    assert_eq!(
        answer["rows"],
        json!([{ "stream_id": stream, "version": 3 }]),
        "{answer}"
    );
    assert!(
        answer["sql"]
            .as_str()
            .unwrap()
            .contains("bss.stream_version($1::text)"),
        "{answer}"
    );
    assert_eq!(answer["params"], json!([stream]), "{answer}");

    let r = ask(port, Some(&basic(&outsider, "outsider-pw")), &question);
    assert_eq!(r.status, 403, "a role outside bss_reader: {}", r.body);
    let refused = json_of(&r);
    assert_eq!(refused["error"]["sqlstate"], "42501", "{refused}");
    assert!(
        refused["error"]["advice"]
            .as_str()
            .unwrap()
            .contains("bss_reader"),
        "{refused}"
    );

    let r = ask(
        port,
        Some(&basic(&reader, "reader-pw")),
        &json!({ "question": format!("delete {stream}") }),
    );
    assert_eq!(r.status, 422, "{}", r.body);
    let cannot = json_of(&r);
    assert!(cannot["cannot_answer"].as_str().is_some(), "{cannot}");
    assert!(
        !cannot["nearest"].as_array().unwrap().is_empty(),
        "{cannot}"
    );
    // Nothing was deleted.
    let version: i64 = c
        .query_one("SELECT bss.stream_version($1)", &[&stream])
        .unwrap()
        .get(0);
    assert_eq!(version, 3);

    let r = ask(
        port,
        Some(&basic(&reader, "reader-pw")),
        &json!({ "q": "typo" }),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    let r = ask(
        port,
        Some(&basic(&reader, "reader-pw")),
        &json!({ "question": "how many events", "now": "yesterday" }),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    sidecar.stop();
}
