//! Finding the bracket that closes a flow collection, to tell an unclosed `[` or `{` apart from
//! other syntax errors inside one.

/// Returns the offset of the bracket that closes the flow collection opened at `open`, or `None`
/// when the text ends first or a bracket of the other kind closes it.
///
/// Inside a flow collection the brackets are always indicators, so matching them is exact once
/// quoted scalars and comments are skipped. A quote starts a quoted scalar only where a scalar
/// can start: after `[`, `{`, `,` or `:` and optional spaces.
pub fn closing_bracket(text: &str, open: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut expected: Vec<u8> = Vec::new();
    let mut index = open;
    let mut last_indicator = b'[';
    let mut after_space = false;
    while index < bytes.len() {
        let byte = bytes[index];
        match byte {
            b'[' => expected.push(b']'),
            b'{' => expected.push(b'}'),
            b']' | b'}' => {
                if expected.pop() != Some(byte) {
                    return None;
                }
                if expected.is_empty() {
                    return Some(index);
                }
            }
            b'#' if after_space => {
                index = end_of_line(bytes, index);
                continue;
            }
            b'"' | b'\'' if matches!(last_indicator, b'[' | b'{' | b',' | b':') => {
                index = end_of_quoted(bytes, index)?;
            }
            _ => {}
        }
        after_space = matches!(byte, b' ' | b'\t' | b'\n' | b'\r');
        if !after_space {
            last_indicator = byte;
        }
        index += 1;
    }
    None
}

/// Returns the offset of the line feed ending the line that `from` is on, or the text's end.
fn end_of_line(bytes: &[u8], from: usize) -> usize {
    bytes[from..].iter().position(|&byte| byte == b'\n').map_or(bytes.len(), |position| from + position)
}

/// Returns the offset of the quote that ends the quoted scalar starting at `start`. Double
/// quotes end at an unescaped `"`, single quotes at a `'` not doubled.
pub(super) fn end_of_quoted(bytes: &[u8], start: usize) -> Option<usize> {
    let quote = bytes[start];
    let mut index = start + 1;
    while index < bytes.len() {
        match bytes[index] {
            b'\\' if quote == b'"' => index += 1,
            byte if byte == quote => {
                if quote == b'\'' && bytes.get(index + 1) == Some(&b'\'') {
                    index += 1;
                } else {
                    return Some(index);
                }
            }
            _ => {}
        }
        index += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::closing_bracket;

    #[test]
    fn nested_brackets_close_in_order() {
        let text = "a: [1, {b: [2]}, 3]\n";
        assert_eq!(closing_bracket(text, 3), Some(18));
        assert_eq!(closing_bracket(text, 7), Some(14));
    }

    #[test]
    fn quoted_and_commented_brackets_are_skipped() {
        let text = "a: ['x]', \"y]\\\"\", 'it''s]' # not ]\n  , z]\n";
        assert_eq!(closing_bracket(text, 3), Some(text.len() - 2));
    }

    #[test]
    fn apostrophe_inside_plain_scalar_is_text() {
        let text = "a: [don't, b]\n";
        assert_eq!(closing_bracket(text, 3), Some(12));
    }

    #[test]
    fn bracket_closed_by_the_other_kind_is_unclosed() {
        let text = "{\"a\": [1, 2\n}\n";
        assert_eq!(closing_bracket(text, 6), None);
    }

    #[test]
    fn unclosed_bracket_has_no_closer() {
        assert_eq!(closing_bracket("routes: [\n  - name: a\n", 8), None);
        assert_eq!(closing_bracket("a: {b: 1\nc: 2\n", 3), None);
    }
}
