//! Replaces control characters in HTTP/1.1 request header values with spaces, as the bytes
//! arrive and before hyper parses them.
//!
//! RFC 9110 section 5.5 lets a recipient either reject a field value that contains NUL or another
//! control character, or replace each one with a space. hyper rejects the whole request with a
//! bare 400, which leaves the client without a request ID or a problem+json body. Replacing
//! instead makes such a value visibly invalid where it matters: an `X-Request-ID` with a space is
//! not a valid ID, so the gateway generates a new one. Tab stays, since field values may hold
//! it. CR and LF stay too, because they end lines, and hyper still rejects a bare CR.
//!
//! Only field values change. The request line, field names and everything after the blank line
//! that ends the head (a body, or a request pipelined behind this one) pass through as received.

/// Position of the scanner in a request head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the request line. Empty lines here are skipped, as RFC 9112 section 2.2 allows.
    BeforeRequestLine,
    RequestLine,
    /// At the start of a field line, or of the blank line that ends the head.
    LineStart,
    /// After a CR at the start of a line.
    BlankLine,
    Name,
    Value,
    /// The head has ended: the scanner changes nothing more until restarted.
    Done,
}

/// Fields whose values frame the message or pick where it goes. A control character in one of
/// these is left for hyper to reject, because a proxy in front of the gateway may read such a
/// value differently. For example, `Transfer-Encoding: chunked` with a control character must not
/// become `chunked` here while that proxy counts the body by its `Content-Length`.
const PROTECTED_FIELDS: [&[u8]; 10] = [
    b"connection",
    b"content-length",
    b"expect",
    b"host",
    b"keep-alive",
    b"proxy-connection",
    b"te",
    b"trailer",
    b"transfer-encoding",
    b"upgrade",
];

/// Length of the longest name in [`PROTECTED_FIELDS`].
const MAX_PROTECTED_NAME: usize = 17;

/// Scans one request head at a time across as many reads as it takes to arrive.
#[derive(Debug)]
pub struct FieldValueCleaner {
    state: State,
    /// The current field name in lower case, kept up to [`MAX_PROTECTED_NAME`] bytes.
    name: [u8; MAX_PROTECTED_NAME],
    /// The current field name's full length, which may exceed what `name` keeps.
    name_length: usize,
    /// Whether the current field's value is left as received.
    protected: bool,
}

impl Default for FieldValueCleaner {
    fn default() -> Self {
        Self { state: State::BeforeRequestLine, name: [0; MAX_PROTECTED_NAME], name_length: 0, protected: false }
    }
}

impl FieldValueCleaner {
    /// Prepares for the head of the next request on the connection.
    pub fn restart(&mut self) {
        self.state = State::BeforeRequestLine;
    }

    /// Cleans `received`, the next bytes read from the client, up to the end of the head.
    pub fn clean(&mut self, received: &mut [u8]) {
        let mut index = 0;
        while index < received.len() {
            // The request line, names and values are skipped through in loops of their own,
            // and only the bytes that end them go through `step`.
            let stop = match self.state {
                State::Done => return,
                State::RequestLine => received[index..].iter().position(|&byte| byte == b'\n'),
                State::Name => {
                    let rest = &received[index..];
                    let end = rest.iter().position(|&byte| byte == b':' || byte == b'\n');
                    self.push_name(&rest[..end.unwrap_or(rest.len())]);
                    end
                }
                State::Value => clean_value(&mut received[index..], self.protected),
                State::BeforeRequestLine | State::LineStart | State::BlankLine => Some(0),
            };
            let Some(offset) = stop else { return };
            index += offset;
            self.step(received[index]);
            index += 1;
        }
    }

    /// Moves on by one byte with [`next_state`], keeping the field name up to date.
    fn step(&mut self, byte: u8) {
        let next = next_state(self.state, byte);
        if next == State::Name {
            // Only the first byte of a name comes here: the rest go through `clean`'s loop.
            self.name_length = 0;
            self.push_name(&[byte]);
        } else if next == State::Value {
            self.protected = self.state == State::Name && self.name_is_protected();
        }
        self.state = next;
    }

    fn push_name(&mut self, part: &[u8]) {
        let stored = part.len().min(MAX_PROTECTED_NAME.saturating_sub(self.name_length));
        for (slot, byte) in self.name[self.name_length.min(MAX_PROTECTED_NAME)..].iter_mut().zip(&part[..stored]) {
            *slot = byte.to_ascii_lowercase();
        }
        self.name_length += part.len();
    }

    fn name_is_protected(&self) -> bool {
        self.name_length <= MAX_PROTECTED_NAME && PROTECTED_FIELDS.contains(&&self.name[..self.name_length])
    }
}

/// Cleans the field value at the start of `rest` and returns the offset of the LF that ends
/// it, or `None` when the value goes on in the next read. A protected value is only searched for
/// its end.
fn clean_value(rest: &mut [u8], protected: bool) -> Option<usize> {
    for (offset, byte) in rest.iter_mut().enumerate() {
        if *byte >= 0x20 && *byte != 0x7f {
            continue;
        }
        match *byte {
            b'\n' => return Some(offset),
            b'\t' | b'\r' => {}
            _ if protected => {}
            _ => *byte = b' ',
        }
    }
    None
}

