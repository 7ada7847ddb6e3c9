//! Rendering of spec diagnostics: human (miette), JSON, SARIF 2.1.0 and GitHub workflow commands.
//!
//! Every renderer takes a list of [`Diagnostic`]s and the [`SourceMap`] their spans point into,
//! so any command that produces diagnostics (validate, diff, import) can use them.

mod github;
mod human;
mod json;
mod sarif;

use std::path::Path;

use gatectl_spec::{Diagnostic, Severity, SourceMap, Span};

/// Output format of diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// Reports with source snippets, for people.
    #[default]
    Human,
    /// A JSON array of findings (documented in docs/rules.md).
    Json,
    /// SARIF 2.1.0, for code-scanning tools.
    Sarif,
    /// GitHub Actions workflow commands, which annotate pull requests.
    Github,
}

/// Settings of the human renderer.
#[derive(Debug, Clone, Copy)]
pub struct HumanOptions {
    pub color: bool,
    /// Line width the report wraps at, in columns.
    pub width: usize,
}

impl HumanOptions {
    /// Colour on a terminal unless `NO_COLOR` is set to a non-empty value; the width from
    /// `COLUMNS`, or 100 columns.
    pub fn for_terminal(is_terminal: bool) -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty());
        let width = std::env::var("COLUMNS").ok().and_then(|columns| columns.parse().ok()).unwrap_or(100);
        Self { color: is_terminal && !no_color, width }
    }
}

/// Renders diagnostics in a format. Human output ends with a summary line; the other formats
/// are complete documents or lines and carry no summary.
pub fn render(format: Format, diagnostics: &[Diagnostic], sources: &SourceMap, human: HumanOptions) -> String {
    match format {
        Format::Human => human::render(diagnostics, sources, human),
        Format::Json => json::render(diagnostics, sources),
        Format::Sarif => sarif::render(diagnostics, sources),
        Format::Github => github::render(diagnostics, sources),
    }
}

/// Summarises findings, for example `2 errors, 1 warning in 3 files`.
pub fn summary(diagnostics: &[Diagnostic], file_count: usize) -> String {
    let count = |severity: Severity| diagnostics.iter().filter(|diagnostic| diagnostic.severity == severity).count();
    let mut parts = vec![plural(count(Severity::Error), "error"), plural(count(Severity::Warning), "warning")];
    let notes = count(Severity::Note);
    if notes > 0 {
        parts.push(plural(notes, "note"));
    }
    format!("{} in {}", parts.join(", "), plural(file_count, "file"))
}

fn plural(count: usize, noun: &str) -> String {
    if count == 1 { format!("1 {noun}") } else { format!("{count} {noun}s") }
}

/// A span resolved to a file and a 1-based start and end position. Columns count characters;
/// the end is exclusive (the column just after the last character).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Region {
    file: String,
    line: usize,
    column: usize,
    end_line: usize,
    end_column: usize,
}

fn region(sources: &SourceMap, span: Span) -> Region {
    let source = sources.get(span.source);
    let (line, column) = source.line_column(span.start);
    let (end_line, end_column) = source.line_column(span.end);
    Region { file: display_path(&source.path), line, column, end_line, end_column }
}

/// Formats a path for reports: relative to the working directory when it lies below it, with
/// `/` separators.
fn display_path(path: &Path) -> String {
    let relative = std::env::current_dir().ok().and_then(|directory| path.strip_prefix(directory).ok().map(Path::to_path_buf));
    let shown = relative.as_deref().unwrap_or(path);
    let text = shown.to_string_lossy().replace('\\', "/");
    text.strip_prefix("./").map(str::to_owned).unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_counts_each_severity() {
        let diagnostics = vec![Diagnostic::error("a", "x"), Diagnostic::error("a", "y"), Diagnostic::warning("b", "z")];
        assert_eq!(summary(&diagnostics, 3), "2 errors, 1 warning in 3 files");
        assert_eq!(summary(&[], 1), "0 errors, 0 warnings in 1 file");
    }
}
