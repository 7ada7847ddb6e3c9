//! `gatectl diff`: compares two specs, a spec with itself at a git revision, or a running
//! runtime's active bundle with a spec (`--live URL`).

use std::io::IsTerminal;
use std::path::PathBuf;

use gatectl_spec::Spec;
use gatectl_spec::load::{LoadOptions, LoadedSpec, load, load_in_memory};

use crate::diff::{self, Changes, Options};
use crate::exit::ExitStatus;
use crate::remote::RemoteArgs;

#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// OLD and NEW spec files or directories. With --base or --live, only NEW: the same path at
    /// the revision, or the runtime's active spec, is the old side.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Compare with the spec at this git revision (a branch, tag or commit), read with git.
    #[arg(long, value_name = "REV", conflicts_with = "live")]
    pub base: Option<String>,
    /// Compare with the spec that a runtime serves: its active bundle, read from the admin API
    /// at this URL (for example http://127.0.0.1:9901).
    #[arg(long, value_name = "URL")]
    pub live: Option<String>,
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// Overlay applied on top of both specs (repeatable, applied in order).
    #[arg(long = "overlay", value_name = "FILE")]
    pub overlays: Vec<PathBuf>,
    /// Compare only upstreams, routes and consumers that carry this tag on either side.
    #[arg(long, value_name = "TAG")]
    pub scope: Option<String>,
    /// Output format.
    #[arg(long, visible_alias = "output", value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// The changes that make the exit status 1: `any` change, `risky` or breaking ones, or only
    /// `breaking` ones.
    #[arg(long, value_enum, default_value_t = FailOn::Any)]
    pub fail_on: FailOn,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Text for a terminal, coloured on a TTY unless NO_COLOR is set.
    Human,
    /// A JSON document (format version 1, see docs/diff.md).
    Json,
    /// Markdown tables for a pull-request comment.
    Markdown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum FailOn {
    Any,
    /// Risky or breaking changes, for a gate that must see auth or rate limits loosened.
    Risky,
    Breaking,
}

/// Where one side of the comparison comes from.
enum Source<'a> {
    Files(&'a PathBuf),
    Revision { revision: &'a str, path: &'a PathBuf },
    Live(&'a str),
}

pub fn run(args: DiffArgs) -> ExitStatus {
    let (old_source, new_source) = match (&args.base, &args.live, args.paths.as_slice()) {
        (None, None, [old, new]) => (Source::Files(old), Source::Files(new)),
        (Some(revision), None, [path]) => (Source::Revision { revision, path }, Source::Files(path)),
        (None, Some(url), [path]) => (Source::Live(url), Source::Files(path)),
        (None, None, _) => return usage_error("diff takes two paths, OLD and NEW; or one path with --base REV or --live URL"),
        (Some(_), _, _) => return usage_error("with --base REV, give one path: the spec file or directory to compare with REV"),
        (None, Some(_), _) => return usage_error("with --live URL, give one path: the spec file or directory to compare with the runtime"),
    };
    let options = LoadOptions { overlays: args.overlays.clone(), ..LoadOptions::default() };
    // The two sides are independent, so they load on two threads. Messages are printed old side
    // first, as if the sides had loaded one after the other.
    let (old, new) = std::thread::scope(|scope| {
        let old = scope.spawn(|| match &old_source {
            Source::Live(url) => match read_live(url, &args.remote) {
                Ok(spec) => (Some(spec), Vec::new()),
                Err(message) => (None, vec![format!("error: {message}")]),
            },
            _ => load_side(&old_source, &options, "old"),
        });
        let new = load_side(&new_source, &options, "new");
        let old = old.join().unwrap_or_else(|_| (None, vec!["error: loading the old spec stopped unexpectedly".to_owned()]));
        (old, new)
    });
    for message in old.1.iter().chain(&new.1) {
        errln!("{message}");
    }
    let (Some(old), Some(new)) = (old.0, new.0) else { return ExitStatus::Failure };

    if let Some(tag) = &args.scope
        && !carries_tag(&old, tag)
        && !carries_tag(&new, tag)
    {
        errln!(
            "error: no upstream, route or consumer carries the tag `{tag}` on either side, so --scope {tag} would compare nothing; check the tag's spelling"
        );
        return ExitStatus::Failure;
    }
    let changes = diff::compare_owned(old, new, &Options { scope: args.scope.clone() });
    out!("{}", render(&changes, args.format));
    exit_status(&changes, args.fail_on)
}

/// Whether any entity that `--scope` can select carries `tag`.
fn carries_tag(spec: &gatectl_spec::Spec, tag: &str) -> bool {
    let has = |tags: &[String]| tags.iter().any(|candidate| candidate == tag);
    spec.upstreams.iter().any(|upstream| has(&upstream.tags))
        || spec.routes.iter().any(|route| has(&route.tags))
        || spec.consumers.iter().any(|consumer| has(&consumer.tags))
}

fn render(changes: &Changes, format: Format) -> String {
    match format {
        Format::Human => diff::human::render(changes, use_color()),
        Format::Json => diff::json::render(changes),
        Format::Markdown => diff::markdown::render(changes),
    }
}

fn exit_status(changes: &Changes, fail_on: FailOn) -> ExitStatus {
    let fails = match fail_on {
        FailOn::Any => !changes.is_empty(),
        FailOn::Breaking => changes.has_breaking(),
        FailOn::Risky => changes.has_risky_or_breaking(),
    };
    if fails { ExitStatus::Findings } else { ExitStatus::Success }
}

/// Colour only on a terminal, and never when `NO_COLOR` is set to a non-empty value.
fn use_color() -> bool {
    let disabled = std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty());
    !disabled && std::io::stdout().is_terminal()
}

