//! Replaces control characters in HTTP/1.1 request header values with spaces, as the bytes
//! arrive and before hyper parses them.
//!
//! RFC 9110 section 5.5 lets a recipient either reject a field value that contains NUL or another
//! control character, or replace each one with a space. hyper rejects the whole request with a
//! bare 400, which leaves the client without a request ID or a problem+json body. Replacing
//! instead lets the request through, and a request ID that had such a character is replaced by
//! a generated one. Tab stays, since field values may contain it. CR and LF stay too, because
//! they end lines, and hyper still rejects a bare CR.
//!
//! Only field values change. To tell a head from a body, the cleaner follows the connection's
//! byte stream as hyper does: a head, then as many body bytes as its `Content-Length` gives, then
//! the next head. A request it cannot follow that way (`Transfer-Encoding`, `CONNECT`, an
//! `Upgrade`, or a length it cannot read) ends the cleaning for the rest of the connection, and
//! hyper gets every later byte as received.

/// Position of the cleaner in the connection's byte stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before a request line. Empty lines here are skipped, as RFC 9112 section 2.2 allows.
    BeforeRequestLine,
    RequestLine,
    /// At the start of a field line, or of the blank line that ends the head.
    LineStart,
    /// After a CR at the start of a line.
    BlankLine,
    Name,
    Value,
    /// The blank line that ends a head has been read. This state never lasts: the head's
    /// framing decides what follows.
    HeadEnd,
    /// Inside a body, with this many bytes still to come.
    Body(u64),
    /// The stream can no longer be followed, so nothing more is changed.
    Lost,
}

/// Facts the cleaner learnt about one request head, for the request's handler.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeadFacts {
    /// The head's size as received, from the request line to the blank line that ends it.
    pub raw_bytes: u32,
    /// A control character in the request ID header was replaced, so the ID must not be kept.
    pub request_id_cleaned: bool,
    /// A `Content-Length` value is all digits but larger than hyper's maximum of 2^64 - 3.
    /// hyper rejects such a head with 400 or 431, where 413 is the fitting status.
    pub length_too_large: bool,
    /// `Content-Length` values disagree. hyper rejects such a head with 400, or with 431 when
    /// one of the values is above its maximum, where 400 is the fitting status.
    pub lengths_conflict: bool,
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

/// The largest `Content-Length` that hyper 1.x accepts. Its parser rejects larger values with
/// 431, and values beyond `u64` with 400.
const MAX_HYPER_LENGTH: u64 = u64::MAX - 2;

/// How many bytes of a field name are kept for comparison. Longer names match nothing.
const MAX_NAME: usize = 64;

/// Kind of the field whose value is being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Other,
    Protected,
    ContentLength,
    RequestId,
}

/// The `Content-Length` values of one head, read as they arrive.
#[derive(Debug, Default)]
struct LengthReader {
    /// The length all values so far agree on.
    length: Option<u64>,
    /// The list element being read.
    digits: u64,
    has_digit: bool,
    /// Blank seen after the element's digits, so another digit is an error.
    closed: bool,
    invalid: bool,
    /// An element is larger than hyper accepts (see [`HeadFacts::length_too_large`]).
    too_large: bool,
    /// Two elements differ, which makes the framing ambiguous whatever their size.
    conflicting: bool,
}

impl LengthReader {
    /// Reads value bytes up to the LF that ends the line, returning its offset, or `None` when
    /// the value goes on in the next read. The value is a comma-separated list of equal lengths.
    fn read(&mut self, rest: &[u8]) -> Option<usize> {
        for (offset, &byte) in rest.iter().enumerate() {
            match byte {
                b'0'..=b'9' if !self.closed => {
                    let digit = u64::from(byte - b'0');
                    match self.digits.checked_mul(10).and_then(|value| value.checked_add(digit)) {
                        Some(value) => self.digits = value,
                        None => (self.invalid, self.too_large) = (true, true),
                    }
                    self.has_digit = true;
                }
                b' ' | b'\t' | b'\r' => self.closed = self.has_digit,
                b',' => self.end_element(),
                b'\n' => {
                    self.end_element();
                    return Some(offset);
                }
                _ => self.invalid = true,
            }
        }
        None
    }

