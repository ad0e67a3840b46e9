//! Which fields of an event type's data are personal: those its JSON Schema
//! marks `"x-pii": true`, found through `properties`, `items`,
//! `prefixItems` and `allOf`/`anyOf`/`oneOf` (a `$ref` is not followed: mark
//! the field where it is used). Also tells where a value of a data document
//! stands to such fields. Never encrypts: cipher.rs does.

use serde_json::Value;

use crate::jsonb_edit::At;

/// One step from a document into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Key(String),
    /// Every element of an array.
    Each,
}

/// The way to one personal field; empty: the whole document.
pub type FieldPath = Vec<Step>;

/// The personal fields a schema marks, each once.
pub fn personal_fields(schema: &Value) -> Vec<FieldPath> {
    let mut found = Vec::new();
    walk_schema(schema, &mut Vec::new(), &mut found);
    found
}

fn walk_schema(schema: &Value, at: &mut FieldPath, found: &mut Vec<FieldPath>) {
    let Some(obj) = schema.as_object() else {
        return;
    };
    if obj.get("x-pii") == Some(&Value::Bool(true)) {
        if !found.contains(at) {
            found.push(at.clone());
        }
        return; // everything under it is inside the encrypted value
    }
    if let Some(Value::Object(props)) = obj.get("properties") {
        for (name, sub) in props {
            at.push(Step::Key(name.clone()));
            walk_schema(sub, at, found);
            at.pop();
        }
    }
    for key in ["items", "additionalItems"] {
        if let Some(sub @ Value::Object(_)) = obj.get(key) {
            at.push(Step::Each);
            walk_schema(sub, at, found);
            at.pop();
        }
    }
    if let Some(Value::Array(subs)) = obj.get("prefixItems") {
        at.push(Step::Each);
        for sub in subs {
            walk_schema(sub, at, found);
        }
        at.pop();
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        if let Some(Value::Array(subs)) = obj.get(key) {
            for sub in subs {
                walk_schema(sub, at, found);
            }
        }
    }
}

/// Where a value stands to the personal fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// It is one.
    Personal,
    /// One is inside it.
    Holds,
    /// Neither.
    Outside,
}

/// Where the value at `path` (from the top of an event's data) stands to
/// the personal fields `fields`.
pub fn reach(fields: &[FieldPath], path: &[At<'_>]) -> Reach {
    let mut reach = Reach::Outside;
    for field in fields {
        if field.len() < path.len() {
            continue;
        }
        let on_the_way = field.iter().zip(path).all(|(step, at)| match (step, at) {
            (Step::Key(k), At::Key(key)) => k.as_bytes() == *key,
            (Step::Each, At::Index(_)) => true,
            _ => false,
        });
        if on_the_way {
            if field.len() == path.len() {
                return Reach::Personal;
            }
            reach = Reach::Holds;
        }
    }
    reach
}

/// Whether the JSON pointer `pointer` (as schema errors name instances)
/// is at or under one of `paths`.
pub fn is_personal(paths: &[FieldPath], pointer: &str) -> bool {
    let parts: Vec<String> = pointer
        .split('/')
        .skip(1)
        .map(|p| p.replace("~1", "/").replace("~0", "~"))
        .collect();
    paths.iter().any(|path| {
        path.len() <= parts.len()
            && path.iter().zip(&parts).all(|(step, part)| match step {
                Step::Key(k) => k == part,
                Step::Each => part.parse::<usize>().is_ok(),
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(k: &str) -> Step {
        Step::Key(k.into())
    }

    #[test]
    fn finds_marked_fields_at_any_depth() {
        let schema = json!({
            "type": "object",
            "properties": {
                "name": {"type": "string", "x-pii": true},
                "plan": {"type": "string"},
                "address": {"type": "object", "x-pii": true, "properties": {"city": {"x-pii": true}}},
                "contacts": {"type": "array", "items": {"properties": {"email": {"x-pii": true}}}},
                "billing": {"allOf": [{"properties": {"iban": {"x-pii": true}}}]}
            }
        });
        let found = personal_fields(&schema);
        let want = [
            vec![key("address")],
            vec![key("billing"), key("iban")],
            vec![key("contacts"), Step::Each, key("email")],
            vec![key("name")],
        ];
        assert_eq!(found.len(), want.len(), "{found:?}");
        assert!(want.iter().all(|w| found.contains(w)), "{found:?}");
        assert!(personal_fields(&json!({"type": "object"})).is_empty());
        assert_eq!(
            personal_fields(&json!({"x-pii": true})),
            vec![Vec::<Step>::new()]
        );
    }

    #[test]
    fn values_of_data_reach_personal_fields() {
        let fields = vec![
            vec![key("name")],
            vec![key("contacts"), Step::Each, key("email")],
        ];
        let k = |s: &'static str| At::Key(s.as_bytes());
        assert_eq!(reach(&fields, &[]), Reach::Holds);
        assert_eq!(reach(&fields, &[k("name")]), Reach::Personal);
        assert_eq!(reach(&fields, &[k("plan")]), Reach::Outside);
        assert_eq!(reach(&fields, &[k("contacts")]), Reach::Holds);
        assert_eq!(reach(&fields, &[k("contacts"), At::Index(3)]), Reach::Holds);
        assert_eq!(
            reach(&fields, &[k("contacts"), At::Index(3), k("email")]),
            Reach::Personal
        );
        assert_eq!(
            reach(&fields, &[k("contacts"), k("email")]),
            Reach::Outside,
            "an object where the schema has an array"
        );
        assert_eq!(
            reach(&fields, &[k("contacts"), At::Index(0), k("phone")]),
            Reach::Outside
        );
        assert_eq!(reach(&[vec![]], &[]), Reach::Personal, "the whole document");
        assert_eq!(reach(&[], &[]), Reach::Outside);
    }

    #[test]
    fn pointers_under_personal_fields() {
        let paths = vec![
            vec![key("name")],
            vec![key("contacts"), Step::Each, key("email")],
        ];
        assert!(is_personal(&paths, "/name"));
        assert!(is_personal(&paths, "/contacts/2/email"));
        assert!(is_personal(&paths, "/contacts/2/email/x"));
        assert!(!is_personal(&paths, "/contacts/2"));
        assert!(!is_personal(&paths, "/plan"));
        assert!(!is_personal(&paths, ""));
        assert!(is_personal(&[vec![]], ""));
    }
}