fn usage_error(message: &str) -> ExitStatus {
    errln!("error: {message}");
    ExitStatus::Failure
}

/// Reads the spec of a runtime's active bundle; a runtime without one serves the empty spec.
/// Only the bundle's hash is checked here, because the runtime verified its signature.
fn read_live(url: &str, remote: &RemoteArgs) -> Result<Spec, String> {
    let client = remote.connect()?.target(url)?;
    let Some(bytes) = client.active_bundle()? else {
        // A runtime serves a `--config` spec without a bundle, and the admin API does not return
        // that spec: compared with nothing, every entity would read as added.
        if !client.status()?.config.hash.is_empty() {
            return Err(format!(
                "target {url} serves a spec given with --config and no bundle, and the admin API does not return that spec; diff against the spec file itself, or compare hashes with `gatectl status --spec`"
            ));
        }
        return Ok(Spec::empty());
    };
    let live = super::plan::read_bundle(&bytes, None).map_err(|error| format!("target {url}: the active bundle is invalid: {error}"))?;
    Ok(live.spec)
}

/// Loads one side of the diff. Returns the spec, when it can be compared, and the lines to print
/// for it: each diagnostic with its location, and on failure what to do.
fn load_side(source: &Source<'_>, options: &LoadOptions, side: &str) -> (Option<Spec>, Vec<String>) {
    let (loaded, shown_path) = match source {
        Source::Files(path) => (load(std::slice::from_ref(*path), options).map_err(|error| error.to_string()), path.display().to_string()),
        Source::Revision { revision, path } => {
            let loaded = diff::git::read_at_revision(revision, path)
                .map_err(|error| error.to_string())
                .and_then(|inputs| load_in_memory(inputs, options).map_err(|error| error.to_string()));
            (loaded, format!("{revision}:{}", path.display()))
        }
        Source::Live(url) => unreachable!("the live side of {url} is read by read_live"),
    };
    let loaded: LoadedSpec = match loaded {
        Ok(loaded) => loaded,
        Err(message) => return (None, vec![format!("error: cannot load the {side} spec: {message}")]),
    };
    let mut messages: Vec<String> = loaded
        .diagnostics
        .iter()
        .map(|diagnostic| {
            let location = diagnostic.span.map(|span| loaded.sources.locate(span).to_string()).unwrap_or_default();
            format!("{location}: {} [{}] {}", diagnostic.severity.as_str(), diagnostic.rule, diagnostic.message)
        })
        .collect();
    match loaded.spec {
        Some(spec) if !loaded.has_errors() => (Some(spec), messages),
        _ => {
            messages.push(format!(
                "error: the {side} spec {shown_path} is invalid; fix the errors above (`gatectl validate` lists them), then run diff again"
            ));
            (None, messages)
        }
    }
}
