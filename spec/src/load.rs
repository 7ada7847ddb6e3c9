//! Loading a spec from files, directories and overlays into a validated model.
//!
//! Loading runs in layers, and each layer reports every problem it finds with a source location:
//! YAML syntax and structure ([`crate::yaml`]), merging ([`crate::document`]), the JSON Schema
//! ([`crate::schema`]), and typed decoding into [`Spec`]. Semantic rules run afterwards on the
//! typed model (see `gatectl validate`).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::diagnostic::Diagnostic;
use crate::document::{LocationIndex, apply_overlay, merge_fragment};
use crate::model::Spec;
use crate::source::{SourceFile, SourceId, SourceMap, Span};
use crate::yaml::{self, Node, NodeValue, ReadError, ReadLimits};

/// File endings read from a spec directory.
pub const SPEC_EXTENSIONS: [&str; 3] = ["yaml", "yml", "json"];

/// Errors that stop loading before any file could be read: the run cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    // The I/O error is part of the message, not a `source`, so that printing the error with its
    // chain does not repeat it.
    #[error("cannot read {path}: {error}; check that the path exists and is readable")]
    Io { path: PathBuf, error: std::io::Error },
    #[error("{path} holds no .yaml, .yml or .json file; point gatectl at a spec file or a directory of them")]
    EmptyDirectory { path: PathBuf },
    #[error("no spec given; name a spec file or directory")]
    NoInput,
}

/// A loaded spec, with everything needed to report on it.
#[derive(Debug)]
pub struct LoadedSpec {
    pub sources: SourceMap,
    /// The merged document with spans, looked up by JSON pointer.
    pub index: LocationIndex,
    /// The typed spec, when every layer passed.
    pub spec: Option<Spec>,
    /// Problems found while loading; any error means `spec` is `None`.
    pub diagnostics: Vec<Diagnostic>,
    /// The typed spec when only the JSON Schema failed (a pattern or a limit the typed model
    /// does not check), so that `validate` can report the semantic findings of the same run.
    /// Nothing may build, plan or serve from it.
    pub unchecked_spec: Option<Spec>,
}

/// Options for [`load`].
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Overlays applied on top, in order.
    pub overlays: Vec<PathBuf>,
    pub limits: ReadLimits,
}

/// Loads spec files and directories, then applies overlays.
pub fn load(paths: &[PathBuf], options: &LoadOptions) -> Result<LoadedSpec, LoadError> {
    if paths.is_empty() {
        return Err(LoadError::NoInput);
    }
    let mut files = Vec::new();
    for path in paths {
        files.extend(expand(path)?);
    }
    let mut inputs = Vec::new();
    for path in files.iter().chain(options.overlays.iter()) {
        let bytes = std::fs::read(path).map_err(|source| LoadError::Io { path: path.clone(), error: source })?;
        inputs.push((path.clone(), bytes));
    }
    let overlay_count = options.overlays.len();
    let base_count = inputs.len() - overlay_count;
    Ok(load_bytes(inputs, base_count, options.limits))
}

/// Loads spec files already read into memory, for example from a git revision, then applies the
/// overlays of `options` from disk. Each input is named by its path for diagnostics.
pub fn load_in_memory(inputs: Vec<(PathBuf, Vec<u8>)>, options: &LoadOptions) -> Result<LoadedSpec, LoadError> {
    if inputs.is_empty() {
        return Err(LoadError::NoInput);
    }
    let base_count = inputs.len();
    let mut inputs = inputs;
    for path in &options.overlays {
        let bytes = std::fs::read(path).map_err(|source| LoadError::Io { path: path.clone(), error: source })?;
        inputs.push((path.clone(), bytes));
    }
    Ok(load_bytes(inputs, base_count, options.limits))
}

/// Loads one in-memory document; used by tests, fuzzing and the runtime.
pub fn load_str(name: &str, text: &str) -> LoadedSpec {
    load_bytes(vec![(PathBuf::from(name), text.as_bytes().to_vec())], 1, ReadLimits::default())
}

