//! Observability: request IDs, trace context, the access log and Prometheus metrics.

pub mod access_log;
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
        Some(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        None => uuid::Uuid::now_v7().to_string(),
    }
}

/// W3C trace context of one request: the trace ID is kept from a valid incoming `traceparent`
/// or started here, and the gateway adds its own span ID for the upstream hop.
pub struct TraceContext {
    pub trace_id: String,
    pub traceparent: String,
}

impl TraceContext {
    pub fn from_header(incoming: Option<&HeaderValue>) -> Self {
        let mut random = rand::thread_rng();
        let mut span = [0u8; 8];
        random.fill_bytes(&mut span);
        let span_id = hex_string(&span);
        if let Some((trace_id, flags)) = incoming.and_then(parse_traceparent) {
            let traceparent = format!("00-{trace_id}-{span_id}-{flags}");
            return Self { trace_id, traceparent };
        }
        let mut trace = [0u8; 16];
        random.fill_bytes(&mut trace);
        let trace_id = hex_string(&trace);
        let traceparent = format!("00-{trace_id}-{span_id}-01");
        Self { trace_id, traceparent }
    }
}

fn parse_traceparent(value: &HeaderValue) -> Option<(String, String)> {
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
    valid.then(|| (trace_id.to_owned(), flags.to_owned()))
}

fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
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
    }

    #[test]
    fn traceparent_trace_id_is_kept() {
        let incoming = HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        let context = TraceContext::from_header(Some(&incoming));
        assert_eq!(context.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert!(context.traceparent.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
        let fresh = TraceContext::from_header(Some(&HeaderValue::from_static("garbage")));
        assert_eq!(fresh.trace_id.len(), 32);
    }
}
