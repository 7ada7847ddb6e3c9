use std::path::PathBuf;

use crate::exit::ExitStatus;
use crate::import::warning::{render_json, render_text};
use crate::import::{ImportOptions, OutputFormat, import, render};

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// OpenAPI 2.0, 3.0 or 3.1 files (YAML or JSON); several files are merged into one spec.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// File to write the spec to; standard output when absent or `-`.
    #[arg(long, short = 'o', value_name = "FILE", value_parser = crate::args::import_file)]
    pub output: Option<PathBuf>,
    /// Format of the generated spec.
    #[arg(long, value_enum, default_value = "yaml")]
    pub format: OutputFormat,
    /// Format of the warnings written to standard error.
    #[arg(long = "warnings-format", value_enum, default_value = "text")]
    pub warnings_format: WarningsFormat,
    /// Import documents that contain `$ref`s to http:// or https:// URLs. They are still not
    /// fetched: what they describe is left out, with a warning.
    #[arg(long)]
    pub allow_remote_refs: bool,
    /// Value of the `$schema` comment at the top of YAML output: a path or URL of the spec's
    /// JSON Schema (write it with `gatectl schema`).
    #[arg(long, default_value = "gateway.v1.schema.json")]
    pub schema_ref: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WarningsFormat {
    Text,
    Json,
}

pub fn run(args: ImportArgs) -> ExitStatus {
    let options = ImportOptions { allow_remote_refs: args.allow_remote_refs };
    let imported = match import(&args.paths, &options) {
        Ok(imported) => imported,
        Err(error) => {
            errln!("error: {error}");
            return ExitStatus::Failure;
        }
    };
    let sources: Vec<String> = args.paths.iter().map(|path| path.display().to_string()).collect();
    let text = render(&imported.spec, args.format, &args.schema_ref, &sources);
    let written = match args.output.as_ref().filter(|path| path.as_os_str() != "-") {
        Some(path) => std::fs::write(path, text).map_err(|error| format!("cannot write {}: {error}", path.display())),
        None => {
            out!("{text}");
            Ok(())
        }
    };
    if let Err(message) = written {
        errln!("error: {message}");
        return ExitStatus::Failure;
    }
    let warnings = match args.warnings_format {
        WarningsFormat::Text => render_text(&imported.warnings, &imported.sources),
        WarningsFormat::Json => render_json(&imported.warnings, &imported.sources),
    };
    err!("{warnings}");
    errln!(
        "imported {}, {} and {} from {}, with {}",
        count(imported.spec.routes.len(), "route", "routes"),
        count(imported.spec.upstreams.len(), "upstream", "upstreams"),
        count(imported.spec.auth_providers.len(), "auth provider", "auth providers"),
        count(args.paths.len(), "file", "files"),
        count(imported.warnings.len(), "warning", "warnings")
    );
    if let Some(output) = args.output.as_ref().filter(|path| path.as_os_str() != "-") {
        note_missing_schema(output, &args.schema_ref);
    }
    ExitStatus::Success
}

/// Says how to write the JSON Schema that the output's `$schema` comment names, when that is a
/// relative path with no file beside the output, since an editor finds nothing there otherwise.
fn note_missing_schema(output: &std::path::Path, schema_ref: &str) {
    if schema_ref.contains("://") || std::path::Path::new(schema_ref).is_absolute() {
        return;
    }
    let directory = output.parent().filter(|parent| !parent.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    let schema = directory.join(schema_ref);
    if !schema.exists() {
        errln!(
            "note: the $schema comment names {schema_ref}, which is not beside {}; for editor completion write it with `gatectl schema > {}`, or pass --schema-ref",
            output.display(),
            schema.display()
        );
    }
}

/// Formats a count with the singular or plural noun, such as `1 file` or `2 files`.
fn count(number: usize, singular: &str, plural: &str) -> String {
    format!("{number} {}", if number == 1 { singular } else { plural })
}
