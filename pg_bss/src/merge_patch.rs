//! Owns RFC 7396 JSON merge patch on JSON text: the default reducer's
//! fold. Only objects are parsed; every other value (numbers of any
//! precision, strings, arrays, literals) is carried as its original text,
//! so a fold never rounds a number that jsonb stored exactly. Pure Rust:
//! never touches PostgreSQL.

use std::collections::BTreeMap;

use serde_json::value::RawValue;

/// A JSON document as merge patch sees it: objects, and everything else.
#[derive(Debug, Clone)]
pub enum Doc {
    Object(BTreeMap<String, Doc>),
    Other(Box<RawValue>),
}

impl Doc {
    /// Parses one JSON value.
    pub fn parse(text: &str) -> Result<Doc, serde_json::Error> {
        let raw: Box<RawValue> = serde_json::from_str(text)?;
        Doc::from_raw(raw)
    }

    fn from_raw(raw: Box<RawValue>) -> Result<Doc, serde_json::Error> {
        if !raw.get().starts_with('{') {
            return Ok(Doc::Other(raw));
        }
        let members: BTreeMap<String, Box<RawValue>> = serde_json::from_str(raw.get())?;
        let mut out = BTreeMap::new();
        for (name, value) in members {
            out.insert(name, Doc::from_raw(value)?);
        }
        Ok(Doc::Object(out))
    }

    fn is_null(&self) -> bool {
        matches!(self, Doc::Other(raw) if raw.get() == "null")
    }

    /// The JSON text.
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        match self {
            Doc::Other(raw) => out.push_str(raw.get()),
            Doc::Object(members) => {
                out.push('{');
                for (i, (name, value)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    // A String always serializes.
                    out.push_str(&serde_json::to_string(name).unwrap_or_default());
                    out.push(':');
                    value.write(out);
                }
                out.push('}');
            }
        }
    }
}

/// RFC 7396 MergePatch(target, patch); `None` is no target at all.
pub fn merge_patch(target: Option<Doc>, patch: Doc) -> Doc {
    match patch {
        Doc::Object(patch) => {
            let mut members = match target {
                Some(Doc::Object(members)) => members,
                _ => BTreeMap::new(),
            };
            for (name, value) in patch {
                if value.is_null() {
                    members.remove(&name);
                } else {
                    let old = members.remove(&name);
                    members.insert(name, merge_patch(old, value));
                }
            }
            Doc::Object(members)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mp(target: Option<&str>, patch: &str) -> String {
        let target = target.map(|t| Doc::parse(t).unwrap());
        merge_patch(target, Doc::parse(patch).unwrap()).to_json()
    }

    #[test]
    fn rfc_7396_appendix_a_examples() {
        // (target, patch, result) from RFC 7396, Appendix A.
        let cases = [
            (r#"{"a":"b"}"#, r#"{"a":"c"}"#, r#"{"a":"c"}"#),
            (r#"{"a":"b"}"#, r#"{"b":"c"}"#, r#"{"a":"b","b":"c"}"#),
            (r#"{"a":"b"}"#, r#"{"a":null}"#, r#"{}"#),
            (r#"{"a":"b","b":"c"}"#, r#"{"a":null}"#, r#"{"b":"c"}"#),
            (r#"{"a":["b"]}"#, r#"{"a":"c"}"#, r#"{"a":"c"}"#),
            (r#"{"a":"c"}"#, r#"{"a":["b"]}"#, r#"{"a":["b"]}"#),
            (
                r#"{"a":{"b":"c"}}"#,
                r#"{"a":{"b":"d","c":null}}"#,
                r#"{"a":{"b":"d"}}"#,
            ),
            (r#"{"a":[{"b":"c"}]}"#, r#"{"a":[1]}"#, r#"{"a":[1]}"#),
            (r#"["a","b"]"#, r#"["c","d"]"#, r#"["c","d"]"#),
            (r#"{"a":"b"}"#, r#"["c"]"#, r#"["c"]"#),
            (r#"{"a":"foo"}"#, "null", "null"),
            (r#"{"a":"foo"}"#, r#""bar""#, r#""bar""#),
            (r#"{"e":null}"#, r#"{"a":1}"#, r#"{"a":1,"e":null}"#),
            (r#"[1,2]"#, r#"{"a":"b","c":null}"#, r#"{"a":"b"}"#),
            ("{}", r#"{"a":{"bb":{"ccc":null}}}"#, r#"{"a":{"bb":{}}}"#),
        ];
        for (target, patch, want) in cases {
            assert_eq!(mp(Some(target), patch), want, "{target} + {patch}");
        }
    }

    #[test]
    fn no_target_and_exact_numbers_and_escaped_names() {
        assert_eq!(mp(None, r#"{"a":null,"b":1}"#), r#"{"b":1}"#);
        assert_eq!(
            mp(
                Some(r#"{"n": 12345678901234567890.000000000001}"#),
                r#"{"m": 0.30000000000000004}"#
            ),
            r#"{"m":0.30000000000000004,"n":12345678901234567890.000000000001}"#
        );
        assert_eq!(
            mp(Some(r#"{"caf\u00e9": 1}"#), r#"{"café": 2, "q\"": 3}"#),
            r#"{"café":2,"q\"":3}"#
        );
    }

    #[test]
    fn bad_json_is_an_error() {
        assert!(Doc::parse("{").is_err());
        assert!(Doc::parse(r#"{"a": }"#).is_err());
    }
}
