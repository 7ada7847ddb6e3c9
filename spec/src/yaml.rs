//! A YAML reader that keeps the source span of every node.
//!
//! We build our own tree from the events of `saphyr-parser` rather than use a serde front end,
//! for three reasons: every node keeps its byte span for diagnostics, duplicate mapping keys are
//! an error that names both places, and alias expansion is counted so that an alias bomb hits a
//! limit instead of exhausting memory. Scalars are resolved with the YAML 1.2 core schema, so the
//! resulting tree maps one to one onto JSON (JSON input is read by the same code, YAML 1.2 being a
//! superset of JSON).

use std::borrow::Cow;
use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span as YamlSpan};

use crate::source::{SourceFile, SourceId, Span};

pub mod decode;
mod flow;
pub mod schema_view;

/// Bounds that keep a hostile input from using unbounded time or memory.
#[derive(Debug, Clone, Copy)]
pub struct ReadLimits {
    /// Largest accepted file, in bytes.
    pub max_bytes: usize,
    /// Deepest accepted nesting of sequences and mappings.
    pub max_depth: usize,
    /// Most nodes a document may have once every alias is expanded.
    pub max_nodes: usize,
}

impl Default for ReadLimits {
    fn default() -> Self {
        Self { max_bytes: 32 * 1024 * 1024, max_depth: 128, max_nodes: 4_000_000 }
    }
}

/// Mappings with more entries than this check duplicate keys through a hash map.
const LINEAR_KEY_SEARCH_LIMIT: usize = 32;

/// A YAML node with the span it was read from.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: NodeValue,
    pub span: Span,
}

/// The JSON-compatible value of a node.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeValue {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Sequence(Vec<Node>),
    Mapping(Vec<(Key, Node)>),
}

/// A mapping key. Keys are always strings, as in JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub name: String,
    pub span: Span,
}

/// Why a file could not be read as YAML.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReadError {
    #[error("invalid YAML: {message}")]
    Syntax { message: String, span: Span },
    #[error("duplicate key `{key}`: each key may appear once in a mapping; remove or rename one of them")]
    DuplicateKey { key: String, span: Span, first: Span },
    #[error("the file is {size} bytes, over the limit of {limit} bytes; split it into several files")]
    TooLarge { size: usize, limit: usize, span: Span },
    #[error("nesting is deeper than {limit} levels; flatten the document")]
    TooDeep { limit: usize, span: Span },
    #[error("the document expands to more than {limit} nodes once aliases are resolved; remove the repeated aliases")]
    TooManyNodes { limit: usize, span: Span },
    #[error("the alias refers to an anchor that is not defined before it; define the anchor (`&name`) first")]
    UnknownAlias { span: Span },
    #[error("a mapping key must be a plain value, not a sequence or mapping; quote the key")]
    ComplexKey { span: Span },
    #[error("unsupported tag `{tag}`; gatectl reads plain YAML without custom tags")]
    UnsupportedTag { tag: String, span: Span },
    #[error("`{text}` cannot be represented as a JSON number; quote it to keep it as a string")]
    InvalidNumber { text: String, span: Span },
    #[error("the file holds more than one YAML document; keep one document per file")]
    MultipleDocuments { span: Span },
    /// A syntax error inside a flow collection that the text never closes. The span is the
    /// opening bracket, `failure` the place the parser stopped.
    #[error("`{bracket}` is never closed by `{closer}`, so the YAML parser failed further on: {message}")]
    UnclosedFlow { bracket: char, closer: char, message: String, span: Span, failure: Span },
}

impl ReadError {
    pub fn span(&self) -> Span {
        match self {
            Self::Syntax { span, .. }
            | Self::DuplicateKey { span, .. }
            | Self::TooLarge { span, .. }
            | Self::TooDeep { span, .. }
            | Self::TooManyNodes { span, .. }
            | Self::UnknownAlias { span }
            | Self::ComplexKey { span }
            | Self::UnsupportedTag { span, .. }
            | Self::InvalidNumber { span, .. }
            | Self::MultipleDocuments { span }
            | Self::UnclosedFlow { span, .. } => *span,
        }
    }
}