    fn end_element(&mut self) {
        if self.length.is_some_and(|length| length != self.digits) {
            self.conflicting = true;
        }
        if !self.has_digit || self.conflicting {
            self.invalid = true;
        }
        if self.digits > MAX_HYPER_LENGTH {
            self.too_large = true;
        }
        self.length = Some(self.digits);
        (self.digits, self.has_digit, self.closed) = (0, false, false);
    }
}

/// Follows one connection's requests and cleans the field values of their heads.
#[derive(Debug)]
pub struct FieldValueCleaner {
    state: State,
    /// The request ID header's name in lower case.
    request_id_header: http::HeaderName,
    /// The current field name in lower case, kept up to [`MAX_NAME`] bytes.
    name: [u8; MAX_NAME],
    /// The current field name's full length, which may exceed what `name` keeps.
    name_length: usize,
    field: Field,
    /// The first bytes of the request line, to recognise `CONNECT`.
    method: [u8; 8],
    method_length: usize,
    head_bytes: u64,
    request_id_cleaned: bool,
    transfer_encoding: bool,
    /// The head requests a protocol switch, so what follows may be another protocol's bytes.
    upgrade: bool,
    lengths: LengthReader,
    /// Heads read so far on the connection.
    heads: u64,
}

impl FieldValueCleaner {
    /// Returns the name of the header that carries request IDs.
    pub fn request_id_header(&self) -> &http::HeaderName {
        &self.request_id_header
    }

    /// Creates a cleaner for a new connection. `request_id_header` is the name of the header
    /// that carries request IDs.
    pub fn new(request_id_header: http::HeaderName) -> Self {
        Self {
            state: State::BeforeRequestLine,
            request_id_header,
            name: [0; MAX_NAME],
            name_length: 0,
            field: Field::Other,
            method: [0; 8],
            method_length: 0,
            head_bytes: 0,
            request_id_cleaned: false,
            transfer_encoding: false,
            upgrade: false,
            lengths: LengthReader::default(),
            heads: 0,
        }
    }

    /// Cleans `received`, the next bytes read from the client. `head_read` gets the index of
    /// each head that ends in these bytes (0 for the connection's first) and what was learnt
    /// about it.
    pub fn clean(&mut self, received: &mut [u8], mut head_read: impl FnMut(u64, HeadFacts)) {
        let mut index = 0;
        while index < received.len() {
            // The request line, names, values and bodies are skipped through in loops of their
            // own, and only the bytes that end them go through `step`.
            let stop = match self.state {
                State::Lost => return,
                State::Body(remaining) => {
                    let available = (received.len() - index) as u64;
                    if available < remaining {
                        self.state = State::Body(remaining - available);
                        return;
                    }
                    index += remaining as usize;
                    self.state = State::BeforeRequestLine;
                    continue;
                }
                State::RequestLine => {
                    let rest = &received[index..];
                    let end = memchr::memchr(b'\n', rest);
                    self.push_method(&rest[..end.unwrap_or(rest.len())]);
                    end
                }
                State::Name => {
                    let rest = &received[index..];
                    let end = memchr::memchr2(b':', b'\n', rest);
                    self.push_name(&rest[..end.unwrap_or(rest.len())]);
                    end
                }
                State::Value => match self.field {
                    Field::ContentLength => self.lengths.read(&received[index..]),
                    field => {
                        let (end, replaced) = clean_value(&mut received[index..], field == Field::Protected);
                        self.request_id_cleaned |= replaced && field == Field::RequestId;
                        end
                    }
                },
                State::BeforeRequestLine | State::LineStart | State::BlankLine | State::HeadEnd => Some(0),
            };
            let Some(offset) = stop else {
                self.head_bytes += (received.len() - index) as u64;
                return;
            };
            self.head_bytes += offset as u64 + 1;
            index += offset;
            self.step(received[index], &mut head_read);
            index += 1;
        }
    }

