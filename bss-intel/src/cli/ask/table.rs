//! Rows (a JSON array of objects) as psql prints them: a header, a rule,
//! one line per row, numbers to the right, and `(N rows)`. Columns are in
//! alphabetical order (jsonb keeps no column order). Owns only the layout;
//! must never drop a column or a row.

use serde_json::Value;

pub fn render(rows: &Value) -> String {
    let empty = Vec::new();
    let rows = rows.as_array().unwrap_or(&empty);
    let mut columns: Vec<&str> = Vec::new();
    for row in rows {
        if let Some(object) = row.as_object() {
            for key in object.keys() {
                if !columns.contains(&key.as_str()) {
                    columns.push(key);
                }
            }
        }
    }
    columns.sort_unstable();
    let cells: Vec<Vec<(String, bool)>> = rows
        .iter()
        .map(|row| columns.iter().map(|c| cell(row.get(*c))).collect())
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            cells
                .iter()
                .map(|r| r[i].0.chars().count())
                .chain(std::iter::once(c.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    if !columns.is_empty() {
        let header: Vec<String> = columns
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!(" {c:^w$} "))
            .collect();
        out.push_str(header.join("|").trim_end());
        out.push('\n');
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(w + 2)).collect();
        out.push_str(&rule.join("+"));
        out.push('\n');
        for row in &cells {
            let line: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|((text, right), w)| {
                    if *right {
                        format!(" {text:>w$} ")
                    } else {
                        format!(" {text:<w$} ")
                    }
                })
                .collect();
            out.push_str(line.join("|").trim_end());
            out.push('\n');
        }
    }
    let n = rows.len();
    out.push_str(&format!("({n} row{})\n", if n == 1 { "" } else { "s" }));
    out
}

/// A value's text, and whether it is a number (aligned right).
fn cell(v: Option<&Value>) -> (String, bool) {
    match v {
        None | Some(Value::Null) => (String::new(), false),
        Some(Value::String(s)) => (s.replace(['\n', '\r'], " "), false),
        Some(Value::Number(n)) => (n.to_string(), true),
        Some(other) => (other.to_string(), false),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn rows_as_psql_prints_them() {
        let rows = json!([{"type": "payment.failed", "events": 12}, {"type": "x", "events": 3}]);
        let want = [
            " events |      type",
            "--------+----------------",
            "     12 | payment.failed",
            "      3 | x",
            "(2 rows)",
        ];
        assert_eq!(render(&rows), want.join("\n") + "\n");
    }

    #[test]
    fn no_rows_and_missing_columns() {
        assert_eq!(render(&json!([])), "(0 rows)\n");
        let out = render(&json!([{"a": 1}, {"b": {"c": null}}]));
        assert!(out.contains("{\"c\":null}"));
        assert!(out.ends_with("(2 rows)\n"));
    }
}
