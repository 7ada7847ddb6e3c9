//! Human-readable reports through miette: the source snippet, the rule id as the code, the
//! `help:` line and related labels.

use std::fmt;
use std::sync::Arc;

use gatectl_spec::rules::PLAINTEXT_SECRET;
use gatectl_spec::url_text;
use gatectl_spec::{Diagnostic, Severity, SourceMap, Span};
use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteError, MietteSpanContents, SourceSpan, SpanContents};

use super::{HumanOptions, display_path, summary};

pub(super) fn render(diagnostics: &[Diagnostic], sources: &SourceMap, options: HumanOptions) -> String {
    let theme = if options.color { GraphicalTheme::unicode() } else { GraphicalTheme::unicode_nocolor() };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(options.width)
        .with_links(false)
        .with_word_separator(textwrap::WordSeparator::Custom(words_outside_backticks));
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

/// Splits a line into words at spaces, except spaces inside backticks, so that a quoted value
/// such as `gatectl validate --overlay` is never wrapped across two lines. A value wider than
/// the report is still broken, at the width.
fn words_outside_backticks(line: &str) -> Box<dyn Iterator<Item = textwrap::core::Word<'_>> + '_> {
    let mut words = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    let mut characters = line.char_indices().peekable();
    while let Some((offset, character)) = characters.next() {
        match character {
            '`' => quoted = !quoted,
            ' ' if !quoted => {
                // The spaces after a word belong to it, as textwrap's own separators do it.
                let mut end = offset + 1;
                while let Some((next, ' ')) = characters.peek().copied() {
                    end = next + 1;
                    characters.next();
                }
                words.push(textwrap::core::Word::from(&line[start..end]));
                start = end;
            }
            _ => {}
        }
    }
    if start < line.len() {
        words.push(textwrap::core::Word::from(&line[start..]));
    }
    Box::new(words.into_iter())
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
    source: Option<Snippet>,
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
fn snippet(sources: &SourceMap, span: Span, redact: bool) -> (Snippet, SourceSpan) {
    let file = sources.get(span.source);
    let name = display_path(&file.path);
    let masked = mask_url_passwords(&file.text);
    // A lone CR ends a line in YAML. Shown as LF, of the same length, it cannot move the
    // terminal's cursor back over the snippet.
    let masked =
        if file.text.contains('\r') { Some(lone_carriage_returns_as_newlines(masked.as_deref().unwrap_or(&file.text))) } else { masked };
    if !redact {
        let text = masked.map_or_else(|| file.text.clone(), Arc::from);
        return (Snippet { name, text }, to_source_span(span));
    }
    let text = masked.as_deref().unwrap_or(&file.text);
    let (Some(before), Some(hidden), Some(after)) = (text.get(..span.start), text.get(span.start..span.end), text.get(span.end..)) else {
        // A span that does not fall on character boundaries cannot be redacted, so show no text.
        return (Snippet { name, text: Arc::from("") }, SourceSpan::new(0.into(), 0));
    };
    let hidden_length = hidden.chars().count();
    let redacted = format!("{before}{}{after}", "*".repeat(hidden_length));
    (Snippet { name, text: Arc::from(redacted) }, SourceSpan::new(span.start.into(), hidden_length))
}

/// Replaces each CR that no LF follows with an LF.
fn lone_carriage_returns_as_newlines(text: &str) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for index in 0..bytes.len() {
        if bytes[index] == b'\r' && bytes.get(index + 1) != Some(&b'\n') {
            bytes[index] = b'\n';
        }
    }
    // Only ASCII bytes changed, so the text is still UTF-8.
    String::from_utf8(bytes).unwrap_or_default()
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

/// A file's text as miette reads it. The `file:line:column` above a snippet counts the column in
/// characters, as the JSON, GitHub and SARIF formats do. miette alone counts bytes, which puts
/// an error after a `ü` one column further right than the other formats.
#[derive(Debug)]
struct Snippet {
    name: String,
    text: Arc<str>,
}

impl miette::SourceCode for Snippet {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let contents = self.text.read_span(span, context_lines_before, context_lines_after)?;
        // miette reads the header's position with no context lines; with context the column is 0.
        let column = if context_lines_before == 0 {
            let before = self.text.get(..span.offset()).ok_or(MietteError::OutOfBounds)?;
            let line_start = before.rfind(['\n', '\r']).map_or(0, |newline| newline + 1);
            before[line_start..].chars().count()
        } else {
            contents.column()
        };
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            contents.data(),
            *contents.span(),
            contents.line(),
            column,
            contents.line_count(),
        )))
    }
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

#[cfg(test)]
mod tests {
    use super::words_outside_backticks;

    #[test]
    fn spaces_inside_backticks_do_not_split_words() {
        let words: Vec<String> = words_outside_backticks("run `gatectl validate --overlay`  then  x")
            .map(|word| format!("{}|{}", word.word, word.whitespace))
            .collect();
        assert_eq!(words, ["run| ", "`gatectl validate --overlay`|  ", "then|  ", "x|"]);
    }
}