/// Reads one YAML (or JSON) document. An empty file reads as `null`.
pub fn read(file: &SourceFile, source: SourceId, limits: ReadLimits) -> Result<Node, ReadError> {
    if file.text.len() > limits.max_bytes {
        return Err(ReadError::TooLarge { size: file.text.len(), limit: limits.max_bytes, span: Span::new(source, 0, 0) });
    }
    let ascii = file.text.is_ascii();
    let mut reader = Reader {
        ascii,
        file,
        source,
        limits,
        parser: Parser::new_from_str(&file.text),
        anchors: HashMap::new(),
        nodes: 0,
        open_flows: Vec::new(),
    };
    reader.read_stream()
}

struct Reader<'a> {
    /// Whether the text is ASCII, so that the parser's character offsets are byte offsets.
    ascii: bool,
    file: &'a SourceFile,
    source: SourceId,
    limits: ReadLimits,
    parser: Parser<'a, saphyr_parser::StrInput<'a>>,
    anchors: HashMap<usize, Node>,
    nodes: usize,
    /// Offsets of the `[` and `{` of the flow collections being read, outermost first.
    open_flows: Vec<usize>,
}

impl<'a> Reader<'a> {
    fn span(&self, span: YamlSpan) -> Span {
        if self.ascii {
            return Span::new(self.source, span.start.index(), span.end.index());
        }
        let start = self.file.offset_of(span.start.line(), span.start.col());
        let end = self.file.offset_of(span.end.line(), span.end.col());
        Span::new(self.source, start, end)
    }

    fn next(&mut self) -> Result<(Event<'a>, Span), ReadError> {
        match self.parser.next_event() {
            Some(Ok((event, span))) => Ok((event, self.span(span))),
            Some(Err(error)) => {
                let marker = error.marker();
                let mut offset = self.file.offset_of(marker.line(), marker.col());
                // The scanner reports a tab at the start of the scalar it was reading, which may
                // be lines before the tab itself.
                if error.info().contains("found a tab")
                    && let Some(tab) = self.file.text.as_bytes()[offset.min(self.file.text.len())..].iter().position(|&byte| byte == b'\t')
                {
                    offset += tab;
                } else if let Some(tab) = indentation_tab(self.file.text.as_bytes(), offset) {
                    // Other messages land a few columns after a tab in the indentation, or on
                    // the line before it.
                    offset = tab;
                }
                let span = Span::new(self.source, offset, offset);
                // The scanner runs ahead of the events and has a nesting limit of its own.
                if error.info().contains("recursion limit") {
                    return Err(ReadError::TooDeep { limit: self.limits.max_depth, span });
                }
                // A tab after a key's colon reads as a blank in an editor, so the message names it.
                if error.info().contains("':' must be followed by a valid YAML whitespace")
                    && let Some(tab) = offset.checked_sub(1).filter(|&before| self.file.text.as_bytes().get(before) == Some(&b'\t'))
                {
                    return Err(ReadError::Syntax {
                        message: "a tab follows the `:`; write a space after a key's colon".to_owned(),
                        span: Span::new(self.source, tab, tab + 1),
                    });
                }
                // The parser reports an alias to an undefined anchor before the reader sees it.
                if error.info().contains("unknown anchor") {
                    let rest = self.file.text.as_bytes().get(offset..).unwrap_or_default();
                    let length = rest.iter().position(|byte| byte.is_ascii_whitespace() || b",]}".contains(byte)).unwrap_or(rest.len());
                    return Err(ReadError::UnknownAlias { span: Span::new(self.source, offset, offset + length) });
                }
                let message = error.info().to_owned();
                Err(self.unclosed_flow(&message, span).unwrap_or(ReadError::Syntax { message, span }))
            }
            None => Ok((Event::StreamEnd, Span::new(self.source, self.file.text.len(), self.file.text.len()))),
        }
    }

