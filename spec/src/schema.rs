//! The JSON Schema of the spec format, generated from the model, and the schema check.
//!
//! The committed copy in `schemas/gateway.v1.schema.json` is what editors use through a
//! `# yaml-language-server: $schema=...` line; a test keeps it equal to [`generate`].

use std::sync::OnceLock;

use jsonschema::error::ValidationErrorKind;
use jsonschema::json::Json;
use jsonschema::{ValidationError, Validator};

use crate::diagnostic::Diagnostic;
use crate::document::LocationIndex;
use crate::model::Spec;
use crate::source::Span;
use crate::yaml::Node;
use crate::yaml::schema_view::SpannedJson;

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

/// Builds a validator of the generated schema for one JSON representation.
fn build_validator<F: Json>() -> Validator<F> {
    // The `regex` engine matches in linear time; the schema's patterns need no look-around.
    // Naming the draft keeps `jsonschema` 0.61 from adding every known meta-schema to its
    // reference registry, which our schema, without external `$ref`s, does not need.
    // NOTE: `jsonschema` 0.61 still checks the schema against the draft 2020-12 meta-schema in
    // `build` and has no public option to skip that, but the check now takes milliseconds (see
    // BENCHMARKS.md). The test `generated_schema_is_valid_against_meta_schema` checks it too.
    jsonschema::options_for::<F>()
        .with_draft(jsonschema::Draft::Draft202012)
        .with_pattern_options(jsonschema::PatternOptions::regex())
        .build(schema())
        .expect("the generated schema is a valid JSON Schema")
}

/// Returns the validator for specs read from files, which checks their spanned tree.
fn tree_validator() -> &'static Validator<SpannedJson> {
    static VALIDATOR: OnceLock<Validator<SpannedJson>> = OnceLock::new();
    VALIDATOR.get_or_init(build_validator)
}

/// Returns the validator for specs that arrive as JSON values, such as a bundle's payload.
fn value_validator() -> &'static Validator {
    static VALIDATOR: OnceLock<Validator> = OnceLock::new();
    VALIDATOR.get_or_init(build_validator)
}

/// Returns the generated schema, built once per process.
fn schema() -> &'static serde_json::Value {
    static SCHEMA: OnceLock<serde_json::Value> = OnceLock::new();
    SCHEMA.get_or_init(generate)
}

/// Returns the accepted field closest to `unknown` in the schema object whose
/// `additionalProperties` keyword rejected it, when it is near enough to be a typo: at most a
/// third of its letters differ, ignoring case.
fn closest_field(keyword_path: &str, unknown: &str) -> Option<String> {
    let object_path = keyword_path.strip_suffix("/additionalProperties")?;
    let properties = schema().pointer(object_path)?.get("properties")?.as_object()?;
    closest(unknown, properties.keys().map(String::as_str)).map(str::to_owned)
}

/// Returns the candidate closest to `given`, ignoring case, when at most a third of its letters
/// differ, so that it is likely a typo of it.
fn closest<'a>(given: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let given = given.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|candidate| (edit_distance(&given, &candidate.to_ascii_lowercase()), candidate))
        .filter(|(distance, candidate)| *distance <= (candidate.len() / 3).max(1))
        .min()
        .map(|(_, candidate)| candidate)
}

/// Counts the single-character insertions, deletions and substitutions that turn `from` into
/// `to` (Levenshtein distance).
fn edit_distance(from: &str, to: &str) -> usize {
    let to: Vec<char> = to.chars().collect();
    let mut previous: Vec<usize> = (0..=to.len()).collect();
    for (row, from_char) in from.chars().enumerate() {
        let mut current = vec![row + 1; to.len() + 1];
        for (column, to_char) in to.iter().enumerate() {
            let substitution = previous[column] + usize::from(from_char != *to_char);
            current[column + 1] = substitution.min(previous[column + 1] + 1).min(current[column] + 1);
        }
        previous = current;
    }
    previous[to.len()]
}

