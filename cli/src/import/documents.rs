//! OpenAPI files read with spans, and `$ref` resolution across them.
//!
//! Every file is read into a tree whose nodes keep the span that warnings point at: JSON with
//! [`json_reader`], YAML with [`gatectl_spec::yaml::read`]. References are resolved lazily, only
//! where the importer needs the target (path items, parameters, security schemes): schemas are
//! never walked, so recursive schemas cost nothing.
//! A chain of references that comes back to a place it already visited is reported as a cycle.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use gatectl_spec::source::{SourceFile, SourceId, SourceMap, Span};
use gatectl_spec::yaml::{self, Node, NodeValue, ReadLimits};

use super::ImportError;
use super::json_reader;

/// Read limits for OpenAPI files, which are often far larger than gateway specs: the GitHub REST
/// API description is 13 MB of JSON with about two million nodes.
const LIMITS: ReadLimits = ReadLimits { max_bytes: 128 * 1024 * 1024, max_depth: 256, max_nodes: 64_000_000 };

/// Longest chain of `$ref`s followed before the chain counts as a cycle.
const MAX_REFERENCE_HOPS: usize = 64;

/// Every OpenAPI file read during one import: the files named on the command line and those
/// reached through relative `$ref`s.
#[derive(Default)]
pub struct Documents {
    pub sources: SourceMap,
    roots: Vec<Arc<Node>>,
    by_path: HashMap<PathBuf, SourceId>,
    /// `$ref`s to `http://` or `https://` URLs, found in every file read.
    pub remote_references: Vec<(String, Span)>,
}

/// Why a `$ref` could not be followed. The importer turns each into a warning at the `$ref`.
#[derive(Debug)]
pub enum ReferenceError {
    Remote(String),
    Invalid(String),
    FileUnreadable { reference: String, reason: String },
    NotFound(String),
    Cycle(Vec<String>),
}

impl std::fmt::Display for ReferenceError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Remote(reference) => write!(
                formatter,
                "`$ref: {reference}` points to a remote URL, which this build does not fetch; download the file and refer to it by a relative path"
            ),
            Self::Invalid(reference) => {
                write!(formatter, "`$ref: {reference}` is not a valid reference; use `file.yaml#/json/pointer` or `#/json/pointer`")
            }
            Self::FileUnreadable { reference, reason } => write!(formatter, "cannot read the file of `$ref: {reference}`: {reason}"),
            Self::NotFound(reference) => write!(formatter, "`$ref: {reference}` points to nothing; check the JSON pointer after `#`"),
            Self::Cycle(chain) => {
                write!(formatter, "`$ref` cycle: {}; break the cycle by pointing one reference at a real object", chain.join(" -> "))
            }
        }
    }
}

impl Documents {
    /// Reads a file (once: a second open of the same path returns the same id).
    pub fn open(&mut self, path: &Path) -> Result<SourceId, ImportError> {
        let key = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
        if let Some(id) = self.by_path.get(&key) {
            return Ok(*id);
        }
        let bytes = std::fs::read(path).map_err(|source| ImportError::Read { path: path.to_owned(), source })?;
        let text = String::from_utf8(bytes)
            .map_err(|error| ImportError::Encoding { path: path.to_owned(), offset: error.utf8_error().valid_up_to() })?;
        let id = self.sources.add(SourceFile::new(path, text));
        let root = read_tree(self.sources.get(id), id)
            .map_err(|error| ImportError::Parse { location: self.sources.locate(error.span()).to_string(), message: error.to_string() })?;
        collect_remote_references(&root, &mut self.remote_references);
        self.roots.push(Arc::new(root));
        self.by_path.insert(key, id);
        Ok(id)
    }

    pub fn root(&self, id: SourceId) -> Arc<Node> {
        Arc::clone(&self.roots[id.0 as usize])
    }

    pub fn path(&self, id: SourceId) -> &Path {
        &self.sources.get(id).path
    }