    /// Returns an [`ReadError::UnclosedFlow`] for the innermost flow collection being read that
    /// the text never closes, if any: that bracket is the one to fix first.
    fn unclosed_flow(&self, message: &str, failure: Span) -> Option<ReadError> {
        let open = self.open_flows.iter().rev().copied().find(|&open| flow::closing_bracket(&self.file.text, open).is_none())?;
        let bracket = char::from(self.file.text.as_bytes()[open]);
        let closer = if bracket == '[' { ']' } else { '}' };
        Some(ReadError::UnclosedFlow {
            bracket,
            closer,
            message: message.to_owned(),
            span: Span::new(self.source, open, open + 1),
            failure,
        })
    }

    /// Notes the start of a collection, returning whether it is a flow collection.
    /// Ends a quoted scalar's span at its closing quote. The parser's span also takes in the
    /// blanks and any comment after it, which would stretch a diagnostic's underline past the
    /// value.
    fn trim_quoted(&self, span: Span, style: ScalarStyle) -> Span {
        let bytes = self.file.text.as_bytes();
        let quote = match style {
            ScalarStyle::SingleQuoted => b'\'',
            ScalarStyle::DoubleQuoted => b'"',
            _ => return span,
        };
        // An anchor or a tag may come before the quote: `&a "x"`, `!!str 'x'`.
        let mut start = span.start;
        while start < span.end && matches!(bytes[start], b'&' | b'!') {
            while start < span.end && !matches!(bytes[start], b' ' | b'\t' | b'\r' | b'\n') {
                start += 1;
            }
            while start < span.end && matches!(bytes[start], b' ' | b'\t' | b'\r' | b'\n') {
                start += 1;
            }
        }
        if bytes.get(start) != Some(&quote) {
            return span;
        }
        match flow::end_of_quoted(bytes, start) {
            Some(closing) if closing < span.end => Span::new(self.source, span.start, closing + 1),
            _ => span,
        }
    }

    fn enter_collection(&mut self, span: Span) -> bool {
        let flow = matches!(self.file.text.as_bytes().get(span.start), Some(b'[' | b'{'));
        if flow {
            self.open_flows.push(span.start);
        }
        flow
    }

    fn leave_collection(&mut self, flow: bool) {
        if flow {
            self.open_flows.pop();
        }
    }

    fn read_stream(&mut self) -> Result<Node, ReadError> {
        let mut document: Option<Node> = None;
        loop {
            let (event, span) = self.next()?;
            match event {
                Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
                Event::StreamEnd => break,
                Event::DocumentStart(_) => {
                    if document.is_some() {
                        return Err(ReadError::MultipleDocuments { span });
                    }
                    let (event, span) = self.next()?;
                    document = Some(self.read_node(event, span, 0)?);
                }
                other => {
                    let node = self.read_node(other, span, 0)?;
                    document = Some(node);
                }
            }
        }
        let end = self.file.text.len();
        Ok(document.unwrap_or(Node { value: NodeValue::Null, span: Span::new(self.source, 0, end) }))
    }

    fn count_nodes(&mut self, count: usize, span: Span) -> Result<(), ReadError> {
        self.nodes = self.nodes.saturating_add(count);
        if self.nodes > self.limits.max_nodes {
            return Err(ReadError::TooManyNodes { limit: self.limits.max_nodes, span });
        }
        Ok(())
    }

