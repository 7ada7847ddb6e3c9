//! Typed decoding straight from the spanned tree: `&Node` is a serde `Deserializer`.
//!
//! Decoding a spec used to go through a `serde_json::Value` copy of the whole tree. Reading the
//! tree in place gives the same values and the same error messages without that copy.

use std::fmt;

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor};

use super::{Key, Node, NodeValue};

/// Why a node does not decode into the requested type; the message reads like serde_json's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(String);

impl fmt::Display for DecodeError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl std::error::Error for DecodeError {}

impl de::Error for DecodeError {
    fn custom<T: fmt::Display>(message: T) -> Self {
        Self(message.to_string())
    }
}

impl<'de> Deserializer<'de> for &'de Node {
    type Error = DecodeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match &self.value {
            NodeValue::Null => visitor.visit_unit(),
            NodeValue::Bool(value) => visitor.visit_bool(*value),
            NodeValue::Number(number) => {
                if let Some(value) = number.as_u64() {
                    visitor.visit_u64(value)
                } else if let Some(value) = number.as_i64() {
                    visitor.visit_i64(value)
                } else {
                    visitor.visit_f64(number.as_f64().unwrap_or(f64::NAN))
                }
            }
            NodeValue::String(text) => visitor.visit_borrowed_str(text),
            NodeValue::Sequence(items) => {
                let mut access = Items { items: items.iter() };
                let value = visitor.visit_seq(&mut access)?;
                match access.items.len() {
                    0 => Ok(value),
                    _ => Err(de::Error::invalid_length(items.len(), &"fewer elements in sequence")),
                }
            }
            NodeValue::Mapping(entries) => {
                let mut access = Entries { entries: entries.iter(), value: None };
                let value = visitor.visit_map(&mut access)?;
                match access.entries.len() {
                    0 => Ok(value),
                    _ => Err(de::Error::invalid_length(entries.len(), &"fewer elements in map")),
                }
            }
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match self.value {
            NodeValue::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, DecodeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        match &self.value {
            NodeValue::String(variant) => visitor.visit_enum(BorrowedStrDeserializer::new(variant)),
            NodeValue::Mapping(entries) if entries.len() == 1 => {
                let (key, value) = &entries[0];
                visitor.visit_enum(Variant { key, value })
            }
            NodeValue::Mapping(_) => Err(de::Error::invalid_value(de::Unexpected::Map, &"map with a single key")),
            _ => Err(de::Error::invalid_type(unexpected(self), &"string or map")),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf unit
        unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

fn unexpected(node: &Node) -> de::Unexpected<'_> {
    match &node.value {
        NodeValue::Null => de::Unexpected::Unit,
        NodeValue::Bool(value) => de::Unexpected::Bool(*value),
        NodeValue::Number(number) => match (number.as_u64(), number.as_i64()) {
            (Some(value), _) => de::Unexpected::Unsigned(value),
            (None, Some(value)) => de::Unexpected::Signed(value),
            _ => de::Unexpected::Float(number.as_f64().unwrap_or(f64::NAN)),
        },
        NodeValue::String(text) => de::Unexpected::Str(text),
        NodeValue::Sequence(_) => de::Unexpected::Seq,
        NodeValue::Mapping(_) => de::Unexpected::Map,
    }
}

struct Items<'de> {
    items: std::slice::Iter<'de, Node>,
}

impl<'de> SeqAccess<'de> for Items<'de> {
    type Error = DecodeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, DecodeError> {
        self.items.next().map(|item| seed.deserialize(item)).transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct Entries<'de> {
    entries: std::slice::Iter<'de, (Key, Node)>,
    value: Option<&'de Node>,
}

impl<'de> MapAccess<'de> for Entries<'de> {
    type Error = DecodeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, DecodeError> {
        let Some((key, value)) = self.entries.next() else { return Ok(None) };
        self.value = Some(value);
        seed.deserialize(BorrowedStrDeserializer::new(&key.name)).map(Some)
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, DecodeError> {
        match self.value.take() {
            Some(value) => seed.deserialize(value),
            None => Err(de::Error::custom("a map value was read before its key")),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

/// An enum written as a mapping of one entry. The key names the variant and the value contains it.
struct Variant<'de> {
    key: &'de Key,
    value: &'de Node,
}

impl<'de> EnumAccess<'de> for Variant<'de> {
    type Error = DecodeError;
    type Variant = &'de Node;

    fn variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<(T::Value, &'de Node), DecodeError> {
        let name = BorrowedStrDeserializer::<DecodeError>::new(&self.key.name);
        Ok((seed.deserialize(name)?, self.value))
    }
}

impl<'de> VariantAccess<'de> for &'de Node {
    type Error = DecodeError;

    fn unit_variant(self) -> Result<(), DecodeError> {
        match self.value {
            NodeValue::Null => Ok(()),
            _ => Err(de::Error::invalid_type(unexpected(self), &"unit variant")),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, DecodeError> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _length: usize, visitor: V) -> Result<V::Value, DecodeError> {
        match self.value {
            NodeValue::Sequence(_) => self.deserialize_any(visitor),
            _ => Err(de::Error::invalid_type(unexpected(self), &"tuple variant")),
        }
    }

    fn struct_variant<V: Visitor<'de>>(self, _fields: &'static [&'static str], visitor: V) -> Result<V::Value, DecodeError> {
        match self.value {
            NodeValue::Mapping(_) => self.deserialize_any(visitor),
            _ => Err(de::Error::invalid_type(unexpected(self), &"struct variant")),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::*;
    use crate::source::{SourceFile, SourceId};
    use crate::yaml::{ReadLimits, read};

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct Sample {
        name: String,
        port: u16,
        ratio: Option<f64>,
        #[serde(default)]
        tags: Vec<String>,
        mode: Mode,
        labels: BTreeMap<String, i64>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "lowercase")]
    enum Mode {
        Fast,
        Limited(u32),
    }

    fn tree(text: &str) -> Node {
        read(&SourceFile::new("test.yaml", text), SourceId(0), ReadLimits::default()).unwrap()
    }

    /// Decodes from the tree and from its JSON copy; both must agree, errors included.
    fn both(text: &str) -> Result<Sample, String> {
        let node = tree(text);
        let direct = Sample::deserialize(&node).map_err(|error| error.to_string());
        let through_json = serde_json::from_value::<Sample>(node.to_json()).map_err(|error| error.to_string());
        assert_eq!(direct, through_json, "decoding {text:?}");
        direct
    }

    #[test]
    fn decodes_like_the_json_copy() {
        let sample = both("name: a\nport: 8080\nratio: 0.5\ntags: [x, y]\nmode: fast\nlabels: {b: -2}\n").unwrap();
        assert_eq!(sample.port, 8080);
        assert_eq!(sample.mode, Mode::Fast);
        assert_eq!(sample.labels["b"], -2);
        let sample = both("name: a\nport: 1\nratio: null\nmode: {limited: 7}\nlabels: {}\n").unwrap();
        assert_eq!((sample.ratio, sample.mode), (None, Mode::Limited(7)));
    }

    #[test]
    fn errors_read_like_the_json_copy() {
        let base = "name: a\nport: 1\nmode: fast\nlabels: {}\n";
        for text in [
            base.replace("port: 1", "port: 70000"),
            base.replace("port: 1", "port: -1"),
            base.replace("port: 1", "port: one"),
            base.replace("mode: fast", "mode: slow"),
            base.replace("mode: fast", "mode: {fast: 1, limited: 2}"),
            base.replace("mode: fast", "mode: [fast]"),
            format!("{base}colour: red\n"),
            base.replace("name: a\n", ""),
            base.replace("labels: {}", "labels: {a: x}"),
        ] {
            assert!(both(&text).is_err(), "{text:?} decoded");
        }
    }
}
