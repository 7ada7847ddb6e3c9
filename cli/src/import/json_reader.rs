//! A JSON reader that builds the same spanned tree as [`gatectl_spec::yaml::read`], faster on large
//! JSON descriptions (figures for the GitHub REST API description are in `BENCHMARKS.md`).
//!
//! The YAML reader goes through a general YAML event parser and converts every line and column it
//! reports back into a byte offset. JSON needs none of that: this reader walks the bytes once and
//! records byte offsets directly, so line and column are only computed when a warning is rendered.
//! It accepts strict RFC 8259 JSON and applies the same rules as the YAML reader (duplicate keys
//! and numbers JSON cannot represent are errors, the same depth and node limits). The caller falls
//! back to the YAML reader when this one fails, so YAML written in flow style still reads, and
//! errors are reported by one reader only.

use std::collections::HashMap;

use gatectl_spec::source::{SourceId, Span};
use gatectl_spec::yaml::{Key, Node, NodeValue, ReadError, ReadLimits};

/// Mappings with more keys than this are checked for duplicates with a hash map instead of a
/// pairwise comparison.
const LINEAR_DUPLICATE_CHECK_MAX: usize = 16;

/// Returns whether the text looks like a JSON document (its first non-blank character opens an
/// object or an array), and so is worth trying with [`read`] first.
pub fn looks_like_json(text: &str) -> bool {
    matches!(text.trim_start_matches([' ', '\t', '\r', '\n']).as_bytes().first(), Some(b'{' | b'['))
}

/// Reads one JSON document into a spanned tree.
pub fn read(text: &str, source: SourceId, limits: ReadLimits) -> Result<Node, ReadError> {
    if text.len() > limits.max_bytes {
        return Err(ReadError::TooLarge { size: text.len(), limit: limits.max_bytes, span: Span::new(source, 0, 0) });
    }
    let mut reader = Reader { text, bytes: text.as_bytes(), position: 0, source, limits, nodes: 0 };
    reader.skip_whitespace();
    let node = reader.read_value(0)?;
    reader.skip_whitespace();
    if reader.position < reader.bytes.len() {
        return Err(reader.syntax("unexpected content after the end of the JSON document"));
    }
    Ok(node)
}

struct Reader<'a> {
    text: &'a str,
    bytes: &'a [u8],
    position: usize,
    source: SourceId,
    limits: ReadLimits,
    nodes: usize,
}