    fn read_node(&mut self, event: Event<'a>, span: Span, depth: usize) -> Result<Node, ReadError> {
        if depth > self.limits.max_depth {
            return Err(ReadError::TooDeep { limit: self.limits.max_depth, span });
        }
        self.count_nodes(1, span)?;
        match event {
            Event::Alias(id) => {
                let node = self.anchors.get(&id).cloned().ok_or(ReadError::UnknownAlias { span })?;
                self.count_nodes(count_tree(&node), span)?;
                Ok(Node { value: node.value, span })
            }
            Event::Scalar(text, style, anchor, tag) => {
                let span = self.trim_quoted(span, style);
                let tag = tag.map(|tag| format!("{}{}", tag.handle, tag.suffix));
                let value = resolve_scalar(text, style, tag.as_deref(), span)?;
                let node = Node { value, span };
                self.remember(anchor, &node);
                Ok(node)
            }
            Event::SequenceStart(anchor, tag) => {
                reject_collection_tag(tag.map(|tag| format!("{}{}", tag.handle, tag.suffix)), "tag:yaml.org,2002:seq", span)?;
                let flow = self.enter_collection(span);
                let mut items = Vec::new();
                let end = loop {
                    let (event, item_span) = self.next()?;
                    if let Event::SequenceEnd = event {
                        break item_span.end;
                    }
                    items.push(self.read_node(event, item_span, depth + 1)?);
                };
                self.leave_collection(flow);
                let node = Node { value: NodeValue::Sequence(items), span: Span::new(self.source, span.start, end) };
                self.remember(anchor, &node);
                Ok(node)
            }
            Event::MappingStart(anchor, tag) => {
                reject_collection_tag(tag.map(|tag| format!("{}{}", tag.handle, tag.suffix)), "tag:yaml.org,2002:map", span)?;
                let flow = self.enter_collection(span);
                let mut entries: Vec<(Key, Node)> = Vec::new();
                // Small mappings are searched linearly; a map is built once a mapping grows large.
                let mut large_mapping_keys: Option<HashMap<String, Span>> = None;
                let end = loop {
                    let (event, key_span) = self.next()?;
                    if let Event::MappingEnd = event {
                        break key_span.end;
                    }
                    let key_node = self.read_node(event, key_span, depth + 1)?;
                    let name = match key_node.value {
                        NodeValue::String(name) => name,
                        NodeValue::Null => "null".to_owned(),
                        NodeValue::Bool(value) => value.to_string(),
                        NodeValue::Number(number) => number.to_string(),
                        // In a flow mapping, a collection where a key belongs most often means
                        // that the previous entry's `}` is missing.
                        NodeValue::Sequence(_) | NodeValue::Mapping(_) => {
                            let message = "a mapping key is a sequence or mapping";
                            return Err(self.unclosed_flow(message, key_span).unwrap_or(ReadError::ComplexKey { span: key_span }));
                        }
                    };
                    let key = Key { name, span: key_node.span };
                    let first = match &large_mapping_keys {
                        Some(keys) => keys.get(&key.name).copied(),
                        None => entries.iter().find(|(existing, _)| existing.name == key.name).map(|(existing, _)| existing.span),
                    };
                    if let Some(first) = first {
                        return Err(ReadError::DuplicateKey { key: key.name, span: key.span, first });
                    }
                    match large_mapping_keys.as_mut() {
                        Some(keys) => {
                            keys.insert(key.name.clone(), key.span);
                        }
                        None if entries.len() >= LINEAR_KEY_SEARCH_LIMIT => {
                            let keys = entries.iter().map(|(existing, _)| (existing.name.clone(), existing.span));
                            large_mapping_keys = Some(keys.chain(std::iter::once((key.name.clone(), key.span))).collect());
                        }
                        None => {}
                    }
                    let (event, value_span) = self.next()?;
                    let value = self.read_node(event, value_span, depth + 1)?;
                    entries.push((key, value));
                };
                self.leave_collection(flow);
                let node = Node { value: NodeValue::Mapping(entries), span: Span::new(self.source, span.start, end) };
                self.remember(anchor, &node);
                Ok(node)
            }
            Event::SequenceEnd
            | Event::MappingEnd
            | Event::StreamEnd
            | Event::StreamStart
            | Event::DocumentStart(_)
            | Event::DocumentEnd
            | Event::Nothing => Err(ReadError::Syntax { message: "unexpected end of a collection".to_owned(), span }),
        }
    }

    fn remember(&mut self, anchor: usize, node: &Node) {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
    }
}

fn count_tree(node: &Node) -> usize {
    match &node.value {
        NodeValue::Sequence(items) => 1 + items.iter().map(count_tree).sum::<usize>(),
        NodeValue::Mapping(entries) => 1 + entries.iter().map(|(_, value)| 1 + count_tree(value)).sum::<usize>(),
        _ => 1,
    }
}