/// Checks a document read from files against the schema, one diagnostic per violation, each at
/// its node.
pub fn check(document: &Node, index: &LocationIndex) -> Vec<Diagnostic> {
    report(tree_validator().iter_errors(document), index)
}

/// Checks a JSON value against the schema, one diagnostic per violation.
pub fn check_value(document: &serde_json::Value) -> Vec<Diagnostic> {
    report(value_validator().iter_errors(document), &LocationIndex::default())
}

const FIELDS_HELP: &str = "see docs/spec.md for the fields this object accepts, or use an editor with the schema in schemas/";
const TOO_LARGE_DURATION_HELP: &str = "write it with a larger unit (`30d`, not `2592000000ms`), or choose a shorter duration";
const DURATION_HELP: &str = "write whole numbers with the units d, h, m, s or ms, largest first, for example `30s`, `500ms` or `1h30m`";
const VALUES_HELP: &str = "see docs/spec.md for the values this field accepts, or use an editor with the schema in schemas/";

/// One problem found: the message, its help, and where it is.
type Finding = (String, &'static str, Option<Span>);

/// Turns validation errors into diagnostics at the nodes they name.
fn report<'a>(errors: impl Iterator<Item = ValidationError<'a>>, index: &LocationIndex) -> Vec<Diagnostic> {
    let mut diagnostics: Vec<Diagnostic> = Vec::new();
    for error in errors {
        for (message, help, span) in findings(&error, index) {
            // `oneOf` failures repeat for each branch, and a value of the wrong type also fails
            // the list of values it should come from: one finding per value is enough.
            let key = value_key(&message);
            let repeated = diagnostics.iter().any(|existing| {
                (key.is_some() && value_key(&existing.message) == key) || (existing.span == span && existing.message == message)
            });
            if repeated {
                continue;
            }
            diagnostics.push(Diagnostic::error("schema", message).at(span).with_help(help));
        }
    }
    diagnostics
}

