//! Merging spec fragments and overlays, and finding the source of any JSON pointer.
//!
//! A spec may be split over the files of a directory: their entity lists (`routes`, `upstreams`,
//! ...) are concatenated and their `metadata` and `settings` merged, a value set in two files being
//! an error. Overlays are then applied on top, without any templating: entities are matched by
//! `name` (`id` for consumers) and merged field by field, mappings merge recursively, scalars and
//! lists replace, `null` removes a field, and `$patch: delete` removes a whole entity. Every merged
//! node keeps the span of the file that set it, so diagnostics point into the right file.

use crate::diagnostic::Diagnostic;
use crate::source::Span;
use crate::yaml::{Key, Node, NodeValue};

/// Top-level lists of named entities, with the field that names their entries.
pub const ENTITY_LISTS: [(&str, &str); 6] = [
    ("upstreams", "name"),
    ("routes", "name"),
    ("authProviders", "name"),
    ("consumers", "id"),
    ("rateLimitPolicies", "name"),
    ("tiers", "name"),
];

/// Result of a merge step; the diagnostic is boxed because it is large and rare.
pub type MergeResult = Result<(), Box<Diagnostic>>;

/// Key that removes an entity when an overlay sets it to `delete`.
pub const PATCH_KEY: &str = "$patch";

fn entity_key(list: &str) -> Option<&'static str> {
    ENTITY_LISTS.iter().find(|(name, _)| *name == list).map(|(_, key)| *key)
}

/// Merges one fragment of a directory spec into the accumulated document.
pub fn merge_fragment(base: &mut Node, fragment: Node) -> MergeResult {
    let NodeValue::Mapping(fragment_entries) = fragment.value else {
        return Err(Box::new(
            Diagnostic::error("invalid-document", format!("a spec file must be a mapping, found a {}", fragment.type_name()))
                .at(Some(fragment.span))
                .with_help("start the file with `apiVersion: gatectl.dev/v1` and `kind: Gateway`"),
        ));
    };
    let NodeValue::Mapping(base_entries) = &mut base.value else {
        *base = Node { value: NodeValue::Mapping(fragment_entries), span: fragment.span };
        return Ok(());
    };
    for (key, value) in fragment_entries {
        let Some(index) = base_entries.iter().position(|(existing, _)| existing.name == key.name) else {
            base_entries.push((key, value));
            continue;
        };
        let existing = &mut base_entries[index].1;
        let span = value.span;
        match (&mut existing.value, value.value) {
            (NodeValue::Sequence(items), NodeValue::Sequence(more)) if entity_key(&key.name).is_some() => items.extend(more),
            (NodeValue::Mapping(_), value @ NodeValue::Mapping(_)) => merge_disjoint(existing, Node { value, span })?,
            (_, value) => merge_equal_scalar(existing, key, Node { value, span })?,
        }
    }
    Ok(())
}

fn merge_equal_scalar(existing: &mut Node, key: Key, incoming: Node) -> MergeResult {
    if existing.value == incoming.value || key.name == "apiVersion" || key.name == "kind" {
        return Ok(());
    }
    Err(Box::new(
        Diagnostic::error("conflicting-value", format!("`{}` is set in more than one file of the spec", key.name))
            .at(Some(incoming.span))
            .with_related(Some(existing.span), "first set here")
            .with_help("set each value in one file only, or move per-environment values into an overlay"),
    ))
}

/// Merges two mappings whose keys must not overlap except where the values agree.
fn merge_disjoint(base: &mut Node, incoming: Node) -> MergeResult {
    let (NodeValue::Mapping(base_entries), NodeValue::Mapping(incoming_entries)) = (&mut base.value, incoming.value) else {
        return Ok(());
    };
    for (key, value) in incoming_entries {
        match base_entries.iter_mut().find(|(existing, _)| existing.name == key.name) {
            None => base_entries.push((key, value)),
            Some((_, existing)) => match (&existing.value, &value.value) {
                (NodeValue::Mapping(_), NodeValue::Mapping(_)) => merge_disjoint(existing, value)?,
                _ => merge_equal_scalar(existing, key, value)?,
            },
        }
    }
    Ok(())
}

/// Applies an overlay on top of a merged spec.
pub fn apply_overlay(base: &mut Node, overlay: Node) -> MergeResult {
    let NodeValue::Mapping(overlay_entries) = overlay.value else {
        return Err(Box::new(
            Diagnostic::error("invalid-document", format!("an overlay must be a mapping, found a {}", overlay.type_name()))
                .at(Some(overlay.span))
                .with_help("write the overlay in the same shape as the spec, with only the fields it changes"),
        ));
    };
    if !matches!(base.value, NodeValue::Mapping(_)) {
        base.value = NodeValue::Mapping(Vec::new());
    }
    let NodeValue::Mapping(base_entries) = &mut base.value else { unreachable!("made a mapping above") };
    for (key, value) in overlay_entries {
        if key.name == "apiVersion" || key.name == "kind" {
            continue;
        }
        let position = base_entries.iter().position(|(existing, _)| existing.name == key.name);
        match (position, entity_key(&key.name)) {
            (Some(index), Some(name_field)) => merge_entities(&mut base_entries[index].1, value, name_field)?,
            (None, Some(name_field)) => {
                let mut list = Node { value: NodeValue::Sequence(Vec::new()), span: value.span };
                merge_entities(&mut list, value, name_field)?;
                base_entries.push((key, list));
            }
            (Some(index), None) => merge_patch(&mut base_entries[index].1, value),
            (None, None) => {
                if value.value != NodeValue::Null {
                    base_entries.push((key, value));
                }
            }
        }
    }
    Ok(())
}