/// Lists the spec files a path stands for: the file itself, or the spec files directly inside a
/// directory in name order (an `overlays` subdirectory is not read).
pub fn expand(path: &Path) -> Result<Vec<PathBuf>, LoadError> {
    let metadata = std::fs::metadata(path).map_err(|source| LoadError::Io { path: path.to_owned(), error: source })?;
    if !metadata.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    let entries = std::fs::read_dir(path).map_err(|source| LoadError::Io { path: path.to_owned(), error: source })?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| LoadError::Io { path: path.to_owned(), error: source })?;
        let file = entry.path();
        let is_spec =
            file.extension().and_then(|extension| extension.to_str()).is_some_and(|extension| SPEC_EXTENSIONS.contains(&extension));
        if is_spec && file.is_file() {
            files.push(file);
        }
    }
    if files.is_empty() {
        return Err(LoadError::EmptyDirectory { path: path.to_owned() });
    }
    files.sort();
    Ok(files)
}

fn load_bytes(inputs: Vec<(PathBuf, Vec<u8>)>, base_count: usize, limits: ReadLimits) -> LoadedSpec {
    let mut sources = SourceMap::new();
    let mut diagnostics = Vec::new();
    let mut root: Option<Node> = None;
    for (position, (path, bytes)) in inputs.into_iter().enumerate() {
        let Some(node) = read_file(&mut sources, path, bytes, limits, &mut diagnostics) else { continue };
        if node.value == NodeValue::Null {
            diagnostics.push(null_document(&sources, &node, position, base_count));
            continue;
        }
        let merged = match root.as_mut() {
            None => {
                // Merged into nothing, so that a first file that is not a mapping gets the same
                // `invalid-document` error as any other fragment.
                let mut first = Node { value: NodeValue::Null, span: node.span };
                let merged = merge_fragment(&mut first, node);
                if merged.is_ok() {
                    root = Some(first);
                }
                merged
            }
            Some(base) if position < base_count => {
                if !matches!(base.value, NodeValue::Mapping(_)) {
                    continue;
                }
                merge_fragment(base, node)
            }
            Some(base) => apply_overlay(base, node),
        };
        if let Err(diagnostic) = merged {
            diagnostics.push(*diagnostic);
        }
    }
    let root = root.unwrap_or(Node { value: NodeValue::Null, span: Span::new(SourceId(0), 0, 0) });
    let index = LocationIndex::new(root);
    let mut loaded = LoadedSpec { sources, index, spec: None, diagnostics, unchecked_spec: None };
    if loaded.diagnostics.is_empty() {
        decode(&mut loaded);
    }
    loaded
}

/// Reports a file whose document is empty or `null`, with help for its role: the spec, one
/// file of a spec directory, or an overlay.
fn null_document(sources: &SourceMap, node: &Node, position: usize, base_count: usize) -> Diagnostic {
    let text = &sources.get(node.span.source).text;
    let is_blank = text.lines().map(str::trim).all(|line| line.is_empty() || line.starts_with('#') || line == "---" || line == "...");
    let role = if position >= base_count { "an overlay" } else { "a spec file" };
    let message = if is_blank {
        "the file contains no document: it is empty or has only comments".to_owned()
    } else {
        format!("the file's document is null, but {role} must be a mapping of fields")
    };
    let help = if position >= base_count {
        "write the fields the overlay changes in it, as a mapping shaped like a spec, or leave the file out"
    } else if base_count > 1 {
        "write the part of the spec this file contains, such as `routes:` with its entries, or delete the file"
    } else {
        "write the spec in it, starting with `apiVersion: gatectl.dev/v1` and `kind: Gateway`, or make one from an OpenAPI file with `gatectl import`"
    };
    let span = if is_blank { Span::new(node.span.source, 0, 0) } else { node.span };
    Diagnostic::error("invalid-document", message).at(Some(span)).with_help(help)
}

fn read_file(
    sources: &mut SourceMap,
    path: PathBuf,
    bytes: Vec<u8>,
    limits: ReadLimits,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Node> {
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) => {
            let offset = error.utf8_error().valid_up_to();
            let lossy = String::from_utf8_lossy(error.as_bytes()).into_owned();
            let lossy_offset = String::from_utf8_lossy(&error.as_bytes()[..offset]).len();
            let id = sources.add(SourceFile::new(path, lossy));
            diagnostics.push(
                Diagnostic::error("invalid-encoding", format!("the file is not valid UTF-8 (invalid byte at offset {offset})"))
                    // The invalid byte reads as one replacement character in the text shown.
                    .at(Some(Span::new(id, lossy_offset, lossy_offset + char::REPLACEMENT_CHARACTER.len_utf8())))
                    .with_help("save the file as UTF-8"),
            );
            return None;
        }
    };
    let id = sources.add(SourceFile::new(path, text));
    match yaml::read(sources.get(id), id, limits) {
        Ok(node) => Some(node),
        Err(error) => {
            diagnostics.push(read_error_diagnostic(&error));
            None
        }
    }
}