fn next_state(state: State, byte: u8) -> State {
    match (state, byte) {
        (State::BeforeRequestLine, b'\r' | b'\n') => State::BeforeRequestLine,
        (State::BeforeRequestLine | State::RequestLine, _) if byte != b'\n' => State::RequestLine,
        (State::RequestLine | State::Name | State::Value, b'\n') => State::LineStart,
        (State::LineStart, b'\r') => State::BlankLine,
        (State::LineStart | State::BlankLine, b'\n') => State::Done,
        // A name is not checked here: hyper rejects a malformed one, such as an empty name.
        (State::LineStart | State::BlankLine | State::Name, b':') => State::Value,
        (State::LineStart | State::BlankLine | State::Name, _) => State::Name,
        (other, _) => other,
    }
}

#[cfg(test)]
mod tests {
    use super::FieldValueCleaner;

    fn cleaned(reads: &[&[u8]]) -> Vec<u8> {
        let mut cleaner = FieldValueCleaner::default();
        let mut output = Vec::new();
        for read in reads {
            let mut bytes = read.to_vec();
            cleaner.clean(&mut bytes);
            output.extend_from_slice(&bytes);
        }
        output
    }

    #[test]
    fn control_characters_in_values_become_spaces() {
        let head: &[u8] = b"GET / HTTP/1.1\r\nHost: a\r\nX-Request-ID: ab\x01c\x00d\x7fe\x1b\r\n\r\n";
        assert_eq!(cleaned(&[head]), b"GET / HTTP/1.1\r\nHost: a\r\nX-Request-ID: ab c d e \r\n\r\n");
    }

    #[test]
    fn framing_fields_are_kept() {
        let head: &[u8] =
            b"POST / HTTP/1.1\r\nHost: a\x01b\r\nTransfer-Encoding: chunked\x0b\r\nCONTENT-length: 5\x01\r\nTE: x\x02\r\n\r\n";
        assert_eq!(cleaned(&[head]), head);
    }

    #[test]
    fn names_near_protected_ones_are_cleaned() {
        let head: &[u8] = b"GET / HTTP/1.1\r\nX-Host: a\x01\r\nTransfer-Encodings: b\x01\r\nHos: c\x01\r\n\r\n";
        assert_eq!(cleaned(&[head]), b"GET / HTTP/1.1\r\nX-Host: a \r\nTransfer-Encodings: b \r\nHos: c \r\n\r\n");
    }

    #[test]
    fn protected_name_split_across_reads_is_recognised() {
        let reads: [&[u8]; 3] = [b"GET / HTTP/1.1\r\nTransfer-", b"Encoding: chunked\x01\r\nX-A: \x01", b"\r\n\r\n"];
        assert_eq!(cleaned(&reads), b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\x01\r\nX-A:  \r\n\r\n");
    }

    #[test]
    fn any_split_gives_the_same_result() {
        let heads: [&[u8]; 3] = [
            b"\r\nPOST /a:b HTTP/1.1\r\nHost: h\x01\r\nX-Request-ID: a\x01b\r\nTransfer-Encoding: chunked\x01\r\n\r\n\x01body",
            b"GET / HTTP/1.1\nx-a:\x7f\nContent-Length:\x00\nTransfer-Encodingz: \x02\n\n\x03",
            b"GET / HTTP/1.1\r\n:\x01\r\n\rX: \x01\r\n\r\n",
        ];
        for head in heads {
            let whole = cleaned(&[head]);
            for split in 0..=head.len() {
                assert_eq!(cleaned(&[&head[..split], &head[split..]]), whole, "split at {split} of {:?}", String::from_utf8_lossy(head));
            }
        }
    }

    #[test]
    fn tab_cr_and_lf_are_kept() {
        let head: &[u8] = b"GET / HTTP/1.1\r\nA: x\ty\r\nB: z\n\r\n";
        assert_eq!(cleaned(&[head]), head);
    }

    #[test]
    fn request_line_and_names_are_kept() {
        let head: &[u8] = b"GET /\x01 HTTP/1.1\r\nX-\x01: v\r\n\r\n";
        assert_eq!(cleaned(&[head]), head);
    }

    #[test]
    fn request_line_colon_starts_no_value() {
        let head: &[u8] = b"\r\nGET http://a:80/\x01 HTTP/1.1\r\nB: \x02\r\n\r\n";
        assert_eq!(cleaned(&[head]), b"\r\nGET http://a:80/\x01 HTTP/1.1\r\nB:  \r\n\r\n");
    }

    #[test]
    fn body_after_head_is_untouched() {
        let request: &[u8] = b"POST / HTTP/1.1\r\nContent-Length: 4\r\n\r\n\x01\x02:\x03";
        assert_eq!(cleaned(&[request]), request);
    }

    #[test]
    fn split_head_is_cleaned_to_its_end() {
        let reads: [&[u8]; 4] = [b"GET / HTTP/1.1\r\nX-A: \x01", b"\x02\r", b"\n\r", b"\n\x01\x02"];
        assert_eq!(cleaned(&reads), b"GET / HTTP/1.1\r\nX-A:   \r\n\r\n\x01\x02");
    }

    #[test]
    fn restart_cleans_the_next_head() {
        let mut cleaner = FieldValueCleaner::default();
        let mut first = b"GET / HTTP/1.1\r\n\r\n".to_vec();
        cleaner.clean(&mut first);
        let mut second = b"GET / HTTP/1.1\r\nA: \x01\r\n\r\n".to_vec();
        cleaner.clean(&mut second);
        assert_eq!(second, b"GET / HTTP/1.1\r\nA: \x01\r\n\r\n", "nothing changes before restart");
        cleaner.restart();
        cleaner.clean(&mut second);
        assert_eq!(second, b"GET / HTTP/1.1\r\nA:  \r\n\r\n");
    }
}