fn merge_entities(base: &mut Node, overlay: Node, name_field: &str) -> MergeResult {
    let NodeValue::Sequence(overlay_items) = overlay.value else {
        return Err(Box::new(
            Diagnostic::error("invalid-document", format!("expected a list of entities, found a {}", overlay.type_name()))
                .at(Some(overlay.span)),
        ));
    };
    let NodeValue::Sequence(base_items) = &mut base.value else {
        return Err(Box::new(
            Diagnostic::error("invalid-document", "the overlay merges a list into a value that is not a list").at(Some(overlay.span)),
        ));
    };
    for item in overlay_items {
        let Some(name) = item.get(name_field).and_then(Node::as_str).map(str::to_owned) else {
            return Err(Box::new(
                Diagnostic::error(
                    "invalid-document",
                    format!(
                        "an overlay entity needs {} `{name_field}` to say which entity it changes",
                        if name_field.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" }
                    ),
                )
                .at(Some(item.span))
                .with_help(format!("add `{name_field}:` with the name of the entity to change or add")),
            ));
        };
        let deletes = item.get(PATCH_KEY).and_then(Node::as_str) == Some("delete");
        let existing = base_items.iter().position(|candidate| candidate.get(name_field).and_then(Node::as_str) == Some(name.as_str()));
        match (existing, deletes) {
            (Some(index), true) => {
                base_items.remove(index);
            }
            (None, true) => {
                return Err(Box::new(
                    Diagnostic::error("invalid-document", format!("the overlay deletes `{name}`, which the spec does not define"))
                        .at(Some(item.span))
                        .with_help("remove the deletion from the overlay, or fix the name"),
                ));
            }
            (Some(index), false) => merge_patch(&mut base_items[index], item),
            (None, false) => {
                // Names are case-sensitive, so a name that differs only in case would add a
                // second entity where the author meant to change the first.
                let same_but_case = base_items
                    .iter()
                    .filter_map(|candidate| candidate.get(name_field).and_then(Node::as_str))
                    .find(|existing| existing.eq_ignore_ascii_case(&name));
                if let Some(existing) = same_but_case {
                    return Err(Box::new(
                        Diagnostic::error(
                            "invalid-document",
                            format!("the overlay names `{name}`, which the spec does not define; names are case-sensitive"),
                        )
                        .at(Some(item.span))
                        .with_help(format!(
                            "write `{existing}` to change that entity, or give the new entity a name that differs in more than case"
                        )),
                    ));
                }
                base_items.push(item);
            }
        }
    }
    Ok(())
}

/// Merges like RFC 7396 JSON Merge Patch, keeping spans.
fn merge_patch(base: &mut Node, patch: Node) {
    let NodeValue::Mapping(patch_entries) = patch.value else {
        *base = patch;
        return;
    };
    if !matches!(base.value, NodeValue::Mapping(_)) {
        base.value = NodeValue::Mapping(Vec::new());
    }
    base.span = patch.span;
    let NodeValue::Mapping(base_entries) = &mut base.value else { unreachable!("made a mapping above") };
    for (key, value) in patch_entries {
        let position = base_entries.iter().position(|(existing, _)| existing.name == key.name);
        match (position, value.value == NodeValue::Null) {
            (Some(index), true) => {
                base_entries.remove(index);
            }
            (None, true) => {}
            (Some(index), false) => merge_patch(&mut base_entries[index].1, value),
            (None, false) => base_entries.push((key, value)),
        }
    }
}

/// Source spans of the values in a merged document, looked up by JSON pointer.
///
/// The index keeps the merged tree and walks it on each lookup instead of building a map of every
/// pointer up front: lookups happen only for findings, so a valid spec pays nothing for them.
#[derive(Debug, Default, Clone)]
pub struct LocationIndex {
    root: Option<Node>,
}

impl LocationIndex {
    pub fn new(root: Node) -> Self {
        Self { root: Some(root) }
    }

    /// The merged document; `None` for an empty index.
    pub fn root(&self) -> Option<&Node> {
        self.root.as_ref()
    }