    /// Follows `node` while it is a `$ref`, returning the file and node it finally points to, or
    /// `None` when `node` is not a reference.
    pub fn follow(&mut self, file: SourceId, node: &Node) -> Result<Option<(SourceId, Node)>, ReferenceError> {
        let Some(mut reference) = reference_of(node) else {
            return Ok(None);
        };
        let mut current_file = file;
        let mut visited: Vec<String> = Vec::new();
        loop {
            let (target_file, pointer) = self.locate_reference(current_file, &reference)?;
            let place = format!("{}#{pointer}", self.path(target_file).display());
            if visited.contains(&place) || visited.len() >= MAX_REFERENCE_HOPS {
                visited.push(place);
                return Err(ReferenceError::Cycle(visited));
            }
            visited.push(place);
            let root = self.root(target_file);
            let target = lookup_pointer(&root, &pointer).ok_or_else(|| ReferenceError::NotFound(reference.clone()))?;
            match reference_of(target) {
                Some(next) => {
                    reference = next;
                    current_file = target_file;
                }
                None => return Ok(Some((target_file, target.clone()))),
            }
        }
    }

    fn locate_reference(&mut self, file: SourceId, reference: &str) -> Result<(SourceId, String), ReferenceError> {
        if is_remote(reference) {
            return Err(ReferenceError::Remote(reference.to_owned()));
        }
        let (file_part, fragment) = reference.split_once('#').unwrap_or((reference, ""));
        if !fragment.is_empty() && !fragment.starts_with('/') {
            return Err(ReferenceError::Invalid(reference.to_owned()));
        }
        let pointer = percent_decode(fragment);
        if file_part.is_empty() {
            return Ok((file, pointer));
        }
        let base = self.path(file).parent().map(Path::to_owned).unwrap_or_default();
        let target_path = base.join(percent_decode(file_part));
        let target = self
            .open(&target_path)
            .map_err(|error| ReferenceError::FileUnreadable { reference: reference.to_owned(), reason: error.to_string() })?;
        Ok((target, pointer))
    }
}

/// Reads a file into a spanned tree: JSON with the fast [`json_reader`], and YAML (or JSON the
/// fast reader rejects) with [`yaml::read`], whose error is the one reported.
fn read_tree(file: &SourceFile, id: SourceId) -> Result<Node, yaml::ReadError> {
    if json_reader::looks_like_json(&file.text)
        && let Ok(root) = json_reader::read(&file.text, id, LIMITS)
    {
        return Ok(root);
    }
    yaml::read(file, id, LIMITS)
}

/// The string value of a `$ref` key, when the node is a mapping that has one.
pub fn reference_of(node: &Node) -> Option<String> {
    node.get("$ref").and_then(Node::as_str).map(str::to_owned)
}

fn is_remote(reference: &str) -> bool {
    let lower = reference.to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://") || lower.starts_with("//")
}

fn collect_remote_references(node: &Node, found: &mut Vec<(String, Span)>) {
    match &node.value {
        NodeValue::Mapping(entries) => {
            for (key, value) in entries {
                if key.name == "$ref"
                    && let Some(reference) = value.as_str()
                    && is_remote(reference)
                {
                    found.push((reference.to_owned(), value.span));
                }
                collect_remote_references(value, found);
            }
        }
        NodeValue::Sequence(items) => items.iter().for_each(|item| collect_remote_references(item, found)),
        _ => {}
    }
}

/// Walks an RFC 6901 JSON pointer (already percent-decoded) from `root`.
pub fn lookup_pointer<'a>(root: &'a Node, pointer: &str) -> Option<&'a Node> {
    let mut node = root;
    if pointer.is_empty() {
        return Some(node);
    }
    for token in pointer.strip_prefix('/')?.split('/') {
        let token = token.replace("~1", "/").replace("~0", "~");
        node = match &node.value {
            NodeValue::Mapping(_) => node.get(&token)?,
            NodeValue::Sequence(items) => items.get(token.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(node)
}

/// Decodes `%XX` escapes, which URI fragments use for `{`, `}` and spaces. Invalid escapes and
/// byte sequences that are not UTF-8 are kept as written.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escape =
            bytes.get(index + 1..index + 3).and_then(|hex| std::str::from_utf8(hex).ok()).and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (bytes[index], escape) {
            (b'%', Some(byte)) => {
                decoded.push(byte);
                index += 3;
            }
            (byte, _) => {
                decoded.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8(decoded).unwrap_or_else(|_| text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_keeps_invalid_escapes() {
        assert_eq!(percent_decode("/paths/~1users~1%7Bid%7D"), "/paths/~1users~1{id}");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }

    #[test]
    fn remote_references_are_recognised() {
        assert!(is_remote("https://example.invalid/a.yaml#/x"));
        assert!(is_remote("//example.invalid/a.yaml"));
        assert!(!is_remote("common.yaml#/components/parameters/id"));
    }
}