fn findings(error: &ValidationError<'_>, index: &LocationIndex) -> Vec<Finding> {
    let pointer = error.instance_path().as_str().to_owned();
    let place = describe(&pointer);
    match error.kind() {
        // One finding per unknown field, each at its key.
        ValidationErrorKind::AdditionalProperties { unexpected } => unexpected
            .iter()
            .map(|field| {
                let field_pointer = format!("{pointer}/{}", crate::document::escape_pointer_token(field));
                // A field that is already there is no suggestion.
                let suggestion = closest_field(error.schema_path().as_str(), field)
                    .filter(|suggestion| error.instance().get(suggestion.as_str()).is_none());
                let message = match suggestion {
                    Some(suggestion) => format!("unknown field `{field}` in {place}; did you mean `{suggestion}`?"),
                    None => format!("unknown field `{field}` in {place}"),
                };
                (message, FIELDS_HELP, index.key(&field_pointer))
            })
            .collect(),
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().map_or_else(|| property.to_string(), |name| format!("`{name}`"));
            vec![(format!("missing field {name} in {place}"), FIELDS_HELP, index.value(&pointer))]
        }
        ValidationErrorKind::Pattern { pattern } if pattern == crate::duration::DURATION_PATTERN => {
            let too_large = error
                .instance()
                .as_str()
                .is_some_and(|text| matches!(text.parse::<crate::duration::Duration>(), Err(crate::duration::DurationError::TooLarge(_))));
            let (message, help) = if too_large {
                (format!("invalid duration {} at {place}: {}", error.instance(), crate::duration::TOO_LARGE), TOO_LARGE_DURATION_HELP)
            } else {
                (format!("invalid duration {} at {place}", error.instance()), DURATION_HELP)
            };
            vec![(message, help, index.value(&pointer))]
        }
        ValidationErrorKind::Pattern { pattern } if pattern_words(pattern).is_some() => {
            let mut message = format!("invalid value {} at {place}: {}", error.instance(), pattern_words(pattern).unwrap_or_default());
            if let Some((position, character)) = error.instance().as_str().and_then(|text| first_rejected(pattern, text)) {
                message.push_str(&format!("; `{character}` at character {position} is not allowed"));
            }
            vec![(message, VALUES_HELP, index.value(&pointer))]
        }
        ValidationErrorKind::MaxLength { limit } => {
            let text = error.instance().as_str().unwrap_or_default();
            // A long value is shown by its start only, so the message stays readable.
            let preview: String = text.chars().take(40).collect();
            let quoted = if preview.len() < text.len() { format!("\"{preview}…\"") } else { error.instance().to_string() };
            vec![(format!("invalid value {quoted} at {place}: longer than {limit} characters"), VALUES_HELP, index.value(&pointer))]
        }
        ValidationErrorKind::MinLength { limit } => {
            let expected = if *limit == 1 { "empty".to_owned() } else { format!("shorter than {limit} characters") };
            vec![(format!("invalid value {} at {place}: {expected}", error.instance()), VALUES_HELP, index.value(&pointer))]
        }
        // A bare number such as `3` has no unit, so it fails the duration's `type: string`.
        ValidationErrorKind::Type { .. } if error.schema_path().as_str() == "/$defs/Duration/type" => vec![(
            format!("invalid duration {} at {place}: a duration is text with a unit", error.instance()),
            DURATION_HELP,
            index.value(&pointer),
        )],
        ValidationErrorKind::Enum { options } => vec![choice_finding(error, options.as_array().map_or(&[][..], Vec::as_slice), &[], index)],
        ValidationErrorKind::Type { .. } => {
            let expected_types = schema().pointer(error.schema_path().as_str()).map_or_else(Vec::new, |kinds| match kinds {
                serde_json::Value::String(kind) => vec![kind.as_str()],
                serde_json::Value::Array(kinds) => kinds.iter().filter_map(serde_json::Value::as_str).collect(),
                _ => Vec::new(),
            });
            let words: Vec<&str> = expected_types.into_iter().filter(|kind| *kind != "null").map(type_words).collect();
            if words.is_empty() {
                vec![(format!("{error} (at {place})"), VALUES_HELP, index.value(&pointer))]
            } else {
                let field = pointer.rsplit('/').next().unwrap_or_default();
                let help = if crate::load::TIMESTAMP_FIELDS.contains(&field) { crate::load::TIMESTAMP_HELP } else { VALUES_HELP };
                vec![(
                    format!("invalid value {} at {place}: expected {}", error.instance(), words.join(" or ")),
                    help,
                    index.value(&pointer),
                )]
            }
        }
        ValidationErrorKind::OneOfNotValid { context } | ValidationErrorKind::AnyOf { context } => alternatives(error, context, index)
            .unwrap_or_else(|| vec![(format!("{error} (at {place})"), VALUES_HELP, index.value(&pointer))]),
        _ => vec![(format!("{error} (at {place})"), VALUES_HELP, index.value(&pointer))],
    }
}

/// Says in words what a pattern of the schema accepts, for the patterns the schema uses.
fn pattern_words(pattern: &str) -> Option<&'static str> {
    Some(match pattern {
        "^[A-Za-z0-9][A-Za-z0-9._-]*$" => "a name has only ASCII letters, digits, `.`, `_` and `-`, and starts with a letter or digit",
        "^[A-Za-z0-9][A-Za-z0-9._@-]*$" => "an ID has only ASCII letters, digits, `.`, `_`, `@` and `-`, and starts with a letter or digit",
        "^/" => "a path starts with `/`",
        "^(/[^?#]*)?$" => "a path starts with `/` and has no `?` or `#`",
        "^(env:[A-Za-z0-9_]+|file:.+)$" => {
            "a secret is read from `env:NAME`, where NAME has only ASCII letters, digits and `_`, or from `file:PATH`"
        }
        "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$" => {
            "a header name has only ASCII letters, digits, the characters ! # $ % & ' * + . ^ _ | ~ - and the backtick"
        }
        "^https?://" => "a URL starts with `http://` or `https://`",
        "^sha256:[0-9a-f]+$" => "a hash is `sha256:` followed by lowercase hexadecimal digits",
        _ => return None,
    })
}