    /// Walks `pointer` as far as it exists, returning the last node reached, whether the walk
    /// reached the end, and the key span of the last mapping entry taken.
    fn walk(&self, pointer: &str) -> Option<(&Node, bool, Option<Span>)> {
        let mut node = self.root.as_ref()?;
        let mut key_span = None;
        if pointer.is_empty() {
            return Some((node, true, None));
        }
        for token in pointer.strip_prefix('/').unwrap_or(pointer).split('/') {
            let token = token.replace("~1", "/").replace("~0", "~");
            let next = match &node.value {
                NodeValue::Sequence(items) => token.parse::<usize>().ok().and_then(|position| items.get(position)).map(|item| (item, None)),
                NodeValue::Mapping(entries) => {
                    entries.iter().find(|(key, _)| key.name == token).map(|(key, value)| (value, Some(key.span)))
                }
                _ => None,
            };
            let Some((child, child_key)) = next else {
                return Some((node, false, key_span));
            };
            node = child;
            key_span = child_key;
        }
        Some((node, true, key_span))
    }

    /// Span of the value at `pointer`, or of its closest ancestor that exists.
    pub fn value(&self, pointer: &str) -> Option<Span> {
        self.walk(pointer).map(|(node, _, _)| node.span)
    }

    /// Span of the mapping key at `pointer`, falling back to its value or closest ancestor.
    pub fn key(&self, pointer: &str) -> Option<Span> {
        match self.walk(pointer)? {
            (_, true, Some(key_span)) => Some(key_span),
            (node, _, _) => Some(node.span),
        }
    }
}

/// Escapes one JSON pointer reference token (RFC 6901).
pub fn escape_pointer_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::{SourceFile, SourceId};
    use crate::yaml::{ReadLimits, read};

    fn parse(id: u32, text: &str) -> Node {
        read(&SourceFile::new("t.yaml", text), SourceId(id), ReadLimits::default()).unwrap()
    }

    #[test]
    fn fragments_concatenate_entity_lists() {
        let mut base = parse(0, "apiVersion: gatectl.dev/v1\nroutes:\n  - name: a\n");
        merge_fragment(&mut base, parse(1, "apiVersion: gatectl.dev/v1\nroutes:\n  - name: b\n")).unwrap();
        let names: Vec<_> = base.to_json()["routes"].as_array().unwrap().iter().map(|route| route["name"].clone()).collect();
        assert_eq!(names, vec!["a", "b"]);
    }

    #[test]
    fn fragments_conflicting_settings_are_an_error() {
        let mut base = parse(0, "settings:\n  requestIdHeader: X-A\n");
        let error = merge_fragment(&mut base, parse(1, "settings:\n  requestIdHeader: X-B\n")).unwrap_err();
        assert_eq!(error.rule, "conflicting-value");
        // Both places are the values, so the two files are shown the same way.
        let at = error.span.unwrap();
        assert_eq!((at.source, at.start, at.end), (SourceId(1), 29, 32));
        let first = error.related[0].0;
        assert_eq!((first.source, first.start, first.end), (SourceId(0), 29, 32));
    }

    #[test]
    fn overlay_merges_by_name_and_deletes() {
        let mut base = parse(0, "routes:\n  - name: a\n    tags: [x]\n    upstream: u\n  - name: b\n    upstream: u\n");
        apply_overlay(
            &mut base,
            parse(
                1,
                "routes:\n  - name: a\n    tags: [y]\n    upstream: null\n  - name: b\n    $patch: delete\n  - name: c\n    upstream: v\n",
            ),
        )
        .unwrap();
        assert_eq!(base.to_json()["routes"], serde_json::json!([{"name": "a", "tags": ["y"]}, {"name": "c", "upstream": "v"}]));
    }

    #[test]
    fn overlay_name_differing_in_case_is_an_error() {
        let mut base = parse(0, "routes:\n  - name: get-items\n    upstream: u\n");
        let error = apply_overlay(&mut base, parse(1, "routes:\n  - name: GET-items\n    tags: [x]\n")).unwrap_err();
        assert_eq!(error.rule, "invalid-document");
        assert!(error.message.contains("`GET-items`"), "{}", error.message);
        assert!(error.help.as_deref().unwrap_or_default().contains("`get-items`"), "{:?}", error.help);
        assert_eq!(error.span.unwrap().source, SourceId(1));
    }

    #[test]
    fn overlay_values_keep_overlay_span() {
        let mut base = parse(0, "settings:\n  requestIdHeader: X-A\n");
        apply_overlay(&mut base, parse(1, "settings:\n  requestIdHeader: X-B\n")).unwrap();
        let index = LocationIndex::new(base);
        assert_eq!(index.value("/settings/requestIdHeader").unwrap().source, SourceId(1));
    }

    #[test]
    fn index_falls_back_to_ancestor() {
        let root = parse(0, "routes:\n  - name: a\n");
        let index = LocationIndex::new(root);
        assert_eq!(index.value("/routes/0/missing"), index.value("/routes/0"));
        assert!(index.key("/routes/0/name").is_some());
    }
}