fn reject_collection_tag(tag: Option<String>, allowed: &str, span: Span) -> Result<(), ReadError> {
    match tag {
        None => Ok(()),
        Some(tag) if tag == allowed || tag == "!!seq" || tag == "!!map" => Ok(()),
        Some(tag) => Err(ReadError::UnsupportedTag { tag, span }),
    }
}

/// Resolves a scalar's type; the text is moved into the node when it stays a string.
fn resolve_scalar(text: Cow<'_, str>, style: ScalarStyle, tag: Option<&str>, span: Span) -> Result<NodeValue, ReadError> {
    let tag = tag.map(|tag| tag.strip_prefix("tag:yaml.org,2002:").map_or(tag.to_owned(), |suffix| format!("!!{suffix}")));
    match tag.as_deref() {
        None | Some("!") => {}
        Some("!!str") => return Ok(NodeValue::String(text.into_owned())),
        Some("!!null") => return Ok(NodeValue::Null),
        Some("!!bool") => {
            return parse_bool(&text).map(NodeValue::Bool).ok_or_else(|| ReadError::UnsupportedTag { tag: format!("!!bool {text}"), span });
        }
        Some("!!int") | Some("!!float") => {
            return parse_number(&text, span)?.ok_or_else(|| ReadError::InvalidNumber { text: text.into_owned(), span });
        }
        Some(other) => return Err(ReadError::UnsupportedTag { tag: other.to_owned(), span }),
    }
    if style != ScalarStyle::Plain || tag.as_deref() == Some("!") {
        return Ok(NodeValue::String(text.into_owned()));
    }
    if matches!(&*text, "" | "~" | "null" | "Null" | "NULL") {
        return Ok(NodeValue::Null);
    }
    if let Some(value) = parse_bool(&text) {
        return Ok(NodeValue::Bool(value));
    }
    match parse_number(&text, span)? {
        Some(number) => Ok(number),
        None => Ok(NodeValue::String(text.into_owned())),
    }
}

fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

/// Resolves a plain scalar as a YAML 1.2 core-schema number, or `None` when it is not one.
fn parse_number(text: &str, span: Span) -> Result<Option<NodeValue>, ReadError> {
    // Every number form, `.inf` and `.nan` included, starts with one of these characters, so most
    // plain strings are decided here.
    if !text.starts_with(|character: char| character.is_ascii_digit() || matches!(character, '.' | '-' | '+')) {
        return Ok(None);
    }
    let invalid = || ReadError::InvalidNumber { text: text.to_owned(), span };
    if matches!(text, ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" | "-.inf" | "-.Inf" | "-.INF" | ".nan" | ".NaN" | ".NAN") {
        return Err(invalid());
    }
    if let Some(octal) = text.strip_prefix("0o") {
        return Ok(u64::from_str_radix(octal, 8).ok().map(|value| NodeValue::Number(value.into())));
    }
    if let Some(hex) = text.strip_prefix("0x") {
        return Ok(u64::from_str_radix(hex, 16).ok().map(|value| NodeValue::Number(value.into())));
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|byte| byte.is_ascii_digit()) {
        if let Ok(value) = text.parse::<i64>() {
            return Ok(Some(NodeValue::Number(value.into())));
        }
        if let Ok(value) = text.trim_start_matches('+').parse::<u64>() {
            return Ok(Some(NodeValue::Number(value.into())));
        }
        return Err(invalid());
    }
    if is_core_float(digits) {
        let value: f64 = text.parse().map_err(|_| invalid())?;
        return serde_json::Number::from_f64(value).map(|number| Some(NodeValue::Number(number))).ok_or_else(invalid);
    }
    Ok(None)
}