/// Turns a YAML read error into a diagnostic at its position.
pub fn read_error_diagnostic(error: &ReadError) -> Diagnostic {
    let rule = match error {
        ReadError::DuplicateKey { .. } => "duplicate-key",
        ReadError::TooLarge { .. } | ReadError::TooDeep { .. } | ReadError::TooManyNodes { .. } => "input-limit",
        _ => "invalid-yaml",
    };
    let mut diagnostic = Diagnostic::error(rule, error.to_string()).at(Some(error.span()));
    // The rule's help is about syntax; the other causes of `invalid-yaml` have a fix of their own.
    diagnostic.help = match error {
        ReadError::MultipleDocuments { .. } => {
            Some("move each document after a `---` line into a file of its own, and pass the files or their directory".to_owned())
        }
        ReadError::UnknownAlias { .. } => Some("write `&name` on the value to reuse, above the `*name` that refers to it".to_owned()),
        ReadError::ComplexKey { .. } => Some("write the key as text, for example `\"[a, b]\": value`".to_owned()),
        ReadError::UnsupportedTag { .. } => Some("remove the tag and write the value as plain YAML".to_owned()),
        ReadError::InvalidNumber { .. } => Some("write the value in quotes".to_owned()),
        _ => crate::rules::rule(rule).map(|known| known.help.to_owned()),
    };
    match error {
        ReadError::DuplicateKey { first, .. } => diagnostic.with_related(Some(*first), "first defined here"),
        ReadError::UnclosedFlow { closer: ']', failure, .. } => diagnostic
            .with_related(Some(*failure), "the parser failed here")
            .with_help("close the list with `]` where it ends, or remove the `[` and write one `- item` per line"),
        ReadError::UnclosedFlow { failure, .. } => diagnostic
            .with_related(Some(*failure), "the parser failed here")
            .with_help("close the mapping with `}` where it ends, or remove the `{` and write one `key: value` per line"),
        _ => diagnostic,
    }
}

/// Spec fields that hold a timestamp.
pub(crate) const TIMESTAMP_FIELDS: [&str; 3] = ["since", "sunset", "expiresAt"];

/// Help for a timestamp field that does not hold one.
pub(crate) const TIMESTAMP_HELP: &str = "write an RFC 3339 timestamp with a time zone, such as 2030-01-01T00:00:00Z";

fn decode(loaded: &mut LoadedSpec) {
    let null = Node { value: NodeValue::Null, span: Span::new(SourceId(0), 0, 0) };
    let document = loaded.index.root().unwrap_or(&null);
    let schema_findings = crate::schema::check(document, &loaded.index);
    if !schema_findings.is_empty() {
        loaded.diagnostics.extend(schema_findings);
        loaded.unchecked_spec = Spec::deserialize(document).ok();
        return;
    }
    // Tracking the path of every value more than doubles the cost of decoding, so the document
    // is decoded without it first, and decoded again with it only to locate an error.
    if let Ok(spec) = Spec::deserialize(document) {
        loaded.spec = Some(spec);
        return;
    }
    match serde_path_to_error::deserialize::<_, Spec>(document) {
        Ok(spec) => loaded.spec = Some(spec),
        Err(error) => {
            let pointer = path_to_pointer(error.path());
            let message = error.inner().to_string();
            let field = pointer.rsplit('/').next().unwrap_or_default();
            let is_timestamp = TIMESTAMP_FIELDS.contains(&field);
            let is_network = pointer.starts_with("/settings/trustedProxies/");
            let help = match (is_timestamp, is_network) {
                (true, _) => TIMESTAMP_HELP,
                (_, true) => {
                    "write an IP address or a CIDR block such as 10.0.0.0/8 or 2001:db8::/32; a prefix length is at most 32 for IPv4 and 128 for IPv6"
                }
                _ => "see docs/spec.md for the values this field accepts",
            };
            let span = loaded.index.value(&pointer);
            let source = span.map(|span| &loaded.sources.get(span.source).text[span.start..span.end]).unwrap_or_default();
            // Plain YAML text is quoted as the schema messages quote strings.
            let value = if source.starts_with(['"', '\'']) { source.to_owned() } else { serde_json::Value::from(source).to_string() };
            let kind = match (is_timestamp, is_network) {
                (true, _) => "timestamp",
                (_, true) => "network",
                _ => "value",
            };
            let diagnostic =
                Diagnostic::error("schema", format!("invalid {kind} {value} at {}: {message}", crate::schema::describe(&pointer)))
                    .at(span)
                    .with_help(help);
            loaded.diagnostics.push(diagnostic);
        }
    }
}

