//! Human-readable output, coloured when asked to.

use std::fmt::Write;

use owo_colors::{OwoColorize, Style};
use serde_json::Value;

use super::change::{Changes, Class, EntityChange, FieldChange, Operation};

/// Renders `changes` as text, one block per entity, then the summary line. With `color`, ANSI
/// colours mark operations and classes.
pub fn render(changes: &Changes, color: bool) -> String {
    let mut output = String::new();
    if changes.is_empty() {
        output.push_str("No changes.\n");
        return output;
    }
    for entity in &changes.entities {
        render_entity(&mut output, entity, color);
    }
    let _ = writeln!(output, "\nSummary: {}", changes.summary().line());
    output
}

fn render_entity(output: &mut String, entity: &EntityChange, color: bool) {
    let (sign, word, style) = match entity.operation {
        Operation::Added => ("+", "added", Style::new().green()),
        Operation::Removed => ("-", "removed", Style::new().red()),
        Operation::Changed => ("~", "changed", Style::new().yellow()),
    };
    let mut title = format!("{sign} {} {}", entity.kind.as_str(), entity.name);
    if let Some(old_name) = &entity.renamed_from {
        let _ = write!(title, " (renamed from {old_name})");
    }
    let title = paint(&title, style.bold(), color);
    let class = paint_class(entity.class, color);
    if entity.fields.is_empty() {
        let _ = writeln!(output, "{title} {word} [{class}]: {}", entity.reason);
        return;
    }
    let _ = writeln!(output, "{title} [{class}]");
    for field in &entity.fields {
        render_field(output, field, color);
    }
}

fn render_field(output: &mut String, field: &FieldChange, color: bool) {
    let class = paint_class(field.class, color);
    match &field.text_diff {
        Some(diff) => {
            let _ = writeln!(output, "    {}: text changed", field.path);
            for line in diff.lines() {
                let _ = writeln!(output, "      {line}");
            }
        }
        None => {
            let _ = writeln!(output, "    {}: {} -> {}", field.path, value_text(field.old.as_ref()), value_text(field.new.as_ref()));
        }
    }
    let _ = writeln!(output, "      {class}: {}", field.reason);
}

/// Shows a value on one line: strings bare, everything else as compact JSON, absence as `(none)`.
pub fn value_text(value: Option<&Value>) -> String {
    match value {
        None => "(none)".to_owned(),
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
    }
}

fn paint_class(class: Class, color: bool) -> String {
    let style = match class {
        Class::Breaking => Style::new().red().bold(),
        Class::Risky => Style::new().yellow(),
        Class::Safe => Style::new().green(),
    };
    paint(class.as_str(), style, color)
}

fn paint(text: &str, style: Style, color: bool) -> String {
    if color { text.style(style).to_string() } else { text.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::{EntityChange, EntityKind};

    fn one_removed_route() -> Changes {
        let change = EntityChange::new(EntityKind::Route, "orders", Operation::Removed, Class::Breaking, "route removed");
        Changes { entities: vec![change] }
    }

    #[test]
    fn colour_only_when_enabled() {
        assert!(render(&one_removed_route(), true).contains('\u{1b}'));
        assert!(!render(&one_removed_route(), false).contains('\u{1b}'));
    }

    #[test]
    fn summary_line_counts_classes() {
        let text = render(&one_removed_route(), false);
        assert!(text.ends_with("Summary: 0 added, 0 changed, 1 removed; 1 breaking, 0 risky\n"), "{text}");
    }
}