/// Matches `(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?` with a fraction or an exponent,
/// the core schema's float form (plain integers are handled before).
fn is_core_float(text: &str) -> bool {
    let all_digits = |part: &str| part.bytes().all(|byte| byte.is_ascii_digit());
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(index) => (&text[..index], Some(&text[index + 1..])),
        None => (text, None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some(("", fraction)) => !fraction.is_empty() && all_digits(fraction),
        Some((whole, fraction)) => all_digits(whole) && all_digits(fraction),
        None => !mantissa.is_empty() && all_digits(mantissa),
    };
    let exponent_ok = exponent.is_none_or(|exponent| {
        let digits = exponent.strip_prefix(['-', '+']).unwrap_or(exponent);
        !digits.is_empty() && all_digits(digits)
    });
    mantissa_ok && exponent_ok && (mantissa.contains('.') || exponent.is_some())
}

impl Node {
    /// Converts the tree to a JSON value, dropping spans.
    pub fn to_json(&self) -> serde_json::Value {
        match &self.value {
            NodeValue::Null => serde_json::Value::Null,
            NodeValue::Bool(value) => serde_json::Value::Bool(*value),
            NodeValue::Number(number) => serde_json::Value::Number(number.clone()),
            NodeValue::String(text) => serde_json::Value::String(text.clone()),
            NodeValue::Sequence(items) => serde_json::Value::Array(items.iter().map(Node::to_json).collect()),
            NodeValue::Mapping(entries) => {
                serde_json::Value::Object(entries.iter().map(|(key, value)| (key.name.clone(), value.to_json())).collect())
            }
        }
    }

    /// Returns the value of a mapping entry.
    pub fn get(&self, name: &str) -> Option<&Node> {
        match &self.value {
            NodeValue::Mapping(entries) => entries.iter().find(|(key, _)| key.name == name).map(|(_, value)| value),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            NodeValue::String(text) => Some(text),
            _ => None,
        }
    }

    /// Short name of the node's type, for messages.
    pub fn type_name(&self) -> &'static str {
        match self.value {
            NodeValue::Null => "null",
            NodeValue::Bool(_) => "boolean",
            NodeValue::Number(_) => "number",
            NodeValue::String(_) => "string",
            NodeValue::Sequence(_) => "sequence",
            NodeValue::Mapping(_) => "mapping",
        }
    }
}