    /// Moves on by one byte with [`next_state`], keeping what is known of the head up to date.
    fn step(&mut self, byte: u8, head_read: &mut impl FnMut(u64, HeadFacts)) {
        let next = next_state(self.state, byte);
        match next {
            State::RequestLine if self.state == State::BeforeRequestLine => self.start_head(byte),
            // Only the first byte of a name comes here: the rest go through `clean`'s loop.
            State::Name if self.state != State::Name => {
                self.name_length = 0;
                self.push_name(&[byte]);
            }
            State::Value => self.field = if self.state == State::Name { self.classify_name() } else { Field::Other },
            State::HeadEnd => {
                self.end_head(head_read);
                return;
            }
            _ => {}
        }
        self.state = next;
    }

    fn start_head(&mut self, first: u8) {
        self.head_bytes = 1;
        self.method_length = 0;
        self.push_method(&[first]);
        self.request_id_cleaned = false;
        self.transfer_encoding = false;
        self.upgrade = false;
        self.lengths = LengthReader::default();
    }

    fn end_head(&mut self, head_read: &mut impl FnMut(u64, HeadFacts)) {
        let facts = HeadFacts {
            raw_bytes: u32::try_from(self.head_bytes).unwrap_or(u32::MAX),
            request_id_cleaned: self.request_id_cleaned,
            length_too_large: self.lengths.too_large && !self.lengths.conflicting,
            lengths_conflict: self.lengths.conflicting,
        };
        head_read(self.heads, facts);
        self.heads += 1;
        let connect = self.method[..self.method_length].starts_with(b"CONNECT ");
        self.state = if connect || self.upgrade || self.transfer_encoding || self.lengths.invalid {
            State::Lost
        } else {
            match self.lengths.length {
                Some(length) if length > 0 => State::Body(length),
                _ => State::BeforeRequestLine,
            }
        };
    }

    fn push_method(&mut self, part: &[u8]) {
        let stored = part.len().min(self.method.len() - self.method_length);
        self.method[self.method_length..self.method_length + stored].copy_from_slice(&part[..stored]);
        self.method_length += stored;
    }

    fn push_name(&mut self, part: &[u8]) {
        let stored = part.len().min(MAX_NAME.saturating_sub(self.name_length));
        for (slot, byte) in self.name[self.name_length.min(MAX_NAME)..].iter_mut().zip(&part[..stored]) {
            *slot = byte.to_ascii_lowercase();
        }
        self.name_length += part.len();
    }

    fn classify_name(&mut self) -> Field {
        if self.name_length > MAX_NAME {
            return Field::Other;
        }
        let name = &self.name[..self.name_length];
        if name == b"content-length" {
            Field::ContentLength
        } else if name == b"transfer-encoding" {
            self.transfer_encoding = true;
            Field::Protected
        } else if name == b"upgrade" {
            // A client may send its first frames before the 101 arrives, in the same read.
            self.upgrade = true;
            Field::Protected
        } else if PROTECTED_FIELDS.contains(&name) {
            Field::Protected
        } else if name == self.request_id_header.as_str().as_bytes() {
            Field::RequestId
        } else {
            Field::Other
        }
    }
}

/// Cleans the field value at the start of `rest`. Returns the offset of the LF that ends it, or
/// `None` when the value goes on in the next read, and whether a byte was replaced. A protected
/// value is only searched for its end.
fn clean_value(rest: &mut [u8], protected: bool) -> (Option<usize>, bool) {
    let mut replaced = false;
    let mut offset = 0;
    loop {
        offset += printable_prefix(&rest[offset..]);
        let Some(byte) = rest.get_mut(offset) else { return (None, replaced) };
        match *byte {
            b'\n' => return (Some(offset), replaced),
            b'\t' | b'\r' => {}
            _ if protected => {}
            _ => {
                *byte = b' ';
                replaced = true;
            }
        }
        offset += 1;
    }
}

