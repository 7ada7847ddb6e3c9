//! Writes a JSON value as block-style YAML.
//!
//! `serde_yaml` is archived and the maintained YAML crates either read only (saphyr-parser) or
//! bring a serde front end we do not need, so generated specs are written here. Strings are plain
//! only when they are made of characters that no YAML 1.1 or 1.2 reader takes for anything but a
//! string; every other string is double-quoted with JSON escapes, which YAML double-quoted
//! scalars accept unchanged.

use serde_json::Value;

/// Renders `value` as a YAML document (without a leading `---`).
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => write_mapping(&mut out, map, 0),
        Value::Array(items) if !items.is_empty() => write_sequence(&mut out, items, 0),
        scalar => {
            out.push_str(&scalar_text(scalar));
            out.push('\n');
        }
    }
    out
}

fn write_mapping(out: &mut String, map: &serde_json::Map<String, Value>, indent: usize) {
    for (key, value) in map {
        pad(out, indent);
        write_entry(out, key, value, indent);
    }
}

/// Writes `key: value` where the cursor already stands at the key's column.
fn write_entry(out: &mut String, key: &str, value: &Value, indent: usize) {
    out.push_str(&string_text(key));
    out.push(':');
    match value {
        Value::Object(map) if !map.is_empty() => {
            out.push('\n');
            write_mapping(out, map, indent + 2);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            write_sequence(out, items, indent + 2);
        }
        scalar => {
            out.push(' ');
            out.push_str(&scalar_text(scalar));
            out.push('\n');
        }
    }
}

fn write_sequence(out: &mut String, items: &[Value], indent: usize) {
    for item in items {
        pad(out, indent);
        out.push('-');
        match item {
            Value::Object(map) if !map.is_empty() => {
                out.push(' ');
                for (position, (key, value)) in map.iter().enumerate() {
                    if position > 0 {
                        pad(out, indent + 2);
                    }
                    write_entry(out, key, value, indent + 2);
                }
            }
            Value::Array(inner) if !inner.is_empty() => {
                out.push('\n');
                write_sequence(out, inner, indent + 2);
            }
            scalar => {
                out.push(' ');
                out.push_str(&scalar_text(scalar));
                out.push('\n');
            }
        }
    }
}

fn pad(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(flag) => flag.to_string(),
        Value::Number(number) => number.to_string(),
        Value::String(text) => string_text(text),
        Value::Array(_) => "[]".to_owned(),
        Value::Object(_) => "{}".to_owned(),
    }
}

/// Words that some YAML reader resolves to a boolean or null when written plain.
const RESERVED_WORDS: [&str; 11] = ["true", "false", "null", "yes", "no", "on", "off", "y", "n", "~", ""];

fn string_text(text: &str) -> String {
    if is_plain_safe(text) {
        return text.to_owned();
    }
    // A JSON string literal is a valid YAML double-quoted scalar with the same value.
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_owned())
}

fn is_plain_safe(text: &str) -> bool {
    let Some(first) = text.chars().next() else {
        return false;
    };
    let starts_well = first.is_ascii_alphabetic() || first == '/' || first == '_';
    let all_safe = text.chars().all(|character| character.is_ascii_alphanumeric() || matches!(character, '.' | '_' | '-' | '/' | '@'));
    starts_well && all_safe && !RESERVED_WORDS.contains(&text.to_ascii_lowercase().as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatectl_spec::source::{SourceFile, SourceId};
    use gatectl_spec::yaml::{ReadLimits, read};
    use serde_json::json;

    fn round_trip(value: &Value) -> Value {
        let text = to_yaml(value);
        let file = SourceFile::new("out.yaml", text.clone());
        read(&file, SourceId(0), ReadLimits::default()).unwrap_or_else(|error| panic!("{error}\n{text}")).to_json()
    }

    #[test]
    fn nested_values_round_trip() {
        let value = json!({
            "a": {"b": [1, 2.5, {"c": "d", "e": []}], "f": {}},
            "list": [[1, [2]], [], {"x": null, "y": true}],
            "tricky": ["yes", "No", "1.0", "0x1F", "-x", "a: b", "#c", "  pad", "line\nbreak", "tab\t", "città", "{id}", "'q'", "\"", "", "~", "null"],
            "key with space": 1, "": 2, "1": 3, "true": 4
        });
        assert_eq!(round_trip(&value), value);
    }

    #[test]
    fn plain_strings_stay_unquoted() {
        assert_eq!(to_yaml(&json!({"path": "/users/x", "name": "get-users"})), "path: /users/x\nname: get-users\n");
    }

    #[test]
    fn top_level_scalar_and_sequence() {
        assert_eq!(round_trip(&json!("x y")), json!("x y"));
        assert_eq!(round_trip(&json!([1, "a"])), json!([1, "a"]));
    }
}
