//! The JSON format: a stable array of findings, documented in `docs/rules.md`.

use gatectl_spec::{Diagnostic, SourceMap};
use serde::Serialize;

use super::region;

/// One finding. Field names and meanings are part of the CLI's interface.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Finding<'a> {
    rule: &'a str,
    severity: &'a str,
    message: &'a str,
    help: Option<&'a str>,
    #[serde(flatten)]
    location: Option<Location>,
    related: Vec<Related<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Location {
    file: String,
    line: usize,
    column: usize,
    end_line: usize,
    end_column: usize,
}

#[derive(Serialize)]
struct Related<'a> {
    message: &'a str,
    #[serde(flatten)]
    location: Location,
}

fn location(sources: &SourceMap, span: gatectl_spec::Span) -> Location {
    let region = region(sources, span);
    Location { file: region.file, line: region.line, column: region.column, end_line: region.end_line, end_column: region.end_column }
}

pub(super) fn render(diagnostics: &[Diagnostic], sources: &SourceMap) -> String {
    let findings: Vec<Finding<'_>> = diagnostics
        .iter()
        .map(|diagnostic| Finding {
            rule: diagnostic.rule,
            severity: diagnostic.severity.as_str(),
            message: &diagnostic.message,
            help: diagnostic.help.as_deref(),
            location: diagnostic.span.map(|span| location(sources, span)),
            related: diagnostic
                .related
                .iter()
                .map(|(span, label)| Related { message: label, location: location(sources, *span) })
                .collect(),
        })
        .collect();
    let mut text = serde_json::to_string_pretty(&findings).expect("findings serialise to JSON");
    text.push('\n');
    text
}
