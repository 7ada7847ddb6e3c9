//! Header values that take a path parameter of the matched route: `${path.NAME}` in a route's
//! `requestHeaders.set` or `add` is replaced by the request's value of parameter `NAME`, as
//! written in the normalised path. The rest of the value is copied as written.

/// The marker that opens a placeholder.
const OPEN: &str = "${path.";

/// One piece of a header value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ValuePart<'a> {
    Text(&'a str),
    /// The value of the path parameter with this name.
    Parameter(&'a str),
}

/// Splits a header value into text and placeholders. A `${path.` without a closing `}` is text.
pub fn parts(value: &str) -> Vec<ValuePart<'_>> {
    let mut parts = Vec::new();
    let mut rest = value;
    while let Some(start) = rest.find(OPEN) {
        let after = &rest[start + OPEN.len()..];
        let Some(end) = after.find('}') else { break };
        if start > 0 {
            parts.push(ValuePart::Text(&rest[..start]));
        }
        parts.push(ValuePart::Parameter(&after[..end]));
        rest = &after[end + 1..];
    }
    if !rest.is_empty() {
        parts.push(ValuePart::Text(rest));
    }
    parts
}

/// Tells whether a header value has at least one placeholder.
pub fn has_parameters(value: &str) -> bool {
    parts(value).iter().any(|part| matches!(part, ValuePart::Parameter(_)))
}

#[cfg(test)]
mod tests {
    use super::{ValuePart, parts};

    #[test]
    fn placeholders_split_from_text() {
        assert_eq!(
            parts("item ${path.item-id} of ${path.città}"),
            [ValuePart::Text("item "), ValuePart::Parameter("item-id"), ValuePart::Text(" of "), ValuePart::Parameter("città"),]
        );
        assert_eq!(parts("${path.file.name}"), [ValuePart::Parameter("file.name")]);
    }

    #[test]
    fn unclosed_placeholder_is_text() {
        assert_eq!(parts("a ${path.id"), [ValuePart::Text("a ${path.id")]);
        assert_eq!(parts("plain"), [ValuePart::Text("plain")]);
        assert_eq!(parts("${query.id}"), [ValuePart::Text("${query.id}")]);
    }
}
