//! Findings about a spec, with their source locations.

use serde::Serialize;

use crate::source::Span;

/// How serious a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Informational; never fails a run.
    Note,
    /// Suspicious; fails only `validate --strict`.
    Warning,
    /// The spec is invalid.
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Note => "note",
            Self::Warning => "warning",
            Self::Error => "error",
        }
    }
}

/// One finding: a rule id, a severity, a message, a fix, and where it applies.
#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic {
    /// Stable id such as `unknown-upstream`; see `docs/rules.md`.
    pub rule: &'static str,
    pub severity: Severity,
    /// One sentence saying what is wrong, naming the value.
    pub message: String,
    /// What to do about it.
    pub help: Option<String>,
    /// The node the finding is about; `None` for findings about the whole input.
    pub span: Option<Span>,
    /// Other places worth showing, each with a short label.
    pub related: Vec<(Span, String)>,
}

impl Diagnostic {
    pub fn new(rule: &'static str, severity: Severity, message: impl Into<String>) -> Self {
        Self { rule, severity, message: message.into(), help: None, span: None, related: Vec::new() }
    }

    pub fn error(rule: &'static str, message: impl Into<String>) -> Self {
        Self::new(rule, Severity::Error, message)
    }

    pub fn warning(rule: &'static str, message: impl Into<String>) -> Self {
        Self::new(rule, Severity::Warning, message)
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn at(mut self, span: Option<Span>) -> Self {
        self.span = span;
        self
    }

    pub fn with_related(mut self, span: Option<Span>, label: impl Into<String>) -> Self {
        if let Some(span) = span {
            self.related.push((span, label.into()));
        }
        self
    }
}
