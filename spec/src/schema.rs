//! The JSON Schema of the spec format, generated from the model, and the schema check.
//!
//! The committed copy in `schemas/gateway.v1.schema.json` is what editors use through a
//! `# yaml-language-server: $schema=...` line; a test keeps it equal to [`generate`].

use std::sync::OnceLock;

use jsonschema::Validator;
use jsonschema::error::ValidationErrorKind;

use crate::diagnostic::Diagnostic;
use crate::document::LocationIndex;
use crate::model::Spec;

/// Identifier of the schema, also its file name under `schemas/`.
pub const SCHEMA_ID: &str = "https://gatectl.dev/schemas/gateway.v1.schema.json";

/// Generates the JSON Schema (draft 2020-12) of [`Spec`].
pub fn generate() -> serde_json::Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(Spec)).expect("a schema serialises to JSON");
    if let Some(object) = schema.as_object_mut() {
        object.insert("$id".to_owned(), SCHEMA_ID.into());
    }
    schema
}

/// Pretty-printed schema, as committed under `schemas/`.
pub fn generate_text() -> String {
    let mut text = serde_json::to_string_pretty(&generate()).expect("a schema serialises to JSON");
    text.push('\n');
    text
}

fn validator() -> &'static Validator {
    static VALIDATOR: OnceLock<Validator> = OnceLock::new();
    // The `regex` engine matches in linear time; the schema's patterns need no look-around.
    // NOTE: building the first validator in a process also compiles the draft 2020-12
    // meta-schema inside `jsonschema` 0.33: about 100 ms and 70 MB on a 2-core EPYC. That is most
    // of a small `gatectl validate` run, and this version gives no public way to skip it.
    VALIDATOR.get_or_init(|| {
        jsonschema::options()
            .with_pattern_options(jsonschema::PatternOptions::regex())
            .build(&generate())
            .expect("the generated schema is a valid JSON Schema")
    })
}

/// Checks a document against the schema, one diagnostic per violation, each at its node.
pub fn check(document: &serde_json::Value, index: &LocationIndex) -> Vec<Diagnostic> {
    const FIELDS_HELP: &str = "see docs/spec.md for the fields this object accepts, or use an editor with the schema in schemas/";
    const VALUES_HELP: &str = "see docs/spec.md for the values this field accepts, or use an editor with the schema in schemas/";
    let mut diagnostics: Vec<Diagnostic> = Vec::new();
    for error in validator().iter_errors(document) {
        let pointer = error.instance_path.as_str().to_owned();
        let place = describe(&pointer);
        let (message, help, span) = match &error.kind {
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                let field = unexpected.first().cloned().unwrap_or_default();
                let field_pointer = format!("{pointer}/{}", crate::document::escape_pointer_token(&field));
                (format!("unknown field `{field}` in {place}"), FIELDS_HELP, index.key(&field_pointer))
            }
            ValidationErrorKind::Required { property } => {
                (format!("missing field {property} in {place}"), FIELDS_HELP, index.value(&pointer))
            }
            ValidationErrorKind::Pattern { pattern } if pattern == crate::duration::DURATION_PATTERN => (
                format!("invalid duration {} at {place}", error.instance),
                "write whole numbers with the units d, h, m, s or ms, largest first, for example `30s`, `500ms` or `1h30m`",
                index.value(&pointer),
            ),
            _ => (format!("{error} (at {place})"), VALUES_HELP, index.value(&pointer)),
        };
        // `oneOf` failures repeat for each branch; one finding per place is enough.
        if diagnostics.iter().any(|existing| existing.span == span && existing.message == message) {
            continue;
        }
        diagnostics.push(Diagnostic::error("schema", message).at(span).with_help(help));
    }
    diagnostics
}

/// Describes a JSON pointer for a message, for example `routes[2].match`.
pub fn describe(pointer: &str) -> String {
    if pointer.is_empty() {
        return "the document".to_owned();
    }
    let mut text = String::new();
    for token in pointer.trim_start_matches('/').split('/') {
        let token = token.replace("~1", "/").replace("~0", "~");
        if token.bytes().all(|byte| byte.is_ascii_digit()) && !token.is_empty() {
            text.push_str(&format!("[{token}]"));
        } else {
            if !text.is_empty() {
                text.push('.');
            }
            text.push_str(&token);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_reads_like_a_path() {
        assert_eq!(describe("/routes/2/match"), "routes[2].match");
        assert_eq!(describe(""), "the document");
        assert_eq!(describe("/metadata/labels/a~1b"), "metadata.labels.a/b");
    }

    #[test]
    fn committed_schema_matches_model() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../schemas/gateway.v1.schema.json");
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == generate_text(),
            "schemas/gateway.v1.schema.json is out of date; run `cargo run -p gatectl -- schema > schemas/gateway.v1.schema.json`"
        );
    }
}