/// Returns how many bytes at the start of `bytes` are neither control characters nor DEL. Long
/// values such as tokens and cookies are checked eight bytes at a time.
fn printable_prefix(bytes: &[u8]) -> usize {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH_BITS: u64 = u64::from_ne_bytes([0x80; 8]);
    let mut checked = 0;
    for word in bytes.chunks_exact(8) {
        let word = u64::from_ne_bytes(word.try_into().expect("chunks of eight bytes"));
        // `below_space` is non-zero exactly when some byte of the word is under 0x20, and
        // `delete` when some byte is 0x7F: the classic word-at-a-time test for a zero byte.
        let below_space = word.wrapping_sub(ONES * 0x20) & !word & HIGH_BITS;
        let xored = word ^ (ONES * 0x7f);
        let delete = xored.wrapping_sub(ONES) & !xored & HIGH_BITS;
        if below_space | delete != 0 {
            break;
        }
        checked += 8;
    }
    let rest = &bytes[checked..];
    checked + rest.iter().position(|&byte| byte < 0x20 || byte == 0x7f).unwrap_or(rest.len())
}

fn next_state(state: State, byte: u8) -> State {
    match (state, byte) {
        (State::BeforeRequestLine, b'\r' | b'\n') => State::BeforeRequestLine,
        (State::BeforeRequestLine | State::RequestLine, _) if byte != b'\n' => State::RequestLine,
        (State::RequestLine | State::Name | State::Value, b'\n') => State::LineStart,
        (State::LineStart, b'\r') => State::BlankLine,
        (State::LineStart | State::BlankLine, b'\n') => State::HeadEnd,
        // A name is not checked here: hyper rejects a malformed one, such as an empty name.
        (State::LineStart | State::BlankLine | State::Name, b':') => State::Value,
        (State::LineStart | State::BlankLine | State::Name, _) => State::Name,
        (other, _) => other,
    }
}

#[cfg(test)]
mod tests {
    use super::{FieldValueCleaner, HeadFacts};

    /// Cleans `reads` in order on one connection and returns the bytes and each head's facts.
    fn clean_all(reads: &[&[u8]]) -> (Vec<u8>, Vec<HeadFacts>) {
        let mut cleaner = FieldValueCleaner::new(http::HeaderName::from_static("x-request-id"));
        let mut output = Vec::new();
        let mut heads = Vec::new();
        for read in reads {
            let mut bytes = read.to_vec();
            cleaner.clean(&mut bytes, |index, facts| {
                assert_eq!(index, heads.len() as u64);
                heads.push(facts);
            });
            output.extend_from_slice(&bytes);
        }
        (output, heads)
    }

    fn cleaned(reads: &[&[u8]]) -> Vec<u8> {
        clean_all(reads).0
    }

    #[test]
    fn control_characters_in_values_become_spaces() {
        let head: &[u8] = b"GET / HTTP/1.1\r\nHost: a\r\nX-Note: ab\x01c\x00d\x7fe\x1b\r\n\r\n";
        assert_eq!(cleaned(&[head]), b"GET / HTTP/1.1\r\nHost: a\r\nX-Note: ab c d e \r\n\r\n");
    }

    #[test]
    fn cleaned_request_id_is_reported() {
        let (_, heads) =
            clean_all(&[b"GET / HTTP/1.1\r\nx-request-id: abcd\x01\r\n\r\nGET / HTTP/1.1\r\nX-Request-ID: abcd\r\nX-Other: \x01\r\n\r\n"]);
        assert_eq!(heads.len(), 2);
        assert!(heads[0].request_id_cleaned);
        assert!(!heads[1].request_id_cleaned, "only the request ID header counts");
    }

