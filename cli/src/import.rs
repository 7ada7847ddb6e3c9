//! `gatectl import`: OpenAPI 2.0, 3.0 and 3.1 descriptions into a gateway spec.
//!
//! Each file is read with spans ([`documents`]), its security schemes become auth providers
//! ([`security`]), its servers upstreams ([`servers`]) and its operations routes ([`operations`]),
//! with `x-gatectl-*` extensions ([`extensions`]) filling in what OpenAPI cannot say. What cannot
//! be mapped is a [`warning::Warning`] with its place in the input. The result is deterministic:
//! entities keep document order and get the same names on every run.

mod builder;
mod documents;
mod extensions;
mod json_reader;
mod naming;
mod operations;
mod security;
mod servers;
pub mod warning;
mod yaml_writer;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use gatectl_spec::model::{AuthProvider, Route, Spec, Upstream};
use gatectl_spec::source::SourceMap;
use gatectl_spec::yaml::Node;

use builder::Builder;
use documents::Documents;
use operations::FileContext;
use warning::Warning;

/// Why an import could not run at all. Problems inside a readable document are warnings instead.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path} is not valid UTF-8 (invalid byte at offset {offset}); save it as UTF-8")]
    Encoding { path: PathBuf, offset: usize },
    #[error("{location}: {message}")]
    Parse { location: String, message: String },
    #[error("{location}: {message}")]
    NotOpenApi { location: String, message: String },
    #[error(
        "{location}: `$ref: {reference}` points to a remote URL{more}; gatectl does not fetch remote references, so download the file and refer to it by a relative path (or pass --allow-remote-refs to import without it)"
    )]
    RemoteReference { location: String, reference: String, more: String },
}

/// Settings of one import.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Go on when a document has `$ref`s to remote URLs (which are still not fetched).
    pub allow_remote_refs: bool,
}

/// The generated spec with the warnings found on the way.
pub struct Imported {
    pub spec: Spec,
    pub warnings: Vec<Warning>,
    /// The files read, for rendering warning locations.
    pub sources: SourceMap,
}

/// Imports OpenAPI files into one spec. With several files, each file's upstreams are named and
/// tagged after the file.
pub fn import(paths: &[PathBuf], options: &ImportOptions) -> Result<Imported, ImportError> {
    let mut documents = Documents::default();
    let mut builder = Builder::default();
    let mut title = None;
    let groups = group_names(paths);
    for (path, group) in paths.iter().zip(groups) {
        let file = documents.open(path)?;
        let root = documents.root(file);
        let swagger = detect_version(&root, path, &documents.sources, &mut builder)?;
        if title.is_none() {
            title = root.get("info").and_then(|info| info.get("title")).and_then(Node::as_str).map(str::to_owned);
        }
        extensions::check_unknown(&root, &mut builder);
        let schemes = security::map_schemes(&mut documents, file, &root, &mut builder);
        let root_servers = if swagger {
            servers::swagger_server(&root, &mut builder.warnings)
        } else {
            servers::read_servers(root.get("servers"), &mut builder.warnings)
        };
        let mut context = FileContext {
            file,
            root: std::sync::Arc::clone(&root),
            swagger,
            group: (paths.len() > 1).then_some(group),
            root_servers,
            schemes,
            unserved: Vec::new(),
            unserved_upstreams: Vec::new(),
            warned_spans: HashSet::new(),
        };
        operations::import_paths(&mut documents, &mut context, &mut builder);
        warn_unserved(&context, &root, &mut builder);
    }
    check_remote_references(&documents, options, &mut builder)?;

    let mut spec = Spec::empty();
    spec.metadata.name = title;
    spec.upstreams = builder.upstreams;
    spec.routes = builder.routes;
    spec.auth_providers = builder.providers;
    let mut seen = HashSet::new();
    let warnings = builder.warnings.into_iter().filter(|warning| seen.insert(warning.clone())).collect();
    Ok(Imported { spec, warnings, sources: documents.sources })
}

/// Returns whether the document is Swagger 2.0; anything but 2.0, 3.0 and 3.1 is an error.
fn detect_version(root: &Node, path: &Path, sources: &SourceMap, builder: &mut Builder) -> Result<bool, ImportError> {
    let not_openapi = |message: String| ImportError::NotOpenApi { location: sources.locate(root.span).to_string(), message };
    if let Some(version) = root.get("swagger") {
        return match version.as_str() {
            Some("2.0") => Ok(true),
            _ => Err(not_openapi(format!(
                "{} declares `swagger: {}`; only Swagger 2.0 is read. Convert the file to Swagger 2.0 or OpenAPI 3",
                path.display(),
                version.to_json()
            ))),
        };
    }
    let Some(version) = root.get("openapi") else {
        return Err(not_openapi(format!("{} has no `openapi` or `swagger` version field; is it an OpenAPI description?", path.display())));
    };
    match version.as_str() {
        Some(text) if text.starts_with("3.0") || text.starts_with("3.1") => Ok(false),
        Some(text) if text.starts_with("3.") => {
            builder.warn(Warning::new(
                "newer-openapi",
                Some(version.span),
                format!("OpenAPI {text} is newer than 3.1; it is read as 3.1, and fields added since are ignored"),
            ));
            Ok(false)
        }
        _ => Err(not_openapi(format!("`openapi: {}` is not a version this build reads (3.0 or 3.1)", version.to_json()))),
    }
}

