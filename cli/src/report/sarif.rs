//! SARIF 2.1.0 output, the format GitHub code scanning uploads.

use gatectl_spec::rules::RULES;
use gatectl_spec::{Diagnostic, Severity, SourceMap, Span};
use serde_json::{Value, json};

use super::region;

const SARIF_SCHEMA: &str = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

pub(super) fn render(diagnostics: &[Diagnostic], sources: &SourceMap) -> String {
    let rules: Vec<Value> = RULES
        .iter()
        .map(|rule| {
            json!({
                "id": rule.id,
                "shortDescription": { "text": rule.summary },
                "help": { "text": rule.help },
                "defaultConfiguration": { "level": level(rule.severity) },
            })
        })
        .collect();
    let results: Vec<Value> = diagnostics.iter().map(|diagnostic| result(diagnostic, sources)).collect();
    let log = json!({
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "gatectl",
                    "semanticVersion": env!("CARGO_PKG_VERSION"),
                    "rules": rules,
                }
            },
            "columnKind": "unicodeCodePoints",
            "results": results,
        }]
    });
    let mut text = serde_json::to_string_pretty(&log).expect("the SARIF log serialises to JSON");
    text.push('\n');
    text
}

fn result(diagnostic: &Diagnostic, sources: &SourceMap) -> Value {
    let mut message = diagnostic.message.clone();
    if let Some(help) = &diagnostic.help {
        message.push_str("\nhelp: ");
        message.push_str(help);
    }
    let mut result = json!({
        "ruleId": diagnostic.rule,
        "level": level(diagnostic.severity),
        "message": { "text": message },
    });
    if let Some(index) = RULES.iter().position(|rule| rule.id == diagnostic.rule) {
        result["ruleIndex"] = json!(index);
    }
    if let Some(span) = diagnostic.span {
        result["locations"] = json!([physical_location(sources, span)]);
    }
    if !diagnostic.related.is_empty() {
        let related: Vec<Value> = diagnostic
            .related
            .iter()
            .enumerate()
            .map(|(id, (span, label))| {
                let mut location = physical_location(sources, *span);
                location["id"] = json!(id);
                location["message"] = json!({ "text": label });
                location
            })
            .collect();
        result["relatedLocations"] = json!(related);
    }
    result
}

fn physical_location(sources: &SourceMap, span: Span) -> Value {
    let region = region(sources, span);
    json!({
        "physicalLocation": {
            "artifactLocation": { "uri": region.file },
            "region": {
                "startLine": region.line,
                "startColumn": region.column,
                "endLine": region.end_line,
                "endColumn": region.end_column,
            }
        }
    })
}

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Note => "note",
    }
}
