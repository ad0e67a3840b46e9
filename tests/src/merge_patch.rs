//! Owns the reference fold of JSON documents (RFC 7396 merge patch) that
//! the store's default reducer and the sidecar's Redis state are checked
//! against. Written independently of pg_bss's own, and must stay so.

use serde_json::Value;

/// Applies `patch` to `target` as RFC 7396 says.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Default::default());
    }
    let t = target.as_object_mut().expect("just made an object");
    for (k, v) in p {
        if v.is_null() {
            t.remove(k);
        } else {
            merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}
