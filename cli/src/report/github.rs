//! GitHub Actions workflow commands (`::error file=F,line=L,col=C,title=RULE::message`), which
//! show findings as annotations on pull requests.

use gatectl_spec::{Diagnostic, Severity, SourceMap};

use super::region;

pub(super) fn render(diagnostics: &[Diagnostic], sources: &SourceMap) -> String {
    let mut text = String::new();
    for diagnostic in diagnostics {
        let command = match diagnostic.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "notice",
        };
        let mut properties = Vec::new();
        if let Some(span) = diagnostic.span {
            let region = region(sources, span);
            properties.push(format!("file={}", escape_property(&region.file)));
            properties.push(format!("line={}", region.line));
            properties.push(format!("col={}", region.column));
            properties.push(format!("endLine={}", region.end_line));
            properties.push(format!("endColumn={}", region.end_column));
        }
        properties.push(format!("title={}", escape_property(diagnostic.rule)));
        let mut message = diagnostic.message.clone();
        if let Some(help) = &diagnostic.help {
            message.push_str("\nhelp: ");
            message.push_str(help);
        }
        text.push_str(&format!("::{command} {}::{}\n", properties.join(","), escape_data(&message)));
    }
    text
}

/// Escapes a message as the runner expects: `%`, carriage return and line feed.
fn escape_data(text: &str) -> String {
    text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// Escapes a property value: the message escapes plus `:` and `,`, which delimit properties.
fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_delimiters() {
        assert_eq!(escape_data("50% done\r\nnext"), "50%25 done%0D%0Anext");
        assert_eq!(escape_property("a:b,c"), "a%3Ab%2Cc");
    }
}