impl Reader<'_> {
    fn span(&self, start: usize) -> Span {
        Span::new(self.source, start, self.position)
    }

    fn syntax(&self, message: &str) -> ReadError {
        ReadError::Syntax { message: message.to_owned(), span: Span::new(self.source, self.position, self.position) }
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.position) {
            self.position += 1;
        }
    }

    fn count_node(&mut self) -> Result<(), ReadError> {
        self.nodes += 1;
        if self.nodes > self.limits.max_nodes {
            return Err(ReadError::TooManyNodes { limit: self.limits.max_nodes, span: self.span(self.position) });
        }
        Ok(())
    }

    fn read_value(&mut self, depth: usize) -> Result<Node, ReadError> {
        if depth > self.limits.max_depth {
            return Err(ReadError::TooDeep { limit: self.limits.max_depth, span: self.span(self.position) });
        }
        self.count_node()?;
        let start = self.position;
        let value = match self.bytes.get(start) {
            Some(b'{') => self.read_object(depth)?,
            Some(b'[') => self.read_array(depth)?,
            Some(b'"') => NodeValue::String(self.read_string()?),
            Some(b't') => self.read_literal("true", NodeValue::Bool(true))?,
            Some(b'f') => self.read_literal("false", NodeValue::Bool(false))?,
            Some(b'n') => self.read_literal("null", NodeValue::Null)?,
            Some(b'-' | b'0'..=b'9') => self.read_number()?,
            Some(_) => return Err(self.syntax("expected a JSON value")),
            None => return Err(self.syntax("unexpected end of the file, expected a JSON value")),
        };
        Ok(Node { value, span: self.span(start) })
    }

    fn read_literal(&mut self, word: &str, value: NodeValue) -> Result<NodeValue, ReadError> {
        if !self.bytes[self.position..].starts_with(word.as_bytes()) {
            return Err(self.syntax("expected a JSON value"));
        }
        self.position += word.len();
        Ok(value)
    }

    fn read_array(&mut self, depth: usize) -> Result<NodeValue, ReadError> {
        self.position += 1;
        let mut items = Vec::new();
        self.skip_whitespace();
        if self.bytes.get(self.position) == Some(&b']') {
            self.position += 1;
            return Ok(NodeValue::Sequence(items));
        }
        loop {
            self.skip_whitespace();
            items.push(self.read_value(depth + 1)?);
            self.skip_whitespace();
            match self.bytes.get(self.position) {
                Some(b',') => self.position += 1,
                Some(b']') => {
                    self.position += 1;
                    return Ok(NodeValue::Sequence(items));
                }
                _ => return Err(self.syntax("expected `,` or `]` in an array")),
            }
        }
    }

    fn read_object(&mut self, depth: usize) -> Result<NodeValue, ReadError> {
        self.position += 1;
        let mut entries: Vec<(Key, Node)> = Vec::new();
        self.skip_whitespace();
        if self.bytes.get(self.position) == Some(&b'}') {
            self.position += 1;
            return Ok(NodeValue::Mapping(entries));
        }
        loop {
            self.skip_whitespace();
            if self.bytes.get(self.position) != Some(&b'"') {
                return Err(self.syntax("expected a string key in an object"));
            }
            if depth + 1 > self.limits.max_depth {
                return Err(ReadError::TooDeep { limit: self.limits.max_depth, span: self.span(self.position) });
            }
            self.count_node()?;
            let key_start = self.position;
            let name = self.read_string()?;
            let key = Key { name, span: self.span(key_start) };
            self.skip_whitespace();
            if self.bytes.get(self.position) != Some(&b':') {
                return Err(self.syntax("expected `:` after an object key"));
            }
            self.position += 1;
            self.skip_whitespace();
            let value = self.read_value(depth + 1)?;
            entries.push((key, value));
            self.skip_whitespace();
            match self.bytes.get(self.position) {
                Some(b',') => self.position += 1,
                Some(b'}') => {
                    self.position += 1;
                    check_duplicate_keys(&entries)?;
                    return Ok(NodeValue::Mapping(entries));
                }
                _ => return Err(self.syntax("expected `,` or `}` in an object")),
            }
        }
    }

    /// Reads a string starting at its opening quote. Text without escapes is copied in one step.
    fn read_string(&mut self) -> Result<String, ReadError> {
        self.position += 1;
        let start = self.position;
        loop {
            match self.bytes.get(self.position) {
                Some(b'"') => {
                    let text = self.text[start..self.position].to_owned();
                    self.position += 1;
                    return Ok(text);
                }
                Some(b'\\') => break,
                Some(byte) if *byte < 0x20 => return Err(self.syntax("control character in a string; escape it")),
                Some(_) => self.position += 1,
                None => return Err(self.syntax("unterminated string")),
            }
        }
        let mut text = String::from(&self.text[start..self.position]);
        loop {
            let run_start = self.position;
            while let Some(byte) = self.bytes.get(self.position) {
                if *byte == b'"' || *byte == b'\\' || *byte < 0x20 {
                    break;
                }
                self.position += 1;
            }
            text.push_str(&self.text[run_start..self.position]);
            match self.bytes.get(self.position) {
                Some(b'"') => {
                    self.position += 1;
                    return Ok(text);
                }
                Some(b'\\') => {
                    self.position += 1;
                    self.read_escape(&mut text)?;
                }
                Some(_) => return Err(self.syntax("control character in a string; escape it")),
                None => return Err(self.syntax("unterminated string")),
            }
        }
    }

    /// Reads the escape after a backslash and appends the character it stands for.
    fn read_escape(&mut self, text: &mut String) -> Result<(), ReadError> {
        let Some(&byte) = self.bytes.get(self.position) else {
            return Err(self.syntax("unterminated string"));
        };
        self.position += 1;
        let character = match byte {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => self.read_unicode_escape()?,
            _ => return Err(self.syntax("invalid escape in a string")),
        };
        text.push(character);
        Ok(())
    }

    /// Reads the four hex digits after `\u`, and a second `\uXXXX` when the first is a high
    /// surrogate.
    fn read_unicode_escape(&mut self) -> Result<char, ReadError> {
        let first = self.read_hex4()?;
        if !(0xD800..0xDC00).contains(&first) {
            return char::from_u32(first).ok_or_else(|| self.syntax("unpaired surrogate in a `\\u` escape"));
        }
        if !self.bytes[self.position..].starts_with(b"\\u") {
            return Err(self.syntax("unpaired surrogate in a `\\u` escape"));
        }
        self.position += 2;
        let second = self.read_hex4()?;
        if !(0xDC00..0xE000).contains(&second) {
            return Err(self.syntax("unpaired surrogate in a `\\u` escape"));
        }
        let code = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
        char::from_u32(code).ok_or_else(|| self.syntax("invalid `\\u` escape"))
    }

    fn read_hex4(&mut self) -> Result<u32, ReadError> {
        let digits = self.text.get(self.position..self.position + 4).ok_or_else(|| self.syntax("`\\u` needs four hex digits"))?;
        if !digits.bytes().all(|byte| byte.is_ascii_hexdigit()) {
            return Err(self.syntax("`\\u` needs four hex digits"));
        }
        self.position += 4;
        u32::from_str_radix(digits, 16).map_err(|_| self.syntax("`\\u` needs four hex digits"))
    }

    /// Reads a number with the JSON grammar. As in the YAML reader, integers become `i64` or `u64`
    /// and anything with a fraction or exponent `f64`. Integers beyond `u64` and floats beyond
    /// `f64` are errors in both readers.
    fn read_number(&mut self) -> Result<NodeValue, ReadError> {
        let start = self.position;
        if self.bytes.get(self.position) == Some(&b'-') {
            self.position += 1;
        }
        match self.bytes.get(self.position) {
            Some(b'0') => self.position += 1,
            Some(b'1'..=b'9') => self.skip_digits(),
            _ => return Err(self.syntax("invalid number")),
        }
        let mut integer = true;
        if self.bytes.get(self.position) == Some(&b'.') {
            integer = false;
            self.position += 1;
            self.expect_digits()?;
        }
        if let Some(b'e' | b'E') = self.bytes.get(self.position) {
            integer = false;
            self.position += 1;
            if let Some(b'+' | b'-') = self.bytes.get(self.position) {
                self.position += 1;
            }
            self.expect_digits()?;
        }
        let text = &self.text[start..self.position];
        let invalid = || ReadError::InvalidNumber { text: text.to_owned(), span: Span::new(self.source, start, self.position) };
        if integer {
            if let Ok(value) = text.parse::<i64>() {
                return Ok(NodeValue::Number(value.into()));
            }
            return text.parse::<u64>().map(|value| NodeValue::Number(value.into())).map_err(|_| invalid());
        }
        let value: f64 = text.parse().map_err(|_| invalid())?;
        serde_json::Number::from_f64(value).map(NodeValue::Number).ok_or_else(invalid)
    }

    fn skip_digits(&mut self) {
        while let Some(b'0'..=b'9') = self.bytes.get(self.position) {
            self.position += 1;
        }
    }

    fn expect_digits(&mut self) -> Result<(), ReadError> {
        let start = self.position;
        self.skip_digits();
        if self.position == start {
            return Err(self.syntax("invalid number: expected a digit"));
        }
        Ok(())
    }
}

