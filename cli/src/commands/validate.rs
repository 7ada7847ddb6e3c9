//! `gatectl validate`: load specs, run the semantic rules and report the findings.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use gatectl_spec::load::{LoadOptions, load};
use gatectl_spec::rules::{self, RuleConfig};
use gatectl_spec::{Diagnostic, Severity, SourceFile, SourceMap};

use crate::exit::ExitStatus;
use crate::report::{self, Format, HumanOptions};

/// Configuration file read from the working directory when `--config` is not given.
pub const DEFAULT_CONFIG: &str = ".gatectl.yaml";

#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Spec files or directories; a directory's .yaml, .yml and .json files are merged.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Overlay applied on top of the spec (repeatable, applied in order).
    #[arg(long = "overlay")]
    pub overlays: Vec<PathBuf>,
    /// Output format of the findings.
    #[arg(long, visible_alias = "output", value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Fail (exit 1) on warnings too, not only on errors.
    #[arg(long)]
    pub strict: bool,
    /// Rule configuration file; `.gatectl.yaml` in the working directory when present.
    #[arg(long)]
    pub config: Option<PathBuf>,
}

pub fn run(args: ValidateArgs) -> ExitStatus {
    let config = match load_config(args.config.as_deref(), args.format) {
        Ok(config) => config,
        Err(status) => return status,
    };
    let options = LoadOptions { overlays: args.overlays, ..LoadOptions::default() };
    let loaded = match load(&args.paths, &options) {
        Ok(loaded) => loaded,
        Err(error) => {
            errln!("error: {error}");
            return ExitStatus::Failure;
        }
    };
    let mut diagnostics = loaded.diagnostics.clone();
    // A spec that failed only the JSON Schema still gets the rules, so one run reports both.
    // A rule that finds fault with a value the schema already reported adds nothing, so such
    // findings are left out.
    let checked = loaded.spec.as_ref().or(loaded.unchecked_spec.as_ref());
    if let Some(spec) = checked {
        let reported: Vec<_> = loaded.diagnostics.iter().filter_map(|diagnostic| diagnostic.span).collect();
        let findings = rules::check(spec, &loaded.index, &config);
        diagnostics.extend(findings.into_iter().filter(|finding| finding.span.is_none_or(|span| !reported.contains(&span))));
    }
    diagnostics.sort_by_key(|diagnostic| diagnostic.span.map(|span| (span.source, span.start)));

    emit(args.format, &diagnostics, &loaded.sources);
    if checked.is_none() && !diagnostics.is_empty() {
        // Standard error, so that machine formats on standard output stay as they are.
        errln!("note: the semantic rules did not run, because the spec could not be decoded; fix the errors above and run validate again");
    }
    let has_errors = diagnostics.iter().any(|diagnostic| diagnostic.severity == Severity::Error);
    let has_warnings = diagnostics.iter().any(|diagnostic| diagnostic.severity == Severity::Warning);
    if has_errors || (args.strict && has_warnings) { ExitStatus::Findings } else { ExitStatus::Success }
}

/// Prints findings: human reports on standard error, the other formats on standard output.
fn emit(format: Format, diagnostics: &[Diagnostic], sources: &SourceMap) {
    let human = HumanOptions::for_terminal(std::io::stderr().is_terminal());
    let text = report::render(format, diagnostics, sources, human);
    let written = match format {
        Format::Human => std::io::stderr().write_all(text.as_bytes()),
        _ => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush())
        }
    };
    // Write errors are ignored: the usual one is a closed pipe (`| head`), which needs no message.
    let _ = written;
    if format != Format::Human {
        errln!("{}", report::summary(diagnostics, sources.files().count()));
    }
}

/// Reads the rule configuration: the `--config` file, else `.gatectl.yaml` when present, else
/// the defaults. Any problem with the file stops the run with exit status 2.
fn load_config(path: Option<&Path>, format: Format) -> Result<RuleConfig, ExitStatus> {
    let path = match path {
        Some(path) => path.to_owned(),
        None if Path::new(DEFAULT_CONFIG).is_file() => PathBuf::from(DEFAULT_CONFIG),
        None => return Ok(RuleConfig::default()),
    };
    let bytes = std::fs::read(&path).map_err(|error| {
        errln!("error: cannot read rule configuration {}: {error}; check the path and its permissions", path.display());
        ExitStatus::Failure
    })?;
    let Ok(text) = String::from_utf8(bytes) else {
        errln!("error: rule configuration {} is not valid UTF-8; save it as UTF-8", path.display());
        return Err(ExitStatus::Failure);
    };
    let mut sources = SourceMap::new();
    let id = sources.add(SourceFile::new(path.clone(), text));
    RuleConfig::parse(sources.get(id), id).map_err(|error| {
        emit(format, &error.diagnostics, &sources);
        errln!("error: invalid rule configuration in {}; fix the entries above", path.display());
        ExitStatus::Failure
    })
}
