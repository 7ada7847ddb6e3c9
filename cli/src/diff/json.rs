//! Machine-readable output. The schema is documented in `docs/diff.md` and only grows: fields
//! are added, never renamed or removed, while `formatVersion` stays 1.

use serde::Serialize;

use super::change::{Changes, EntityChange, Summary};

/// Version of the JSON output format.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Document<'a> {
    format_version: u32,
    summary: Summary,
    changes: &'a [EntityChange],
}

/// Renders `changes` as one pretty-printed JSON document followed by a newline.
pub fn render(changes: &Changes) -> String {
    let document = Document { format_version: FORMAT_VERSION, summary: changes.summary(), changes: &changes.entities };
    // NOTE: the document holds only strings, numbers and JSON values, so serialising cannot fail.
    let mut text = serde_json::to_string_pretty(&document).unwrap_or_default();
    text.push('\n');
    text
}