fn check_duplicate_keys(entries: &[(Key, Node)]) -> Result<(), ReadError> {
    let duplicate = |first: &Key, again: &Key| ReadError::DuplicateKey { key: again.name.clone(), span: again.span, first: first.span };
    if entries.len() <= LINEAR_DUPLICATE_CHECK_MAX {
        for (index, (key, _)) in entries.iter().enumerate() {
            if let Some((first, _)) = entries[..index].iter().find(|(earlier, _)| earlier.name == key.name) {
                return Err(duplicate(first, key));
            }
        }
        return Ok(());
    }
    let mut seen: HashMap<&str, &Key> = HashMap::with_capacity(entries.len());
    for (key, _) in entries {
        if let Some(first) = seen.insert(&key.name, key) {
            return Err(duplicate(first, key));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use gatectl_spec::source::SourceFile;
    use gatectl_spec::yaml;

    use super::*;

    fn read_json(text: &str) -> Result<Node, ReadError> {
        read(text, SourceId(0), ReadLimits::default())
    }

    fn read_yaml(text: &str) -> Node {
        yaml::read(&SourceFile::new("t.json", text), SourceId(0), ReadLimits::default()).unwrap()
    }

    #[test]
    fn tree_equals_the_yaml_reader_tree() {
        let text = r#"{"a": [1, -2, 1.5, 1e3, true, false, null], "b": {"c": "x\"\\\/\b\f\n\r\t\u00e9"},
            "big": 18446744073709551615, "text": "città", "empty": {}, "none": []}"#;
        assert_eq!(read_json(text).unwrap().to_json(), read_yaml(text).to_json());
    }

    #[test]
    fn surrogate_pairs_decode() {
        // The YAML reader rejects `\u` surrogate pairs, which JSON allows, so compare with serde_json.
        let text = r#"["\ud83d\ude00", "a\u0000b"]"#;
        let expected: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(read_json(text).unwrap().to_json(), expected);
    }

    #[test]
    fn spans_are_byte_ranges() {
        let text = "{\n  \"key\": \"value\",\n  \"list\": [1, 2]\n}";
        let node = read_json(text).unwrap();
        let NodeValue::Mapping(entries) = &node.value else { panic!("expected a mapping") };
        assert_eq!(&text[entries[0].0.span.start..entries[0].0.span.end], "\"key\"");
        assert_eq!(&text[entries[0].1.span.start..entries[0].1.span.end], "\"value\"");
        assert_eq!(&text[entries[1].1.span.start..entries[1].1.span.end], "[1, 2]");
        assert_eq!((node.span.start, node.span.end), (0, text.len()));
    }

    #[test]
    fn duplicate_keys_are_rejected() {
        assert!(matches!(read_json(r#"{"a": 1, "b": 2, "a": 3}"#), Err(ReadError::DuplicateKey { .. })));
        let many: Vec<String> = (0..40).map(|index| format!("\"k{index}\": {index}")).collect();
        let text = format!("{{{}, \"k7\": 0}}", many.join(", "));
        assert!(matches!(read_json(&text), Err(ReadError::DuplicateKey { .. })));
    }

    #[test]
    fn invalid_json_is_rejected() {
        for text in ["", "{", "{\"a\" 1}", "[1,]", "{\"a\": 1,}", "01", "1.", "-", "\"\\x\"", "\"\\ud800\"", "[1] 2", "{a: 1}", "\"a\tb\""]
        {
            assert!(read_json(text).is_err(), "{text:?} should be rejected");
        }
    }

    #[test]
    fn limits_are_enforced() {
        let limits = ReadLimits { max_bytes: 1024, max_depth: 3, max_nodes: 5 };
        assert!(matches!(read("[[[[[1]]]]]", SourceId(0), limits), Err(ReadError::TooDeep { .. })));
        assert!(matches!(read("[1, 2, 3, 4, 5, 6]", SourceId(0), limits), Err(ReadError::TooManyNodes { .. })));
        assert!(matches!(read(&" ".repeat(2000), SourceId(0), limits), Err(ReadError::TooLarge { .. })));
        assert!(matches!(read_json("1e400"), Err(ReadError::InvalidNumber { .. })));
    }

    const SAMPLE: &str = r#"{"openapi": "3.1.0", "paths": {"/a/{b}": {"get": {"tags": ["x", "é\n"], "n": [1, -2.5e3, null]}}}}"#;

    proptest::proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,64}") {
            let _ = read_json(&text);
        }

        #[test]
        fn truncated_json_never_panics(cut in 0usize..SAMPLE.len()) {
            if let Some(prefix) = SAMPLE.get(..cut) {
                proptest::prop_assert!(read_json(prefix).is_err());
            }
        }

        #[test]
        fn strings_round_trip_through_serde_json(text in "\\PC{0,32}|[\\x00-\\x1f\"\\\\/]{0,8}") {
            let encoded = serde_json::to_string(&text).unwrap();
            let node = read_json(&encoded).unwrap();
            proptest::prop_assert_eq!(node.as_str(), Some(text.as_str()));
        }
    }

    #[test]
    fn detection_needs_an_object_or_array() {
        assert!(looks_like_json("  \n{\"openapi\": \"3.1.0\"}"));
        assert!(looks_like_json("[]"));
        assert!(!looks_like_json("openapi: 3.1.0"));
    }
}
