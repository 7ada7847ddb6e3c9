use std::path::PathBuf;

use gatectl_spec::load::{LoadOptions, load};

use crate::exit::ExitStatus;

#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Spec files or directories; a directory's .yaml, .yml and .json files are merged.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Overlay applied on top of the spec (repeatable, applied in order).
    #[arg(long = "overlay")]
    pub overlays: Vec<PathBuf>,
}

pub fn run(args: ValidateArgs) -> ExitStatus {
    let options = LoadOptions { overlays: args.overlays, ..LoadOptions::default() };
    let loaded = match load(&args.paths, &options) {
        Ok(loaded) => loaded,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitStatus::Failure;
        }
    };
    for diagnostic in &loaded.diagnostics {
        let location = diagnostic.span.map(|span| loaded.sources.locate(span).to_string()).unwrap_or_default();
        eprintln!("{location}: {} [{}] {}", diagnostic.severity.as_str(), diagnostic.rule, diagnostic.message);
    }
    if loaded.has_errors() { ExitStatus::Findings } else { ExitStatus::Success }
}
