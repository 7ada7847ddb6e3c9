//! Field-level comparison of two entities serialised to JSON.
//!
//! Each entity is compared twice in parallel: in canonical form, to decide whether a field
//! changed, and in redacted form, to show its values. Both trees have the same shape because
//! redaction only replaces string leaves, so a secret that changed is found but never shown.

use gatectl_spec::normalize::REDACTED;
use serde_json::Value;

/// One entity on one side, canonical and redacted.
#[derive(Clone, Copy)]
pub struct Sides<'a> {
    pub canonical: Option<&'a Value>,
    pub redacted: Option<&'a Value>,
}

/// A field that differs, before classification.
#[derive(Debug)]
pub struct FieldDifference {
    pub path: String,
    /// Canonical values, for rules that compare them.
    pub old: Option<Value>,
    pub new: Option<Value>,
    /// Redacted values, for output.
    pub old_shown: Option<Value>,
    pub new_shown: Option<Value>,
}

impl FieldDifference {
    /// Returns whether the change is visible only in canonical values, because redaction hid it.
    pub fn is_hidden_secret(&self) -> bool {
        self.old_shown == self.new_shown
    }

    /// Returns whether only the order of an ordered list changed.
    pub fn is_reorder(&self) -> bool {
        self.path.ends_with("#order")
    }
}

/// Fields compared as one value, because their meaning comes from the whole (a path match, the
/// OR of security alternatives, a list of limits).
const LEAF_FIELDS: [&str; 1] = ["match.path"];

/// Returns every field that differs between `old` and `new`, in document order.
pub fn compare_values(old: Sides<'_>, new: Sides<'_>) -> Vec<FieldDifference> {
    let mut differences = Vec::new();
    walk("", old, new, &mut differences);
    differences
}

fn walk(path: &str, old: Sides<'_>, new: Sides<'_>, differences: &mut Vec<FieldDifference>) {
    if old.canonical == new.canonical || is_same_modulo_redaction(old.canonical, new.canonical) {
        return;
    }
    let is_leaf = LEAF_FIELDS.contains(&path);
    match (old.canonical, new.canonical) {
        (Some(Value::Object(old_map)), Some(Value::Object(new_map))) if !is_leaf => {
            let mut keys: Vec<&String> = old_map.keys().collect();
            keys.extend(new_map.keys().filter(|key| !old_map.contains_key(*key)));
            for key in keys {
                let child = join(path, key);
                walk(&child, child_of(old, key), child_of(new, key), differences);
            }
        }
        (Some(Value::Array(old_items)), Some(Value::Array(new_items))) if element_key(path, old_items).is_some() => {
            walk_keyed(path, old, new, old_items, new_items, differences);
        }
        _ => differences.push(FieldDifference {
            path: path.to_owned(),
            old: old.canonical.cloned(),
            new: new.canonical.cloned(),
            old_shown: old.redacted.cloned(),
            new_shown: new.redacted.cloned(),
        }),
    }
}

/// Compares lists whose elements have an identity (targets by address, backends by upstream,
/// API keys by hash, listeners by name) element by element. A list whose elements are all equal
/// but in another order is reported once, as `PATH#order`.
fn walk_keyed(
    path: &str,
    old: Sides<'_>,
    new: Sides<'_>,
    old_items: &[Value],
    new_items: &[Value],
    differences: &mut Vec<FieldDifference>,
) {
    let old_keys = element_key(path, old_items).unwrap_or_default();
    let new_keys = element_key(path, new_items).unwrap_or_default();
    let before = differences.len();
    let mut keys = old_keys.clone();
    keys.extend(new_keys.iter().filter(|key| !old_keys.contains(key)).cloned());
    for key in &keys {
        let old_index = old_keys.iter().position(|candidate| candidate == key);
        let new_index = new_keys.iter().position(|candidate| candidate == key);
        let child = format!("{path}[{key}]");
        walk(&child, element_of(old, old_index), element_of(new, new_index), differences);
    }
    if differences.len() == before {
        differences.push(FieldDifference {
            path: format!("{path}#order"),
            old: Some(Value::Array(old_keys.iter().map(|key| Value::String(key.clone())).collect())),
            new: Some(Value::Array(new_keys.iter().map(|key| Value::String(key.clone())).collect())),
            old_shown: Some(Value::Array(old_keys.into_iter().map(Value::String).collect())),
            new_shown: Some(Value::Array(new_keys.into_iter().map(Value::String).collect())),
        });
    }
}

/// Lists compared element by element.
const KEYED_LISTS: [&str; 4] = ["targets", "split.backends", "credentials.apiKeys", "listeners"];

/// Returns the identity of each element of the list at `path`, or `None` when the list has no
/// element identity or two elements share one.
fn element_key(path: &str, items: &[Value]) -> Option<Vec<String>> {
    if !KEYED_LISTS.contains(&path) {
        return None;
    }
    let key_of = |item: &Value| -> Option<String> {
        match path {
            "targets" => Some(format!("{}:{}", item.get("host")?.as_str()?, item.get("port")?)),
            "split.backends" => Some(item.get("upstream")?.as_str()?.to_owned()),
            "credentials.apiKeys" => Some(short_hash(item.get("hash")?.as_str()?)),
            "listeners" => Some(item.get("name")?.as_str()?.to_owned()),
            _ => None,
        }
    };
    let keys: Vec<String> = items.iter().map(key_of).collect::<Option<_>>()?;
    let mut unique = keys.clone();
    unique.sort();
    unique.dedup();
    (unique.len() == keys.len()).then_some(keys)
}

