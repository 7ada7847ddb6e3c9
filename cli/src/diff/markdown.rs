//! Markdown output for pull-request comments: the summary, then one table per entity kind.

use std::fmt::Write;

use super::change::{Changes, EntityChange, EntityKind};
use super::human::value_text;

/// Maximum length of a value in a table cell, in characters; longer values end with `…`.
const MAX_CELL_CHARS: usize = 80;

/// Renders `changes` as GitHub-flavoured Markdown.
pub fn render(changes: &Changes) -> String {
    let mut output = String::from("### gatectl diff\n\n");
    let _ = writeln!(output, "**Summary:** {}", changes.summary().line());
    if changes.is_empty() {
        output.push_str("\nNo changes.\n");
        return output;
    }

    let mut kinds: Vec<EntityKind> = changes.entities.iter().map(|entity| entity.kind).collect();
    kinds.dedup();
    for kind in kinds {
        let _ = writeln!(output, "\n#### {}\n", kind.heading());
        output.push_str("| Change | Name | Field | Old | New | Class | Reason |\n");
        output.push_str("|---|---|---|---|---|---|---|\n");
        for entity in changes.entities.iter().filter(|entity| entity.kind == kind) {
            render_rows(&mut output, entity);
        }
    }
    output
}

fn render_rows(output: &mut String, entity: &EntityChange) {
    let operation = serde_json::to_value(entity.operation).ok().and_then(|value| value.as_str().map(str::to_owned)).unwrap_or_default();
    let name = match &entity.renamed_from {
        Some(old_name) => format!("{} (was {old_name})", entity.name),
        None => entity.name.clone(),
    };
    if entity.fields.is_empty() {
        let _ = writeln!(output, "| {operation} | {} | | | | {} | {} |", cell(&name), entity.class.as_str(), cell(&entity.reason));
        return;
    }
    for field in &entity.fields {
        let _ = writeln!(
            output,
            "| {operation} | {} | {} | {} | {} | {} | {} |",
            cell(&name),
            code(&field.path),
            code(&value_text(field.old.as_ref())),
            code(&value_text(field.new.as_ref())),
            field.class.as_str(),
            cell(&field.reason),
        );
    }
}

/// Escapes text for a table cell: line breaks as spaces, long text shortened, pipes escaped.
fn cell(text: &str) -> String {
    let flat = text.replace('\n', " ");
    let short = if flat.chars().count() > MAX_CELL_CHARS { flat.chars().take(MAX_CELL_CHARS).collect::<String>() + "…" } else { flat };
    short.replace('|', "\\|")
}

/// Formats a value as a code span in a cell. Backticks inside the value become single quotes.
fn code(text: &str) -> String {
    format!("`{}`", cell(&text.replace('`', "'")))
}
