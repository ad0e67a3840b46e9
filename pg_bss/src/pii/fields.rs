//! Which fields of an event type's data are personal: those its JSON Schema
//! marks `"x-pii": true`, found through `properties`, `items`,
//! `prefixItems` and `allOf`/`anyOf`/`oneOf` (a `$ref` is not followed: mark
//! the field where it is used). Also walks a data document to each such
//! field. Never encrypts: cipher.rs does.

use serde_json::Value;

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

/// Calls `f` on every value of `doc` at `path` (none when it is absent).
pub fn each_at<E>(
    doc: &mut Value,
    path: &[Step],
    f: &mut impl FnMut(&mut Value) -> Result<(), E>,
) -> Result<(), E> {
    let Some((first, rest)) = path.split_first() else {
        return f(doc);
    };
    match (first, doc) {
        (Step::Key(k), Value::Object(map)) => match map.get_mut(k) {
            Some(v) => each_at(v, rest, f),
            None => Ok(()),
        },
        (Step::Each, Value::Array(items)) => {
            for v in items {
                each_at(v, rest, f)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
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
    fn walks_data_to_each_field() {
        let mut doc =
            json!({"contacts": [{"email": "a@x"}, {"phone": 1}, {"email": "b@x"}], "name": "N"});
        let mut seen = Vec::new();
        let path = vec![key("contacts"), Step::Each, key("email")];
        each_at::<()>(&mut doc, &path, &mut |v| {
            seen.push(v.clone());
            *v = json!("sealed");
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, vec![json!("a@x"), json!("b@x")]);
        assert_eq!(doc["contacts"][0]["email"], json!("sealed"));
        assert_eq!(doc["contacts"][1], json!({"phone": 1}));
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
