//! Canonical JSON: the one byte form of a JSON value that bundle hashes and signatures cover.
//!
//! The rule (also in `docs/bundles.md`):
//! - no whitespace outside strings;
//! - object members sorted by key, comparing the keys' UTF-8 bytes (the same order as comparing
//!   Unicode code points), and no duplicate keys;
//! - strings as `serde_json` writes them: `"` and `\` escaped with a backslash, control characters
//!   below U+0020 as `\b`, `\f`, `\n`, `\r`, `\t` or `\u00XX` (lowercase hex), every other
//!   character as its raw UTF-8 bytes (so `/` and non-ASCII text are not escaped);
//! - numbers only as integers in the signed or unsigned 64-bit range, in plain decimal without
//!   a plus sign, leading zeros or exponent. Fractions are rejected because their text form
//!   differs between JSON libraries;
//! - `true`, `false` and `null` as themselves.

use serde_json::Value;

/// Why a value has no canonical form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the number {number} at {pointer} is not an integer; bundles carry only whole numbers in the 64-bit range")]
pub struct CanonicalError {
    /// JSON pointer of the offending number.
    pub pointer: String,
    /// The number as `serde_json` read it.
    pub number: String,
}

/// Serialises a value in canonical form.
pub fn to_canonical_bytes(value: &Value) -> Result<Vec<u8>, CanonicalError> {
    let mut output = Vec::with_capacity(4096);
    write_value(value, &mut output)?;
    Ok(output)
}

/// Writes `value`. On error the pointer is built while the recursion unwinds, so the common path
/// allocates nothing for it.
fn write_value(value: &Value, output: &mut Vec<u8>) -> Result<(), CanonicalError> {
    match value {
        Value::Null => output.extend_from_slice(b"null"),
        Value::Bool(true) => output.extend_from_slice(b"true"),
        Value::Bool(false) => output.extend_from_slice(b"false"),
        Value::Number(number) => write_number(number, output)?,
        Value::String(text) => write_string(text, output),
        Value::Array(items) => {
            output.push(b'[');
            for (position, item) in items.iter().enumerate() {
                if position > 0 {
                    output.push(b',');
                }
                write_value(item, output).map_err(|error| error.inside(&position.to_string()))?;
            }
            output.push(b']');
        }
        Value::Object(members) => {
            // The workspace enables `preserve_order`, so members come in input order: sort here.
            let mut sorted: Vec<(&String, &Value)> = members.iter().collect();
            sorted.sort_unstable_by(|(left, _), (right, _)| left.as_bytes().cmp(right.as_bytes()));
            output.push(b'{');
            for (position, (key, member)) in sorted.into_iter().enumerate() {
                if position > 0 {
                    output.push(b',');
                }
                write_string(key, output);
                output.push(b':');
                write_value(member, output).map_err(|error| error.inside(key))?;
            }
            output.push(b'}');
        }
    }
    Ok(())
}

impl CanonicalError {
    /// Puts the reference token of the containing array index or object key before the pointer.
    fn inside(mut self, token: &str) -> Self {
        self.pointer.insert_str(0, &format!("/{}", crate::document::escape_pointer_token(token)));
        self
    }
}

fn write_number(number: &serde_json::Number, output: &mut Vec<u8>) -> Result<(), CanonicalError> {
    if let Some(unsigned) = number.as_u64() {
        output.extend_from_slice(unsigned.to_string().as_bytes());
    } else if let Some(signed) = number.as_i64() {
        output.extend_from_slice(signed.to_string().as_bytes());
    } else {
        return Err(CanonicalError { pointer: String::new(), number: number.to_string() });
    }
    Ok(())
}

fn write_string(text: &str, output: &mut Vec<u8>) {
    serde_json::to_writer(&mut *output, text).expect("writing a JSON string into memory cannot fail");
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn canonical_text(value: &Value) -> String {
        String::from_utf8(to_canonical_bytes(value).unwrap()).unwrap()
    }

    #[test]
    fn keys_sorted_at_every_level() {
        let value = json!({"b": 1, "a": {"z": true, "y": null}, "B": [3, {"d": 1, "c": 2}]});
        assert_eq!(canonical_text(&value), r#"{"B":[3,{"c":2,"d":1}],"a":{"y":null,"z":true},"b":1}"#);
    }

    #[test]
    fn strings_escape_only_quote_backslash_and_controls() {
        let value = json!({"text": "a/b \"q\" \\ \n \u{1} é"});
        assert_eq!(canonical_text(&value), "{\"text\":\"a/b \\\"q\\\" \\\\ \\n \\u0001 é\"}");
    }

    #[test]
    fn negative_and_large_integers_written_plainly() {
        assert_eq!(canonical_text(&json!([-5, 0, u64::MAX])), "[-5,0,18446744073709551615]");
    }

    #[test]
    fn fractions_rejected_with_pointer() {
        let error = to_canonical_bytes(&json!({"limits": [{"ratio": 0.5}]})).unwrap_err();
        assert_eq!(error.pointer, "/limits/0/ratio");
    }

    #[test]
    fn parse_then_canonicalise_is_stable() {
        let text = r#"{ "z" : [ 1 , 2 ], "a" : "x" }"#;
        let value: Value = serde_json::from_str(text).unwrap();
        let once = to_canonical_bytes(&value).unwrap();
        let again = to_canonical_bytes(&serde_json::from_slice(&once).unwrap()).unwrap();
        assert_eq!(once, again);
    }
}
