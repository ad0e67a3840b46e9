//! In-database tests of the binary jsonb writer (`cargo pgrx test`): what
//! `jsonb_patch` writes must be byte for byte what PostgreSQL's own
//! `jsonb_in` makes of the same document (alignment of numbers and
//! containers, stored offsets every 32 entries, every kind of value), and
//! an editor that goes inside a member must give what the patch would.

#[pgrx::pg_schema]
mod tests {
    use pgrx::pg_sys::{self, JsonbValue};
    use pgrx::prelude::*;

    use crate::jsonb;
    use crate::jsonb_edit::{self, At, Builder, Editor, Visit};
    use crate::jsonb_patch::{self, Object};

    /// Values of every kind, of lengths that put the next value at each
    /// alignment.
    const VALUES: &[&str] = &[
        "1",
        "1.50",
        "-123456789012345678901234567890.125",
        "\"s\"",
        "\"abcde\"",
        "true",
        "false",
        "null",
        "{\"a\": [1, 2.5, \"x\"]}",
        "[]",
        "{}",
        "\"\u{fc}n\u{ef}\"",
        "\"ab\"",
        "[null, {\"n\": 0.000}]",
    ];

    /// What replaces a member: the JSON text of each kind.
    const REPLACEMENTS: &[&str] = &[
        "\"x\"",
        "\"a longer string value\"",
        "7",
        "3.14159",
        "true",
        "false",
        "null",
        "{\"n\": {\"m\": [1, null]}}",
        "[1, 2, 3]",
    ];

    /// `{"<key>": value, ...}` of members 0..n, keys of lengths 1 to 5.
    fn members(n: usize) -> Vec<(String, String)> {
        (0..n)
            .map(|i| {
                let key = format!("{}{i}", "k".repeat(i % 5));
                (key, VALUES[i % VALUES.len()].to_owned())
            })
            .collect()
    }

    fn text(members: &[(String, String)]) -> String {
        let body: Vec<String> = members
            .iter()
            .map(|(k, v)| format!("\"{k}\": {v}"))
            .collect();
        format!("{{{}}}", body.join(", "))
    }

    /// The bytes of a jsonb value as stored (its varlena, header and all).
    unsafe fn bytes<'a>(doc: *const pg_sys::Jsonb) -> &'a [u8] {
        std::slice::from_raw_parts(doc as *const u8, pgrx::varsize_any(doc.cast()))
    }

    fn parse(text: &str) -> *mut pg_sys::Jsonb {
        // SAFETY: jsonb_in returns a non-null jsonb datum.
        unsafe { jsonb::detoast(jsonb::from_text(text).unwrap()) }
    }

    /// A replacement as a visit would push it: a scalar, or a container as a
    /// `jbvBinary`.
    unsafe fn value_of(text: &str) -> JsonbValue {
        let doc = parse(text);
        if jsonb::kind(&(*doc).root) == jsonb::Root::Scalar {
            let mut v: JsonbValue = std::mem::zeroed();
            assert!(pg_sys::JsonbExtractScalar(&mut (*doc).root, &mut v));
            v
        } else {
            jsonb_edit::binary(doc)
        }
    }

    /// Which member of the stored object has `key` (stored order is jsonb's).
    unsafe fn index_of(object: &Object, key: &str) -> usize {
        (0..object.len())
            .find(|&i| object.key(i) == key.as_bytes())
            .unwrap()
    }

    #[pg_test]
    fn one_member_replaced_is_what_postgres_writes_for_the_same_document() {
        // 40 members: the stored end offsets every 32 entries are crossed.
        for n in [1, 2, 5, 16, 40] {
            let original = members(n);
            let doc = parse(&text(&original));
            // SAFETY: doc is a live object; the replacements outlive the writes.
            unsafe {
                let object = Object::new(&(*doc).root);
                assert_eq!(object.len(), n);
                for (k, _) in &original {
                    for replacement in REPLACEMENTS {
                        let mut values = vec![None; n];
                        values[index_of(&object, k)] = Some(value_of(replacement));
                        let patched = object.with_values(&values).expect("every kind is written");
                        let mut expected = original.clone();
                        expected.iter_mut().find(|(key, _)| key == k).unwrap().1 =
                            replacement.to_string();
                        let want = parse(&text(&expected));
                        assert_eq!(
                            bytes(patched),
                            bytes(want),
                            "{n} members, {k} replaced by {replacement}"
                        );
                    }
                }
            }
        }
    }