/// Returns the offset of a tab in the indentation of the line holding `offset`, or else of the
/// line after it.
fn indentation_tab(text: &[u8], offset: usize) -> Option<usize> {
    let offset = offset.min(text.len());
    let line_start = text[..offset].iter().rposition(|&byte| byte == b'\n').map_or(0, |newline| newline + 1);
    let next_line = text[offset..].iter().position(|&byte| byte == b'\n').map(|newline| offset + newline + 1);
    [Some(line_start), next_line].into_iter().flatten().find_map(|start| {
        let indentation = text[start..].iter().take_while(|&&byte| byte == b' ' || byte == b'\t').count();
        text[start..start + indentation].iter().position(|&byte| byte == b'\t').map(|tab| start + tab)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Node, ReadError> {
        let file = SourceFile::new("t.yaml", text);
        read(&file, SourceId(0), ReadLimits::default())
    }

    #[test]
    fn scalars_follow_core_schema() {
        let node = parse("a: 1\nb: 1.5\nc: true\nd: ~\ne: '1'\nf: 0x1F\ng: yes\nh: 1e3\ni: -7\n").unwrap();
        let json = node.to_json();
        assert_eq!(json["a"], serde_json::json!(1));
        assert_eq!(json["b"], serde_json::json!(1.5));
        assert_eq!(json["c"], serde_json::json!(true));
        assert_eq!(json["d"], serde_json::Value::Null);
        assert_eq!(json["e"], serde_json::json!("1"));
        assert_eq!(json["f"], serde_json::json!(31));
        assert_eq!(json["g"], serde_json::json!("yes"));
        assert_eq!(json["h"], serde_json::json!(1000.0));
        assert_eq!(json["i"], serde_json::json!(-7));
    }

    #[test]
    fn signed_and_fractional_numbers_resolve() {
        let node = parse("a: +12\nb: .5\nc: -3.5e2\nd: +x\ne: .hidden\nf: -x\ng: 0o17\n").unwrap();
        let json = node.to_json();
        assert_eq!(json["a"], serde_json::json!(12));
        assert_eq!(json["b"], serde_json::json!(0.5));
        assert_eq!(json["c"], serde_json::json!(-350.0));
        assert_eq!(json["d"], serde_json::json!("+x"));
        assert_eq!(json["e"], serde_json::json!(".hidden"));
        assert_eq!(json["f"], serde_json::json!("-x"));
        assert_eq!(json["g"], serde_json::json!(15));
        assert!(matches!(parse("a: -.inf\n"), Err(ReadError::InvalidNumber { .. })));
    }

    #[test]
    fn spans_point_at_values() {
        let text = "routes:\n  - name: orders\n";
        let node = parse(text).unwrap();
        let name = node.get("routes").unwrap();
        let NodeValue::Sequence(items) = &name.value else { panic!("expected a sequence") };
        let value = items[0].get("name").unwrap();
        assert_eq!(&text[value.span.start..value.span.end], "orders");
    }

    #[test]
    fn quoted_value_spans_end_at_the_closing_quote() {
        let text = "a: \"nope\"   \nb: 'x y'\t# note\nc: [\"p\" , 'q' ]\nd: \"  \"\n";
        let node = parse(text).unwrap();
        let value = |key: &str| {
            let node = node.get(key).unwrap();
            &text[node.span.start..node.span.end]
        };
        assert_eq!(value("a"), "\"nope\"");
        assert_eq!(value("b"), "'x y'");
        assert_eq!(value("d"), "\"  \"", "blanks inside the quotes stay");
        let NodeValue::Sequence(items) = &node.get("c").unwrap().value else { panic!("expected a sequence") };
        let items: Vec<&str> = items.iter().map(|item| &text[item.span.start..item.span.end]).collect();
        assert_eq!(items, ["\"p\"", "'q'"]);
    }

    #[test]
    fn tagged_quoted_span_ends_at_quote() {
        let text = "a: &x \"v\"   # c\nb: !!str 'w'  \nc: &y !!str \"z\" # c\n";
        let node = parse(text).unwrap();
        let value = |key: &str| {
            let node = node.get(key).unwrap();
            &text[node.span.start..node.span.end]
        };
        assert_eq!(value("a"), "&x \"v\"");
        assert_eq!(value("b"), "!!str 'w'");
        assert_eq!(value("c"), "&y !!str \"z\"");
    }

    #[test]
    fn spans_are_byte_offsets_in_non_ascii_text() {
        let text = "città: roma\nnext: value\n";
        let node = parse(text).unwrap();
        let value = node.get("next").unwrap();
        assert_eq!(&text[value.span.start..value.span.end], "value");
    }

    #[test]
    fn duplicate_key_names_both_places() {
        let error = parse("a: 1\nb: 2\na: 3\n").unwrap_err();
        let ReadError::DuplicateKey { key, span, first } = error else { panic!("expected a duplicate key error, got {error:?}") };
        assert_eq!(key, "a");
        assert_eq!(first.start, 0);
        assert_eq!(span.start, 10);
    }

    #[test]
    fn duplicate_key_in_large_mapping_is_found() {
        let mut text: String = (0..100).map(|index| format!("key{index}: {index}\n")).collect();
        text.push_str("key7: again\n");
        let error = parse(&text).unwrap_err();
        assert!(matches!(error, ReadError::DuplicateKey { ref key, .. } if key == "key7"), "{error:?}");
    }

    #[test]
    fn alias_bomb_hits_node_limit() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for level in 1..12 {
            let previous = level - 1;
            text.push_str(&format!("a{level}: &a{level} [*a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}]\n"));
        }
        assert!(matches!(parse(&text), Err(ReadError::TooManyNodes { .. })));
    }

    #[test]
    fn deep_nesting_hits_depth_limit() {
        let text = format!("{}{}", "[".repeat(500), "]".repeat(500));
        let result = parse(&text);
        assert!(matches!(result, Err(ReadError::TooDeep { .. })), "{result:?}");
    }

    #[test]
    fn json_input_reads_like_yaml() {
        let node = parse(r#"{"a": [1, "b", null], "c": {"d": false}}"#).unwrap();
        assert_eq!(node.to_json(), serde_json::json!({"a": [1, "b", null], "c": {"d": false}}));
    }

    #[test]
    fn second_document_is_rejected() {
        assert!(matches!(parse("a: 1\n---\nb: 2\n"), Err(ReadError::MultipleDocuments { .. })));
    }

    #[test]
    fn infinity_is_rejected() {
        assert!(matches!(parse("a: .inf\n"), Err(ReadError::InvalidNumber { .. })));
    }

    #[test]
    fn custom_tag_is_rejected() {
        assert!(matches!(parse("a: !Ref b\n"), Err(ReadError::UnsupportedTag { .. })));
    }

    #[test]
    fn empty_file_is_null() {
        assert_eq!(parse("").unwrap().value, NodeValue::Null);
    }

    #[test]
    fn indentation_tab_is_the_error_position() {
        for text in ["a:\n  b: 1\n \tc: 2\n", "a: |\n\ttext\n", "a:\n\t- 1\n", "a:\n  b: 1\n\t c: 2\n"] {
            let Err(error) = parse(text) else { panic!("{text:?} must fail") };
            assert_eq!(error.span().start, text.find('\t').unwrap(), "{text:?}: {error:?}");
        }
    }

    #[test]
    fn tab_error_points_at_the_tab() {
        let text = "upstreams:\n  - name: app\n\ttargets: []\n";
        let Err(error) = parse(text) else { panic!("a tab in the indentation must fail") };
        assert!(matches!(error, ReadError::Syntax { .. }), "{error:?}");
        assert_eq!(error.span().start, text.find('\t').unwrap(), "{error:?}");
    }

    #[test]
    fn tab_after_colon_is_named_at_the_tab() {
        let error = parse("kind:\tGateway\n").unwrap_err();
        assert!(error.to_string().contains("a tab follows the `:`"), "{error:?}");
        assert_eq!((error.span().start, error.span().end), (5, 6));
    }

    #[test]
    fn syntax_error_has_position() {
        let error = parse("a: b: c\n").unwrap_err();
        assert!(matches!(error, ReadError::Syntax { .. }), "{error:?}");
        assert_eq!(error.span().start, 4);
    }

    #[test]
    fn missing_brace_before_next_entry_is_named() {
        let text = "{\"routes\": [{\"name\": \"a\", \"upstream\": \"x\", {\"name\": \"b\"}]}\n";
        let error = parse(text).unwrap_err();
        let ReadError::UnclosedFlow { bracket, span, .. } = error else { panic!("{error:?}") };
        assert_eq!(bracket, '{');
        assert_eq!(span.start, text.find("{\"name\": \"a\"").unwrap());
    }

    #[test]
    fn collection_key_in_closed_mapping_stays_complex_key() {
        let error = parse("{[a]: 1}\n").unwrap_err();
        assert!(matches!(error, ReadError::ComplexKey { .. }), "{error:?}");
    }

    #[test]
    fn innermost_unclosed_bracket_is_named_in_json() {
        let error = parse("{\"a\": [1, 2\n}\n").unwrap_err();
        let ReadError::UnclosedFlow { bracket, span, .. } = error else { panic!("{error:?}") };
        assert_eq!(bracket, '[');
        assert_eq!(span.start, 6);
    }

    #[test]
    fn unclosed_bracket_is_named_at_its_place() {
        let error = parse("a: [1, 2\nb: 3\n").unwrap_err();
        let ReadError::UnclosedFlow { bracket, closer, span, failure, .. } = error else { panic!("{error:?}") };
        assert_eq!((bracket, closer), ('[', ']'));
        assert_eq!(span.start, 3);
        assert!(failure.start > span.start, "{failure:?}");
    }
}