/// Returns the position (from 1) and the first character of `text` that `pattern` rejects, for
/// the patterns that accept a set of characters.
fn first_rejected(pattern: &str, text: &str) -> Option<(usize, char)> {
    let name = |character: char, extra: &str| character.is_ascii_alphanumeric() || extra.contains(character);
    let (skip, first_extra, rest_extra) = match pattern {
        "^[A-Za-z0-9][A-Za-z0-9._-]*$" => (0, "", "._-"),
        "^[A-Za-z0-9][A-Za-z0-9._@-]*$" => (0, "", "._@-"),
        "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$" => (0, "!#$%&'*+.^_`|~-", "!#$%&'*+.^_`|~-"),
        "^(env:[A-Za-z0-9_]+|file:.+)$" if text.starts_with("env:") => (4, "_", "_"),
        _ => return None,
    };
    text.chars()
        .enumerate()
        .skip(skip)
        .find(|&(position, character)| !name(character, if position == skip { first_extra } else { rest_extra }))
        .map(|(position, character)| (position + 1, character))
}

/// Explains a value that matches none of a `oneOf` or `anyOf`, from the errors of each branch:
/// the list of accepted values when every branch is a constant, or the errors of the one branch
/// whose type fits the value. Returns `None` when neither applies.
fn alternatives(error: &ValidationError<'_>, branches: &[Vec<ValidationError<'static>>], index: &LocationIndex) -> Option<Vec<Finding>> {
    let pointer = error.instance_path().as_str();
    let at_value = |inner: &ValidationError<'_>| inner.instance_path().as_str() == pointer;

    // A branch that is one constant or a list of values fails with `const` or `enum` at the
    // value, and with `type` too when the value is of another type. A branch of another type
    // (a mapping beside the constants) fails with `type` alone.
    let mut accepted = Vec::new();
    let mut other_types = Vec::new();
    let all_simple = branches.iter().all(|branch| {
        let simple = !branch.is_empty()
            && branch.iter().all(|inner| {
                at_value(inner)
                    && matches!(
                        inner.kind(),
                        ValidationErrorKind::Constant { .. } | ValidationErrorKind::Enum { .. } | ValidationErrorKind::Type { .. }
                    )
            });
        let mut values: Vec<serde_json::Value> = Vec::new();
        for inner in branch {
            match inner.kind() {
                ValidationErrorKind::Constant { expected_value } => values.push(expected_value.as_ref().clone()),
                ValidationErrorKind::Enum { options } => values.extend(options.as_array().cloned().unwrap_or_default()),
                _ => {}
            }
        }
        if values.is_empty() {
            other_types.extend(
                branch.iter().filter_map(|inner| schema().pointer(inner.schema_path().as_str())).filter_map(serde_json::Value::as_str),
            );
        }
        accepted.extend(values);
        simple
    });
    if all_simple {
        if branches.iter().flatten().any(|inner| inner.schema_path().as_str() == "/$defs/Duration/type") {
            let message = format!("invalid duration {} at {}: a duration is text with a unit", error.instance(), describe(pointer));
            return Some(vec![(message, DURATION_HELP, index.value(pointer))]);
        }
        let mut kinds: Vec<&str> = Vec::new();
        for kind in other_types.into_iter().filter(|kind| *kind != "null").map(type_words) {
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
        if !accepted.is_empty() {
            return Some(vec![choice_finding(error, &accepted, &kinds, index)]);
        }
        if !kinds.is_empty() {
            let message = format!("invalid value {} at {}: expected {}", error.instance(), describe(pointer), kinds.join(" or "));
            return Some(vec![(message, VALUES_HELP, index.value(pointer))]);
        }
    }

    // Branches that expect another type of value give no useful detail about this one.
    let fitting: Vec<&Vec<ValidationError<'static>>> = branches
        .iter()
        .filter(
            |branch| !matches!(branch.as_slice(), [inner] if at_value(inner) && matches!(inner.kind(), ValidationErrorKind::Type { .. })),
        )
        .collect();
    if let [branch] = fitting.as_slice()
        && !branch.is_empty()
    {
        return Some(branch.iter().flat_map(|inner| findings(inner, index)).collect());
    }
    // Mappings distinguished by their one required key, as `{exact: ...}` and `{prefix: ...}`:
    // the branch whose key is present explains the error inside it.
    let keyed: Vec<&Vec<ValidationError<'static>>> = fitting.iter().copied().filter(|branch| !branch.iter().any(at_value)).collect();
    if let [branch] = keyed.as_slice()
        && !branch.is_empty()
    {
        return Some(branch.iter().flat_map(|inner| findings(inner, index)).collect());
    }
    let shapes = branch_shapes(error.schema_path().as_str())?;
    let keys_given = error.instance().as_object().map(|map| map.keys().cloned().collect::<Vec<_>>()).unwrap_or_default();
    // One branch's key is there beside unknown fields: that branch's errors name them.
    let present: Vec<usize> =
        (0..shapes.len()).filter(|&position| matches!(&shapes[position], BranchShape::Key(key) if keys_given.contains(key))).collect();
    if let [position] = present.as_slice()
        && let Some(branch) = branches.get(*position)
    {
        return Some(branch.iter().flat_map(|inner| findings(inner, index)).collect());
    }
    let keys: Vec<&str> =
        shapes.iter().filter_map(|shape| if let BranchShape::Key(key) = shape { Some(key.as_str()) } else { None }).collect();
    let constants: Vec<String> = shapes
        .iter()
        .filter_map(|shape| if let BranchShape::Constant(value) = shape { Some(format!("`{value}`")) } else { None })
        .collect();
    let listed = keys.iter().map(|key| format!("`{key}`")).collect::<Vec<_>>().join(", ");
    let mapping = if keys.len() == 1 { format!("a mapping with {listed}") } else { format!("a mapping with exactly one of {listed}") };
    let expected = if constants.is_empty() { mapping } else { format!("{}, or {mapping}", constants.join(", ")) };
    let mut message = format!("invalid value {} at {}: expected {expected}", error.instance(), describe(pointer));
    if let Some(suggestion) =
        keys_given.iter().filter(|key| !keys.contains(&key.as_str())).find_map(|key| closest(key, keys.iter().copied()))
    {
        message.push_str(&format!("; did you mean `{suggestion}`?"));
    }
    Some(vec![(message, VALUES_HELP, index.value(pointer))])
}

/// One branch of a `oneOf` of mappings and constants.
enum BranchShape {
    /// A mapping distinguished by the one key it requires.
    Key(String),
    /// A constant.
    Constant(String),
}

/// Returns the shape of each branch of the `oneOf` at `schema_path`, when each is a mapping
/// with one required key or a text constant.
fn branch_shapes(schema_path: &str) -> Option<Vec<BranchShape>> {
    let branches = schema().pointer(schema_path)?.as_array()?;
    branches
        .iter()
        .map(|branch| {
            if let Some(constant) = branch.get("const").and_then(serde_json::Value::as_str) {
                return Some(BranchShape::Constant(constant.to_owned()));
            }
            match branch.get("required")?.as_array()?.as_slice() {
                [key] => key.as_str().map(|key| BranchShape::Key(key.to_owned())),
                _ => None,
            }
        })
        .collect()
}

/// Returns the part of a message that names a value and its place (`invalid value 1 at
/// routes[0].methods[0]`), which two findings about the same value share.
fn value_key(message: &str) -> Option<&str> {
    if !message.starts_with("invalid value ") && !message.starts_with("invalid duration ") {
        return None;
    }
    let place = message.find(" at ")?;
    let end = message[place..].find([':', ';']).map_or(message.len(), |offset| place + offset);
    Some(&message[..end])
}

/// Names a JSON Schema type in the words of a spec author.
fn type_words(kind: &str) -> &'static str {
    match kind {
        "object" => "a mapping",
        "array" => "a list",
        "string" => "text",
        "integer" => "a whole number",
        "number" => "a number",
        "boolean" => "true or false",
        _ => "another kind of value",
    }
}

