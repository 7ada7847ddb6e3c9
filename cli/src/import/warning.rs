//! Warnings about what the importer could not map, each with the place in the OpenAPI file.

use gatectl_spec::source::{SourceMap, Span};

/// Something in the input that was skipped, guessed or needs the user's attention. The import
/// goes on after a warning.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Warning {
    /// A short stable identifier, for example `no-server` or `unsupported-security-scheme`.
    pub code: &'static str,
    /// What was found and what to do about it, as a full sentence.
    pub message: String,
    /// Where in the input the warning is about.
    pub span: Option<Span>,
}

impl Warning {
    pub fn new(code: &'static str, span: Option<Span>, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), span }
    }
}

/// Renders warnings as `file:line:column: warning[code]: message` lines.
pub fn render_text(warnings: &[Warning], sources: &SourceMap) -> String {
    let mut text = String::new();
    for warning in warnings {
        match warning.span {
            Some(span) => text.push_str(&format!("{}: ", sources.locate(span))),
            None => text.push_str("gatectl import: "),
        }
        text.push_str(&format!("warning[{}]: {}\n", warning.code, warning.message));
    }
    text
}

/// Renders warnings as a JSON array of `{code, message, file, line, column}` objects.
pub fn render_json(warnings: &[Warning], sources: &SourceMap) -> String {
    let items: Vec<serde_json::Value> = warnings
        .iter()
        .map(|warning| {
            let mut item = serde_json::json!({ "code": warning.code, "message": warning.message });
            if let Some(span) = warning.span {
                let location = sources.locate(span);
                item["file"] = location.path.display().to_string().into();
                item["line"] = location.line.into();
                item["column"] = location.column.into();
            }
            item
        })
        .collect();
    let mut text = serde_json::to_string_pretty(&items).unwrap_or_else(|_| "[]".to_owned());
    text.push('\n');
    text
}
