//! The canonical form of request paths. The runtime puts every request path into this form
//! before routing, and compiles route paths into it. `validate` uses it to find route paths that
//! no request can match. Both call this one implementation, so they cannot disagree.
//!
//! Escapes of unreserved characters (`A-Z a-z 0-9 - . _ ~`, RFC 3986 section 2.3), of the
//! sub-delimiters but `;`, and of `:` and `@` are decoded: most upstream frameworks decode them,
//! so a route on `/a:b` must see `/a%3Ab` as well. Other escapes are kept, with upper-case hex
//! digits. A raw byte that RFC 3986 does not allow in a path (a space, a backslash, a non-ASCII
//! byte) is encoded, so that `/café` and `/caf%C3%A9` are one path. An encoded slash, an encoded
//! NUL and an escape that is not two hex digits have no canonical form.

use std::borrow::Cow;

/// The reason a path has no canonical form. Each variant contains the byte offset of the
/// escape's `%`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EscapeError {
    /// `%` not followed by two hexadecimal digits.
    Invalid(usize),
    /// `%2F`: upstreams disagree on whether it separates segments.
    EncodedSlash(usize),
    /// `%00`.
    EncodedNul(usize),
}

impl EscapeError {
    /// Returns the escape as written in `path`, the text this error was found in: three bytes
    /// from the `%`, or fewer at the end of the text.
    pub fn escape<'a>(&self, path: &'a str) -> &'a str {
        let (Self::Invalid(offset) | Self::EncodedSlash(offset) | Self::EncodedNul(offset)) = *self;
        let end = (offset + 3).min(path.len());
        path.get(offset..end).or_else(|| path.get(offset..)).unwrap_or_default()
    }
}

/// Returns `path` (or one of its segments) with its escapes in canonical form, borrowed when it
/// already is.
pub fn canonical_escapes(path: &str) -> Result<Cow<'_, str>, EscapeError> {
    if !path.contains('%') && path.bytes().all(is_path_byte) {
        return Ok(Cow::Borrowed(path));
    }
    let bytes = path.as_bytes();
    let mut output = String::with_capacity(path.len());
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        if byte != b'%' {
            if is_path_byte(byte) {
                output.push(char::from(byte));
            } else {
                push_escape(&mut output, byte);
            }
            index += 1;
            continue;
        }
        let (Some(high), Some(low)) = (bytes.get(index + 1).and_then(hex_value), bytes.get(index + 2).and_then(hex_value)) else {
            return Err(EscapeError::Invalid(index));
        };
        match high * 16 + low {
            b'/' => return Err(EscapeError::EncodedSlash(index)),
            0 => return Err(EscapeError::EncodedNul(index)),
            value if is_decoded_escape(value) => output.push(char::from(value)),
            value => push_escape(&mut output, value),
        }
        index += 3;
    }
    Ok(Cow::Owned(output))
}

/// Returns the canonical form of one literal segment of a route path. A segment without one is
/// returned as it is: `validate` reports it, and no request path equals it.
pub fn canonical_segment(segment: &str) -> String {
    canonical_escapes(segment).map_or_else(|_| segment.to_owned(), Cow::into_owned)
}

/// Tells whether a segment in canonical form is path parameters alone (`;x`) or a dot segment
/// with them (`.;x`, `..;x`), with `;` raw or encoded as `%3B`. Servlet containers such as
/// Tomcat drop the parameters and then read the segment as empty, `.` or `..`, so an upstream
/// would resolve a path the gateway did not route.
pub fn is_parameter_segment(segment: &str) -> bool {
    ["", ".", ".."].iter().any(|dots| segment.strip_prefix(dots).is_some_and(|rest| rest.starts_with(';') || rest.starts_with("%3B")))
}

/// Tells whether RFC 3986 allows `byte` unencoded in a path: unreserved characters,
/// sub-delimiters, `:`, `@` and `/`. `%` starts an escape and is checked with it.
fn is_path_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/%".contains(&byte)
}

/// Tells whether an escape of `byte` is decoded: unreserved characters, sub-delimiters other than
/// `;` (which starts path parameters), `:` and `@`. Escapes of `/`, `%`, `;`, `?`, `#` and others
/// keep their meaning apart from the raw character, so they stay encoded.
fn is_decoded_escape(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,=:@".contains(&byte)
}

fn push_escape(output: &mut String, byte: u8) {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    output.push('%');
    output.push(char::from(DIGITS[usize::from(byte >> 4)]));
    output.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
}

fn hex_value(byte: &u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_take_one_form() {
        assert_eq!(canonical_escapes("/a/b").unwrap(), "/a/b");
        assert!(matches!(canonical_escapes("/a/b").unwrap(), Cow::Borrowed(_)));
        assert_eq!(canonical_escapes("/%7euser/%2e%2E").unwrap(), "/~user/..");
        assert_eq!(canonical_escapes("/items%3asearch/%40me/a%2Bb").unwrap(), "/items:search/@me/a+b");
        assert_eq!(canonical_escapes("/a%3bb/%c3%a9").unwrap(), "/a%3Bb/%C3%A9");
        assert_eq!(canonical_escapes("/café/a b").unwrap(), "/caf%C3%A9/a%20b");
    }

    #[test]
    fn escapes_without_a_form_are_errors() {
        assert_eq!(canonical_escapes("/a%2fb"), Err(EscapeError::EncodedSlash(2)));
        assert_eq!(canonical_escapes("/a%00"), Err(EscapeError::EncodedNul(2)));
        assert_eq!(canonical_escapes("/a%+1"), Err(EscapeError::Invalid(2)));
        assert_eq!(canonical_escapes("/a%4"), Err(EscapeError::Invalid(2)));
        assert_eq!(EscapeError::Invalid(2).escape("/a%4"), "%4");
        assert_eq!(EscapeError::EncodedSlash(2).escape("/a%2fb"), "%2f");
        // An escape cut inside a multi-byte character is shown to the end of the text.
        assert_eq!(EscapeError::Invalid(0).escape("%aé"), "%aé");
    }

    #[test]
    fn parameter_segments() {
        for segment in [";x", ".;x", "..;", "..%3Bx", "%3B"] {
            assert!(is_parameter_segment(segment), "{segment}");
        }
        for segment in ["a;x", "...;x", "x", ""] {
            assert!(!is_parameter_segment(segment), "{segment}");
        }
    }
}
