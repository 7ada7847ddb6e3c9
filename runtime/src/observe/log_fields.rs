//! A span-field formatter for the JSON log lines.
//!
//! The JSON log format keeps each span's fields as JSON text, made when the span is created.
//! The formatter that `tracing-subscriber` provides for it builds a map of `serde_json` values
//! first. Every request opens a span, so this one writes the object directly instead. The text
//! it makes is the same JSON object.

use std::fmt::{self, Write};

use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::Writer;

/// Formats span fields as one JSON object, such as `{"request.id":"…","trace.id":"…"}`.
#[derive(Debug, Default, Clone, Copy)]
pub struct JsonSpanFields;

impl<'writer> FormatFields<'writer> for JsonSpanFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'writer>, fields: R) -> fmt::Result {
        let mut visitor = ObjectVisitor { output: String::with_capacity(96), empty: true };
        fields.record(&mut visitor);
        writer.write_char('{')?;
        writer.write_str(&visitor.output)?;
        writer.write_char('}')
    }

    fn add_fields(
        &self,
        current: &'writer mut tracing_subscriber::fmt::FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        // Fields recorded later are added inside the existing object. A repeated name appears
        // twice; readers keep the last value.
        let mut visitor = ObjectVisitor { output: String::new(), empty: true };
        fields.record(&mut visitor);
        if visitor.empty {
            return Ok(());
        }
        if current.fields.is_empty() {
            current.fields = format!("{{{}}}", visitor.output);
            return Ok(());
        }
        current.fields.pop();
        if !current.fields.ends_with('{') {
            current.fields.push(',');
        }
        current.fields.push_str(&visitor.output);
        current.fields.push('}');
        Ok(())
    }
}

/// Writes the fields it visits as the members of a JSON object, without the braces.
pub(crate) struct ObjectVisitor {
    pub output: String,
    empty: bool,
}

impl Default for ObjectVisitor {
    fn default() -> Self {
        Self { output: String::with_capacity(128), empty: true }
    }
}

impl ObjectVisitor {
    fn key(&mut self, field: &Field) {
        if !self.empty {
            self.output.push(',');
        }
        self.empty = false;
        push_json_string(&mut self.output, field.name());
        self.output.push(':');
    }
}

impl Visit for ObjectVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.key(field);
        push_json_string(&mut self.output, value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.key(field);
        self.output.push_str(if value { "true" } else { "false" });
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.key(field);
        let _ = write!(self.output, "{value}");
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.key(field);
        let _ = write!(self.output, "{value}");
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.key(field);
        if value.is_finite() {
            let _ = write!(self.output, "{value}");
        } else {
            self.output.push_str("null");
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.key(field);
        push_json_string(&mut self.output, &format!("{value:?}"));
    }
}

/// Appends `text` as a JSON string literal. Runs of characters that need no escape are copied
/// at once.
pub(crate) fn push_json_string(output: &mut String, text: &str) {
    output.reserve(text.len() + 2);
    output.push('"');
    let mut plain_from = 0;
    for (index, byte) in text.bytes().enumerate() {
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..0x20 => "",
            _ => continue,
        };
        output.push_str(&text[plain_from..index]);
        if escape.is_empty() {
            let _ = write!(output, "\\u{byte:04x}");
        } else {
            output.push_str(escape);
        }
        plain_from = index + 1;
    }
    output.push_str(&text[plain_from..]);
    output.push('"');
}