/// Reports a value outside `accepted`, listing the accepted values and `other_kinds` of value
/// (such as "a mapping"), with the closest value when the given one is text near enough to be a
/// typo.
fn choice_finding(error: &ValidationError<'_>, accepted: &[serde_json::Value], other_kinds: &[&str], index: &LocationIndex) -> Finding {
    let pointer = error.instance_path().as_str();
    let names: Vec<String> = accepted.iter().map(|value| value.as_str().map_or_else(|| value.to_string(), str::to_owned)).collect();
    let values = names.iter().map(|name| format!("`{name}`")).collect::<Vec<_>>().join(", ");
    let expected = match (names.len(), other_kinds.is_empty()) {
        (1, true) => values,
        (_, true) => format!("one of {values}"),
        (_, false) => format!("{values}, or {}", other_kinds.join(" or ")),
    };
    let mut message = format!("invalid value {} at {}; expected {expected}", error.instance(), describe(pointer));
    // With one accepted value the message names it already, unless only its case differs.
    if let Some(name) = error.instance().as_str().and_then(|text| closest(text, names.iter().map(String::as_str))) {
        if names.len() > 1 || !other_kinds.is_empty() {
            message.push_str(&format!("; did you mean `{name}`?"));
        } else if name.eq_ignore_ascii_case(error.instance().as_str().unwrap_or_default()) {
            message.push_str("; the case matters");
        }
    }
    (message, VALUES_HELP, index.value(pointer))
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

    fn messages_for(text: &str) -> Vec<String> {
        let file = crate::source::SourceFile::new("spec.yaml", text);
        let document = crate::yaml::read(&file, crate::source::SourceId(0), crate::yaml::ReadLimits::default()).unwrap();
        check(&document, &LocationIndex::default()).into_iter().map(|diagnostic| diagnostic.message).collect()
    }

    #[test]
    fn constant_choices_are_listed() {
        let messages = messages_for(
            "apiVersion: gatectl.dev/v1\nkind: Gateway\nupstreams:\n  - name: app\n    targets: [{host: a, port: 80}]\n    loadBalancing: {algorithm: round_robin}\n",
        );
        assert_eq!(messages.len(), 1, "{messages:?}");
        assert!(messages[0].contains("expected one of `round-robin`, `weighted`, `least-requests`, `consistent-hash`"), "{messages:?}");
        assert!(messages[0].ends_with("did you mean `round-robin`?"), "{messages:?}");
        assert!(!messages[0].contains("oneOf"), "{messages:?}");
    }

    #[test]
    fn value_lists_and_wrong_types_are_listed() {
        let messages = messages_for(
            "apiVersion: gatectl.dev/v1\nkind: Gateway\nupstreams:\n  - name: app\n    targets: [{host: a, port: 80}]\n    loadBalancing: {algorithm: 5}\nroutes:\n  - name: r\n    match: {path: {prefix: /}, methods: [get]}\n    upstream: app\n",
        );
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert!(
            messages.iter().any(
                |message| message.starts_with("invalid value 5 at upstreams[0].loadBalancing.algorithm; expected one of `round-robin`")
            ),
            "{messages:?}"
        );
        assert!(
            messages
                .iter()
                .any(|message| message.contains("expected one of `GET`, `HEAD`, `POST`") && message.ends_with("did you mean `GET`?")),
            "{messages:?}"
        );
    }

    #[test]
    fn wrong_types_are_named_in_plain_words() {
        let messages = messages_for(
            "apiVersion: gatectl.dev/v1\nkind: Gateway\nupstreams:\n  - name: app\n    targets: [{host: a, port: \"80\"}]\n    loadBalancing: {algorithm: consistent-hash, hashOn: client_ip}\nroutes:\n  - name: r\n    match: {path: /orders, methods: [1, GET]}\n    upstream: app\n    timeouts: {response: 10}\n",
        );
        let expected = [
            "invalid value \"80\" at upstreams[0].targets[0].port: expected a whole number",
            "invalid value \"client_ip\" at upstreams[0].loadBalancing.hashOn; expected `consumer`, `client-ip`, or a mapping; did you mean `client-ip`?",
            "invalid value \"/orders\" at routes[0].match.path: expected a mapping",
            "invalid value 1 at routes[0].match.methods[0]: expected text",
            "invalid duration 10 at routes[0].timeouts.response: a duration is text with a unit",
        ];
        for message in expected {
            assert!(messages.iter().any(|found| found == message), "missing {message:?} in {messages:#?}");
        }
        assert_eq!(messages.len(), expected.len(), "one finding per value: {messages:#?}");
    }

    #[test]
    fn patterns_are_explained_in_words() {
        let messages = messages_for(
            "apiVersion: gatectl.dev/v1\nkind: Gateway\nupstreams:\n  - name: app\n    targets: [{host: a, port: 80}]\nroutes:\n  - name: \"ünï\"\n    match: {path: {prefix: orders}}\n    upstream: app\n",
        );
        assert_eq!(
            messages,
            [
                "invalid value \"ünï\" at routes[0].name: a name has only ASCII letters, digits, `.`, `_` and `-`, and starts with a letter or digit; `ü` at character 1 is not allowed",
                "invalid value \"orders\" at routes[0].match.path.prefix: a path starts with `/`",
            ]
        );
    }

    #[test]
    fn rejected_character_is_named() {
        let messages = messages_for(
            "apiVersion: gatectl.dev/v1\nkind: gateway\nupstreams:\n  - name: bestellübersicht\n    targets: [{host: a, port: 80}]\n",
        );
        assert_eq!(
            messages,
            [
                "invalid value \"gateway\" at kind; expected `Gateway`; the case matters",
                "invalid value \"bestellübersicht\" at upstreams[0].name: a name has only ASCII letters, digits, `.`, `_` and `-`, and starts with a letter or digit; `ü` at character 8 is not allowed",
            ]
        );
        assert_eq!(super::first_rejected("^(env:[A-Za-z0-9_]+|file:.+)$", "env:MY-VAR"), Some((7, '-')));
        assert_eq!(super::first_rejected("^(env:[A-Za-z0-9_]+|file:.+)$", "MY_VAR"), None);
    }

    #[test]
    fn length_errors_are_short_and_single() {
        let long = "a".repeat(200);
        let messages = messages_for(&format!(
            "apiVersion: gatectl.dev/v1\nkind: Gateway\nupstreams:\n  - name: {long}\n    targets: [{{host: a, port: 80}}]\n  - name: \"\"\n    targets: [{{host: a, port: 80}}]\n"
        ));
        assert_eq!(messages.len(), 2, "one finding per value: {messages:#?}");
        assert!(
            messages[0].starts_with(&format!("invalid value \"{}…\" at upstreams[0].name: longer than ", "a".repeat(40))),
            "{messages:#?}"
        );
        assert!(messages[1].starts_with("invalid value \"\" at upstreams[1].name: "), "{messages:#?}");
    }

    #[test]
    fn keyed_mapping_names_its_keys() {
        let spec = |path: &str| {
            format!(
                "apiVersion: gatectl.dev/v1\nkind: Gateway\nupstreams:\n  - name: app\n    targets: [{{host: a, port: 80}}]\nroutes:\n  - name: r\n    match: {{path: {path}}}\n    upstream: app\n"
            )
        };
        assert_eq!(
            messages_for(&spec("{prefx: /a}")),
            [
                "invalid value {\"prefx\":\"/a\"} at routes[0].match.path: expected a mapping with exactly one of `exact`, `prefix`, `template`; did you mean `prefix`?"
            ]
        );
        assert_eq!(
            messages_for(&spec("{exact: /a, prefix: /b}")),
            [
                "invalid value {\"exact\":\"/a\",\"prefix\":\"/b\"} at routes[0].match.path: expected a mapping with exactly one of `exact`, `prefix`, `template`"
            ]
        );
        assert_eq!(messages_for(&spec("{prefix: /a, prefx: /b}")), ["unknown field `prefx` in routes[0].match.path"]);
        let hash_on = messages_for(
            "apiVersion: gatectl.dev/v1\nkind: Gateway\nupstreams:\n  - name: app\n    targets: [{host: a, port: 80}]\n    loadBalancing: {algorithm: consistent-hash, hashOn: {heder: X-A}}\n",
        );
        assert_eq!(
            hash_on,
            [
                "invalid value {\"heder\":\"X-A\"} at upstreams[0].loadBalancing.hashOn: expected `consumer`, `client-ip`, or a mapping with `header`; did you mean `header`?"
            ]
        );
    }

    #[test]
    fn every_pattern_of_the_schema_has_words() {
        fn patterns<'a>(value: &'a serde_json::Value, found: &mut Vec<&'a str>) {
            match value {
                serde_json::Value::Object(map) => {
                    found.extend(map.get("pattern").and_then(serde_json::Value::as_str));
                    map.values().for_each(|inner| patterns(inner, found));
                }
                serde_json::Value::Array(items) => items.iter().for_each(|inner| patterns(inner, found)),
                _ => {}
            }
        }
        let mut found = Vec::new();
        patterns(schema(), &mut found);
        assert!(found.len() >= 9, "{found:?}");
        for pattern in found {
            assert!(pattern == crate::duration::DURATION_PATTERN || pattern_words(pattern).is_some(), "no words for {pattern}");
        }
    }

    #[test]
    fn optional_object_reports_its_inner_error() {
        let messages = messages_for(
            "apiVersion: gatectl.dev/v1\nkind: Gateway\nupstreams:\n  - name: app\n    targets: [{host: a, port: 80}]\nroutes:\n  - name: r\n    match: {path: {prefix: /}}\n    upstream: app\n    timeouts: {connect: fast}\n",
        );
        assert_eq!(messages, ["invalid duration \"fast\" at routes[0].timeouts.connect"]);
    }

    #[test]
    fn unknown_field_suggests_closest_known_one() {
        let text = r#"{"apiVersion": "gatectl.dev/v1", "kind": "Gateway",
            "upstreams": [{"name": "app", "targets": [{"host": "127.0.0.1", "port": 8080}]}],
            "routes": [{"name": "r", "match": {"path": {"prefix": "/"}}, "upstrem": "app", "maxbodybytes": 10, "colour": 1}]}"#;
        let file = crate::source::SourceFile::new("spec.json", text);
        let document = crate::yaml::read(&file, crate::source::SourceId(0), crate::yaml::ReadLimits::default()).unwrap();
        let index = crate::document::LocationIndex::default();
        let messages: Vec<String> = check(&document, &index).into_iter().map(|diagnostic| diagnostic.message).collect();
        assert!(messages.iter().any(|message| message.ends_with("`upstrem` in routes[0]; did you mean `upstream`?")), "{messages:?}");
        assert!(messages.iter().any(|message| message.ends_with("did you mean `maxBodyBytes`?")), "{messages:?}");
        assert!(messages.iter().any(|message| message.ends_with("`colour` in routes[0]")), "{messages:?}");
    }

    #[test]
    fn edit_distance_counts_changes() {
        assert_eq!(edit_distance("upstrem", "upstream"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn generated_schema_is_valid_against_meta_schema() {
        let schema = generate();
        assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
        if let Err(error) = jsonschema::draft202012::meta::validate(&schema) {
            panic!("the generated schema breaks the draft 2020-12 meta-schema at {}: {error}", error.instance_path().as_str());
        }
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