fn path_to_pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut pointer = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => pointer.push_str(&format!("/{index}")),
            Segment::Map { key } => pointer.push_str(&format!("/{}", crate::document::escape_pointer_token(key))),
            Segment::Enum { variant } => pointer.push_str(&format!("/{}", crate::document::escape_pointer_token(variant))),
            Segment::Unknown => {}
        }
    }
    pointer
}

impl LoadedSpec {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(|diagnostic| diagnostic.severity == crate::diagnostic::Severity::Error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "apiVersion: gatectl.dev/v1\nkind: Gateway\nupstreams:\n  - name: app\n    targets: [{host: 127.0.0.1, port: 9000}]\nroutes:\n  - name: all\n    match: {path: {prefix: /}}\n    upstream: app\n";

    #[test]
    fn empty_file_is_reported_as_empty() {
        for text in ["", "# nothing yet\n", "\n\n"] {
            let loaded = load_str("empty.yaml", text);
            assert_eq!(loaded.diagnostics.len(), 1, "{text:?}: {:?}", loaded.diagnostics);
            assert_eq!(loaded.diagnostics[0].rule, "invalid-document");
            assert!(loaded.diagnostics[0].message.contains("no document"), "{:?}", loaded.diagnostics[0]);
        }
    }

    #[test]
    fn null_document_is_not_called_empty() {
        for text in ["null\n", "~\n", "--- null\n"] {
            let loaded = load_str("null.yaml", text);
            assert_eq!(loaded.diagnostics[0].rule, "invalid-document");
            assert!(loaded.diagnostics[0].message.contains("is null"), "{text:?}: {:?}", loaded.diagnostics[0]);
        }
        let separator_only = load_str("dashes.yaml", "---\n");
        assert!(separator_only.diagnostics[0].message.contains("no document"), "{:?}", separator_only.diagnostics[0]);
        assert_eq!(separator_only.diagnostics[0].span.map(|span| span.start), Some(0));
    }

    #[test]
    fn invalid_timestamp_gets_format_help() {
        let text = "apiVersion: gatectl.dev/v1\nkind: Gateway\nupstreams:\n  - name: app\n    targets: [{host: 127.0.0.1, port: 80}]\nroutes:\n  - name: r\n    match: {path: {prefix: /}}\n    upstream: app\n    deprecation: {since: yesterday}\n";
        let loaded = load_str("date.yaml", text);
        assert_eq!(loaded.diagnostics.len(), 1, "{:?}", loaded.diagnostics);
        assert!(loaded.diagnostics[0].help.as_deref().is_some_and(|help| help.contains("RFC 3339")), "{:?}", loaded.diagnostics[0]);
        assert!(
            loaded.diagnostics[0].message.starts_with("invalid timestamp \"yesterday\" at routes[0].deprecation.since: "),
            "{:?}",
            loaded.diagnostics[0]
        );
    }

    #[test]
    fn invalid_network_gets_cidr_help() {
        let loaded = load_str("spec.yaml", "apiVersion: gatectl.dev/v1\nkind: Gateway\nsettings:\n  trustedProxies: [10.0.0.0/33]\n");
        let diagnostic = &loaded.diagnostics[0];
        assert!(diagnostic.message.starts_with("invalid network \"10.0.0.0/33\" at settings.trustedProxies[0]"), "{diagnostic:?}");
        assert!(diagnostic.help.as_deref().is_some_and(|help| help.contains("at most 32 for IPv4")), "{diagnostic:?}");
    }

    #[test]
    fn missing_field_is_named_in_backticks() {
        let loaded = load_str(
            "spec.yaml",
            "apiVersion: gatectl.dev/v1\nkind: Gateway\nsettings:\n  listeners: [{name: a, address: \"0.0.0.0:1\"}]\n",
        );
        assert_eq!(loaded.diagnostics[0].message, "missing field `protocol` in settings.listeners[0]");
    }

    #[test]
    fn non_mapping_spec_is_invalid_document() {
        for text in ["- a\n- b\n", "just text\n", "42\n"] {
            let loaded = load_str("list.yaml", text);
            assert_eq!(loaded.diagnostics.len(), 1, "{text:?}: {:?}", loaded.diagnostics);
            assert_eq!(loaded.diagnostics[0].rule, "invalid-document", "{text:?}");
            assert!(loaded.diagnostics[0].message.contains("must be a mapping"), "{:?}", loaded.diagnostics[0]);
        }
    }

    #[test]
    fn empty_fragment_gets_fragment_help() {
        let inputs = vec![
            (PathBuf::from("spec/a.yaml"), b"apiVersion: gatectl.dev/v1\nkind: Gateway\n".to_vec()),
            (PathBuf::from("spec/b.yaml"), b"# routes go here\n".to_vec()),
        ];
        let loaded = load_in_memory(inputs, &LoadOptions::default()).unwrap();
        let help = loaded.diagnostics[0].help.as_deref().unwrap_or_default();
        assert!(help.contains("part of the spec"), "{help}");
    }

    #[test]
    fn unclosed_bracket_points_at_the_bracket() {
        let text = "apiVersion: gatectl.dev/v1\nkind: Gateway\nroutes: [\n  - name: a\n";
        let loaded = load_str("spec.yaml", text);
        let diagnostic = &loaded.diagnostics[0];
        assert_eq!(diagnostic.rule, "invalid-yaml");
        assert!(diagnostic.message.starts_with("`[` is never closed by `]`"), "{diagnostic:?}");
        assert_eq!(diagnostic.span.map(|span| span.start), text.find('['));
        assert!(diagnostic.help.as_deref().is_some_and(|help| help.contains("close the list")), "{diagnostic:?}");
    }

    #[test]
    fn invalid_yaml_help_per_cause() {
        let head = "apiVersion: gatectl.dev/v1\nkind: Gateway\n";
        let cases = [
            ("metadata: {name: a}\n---\nkind: Gateway\n", "file of its own"),
            ("metadata: *missing\n", "`&name`"),
            ("metadata: [*missing, a]\n", "`&name`"),
            ("? [a, b]\n: c\n", "write the key as text"),
            ("metadata: !custom a\n", "remove the tag"),
            ("routes: \"a\" b\n", "indent with spaces"),
        ];
        for (text, expected) in cases {
            let loaded = load_str("spec.yaml", &format!("{head}{text}"));
            let diagnostic = &loaded.diagnostics[0];
            assert_eq!(diagnostic.rule, "invalid-yaml", "{text:?}: {diagnostic:?}");
            assert!(diagnostic.help.as_deref().is_some_and(|help| help.contains(expected)), "{text:?}: {diagnostic:?}");
            if expected == "`&name`" {
                let span = diagnostic.span.unwrap();
                assert_eq!(&loaded.sources.get(span.source).text[span.start..span.end], "*missing", "{text:?}");
            }
        }
    }

    #[test]
    fn error_inside_closed_bracket_stays_a_syntax_error() {
        let loaded = load_str("spec.yaml", "apiVersion: gatectl.dev/v1\nkind: Gateway\nroutes: [a, b: c: d]\n");
        let diagnostic = &loaded.diagnostics[0];
        assert_eq!(diagnostic.rule, "invalid-yaml");
        assert!(diagnostic.message.starts_with("invalid YAML"), "{diagnostic:?}");
    }

    #[test]
    fn minimal_spec_loads_with_defaults() {
        let loaded = load_str("spec.yaml", MINIMAL);
        assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
        let spec = loaded.spec.unwrap();
        assert_eq!(spec.upstreams[0].targets[0].weight, 100);
        assert_eq!(spec.settings.request_id_header, "X-Request-ID");
    }

    #[test]
    fn unknown_field_points_at_key() {
        let text = MINIMAL.replace("    upstream: app\n", "    upstream: app\n    upstreem: x\n");
        let loaded = load_str("spec.yaml", &text);
        let diagnostic = &loaded.diagnostics[0];
        assert!(diagnostic.message.contains("upstreem"), "{}", diagnostic.message);
        let location = loaded.sources.locate(diagnostic.span.unwrap());
        assert_eq!((location.line, location.column), (10, 5));
    }

    #[test]
    fn wrong_type_points_at_value() {
        let text = MINIMAL.replace("port: 9000", "port: nine");
        let loaded = load_str("spec.yaml", &text);
        assert_eq!(loaded.diagnostics.len(), 1, "{:?}", loaded.diagnostics);
        let location = loaded.sources.locate(loaded.diagnostics[0].span.unwrap());
        assert_eq!(location.line, 5);
    }

    #[test]
    fn non_utf8_is_reported_with_position() {
        let loaded = load_bytes(
            vec![(PathBuf::from("bad.yaml"), "é: \u{e9}\u{e9}".bytes().chain([0xff, b'\n']).collect())],
            1,
            ReadLimits::default(),
        );
        assert_eq!(loaded.diagnostics[0].rule, "invalid-encoding");
        let span = loaded.diagnostics[0].span.unwrap();
        let location = loaded.sources.locate(span);
        assert_eq!((location.line, location.column), (1, 6));
        let file = loaded.sources.get(span.source);
        assert_eq!(file.line_column(span.end), (1, 7), "the span covers one character");
    }

    #[test]
    fn duration_with_words_gets_duration_help() {
        let text = MINIMAL.replace("    targets:", "    timeouts: {connect: 2 seconds}\n    targets:");
        let loaded = load_str("spec.yaml", &text);
        let diagnostic = &loaded.diagnostics[0];
        assert!(diagnostic.message.starts_with("invalid duration \"2 seconds\""), "{}", diagnostic.message);
        assert!(diagnostic.help.as_deref().unwrap_or_default().contains("1h30m"), "{:?}", diagnostic.help);
    }

    #[test]
    fn duration_as_number_gets_duration_help() {
        let text = MINIMAL.replace("    targets:", "    timeouts: {connect: 3}\n    targets:");
        let loaded = load_str("spec.yaml", &text);
        let diagnostic = &loaded.diagnostics[0];
        assert!(diagnostic.message.starts_with("invalid duration 3 at upstreams[0].timeouts.connect"), "{}", diagnostic.message);
        assert!(diagnostic.help.as_deref().unwrap_or_default().contains("1h30m"), "{:?}", diagnostic.help);
    }

    #[test]
    fn all_oversized_durations_reported() {
        let text = MINIMAL.replace("    targets:", "    timeouts: {connect: 999999999999d, response: 99999999999h}\n    targets:");
        let loaded = load_str("spec.yaml", &text);
        let messages: Vec<&str> = loaded.diagnostics.iter().map(|diagnostic| diagnostic.message.as_str()).collect();
        assert_eq!(messages.len(), 2, "{messages:?}");
        for (diagnostic, value) in loaded.diagnostics.iter().zip(["999999999999d", "99999999999h"]) {
            assert!(diagnostic.message.starts_with(&format!("invalid duration \"{value}\"")), "{}", diagnostic.message);
            assert!(diagnostic.message.contains("too large"), "{}", diagnostic.message);
            assert!(diagnostic.help.as_deref().unwrap_or_default().contains("larger unit"), "{:?}", diagnostic.help);
        }
    }

    #[test]
    fn short_duration_gets_one_finding() {
        for value in ["s", "5", "\"\""] {
            let text = MINIMAL.replace("    targets:", &format!("    timeouts: {{connect: {value}}}\n    targets:"));
            let loaded = load_str("spec.yaml", &text);
            assert_eq!(loaded.diagnostics.len(), 1, "{value}: {:?}", loaded.diagnostics);
        }
    }

    #[test]
    fn invalid_duration_reports_field() {
        let text = MINIMAL.replace("    targets:", "    timeouts: {connect: 5 seconds}\n    targets:");
        let loaded = load_str("spec.yaml", &text);
        assert!(loaded.diagnostics[0].message.contains("upstreams[0].timeouts.connect"), "{}", loaded.diagnostics[0].message);
    }
}

#[cfg(test)]
mod example_tests {
    #[test]
    fn bundled_example_loads() {
        let path = std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/spec"));
        let loaded = super::load(&[path], &super::LoadOptions::default()).unwrap();
        assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
        assert!(loaded.spec.is_some());
    }
}