    #[pg_test]
    fn every_member_replaced_at_once_and_none_replaced() {
        let original = members(40);
        let doc = parse(&text(&original));
        // SAFETY: as above.
        unsafe {
            let object = Object::new(&(*doc).root);
            let mut expected = original.clone();
            let mut values = vec![None; 40];
            for (j, (k, v)) in expected.iter_mut().enumerate() {
                *v = REPLACEMENTS[j % REPLACEMENTS.len()].to_owned();
                values[index_of(&object, k)] = Some(value_of(v));
            }
            let patched = object.with_values(&values).unwrap();
            assert_eq!(bytes(patched), bytes(parse(&text(&expected))));
            let unchanged = object.with_values(&vec![None; 40]).unwrap();
            assert_eq!(bytes(unchanged), bytes(doc));
        }
    }

    #[pg_test]
    fn an_object_of_one_string_is_what_postgres_writes() {
        let long = "y".repeat(300);
        for (key, value) in [
            ("bss:pii", "abc.def"),
            ("k", ""),
            ("", "x"),
            ("key", long.as_str()),
        ] {
            let written = jsonb_patch::object_of_string(key, value);
            let want = parse(&format!("{{\"{key}\": \"{value}\"}}"));
            // SAFETY: both are live jsonb values.
            unsafe { assert_eq!(bytes(written), bytes(want), "{key}") };
        }
    }

    #[pg_test]
    fn a_raw_scalar_container_is_not_taken_as_a_member() {
        let doc = parse("{\"a\": 1}");
        // SAFETY: as above; the scalar document stays live.
        unsafe {
            let object = Object::new(&(*doc).root);
            let scalar = jsonb_edit::binary(parse("5"));
            assert!(object.with_values(&[Some(scalar)]).is_none());
        }
    }

    /// Replaces the members named `replace` with `"R"`, and inside those
    /// named `descend` replaces the members named `replace` too.
    struct Replace {
        replace: &'static str,
        descend: &'static str,
    }

    impl Editor for Replace {
        type Error = ();
        fn visit(
            &mut self,
            path: &[At<'_>],
            _: &JsonbValue,
            out: &mut Builder,
        ) -> Result<Visit, ()> {
            match path.last() {
                None => Ok(Visit::Descend),
                Some(At::Key(k)) if *k == self.replace.as_bytes() => {
                    // SAFETY: called from a visit.
                    unsafe { out.push_string("R") };
                    Ok(Visit::Replaced)
                }
                Some(At::Key(k)) if *k == self.descend.as_bytes() => Ok(Visit::Descend),
                _ => Ok(Visit::Keep),
            }
        }
    }

    /// The edited document's text, or None when it was kept whole.
    fn edit(doc: &str, editor: &mut Replace) -> Option<String> {
        // SAFETY: a live jsonb value; the result is one too.
        unsafe {
            let out = jsonb_edit::edit(parse(doc), editor).unwrap()?;
            Some(jsonb::to_text(out))
        }
    }

    #[pg_test]
    fn an_editor_gets_the_same_document_patched_or_walked() {
        let doc = r#"{"a": 1, "b": {"a": 2, "c": 3.50}, "c": [true]}"#;
        // Top-level members only: patched in the binary form.
        let patched = edit(
            doc,
            &mut Replace {
                replace: "a",
                descend: "",
            },
        );
        assert_eq!(
            patched.as_deref(),
            Some(r#"{"a": "R", "b": {"a": 2, "c": 3.50}, "c": [true]}"#)
        );
        // Into "b" as well: the whole document walked, "a" replaced twice.
        let walked = edit(
            doc,
            &mut Replace {
                replace: "a",
                descend: "b",
            },
        );
        assert_eq!(
            walked.as_deref(),
            Some(r#"{"a": "R", "b": {"a": "R", "c": 3.50}, "c": [true]}"#)
        );
        // Nothing to replace: kept whole, nothing built.
        assert_eq!(
            edit(
                doc,
                &mut Replace {
                    replace: "z",
                    descend: ""
                }
            ),
            None
        );
        // A descend into a scalar keeps it.
        let scalar = edit(
            doc,
            &mut Replace {
                replace: "c",
                descend: "a",
            },
        );
        assert_eq!(
            scalar.as_deref(),
            Some(r#"{"a": 1, "b": {"a": 2, "c": 3.50}, "c": "R"}"#)
        );
    }
}