    #[test]
    fn head_size_counts_raw_bytes() {
        let head: &[u8] = b"\r\nGET / HTTP/1.1\r\nX-A:      \x01\x01\x01\r\n\r\n";
        let (_, heads) = clean_all(&[head]);
        assert_eq!(heads[0].raw_bytes, (head.len() - 2) as u32, "the empty line before the request line is not counted");
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
    fn body_of_declared_length_is_skipped() {
        let stream: &[u8] = b"POST / HTTP/1.1\r\nContent-Length: 9\r\n\r\n\r\nA: \x01\r\n\r\nGET / HTTP/1.1\r\nB: \x02\r\n\r\n";
        let (output, heads) = clean_all(&[stream]);
        assert_eq!(output, b"POST / HTTP/1.1\r\nContent-Length: 9\r\n\r\n\r\nA: \x01\r\n\r\nGET / HTTP/1.1\r\nB:  \r\n\r\n");
        assert_eq!(heads.len(), 2, "the body's blank lines start no head");
    }

    #[test]
    fn equal_length_list_is_one_length() {
        let stream: &[u8] = b"POST / HTTP/1.1\r\nContent-Length: 2, 2\r\ncontent-length:2\r\n\r\n\x01\x01GET / HTTP/1.1\r\nB: \x02\r\n\r\n";
        assert_eq!(
            cleaned(&[stream]),
            b"POST / HTTP/1.1\r\nContent-Length: 2, 2\r\ncontent-length:2\r\n\r\n\x01\x01GET / HTTP/1.1\r\nB:  \r\n\r\n"
        );
    }

    #[test]
    fn length_beyond_parser_is_noted() {
        let cases: [(&[u8], bool); 7] = [
            (b"POST / HTTP/1.1\r\nContent-Length: 18446744073709551613\r\n\r\n", false),
            (b"POST / HTTP/1.1\r\nContent-Length: 18446744073709551614\r\n\r\n", true),
            (b"POST / HTTP/1.1\r\nContent-Length: 18446744073709551615\r\n\r\n", true),
            (b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", true),
            (b"POST / HTTP/1.1\r\nContent-Length: 12\r\n\r\n", false),
            (b"POST / HTTP/1.1\r\nContent-Length: 1, 18446744073709551615\r\n\r\n", false),
            (b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 18446744073709551615\r\n\r\n", false),
        ];
        for (head, too_large) in cases {
            let (_, heads) = clean_all(&[head]);
            assert_eq!(heads[0].length_too_large, too_large, "{}", String::from_utf8_lossy(head));
        }
    }

    #[test]
    fn unfollowable_requests_stop_the_cleaning() {
        let after = b"GET / HTTP/1.1\r\nB: \x02\r\n\r\n";
        for head in [
            &b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
            b"POST / HTTP/1.1\r\nContent-Length: 2, 3\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: +2\r\n\r\n",
            b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n",
            b"GET /ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
        ] {
            let stream = [head, &after[..]].concat();
            assert_eq!(cleaned(&[&stream]), stream, "{:?}", String::from_utf8_lossy(head));
        }
    }

    #[test]
    fn printable_prefix_stops_at_first_control_byte() {
        for filler in [b'a', 0x80, 0xff] {
            for length in 0..24 {
                for position in 0..length {
                    for byte in 0..=u8::MAX {
                        let mut bytes = vec![filler; length];
                        bytes[position] = byte;
                        let expected = if byte < 0x20 || byte == 0x7f { position } else { length };

                        assert_eq!(super::printable_prefix(&bytes), expected, "byte {byte:#04x} at {position} of {length}");
                    }
                }
            }
        }
    }

    #[test]
    fn any_split_gives_the_same_result() {
        let streams: [&[u8]; 4] = [
            b"\r\nPOST /a:b HTTP/1.1\r\nHost: h\x01\r\nX-Request-ID: a\x01b\r\nContent-Length: 6\r\n\r\n\x01body\nGET / HTTP/1.1\r\nC: \x01\r\n\r\n",
            b"GET / HTTP/1.1\nx-a:\x7f\nContent-Length:\x00\nTransfer-Encodingz: \x02\n\n\x03",
            b"GET / HTTP/1.1\r\n:\x01\r\n\rX: \x01\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nA:\x01GET / HTTP/1.1\r\nX-Request-ID: \x01\r\n\r\n",
        ];
        for stream in streams {
            let whole = clean_all(&[stream]);
            for split in 0..=stream.len() {
                assert_eq!(
                    clean_all(&[&stream[..split], &stream[split..]]),
                    whole,
                    "split at {split} of {:?}",
                    String::from_utf8_lossy(stream)
                );
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
}
