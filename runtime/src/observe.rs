//! Observability: request IDs, trace context, the access log and Prometheus metrics.

pub mod access_log;
pub mod log_fields;
pub mod log_lines;
pub mod metrics;

use http::HeaderValue;
use rand::RngCore;

/// Maximum length of an incoming request ID that is kept, in bytes.
pub const MAX_REQUEST_ID_BYTES: usize = 200;

/// Returns the incoming request ID when it is 1 to 200 visible ASCII characters, otherwise a new
/// UUID v7.
pub fn request_id(incoming: Option<&HeaderValue>) -> String {
    let valid = incoming
        .map(HeaderValue::as_bytes)
        .filter(|bytes| !bytes.is_empty() && bytes.len() <= MAX_REQUEST_ID_BYTES && bytes.iter().all(|byte| (0x21..=0x7e).contains(byte)));
    match valid {
        // Visible ASCII is valid UTF-8, so this never replaces a character.
        Some(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        None => new_request_id(),
    }
}

/// Returns a new UUID v7 as text. The random part comes from the thread's generator, which the
/// operating system seeds once, so that no request pays a system call for it.
pub fn new_request_id() -> String {
    let millis = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |since| since.as_millis());
    let mut random = [0u8; 10];
    rand::thread_rng().fill_bytes(&mut random);
    let id = uuid::Builder::from_unix_timestamp_millis(u64::try_from(millis).unwrap_or(u64::MAX), &random).into_uuid();
    let mut text = uuid::Uuid::encode_buffer();
    id.hyphenated().encode_lower(&mut text).to_owned()
}

/// W3C trace context of one request: the trace ID is kept from a valid incoming `traceparent`
/// or started here, and the gateway adds its own span ID for the upstream hop.
#[derive(Debug, Default)]
pub struct TraceContext {
    /// The `traceparent` value sent upstream: `00-{trace id}-{span id}-{flags}`.
    pub traceparent: String,
    /// Whether the request's own `traceparent` was valid, so that its trace goes on. Otherwise a
    /// new trace starts here, and the request's `tracestate` does not belong to it.
    pub continued: bool,
}

/// Byte range of the trace ID in a version 00 `traceparent`.
const TRACE_ID: std::ops::Range<usize> = 3..35;
/// Byte range of the parent (span) ID in a version 00 `traceparent`.
const SPAN_ID: std::ops::Range<usize> = 36..52;
/// Byte range of the trace flags in a version 00 `traceparent`.
const FLAGS: std::ops::Range<usize> = 53..55;

impl TraceContext {
    pub fn from_header(incoming: Option<&HeaderValue>) -> Self {
        let mut random = rand::thread_rng();
        // `00-{trace id}-{span id}-{flags}`, written into a fixed buffer: the trace ID and
        // flags come from the incoming header or are new, the span ID is always new.
        let mut text = *b"00-00000000000000000000000000000000-0000000000000000-01";
        let parsed = incoming.and_then(parse_traceparent);
        let continued = parsed.is_some();
        match parsed {
            Some((trace_id, flags)) => {
                text[TRACE_ID].copy_from_slice(trace_id.as_bytes());
                text[FLAGS].copy_from_slice(flags.as_bytes());
            }
            None => {
                let mut trace = [0u8; 16];
                random.fill_bytes(&mut trace);
                write_hex(&mut text[TRACE_ID], &trace);
            }
        }
        let mut span = [0u8; 8];
        random.fill_bytes(&mut span);
        write_hex(&mut text[SPAN_ID], &span);
        // Every byte is ASCII: the template's, the hexadecimal digits, or the incoming header's
        // after `parse_traceparent` checked them.
        let traceparent = std::str::from_utf8(&text).map(str::to_owned).unwrap_or_default();
        Self { traceparent, continued }
    }

    /// Returns the trace ID: 32 lowercase hexadecimal digits.
    pub fn trace_id(&self) -> &str {
        &self.traceparent[TRACE_ID]
    }
}

fn parse_traceparent(value: &HeaderValue) -> Option<(&str, &str)> {
    let text = value.to_str().ok()?;
    let mut parts = text.trim().split('-');
    let (version, trace_id, parent_id, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let is_hex =
        |text: &str, length: usize| text.len() == length && text.bytes().all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte));
    let all_zero = |text: &str| text.bytes().all(|byte| byte == b'0');
    let valid = is_hex(version, 2)
        && version != "ff"
        && is_hex(trace_id, 32)
        && !all_zero(trace_id)
        && is_hex(parent_id, 16)
        && !all_zero(parent_id)
        && is_hex(flags, 2);
    valid.then_some((trace_id, flags))
}

/// Writes `bytes` into `out` as lowercase hexadecimal digits, two per byte.
fn write_hex(out: &mut [u8], bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (pair, byte) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0x0f)];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_id_rules() {
        let kept = HeaderValue::from_static("0f3c2a9e-4b1d-4c5e-9a77-2d1e8c6b5a40");
        assert_eq!(request_id(Some(&kept)), "0f3c2a9e-4b1d-4c5e-9a77-2d1e8c6b5a40");
        let long = HeaderValue::from_str(&"a".repeat(600)).unwrap();
        assert_ne!(request_id(Some(&long)).len(), 600);
        let spaced = HeaderValue::from_static("has space");
        assert_ne!(request_id(Some(&spaced)), "has space");
        let fresh = uuid::Uuid::parse_str(&request_id(None)).unwrap();
        assert_eq!(fresh.get_version_num(), 7);
    }

    #[test]
    fn traceparent_trace_id_is_kept() {
        let incoming = HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        let context = TraceContext::from_header(Some(&incoming));
        assert_eq!(context.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert!(context.traceparent.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
        assert!(context.traceparent.ends_with("-01"));
        assert_ne!(&context.traceparent[36..52], "00f067aa0ba902b7", "the gateway's hop has a span ID of its own");
        let unsampled = HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
        assert!(TraceContext::from_header(Some(&unsampled)).traceparent.ends_with("-00"), "the incoming flags are kept");
        let fresh = TraceContext::from_header(Some(&HeaderValue::from_static("garbage")));
        assert_eq!(fresh.trace_id().len(), 32);
        assert!(fresh.traceparent.ends_with("-01"));
        assert_eq!(fresh.traceparent.len(), 55);
    }
}