/// Returns whether one side is an already redacted input (for example a spec read back from the
/// runtime) that the other side's value fits, with each [`REDACTED`] standing for any text.
fn is_same_modulo_redaction(old: Option<&Value>, new: Option<&Value>) -> bool {
    let (Some(old), Some(new)) = (old.and_then(Value::as_str), new.and_then(Value::as_str)) else { return false };
    fits_pattern(old, new) || fits_pattern(new, old)
}

fn fits_pattern(pattern: &str, text: &str) -> bool {
    if !pattern.contains(REDACTED) {
        return false;
    }
    let parts: Vec<&str> = pattern.split(REDACTED).collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || !text[first.len()..].ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        let Some(position) = rest.find(part) else { return false };
        rest = &rest[position + part.len()..];
    }
    true
}

fn child_of<'a>(sides: Sides<'a>, key: &str) -> Sides<'a> {
    Sides { canonical: sides.canonical.and_then(|value| value.get(key)), redacted: sides.redacted.and_then(|value| value.get(key)) }
}

fn element_of(sides: Sides<'_>, index: Option<usize>) -> Sides<'_> {
    let Some(index) = index else { return Sides { canonical: None, redacted: None } };
    Sides { canonical: sides.canonical.and_then(|value| value.get(index)), redacted: sides.redacted.and_then(|value| value.get(index)) }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") }
}

/// Number of hex digits of an API key hash shown in output.
const SHOWN_HASH_DIGITS: usize = 12;

/// Shortens `sha256:<64 hex>` to its first 12 hex digits: enough to tell keys apart, and short
/// enough for a table. Other text is returned unchanged.
pub fn short_hash(hash: &str) -> String {
    match hash.strip_prefix("sha256:") {
        Some(hex) if hex.len() > SHOWN_HASH_DIGITS && hex.is_ascii() => format!("sha256:{}…", &hex[..SHOWN_HASH_DIGITS]),
        _ => hash.to_owned(),
    }
}

/// Replaces every API key hash inside `value` with its short form, for output.
pub fn shorten_hashes(value: &mut Value) {
    match value {
        Value::String(text) if text.starts_with("sha256:") => *text = short_hash(text),
        Value::Array(items) => items.iter_mut().for_each(shorten_hashes),
        Value::Object(map) => map.values_mut().for_each(shorten_hashes),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn both(value: &Value) -> Sides<'_> {
        Sides { canonical: Some(value), redacted: Some(value) }
    }

    #[test]
    fn nested_fields_get_dotted_paths() {
        let old = json!({"timeouts": {"connect": "5s", "total": "60s"}, "tags": ["a"]});
        let new = json!({"timeouts": {"connect": "2s", "total": "60s"}, "tags": ["a"]});
        let differences = compare_values(both(&old), both(&new));
        assert_eq!(differences.len(), 1);
        assert_eq!(differences[0].path, "timeouts.connect");
    }

    #[test]
    fn keyed_lists_compare_by_element() {
        let old = json!({"targets": [{"host": "a", "port": 1, "weight": 100}, {"host": "b", "port": 1, "weight": 100}]});
        let new = json!({"targets": [{"host": "a", "port": 1, "weight": 50}, {"host": "b", "port": 1, "weight": 100}]});
        let differences = compare_values(both(&old), both(&new));
        assert_eq!(differences.len(), 1);
        assert_eq!(differences[0].path, "targets[a:1].weight");
    }

    #[test]
    fn keyed_list_reorder_is_reported_once() {
        let old = json!({"targets": [{"host": "a", "port": 1}, {"host": "b", "port": 1}]});
        let new = json!({"targets": [{"host": "b", "port": 1}, {"host": "a", "port": 1}]});
        let differences = compare_values(both(&old), both(&new));
        assert_eq!(differences.len(), 1);
        assert!(differences[0].is_reorder());
    }

    #[test]
    fn redacted_input_equals_any_value() {
        let old = json!({"set": {"Authorization": "Bearer abc"}});
        let new = json!({"set": {"Authorization": REDACTED}});
        assert!(compare_values(both(&old), both(&new)).is_empty());
    }

    #[test]
    fn redacted_part_of_url_equals_any_value() {
        let old = json!({"webhook": "https://hooks.example/q?token=abc&a=1"});
        let new = json!({"webhook": format!("https://hooks.example/q?token={REDACTED}&a=1")});
        assert!(compare_values(both(&old), both(&new)).is_empty());
        let other = json!({"webhook": format!("https://other.example/q?token={REDACTED}&a=1")});
        assert_eq!(compare_values(both(&old), both(&other)).len(), 1);
    }

    #[test]
    fn hidden_secret_change_is_found_but_not_shown() {
        let old = json!({"set": {"Authorization": "Bearer abc"}});
        let new = json!({"set": {"Authorization": "Bearer xyz"}});
        let shown = json!({"set": {"Authorization": REDACTED}});
        let differences = compare_values(
            Sides { canonical: Some(&old), redacted: Some(&shown) },
            Sides { canonical: Some(&new), redacted: Some(&shown) },
        );
        assert_eq!(differences.len(), 1);
        assert!(differences[0].is_hidden_secret());
        assert_eq!(differences[0].new_shown, Some(json!(REDACTED)));
    }
}
