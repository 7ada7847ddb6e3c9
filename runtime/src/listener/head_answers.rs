//! The responses the listener writes itself, before a request reaches the proxy. One is the 408
//! for a head that did not arrive in time. The others replace hyper's empty 400, 414 and 431 for
//! heads its HTTP/1 parser rejects with problem+json.
//!
//! hyper has no hook for those rejections: it writes `HTTP/1.1 400 Bad Request`, then
//! `connection: close`, `content-length: 0` and `date`, and closes the connection. The
//! connection's stream recognises that response by its shape, written while no request is in
//! progress, and writes the gateway's own in its place, with a request ID in the header and the
//! body, as every other gateway error has.

/// The statuses hyper's HTTP/1 server writes for a head its parser rejects.
const PARSER_REJECTIONS: [(u16, &[u8]); 3] = [
    (400, b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n"),
    (414, b"HTTP/1.1 414 URI Too Long\r\nconnection: close\r\ncontent-length: 0\r\n"),
    (431, b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\n"),
];

/// Returns the status of `written` when it is hyper's response to a rejected head. The caller
/// checks that no request is in progress, since a proxied response always carries a request ID
/// header and so never has this shape.
pub fn parser_rejection_status(written: &[u8]) -> Option<u16> {
    PARSER_REJECTIONS.iter().find(|(_, start)| written.starts_with(start)).map(|(status, _)| *status)
}

/// Builds the problem+json response that replaces hyper's for a rejected head.
pub fn rejection_answer(status: u16, request_id_header: &http::HeaderName, request_id: &str) -> Vec<u8> {
    let (kind, title, detail) = match status {
        414 => ("uri-too-long", "URI Too Long", "the request target is longer than the gateway accepts"),
        413 => ("body-too-large", "Payload Too Large", "the request's Content-Length is larger than the gateway accepts"),
        431 => (
            "headers-too-large",
            "Request Header Fields Too Large",
            "the request head is larger than 256 KiB or has more than 100 header fields",
        ),
        _ => ("bad-request", "Bad Request", "the request head is malformed or its framing is ambiguous"),
    };
    answer(status, kind, title, detail, request_id_header, request_id)
}

/// Builds the 408 response for a head that did not arrive within the header timeout.
pub fn timeout_answer(request_id_header: &http::HeaderName, request_id: &str) -> Vec<u8> {
    answer(408, "request-timeout", "Request Timeout", "the request head was not received in time", request_id_header, request_id)
}

fn answer(status: u16, kind: &str, title: &str, detail: &str, request_id_header: &http::HeaderName, request_id: &str) -> Vec<u8> {
    let body = format!(
        "{{\"type\":\"urn:gatectl:problem:{kind}\",\"title\":\"{title}\",\"status\":{status},\"detail\":\"{detail}\",\"requestId\":\"{request_id}\"}}"
    );
    format!(
        "HTTP/1.1 {status} {title}\r\ncontent-type: application/problem+json\r\ncontent-length: {}\r\n{request_id_header}: {request_id}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hyper_rejections_are_recognised() {
        let date = "date: Sat, 05 Dec 2026 18:44:55 GMT\r\n\r\n";
        for (status, start) in PARSER_REJECTIONS {
            let written = [start, date.as_bytes()].concat();
            assert_eq!(parser_rejection_status(&written), Some(status));
        }
    }

    #[test]
    fn other_responses_are_not_recognised() {
        for written in [
            &b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/problem+json\r\n"[..],
            b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 12\r\n",
            b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 0\r\n",
            b"0\r\n\r\n",
        ] {
            assert_eq!(parser_rejection_status(written), None, "{}", String::from_utf8_lossy(written));
        }
    }

    #[test]
    fn rejection_answer_is_problem_json() {
        let answer = String::from_utf8(rejection_answer(431, &http::HeaderName::from_static("x-request-id"), "id-1")).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();

        assert!(head.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"), "{head}");
        assert!(head.contains("\r\nx-request-id: id-1\r\n"), "{head}");
        assert!(head.contains(&format!("\r\ncontent-length: {}\r\n", body.len())), "{head}");
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["type"], "urn:gatectl:problem:headers-too-large");
        assert_eq!(body["status"], 431);
        assert_eq!(body["requestId"], "id-1");
    }
}