fn warn_unserved(context: &FileContext, root: &Node, builder: &mut Builder) {
    if context.unserved.is_empty() {
        return;
    }
    let shown: Vec<&str> = context.unserved.iter().take(10).map(String::as_str).collect();
    let more = context.unserved.len().saturating_sub(shown.len());
    let more = if more > 0 { format!(" and {more} more") } else { String::new() };
    let span = root.get("paths").map_or(root.span, |paths| paths.span);
    let upstreams: Vec<String> = context.unserved_upstreams.iter().map(|name| format!("`{name}`")).collect();
    builder.warn(Warning::new(
        "no-server",
        Some(span),
        format!(
            "no server is declared for {}{more}; they use {} {} with the placeholder target `{}`: set {} `targets` in an overlay or add `servers` to the OpenAPI document",
            shown.join(", "),
            if upstreams.len() == 1 { "upstream" } else { "upstreams" },
            upstreams.join(", "),
            operations::PLACEHOLDER_HOST,
            if upstreams.len() == 1 { "its" } else { "their" }
        ),
    ));
}

fn check_remote_references(documents: &Documents, options: &ImportOptions, builder: &mut Builder) -> Result<(), ImportError> {
    let Some((reference, span)) = documents.remote_references.first() else { return Ok(()) };
    if !options.allow_remote_refs {
        let others = documents.remote_references.len() - 1;
        return Err(ImportError::RemoteReference {
            location: documents.sources.locate(*span).to_string(),
            reference: reference.clone(),
            more: if others > 0 { format!(" (and {others} more remote references)") } else { String::new() },
        });
    }
    for (reference, span) in &documents.remote_references {
        builder.warn(Warning::new(
            "remote-reference",
            Some(*span),
            format!("`$ref: {reference}` is remote; this build cannot fetch it, so whatever it describes is left out of the import"),
        ));
    }
    Ok(())
}

/// A short, unique group name per file: its stem, with a number when two files share a stem.
fn group_names(paths: &[PathBuf]) -> Vec<String> {
    let mut registry = naming::NameRegistry::default();
    paths
        .iter()
        .map(|path| {
            let stem = path.file_stem().map(|stem| stem.to_string_lossy().into_owned()).unwrap_or_default();
            registry.claim(&naming::sanitize(&stem, "openapi"))
        })
        .collect()
}

/// Output formats of the generated spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Yaml,
    Json,
}

/// Serialises the spec, leaving out every field that equals its default so the file stays
/// readable. `security` is always written, so public routes show `security: []`.
pub fn render(spec: &Spec, format: OutputFormat, schema_reference: &str, sources: &[String]) -> String {
    let mut value = serde_json::to_value(spec).expect("the spec model serialises to JSON");
    prune_spec(&mut value);
    match format {
        OutputFormat::Json => {
            let mut text = serde_json::to_string_pretty(&value).expect("a JSON value serialises");
            text.push('\n');
            text
        }
        OutputFormat::Yaml => {
            let mut text = format!("# yaml-language-server: $schema={schema_reference}\n");
            text.push_str("# Generated by `gatectl import` from ");
            text.push_str(&sources.join(", "));
            text.push_str(". Do not edit: the next import overwrites this file.\n");
            text.push_str("# Keep changes in an overlay: gatectl validate THIS_FILE --overlay overlays/prod.yaml\n");
            text.push_str(&yaml_writer::to_yaml(&value));
            text
        }
    }
}

fn prune_spec(value: &mut serde_json::Value) {
    // A path no OpenAPI path equals, so the default never hides a real `match.path`.
    let impossible_path = serde_json::json!({ "exact": "\u{0}" });
    prune_list(value, "routes", |name| {
        let route: Route =
            serde_json::from_value(serde_json::json!({ "name": name, "match": { "path": impossible_path } })).expect("minimal route");
        serde_json::to_value(route).expect("route serialises")
    });
    prune_list(value, "upstreams", |name| {
        serde_json::to_value(serde_json::from_value::<Upstream>(serde_json::json!({ "name": name })).expect("minimal upstream"))
            .expect("upstream serialises")
    });
    prune_list(value, "authProviders", |name| {
        let provider = AuthProvider {
            name: name.to_owned(),
            jwt: Some(serde_json::from_value(serde_json::json!({})).expect("default JWT settings")),
            api_key: None,
        };
        serde_json::to_value(provider).expect("provider serialises")
    });
    let empty = serde_json::to_value(Spec::empty()).expect("the spec model serialises to JSON");
    prune_defaults(value, &empty, &["apiVersion", "kind", "routes", "upstreams"]);
}

fn prune_list(value: &mut serde_json::Value, list: &str, default_of: impl Fn(&str) -> serde_json::Value) {
    let Some(serde_json::Value::Array(items)) = value.get_mut(list) else { return };
    for item in items {
        let name = item.get("name").and_then(|name| name.as_str()).unwrap_or("").to_owned();
        prune_defaults(item, &default_of(&name), &["name", "match", "security"]);
    }
}

/// Removes the fields of `value` that equal those of `default`, recursively, except `keep`.
fn prune_defaults(value: &mut serde_json::Value, default: &serde_json::Value, keep: &[&str]) {
    let (serde_json::Value::Object(fields), serde_json::Value::Object(defaults)) = (value, default) else { return };
    fields.retain(|key, field| keep.contains(&key.as_str()) || defaults.get(key) != Some(field));
    for (key, field) in fields.iter_mut() {
        if let Some(default) = defaults.get(key) {
            prune_defaults(field, default, &[]);
        }
    }
}
