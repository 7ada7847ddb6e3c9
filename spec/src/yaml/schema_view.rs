//! The spanned tree as a JSON representation that `jsonschema` validates in place.
//!
//! `jsonschema` is generic over how a document is stored. Checking our [`Node`] tree directly
//! saves copying a whole spec into a `serde_json::Value` first, which for a large spec costs as
//! much as the check itself. Only an error report builds a `Value`, of the one node it names.

use std::borrow::Cow;
use std::cell::Cell;

use jsonschema::json::{Array, Json, Node as JsonNode, NodeIdentity, Object};
use jsonschema::types::JsonType;

use super::{Key, Node, NodeValue};
use crate::source::{SourceId, Span};

/// The [`Node`] tree as seen by the schema validator.
pub struct SpannedJson;

impl Json for SpannedJson {
    type Node<'a> = &'a Node;
    type PreparedKey = String;
    type StringBuffer = ();

    // Mappings are vectors of entries: a pass over a few keys costs less than a lookup each.
    const KEYS_PER_LOOKUP: usize = 2;
    // Aliases are copied when read, so no node is its own descendant.
    const ACYCLIC: bool = true;

    fn prepare_key(key: &str) -> String {
        key.to_owned()
    }

    fn with_string_node<T>((): &mut (), string: &str, f: impl FnOnce(&Node) -> T) -> T {
        thread_local! {
            // Reused for every property name this thread checks, so names allocate only while it grows.
            static NAME: Cell<String> = const { Cell::new(String::new()) };
        }
        let mut name = NAME.take();
        name.clear();
        name.push_str(string);
        let node = Node { value: NodeValue::String(name), span: Span::new(SourceId(0), 0, 0) };
        let result = f(&node);
        if let NodeValue::String(name) = node.value {
            NAME.set(name);
        }
        result
    }
}

impl<'a> JsonNode<'a, SpannedJson> for &'a Node {
    type Object = Entries<'a>;
    type Array = &'a [Node];
    type Number = &'a serde_json::Number;

    fn as_object(&self) -> Option<Entries<'a>> {
        match &self.value {
            NodeValue::Mapping(entries) => Some(Entries(entries)),
            _ => None,
        }
    }

    fn as_array(&self) -> Option<&'a [Node]> {
        match &self.value {
            NodeValue::Sequence(items) => Some(items),
            _ => None,
        }
    }

    fn as_string(&self) -> Option<Cow<'a, str>> {
        match &self.value {
            NodeValue::String(text) => Some(Cow::Borrowed(text)),
            _ => None,
        }
    }

    fn as_number(&self) -> Option<&'a serde_json::Number> {
        match &self.value {
            NodeValue::Number(number) => Some(number),
            _ => None,
        }
    }

    fn as_boolean(&self) -> Option<bool> {
        match self.value {
            NodeValue::Bool(value) => Some(value),
            _ => None,
        }
    }

    fn is_null(&self) -> bool {
        matches!(self.value, NodeValue::Null)
    }

    fn json_type(&self) -> JsonType {
        match self.value {
            NodeValue::Null => JsonType::Null,
            NodeValue::Bool(_) => JsonType::Boolean,
            NodeValue::Number(_) => JsonType::Number,
            NodeValue::String(_) => JsonType::String,
            NodeValue::Sequence(_) => JsonType::Array,
            NodeValue::Mapping(_) => JsonType::Object,
        }
    }

    fn to_value(&self) -> Cow<'a, serde_json::Value> {
        Cow::Owned(self.to_json())
    }

    fn identity(&self) -> Option<NodeIdentity> {
        Some(NodeIdentity::new(std::ptr::from_ref::<Node>(self) as usize))
    }
}

/// The entries of a mapping node.
#[derive(Clone, Copy)]
pub struct Entries<'a>(&'a [(Key, Node)]);

impl<'a> Object<'a, SpannedJson> for Entries<'a> {
    type Node = &'a Node;
    type MemberName = &'a str;
    type MembersIter = Members<'a>;

    fn len(&self) -> usize {
        self.0.len()
    }

    fn get(&self, key: &String) -> Option<&'a Node> {
        self.0.iter().find(|(name, _)| name.name == *key).map(|(_, value)| value)
    }

    fn members(&self) -> Members<'a> {
        Members(self.0.iter())
    }
}

/// Iterates over the entries of a mapping node as name and value.
pub struct Members<'a>(std::slice::Iter<'a, (Key, Node)>);

impl<'a> Iterator for Members<'a> {
    type Item = (&'a str, &'a Node);

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|(key, value)| (key.name.as_str(), value))
    }
}

impl<'a> Array<'a, SpannedJson> for &'a [Node] {
    type Node = &'a Node;
    type ElementsIter = std::slice::Iter<'a, Node>;

    fn len(&self) -> usize {
        <[Node]>::len(self)
    }

    fn elements(&self) -> std::slice::Iter<'a, Node> {
        (*self).iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::SourceFile;
    use crate::yaml::{ReadLimits, read};

    fn tree(text: &str) -> Node {
        read(&SourceFile::new("test.yaml", text), SourceId(0), ReadLimits::default()).unwrap()
    }

    fn check(schema: serde_json::Value, text: &str) -> Vec<String> {
        let validator = jsonschema::options_for::<SpannedJson>().build(&schema).unwrap();
        let document = tree(text);
        validator.iter_errors(&document).map(|error| format!("{} at {}", error, error.instance_path().as_str())).collect()
    }

    #[test]
    fn tree_validates_like_the_same_document_as_json() {
        let schema = serde_json::json!({
            "type": "object",
            "required": ["name"],
            "additionalProperties": false,
            "properties": {
                "name": {"type": "string", "minLength": 2},
                "port": {"type": "integer", "maximum": 65535},
                "tags": {"type": "array", "items": {"enum": ["a", "b"]}, "uniqueItems": true},
                "extra": {"type": "object", "propertyNames": {"pattern": "^x-"}}
            }
        });
        let text = "name: n\nport: 70000\ntags: [a, c, a]\nextra: {x-ok: 1, bad: 2}\nother: true\n";
        let from_tree = check(schema.clone(), text);
        let json = tree(text).to_json();
        let validator = jsonschema::options().build(&schema).unwrap();
        let from_json: Vec<String> =
            validator.iter_errors(&json).map(|error| format!("{} at {}", error, error.instance_path().as_str())).collect();
        assert_eq!(from_tree, from_json);
        assert_eq!(from_tree.len(), 6, "{from_tree:?}");
    }

    #[test]
    fn valid_tree_passes() {
        let schema = serde_json::json!({"type": "object", "properties": {"a": {"type": "array", "items": {"type": "number"}}}});
        assert!(check(schema, "a: [1, 2.5, -3]\n").is_empty());
    }
}
