//! Human-readable reports through miette: the source snippet, the rule id as the code, the
//! `help:` line and related labels.

use std::fmt;
use std::sync::Arc;

use gatectl_spec::rules::PLAINTEXT_SECRET;
use gatectl_spec::url_text;
use gatectl_spec::{Diagnostic, Severity, SourceMap, Span};
use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceSpan};

use super::{HumanOptions, display_path, summary};

pub(super) fn render(diagnostics: &[Diagnostic], sources: &SourceMap, options: HumanOptions) -> String {
    let theme = if options.color { GraphicalTheme::unicode() } else { GraphicalTheme::unicode_nocolor() };
    let handler = GraphicalReportHandler::new_themed(theme).with_width(options.width).with_links(false);
    let mut text = String::new();
    for diagnostic in diagnostics {
        let report = Report::build(diagnostic, sources);
        if handler.render_report(&mut text, &report).is_err() {
            text.push_str(&format!("{}: [{}] {}\n", diagnostic.severity.as_str(), diagnostic.rule, diagnostic.message));
        }
        text.push('\n');
    }
    text.push_str(&summary(diagnostics, sources.files().count()));
    text.push('\n');
    text
}

/// One diagnostic shaped for miette. Labels in the finding's own file show in its snippet; labels
/// in other files (for example a duplicate defined in another file of a directory) become
/// related reports with their own snippet.
#[derive(Debug)]
struct Report {
    message: String,
    code: Option<String>,
    severity: miette::Severity,
    help: Option<String>,
    source: Option<NamedSource<Arc<str>>>,
    labels: Vec<LabeledSpan>,
    related: Vec<Report>,
}

impl Report {
    fn build(diagnostic: &Diagnostic, sources: &SourceMap) -> Self {
        let mut report = Self {
            message: diagnostic.message.clone(),
            code: Some(diagnostic.rule.to_owned()),
            severity: match diagnostic.severity {
                Severity::Error => miette::Severity::Error,
                Severity::Warning => miette::Severity::Warning,
                Severity::Note => miette::Severity::Advice,
            },
            help: diagnostic.help.clone(),
            source: None,
            labels: Vec::new(),
            related: Vec::new(),
        };
        let Some(span) = diagnostic.span else { return report };
        let redact = diagnostic.rule == PLAINTEXT_SECRET;
        let (source, primary) = snippet(sources, span, redact);
        report.source = Some(source);
        report.labels.push(LabeledSpan::new_primary_with_span(None, primary));
        for (related_span, label) in &diagnostic.related {
            if related_span.source == span.source && !redact {
                report.labels.push(LabeledSpan::new_with_span(Some(label.clone()), to_source_span(*related_span)));
                continue;
            }
            let (source, related_primary) = snippet(sources, *related_span, false);
            report.related.push(Self {
                message: label.clone(),
                code: None,
                severity: miette::Severity::Advice,
                help: None,
                source: Some(source),
                labels: vec![LabeledSpan::new_primary_with_span(Some(label.clone()), related_primary)],
                related: Vec::new(),
            });
        }
        report
    }
}

/// Builds the named source of a span's file. With `redact`, the span's text is replaced by `*`,
/// so that a secret found in the spec is not copied into CI logs.
fn snippet(sources: &SourceMap, span: Span, redact: bool) -> (NamedSource<Arc<str>>, SourceSpan) {
    let file = sources.get(span.source);
    let name = display_path(&file.path);
    let masked = mask_url_passwords(&file.text);
    if !redact {
        let text = masked.map_or_else(|| file.text.clone(), Arc::from);
        return (NamedSource::new(name, text), to_source_span(span));
    }
    let text = masked.as_deref().unwrap_or(&file.text);
    let (Some(before), Some(hidden), Some(after)) = (text.get(..span.start), text.get(span.start..span.end), text.get(span.end..)) else {
        // A span that does not fall on character boundaries cannot be redacted, so show no text.
        return (NamedSource::new(name, Arc::from("")), SourceSpan::new(0.into(), 0));
    };
    let hidden_length = hidden.chars().count();
    let redacted = format!("{before}{}{after}", "*".repeat(hidden_length));
    (NamedSource::new(name, Arc::from(redacted)), SourceSpan::new(span.start.into(), hidden_length))
}

/// Replaces each byte of every URL password (`scheme://user:password@host`) with `*`, keeping
/// the text's length so that spans still point at the same places. Returns `None` when the
/// text has no such password.
fn mask_url_passwords(text: &str) -> Option<String> {
    let mut bytes = text.as_bytes().to_vec();
    let mut changed = false;
    let mut search = 0;
    while let Some((offset, authority)) = url_text::authority(&text[search..]) {
        let start = search + offset;
        if let Some(password) = url_text::password_range(authority) {
            bytes[start + password.start..start + password.end].fill(b'*');
            changed = true;
        }
        search = start + authority.len();
    }
    // Each replaced range lies between an ASCII `:` and `@`, so it covers whole characters.
    changed.then(|| String::from_utf8(bytes).unwrap_or_default())
}

fn to_source_span(span: Span) -> SourceSpan {
    SourceSpan::new(span.start.into(), span.len())
}

impl fmt::Display for Report {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.message)
    }
}

impl std::error::Error for Report {}

impl miette::Diagnostic for Report {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.code.as_ref().map(|code| Box::new(code) as Box<dyn fmt::Display>)
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(self.severity)
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help.as_ref().map(|help| Box::new(help) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|source| source as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if self.labels.is_empty() {
            return None;
        }
        Some(Box::new(self.labels.iter().cloned()))
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn miette::Diagnostic> + 'a>> {
        if self.related.is_empty() {
            return None;
        }
        Some(Box::new(self.related.iter().map(|report| report as &dyn miette::Diagnostic)))
    }
}
