//! Request normalisation before routing: the path and the host.
//!
//! Path rules, applied in this order:
//! 1. An encoded slash (`%2F`, `%2f`) or an encoded NUL (`%00`) is rejected with 400, because
//!    upstreams disagree on whether `%2F` separates segments and a gateway that guesses can be
//!    made to route one path and forward another.
//! 2. Escapes take their canonical form (`gatectl_spec::request_path`): those of unreserved
//!    characters (`A-Z a-z 0-9 - . _ ~`), of the sub-delimiters but `;`, and of `:` and `@` are
//!    decoded, so `%2e` becomes `.` and `%3A` becomes `:`; other escapes are kept with upper-case
//!    hex digits; a raw byte that RFC 3986 does not allow in a path (a space, a backslash, a
//!    non-ASCII byte) is encoded, so that `/café` and `/caf%C3%A9` are one path. Route paths
//!    are compiled into the same form, and `gatectl validate` checks them with it.
//! 3. A dot segment with path parameters (`..;`, `.;x`, or with `;` encoded as `%3B`) is
//!    rejected with 400, and so is a segment of parameters alone (`/;x/`). Servlet containers
//!    such as Tomcat drop the parameters and then read the segment as `..`, or as an empty
//!    segment, so the upstream would resolve a path the gateway did not route.
//! 4. Dot segments are removed (RFC 3986 section 5.2.4), and runs of slashes are merged into one,
//!    as nginx does by default. Otherwise `//admin` would miss a route with the prefix `/admin`
//!    and its authentication, while an upstream that merges slashes serves it as `/admin`.
//!
//! Routing matches the normalised path, and the same path is forwarded upstream.

use gatectl_spec::request_path::{self, EscapeError};

use crate::error::ProxyError;

/// Returns the normalised form of a request path (without query).
pub fn normalize_path(raw: &str) -> Result<String, ProxyError> {
    if !raw.starts_with('/') {
        return Err(ProxyError::BadRequest("the request path must start with `/`"));
    }
    let canonical = request_path::canonical_escapes(raw).map_err(|error| match error {
        EscapeError::Invalid(_) => ProxyError::BadRequest("the request path contains an invalid percent-encoding"),
        EscapeError::EncodedSlash(_) => ProxyError::BadRequest("encoded slashes (%2F) are not accepted in the request path"),
        EscapeError::EncodedNul(_) => ProxyError::BadRequest("encoded NUL (%00) is not accepted in the request path"),
    })?;
    // `%3B` stays encoded here, but an upstream that decodes it would read `..%3B` as `..;`.
    if (canonical.contains(';') || canonical.contains("%3B")) && canonical.split('/').any(request_path::is_parameter_segment) {
        return Err(ProxyError::BadRequest(
            "a segment of path parameters alone, or a `.` or `..` segment with them (such as `..;`), is not accepted in the request path",
        ));
    }
    Ok(remove_dot_segments(&canonical))
}

/// Removes `.` and `..` segments as RFC 3986 section 5.2.4 describes, on an absolute path, and
/// drops empty segments but a last one, which keeps a trailing slash.
fn remove_dot_segments(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    let parts: Vec<&str> = path[1..].split('/').collect();
    let last = parts.len() - 1;
    let mut ends_in_directory = false;
    for (position, part) in parts.iter().enumerate() {
        match *part {
            "." => ends_in_directory = position == last,
            ".." => {
                segments.pop();
                ends_in_directory = position == last;
            }
            "" if position != last => {}
            segment => {
                segments.push(segment);
                ends_in_directory = false;
            }
        }
    }
    let mut output = String::with_capacity(path.len());
    for segment in &segments {
        output.push('/');
        output.push_str(segment);
    }
    if ends_in_directory || output.is_empty() {
        output.push('/');
    }
    output
}

/// Returns the lower-cased host name without port, from a `Host` header or URI authority.
/// Any port is ignored, not only the scheme's default, and so is one trailing dot. Returns
/// `None` for a value that is not `host[:port]` (RFC 9110 section 7.2), and the caller then
/// responds 400.
///
/// The host is an IPv6 literal in brackets, or a name of letters, digits, `-`, `.`, `_` and
/// `~` whose labels are not empty. That is stricter than the URI grammar, which also allows
/// `!$&'()*+,;=` and percent escapes that no DNS name has. The port is at most five digits, and
/// may be empty as RFC 3986 allows. A value such as `a.test:80:80`, `a.test?x` or `[a.test]`
/// could be read as another host by the upstream or a proxy in front, so it is rejected rather
/// than routed one way and served another.
pub fn normalize_host(authority: &str) -> Option<String> {
    let authority = authority.trim();
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (address, after) = rest.split_once(']')?;
        address.parse::<std::net::Ipv6Addr>().ok()?;
        let port = match after {
            "" => "",
            after => after.strip_prefix(':')?,
        };
        (&authority[..address.len() + 2], port)
    } else {
        let (host, port) = authority.split_once(':').unwrap_or((authority, ""));
        let name = host.strip_suffix('.').unwrap_or(host);
        if !is_host_name(name) {
            return None;
        }
        (name, port)
    };
    let valid_port =
        port.len() <= 5 && port.bytes().all(|byte| byte.is_ascii_digit()) && port.parse::<u32>().map_or(true, |number| number <= 65_535);
    if !valid_port {
        return None;
    }
    Some(host.to_ascii_lowercase())
}

/// Tells whether `name` is labels of letters, digits, `-`, `_` and `~`, joined by single dots.
/// One pass over the bytes, since every request's host goes through it.
fn is_host_name(name: &str) -> bool {
    let mut label_is_empty = true;
    for &byte in name.as_bytes() {
        if byte == b'.' {
            if label_is_empty {
                return false;
            }
            label_is_empty = true;
        } else if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'~') {
            label_is_empty = false;
        } else {
            return false;
        }
    }
    !label_is_empty
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_hosts_are_invalid() {
        for value in [
            "internal.test:80:80",
            "internal.test?x",
            "internal.test#x",
            "internal.test..",
            "internal..test",
            ".internal.test",
            "[internal.test]",
            "[::1]x",
            "[::1]:8080:1",
            "internal.test:abc",
            "internal.test:65536",
            "internal.test:000080",
            "internal.test,x",
            "user@internal.test",
            "internal.test/x",
            "internal.test\\x",
            "internal%2etest",
            "inter nal.test",
            ":80",
            ".",
        ] {
            assert_eq!(normalize_host(value), None, "{value}");
        }
    }

    #[test]
    fn dot_segments_are_removed() {
        let cases = [
            ("/info/../private", "/private"),
            ("/info/%2e%2e/private", "/private"),
            ("/info/.%2e/private", "/private"),
            ("/info/%2E%2E/private/x", "/private/x"),
            ("/a/./b/", "/a/b/"),
            ("/a/b/..", "/a/"),
            ("/../../x", "/x"),
            ("/", "/"),
            ("/items//details", "/items/details"),
            ("//admin/x", "/admin/x"),
            ("///a//b//", "/a/b/"),
            ("/x/..//admin", "/admin"),
            ("//", "/"),
            ("/caf%c3%a9", "/caf%C3%A9"),
            ("/café", "/caf%C3%A9"),
            ("/my files/a\\b", "/my%20files/a%5Cb"),
            ("/a|b", "/a%7Cb"),
            ("/a;b=1/c:d@e", "/a;b=1/c:d@e"),
            ("/v9/items%3Asearch/%40me/a%2Bb%2c%3d", "/v9/items:search/@me/a+b,="),
            ("/a%3Bb/%3F%23%25", "/a%3Bb/%3F%23%25"),
        ];
        for (raw, expected) in cases {
            assert_eq!(normalize_path(raw).unwrap(), expected, "{raw}");
        }
    }

    #[test]
    fn dot_segment_with_parameters_is_rejected() {
        for path in [
            "/info/..;/private",
            "/info/%2e%2e;/private",
            "/a/.;x/b",
            "/..;jsessionid=1/admin",
            "/info/..%3B/private",
            "/a/.%3bx/b",
            "/info/%2E%2E%3b/p",
        ] {
            assert!(normalize_path(path).is_err(), "{path} was accepted");
        }
        assert_eq!(normalize_path("/files/a;b/..;c").map_err(|_| ()), Err(()));
        assert_eq!(normalize_path("/files/a..;b").unwrap(), "/files/a..;b");
        assert_eq!(normalize_path("/files/a..%3Bb").unwrap(), "/files/a..%3Bb");
        assert_eq!(normalize_path("/matrix;color=red/x").unwrap(), "/matrix;color=red/x");
        for path in ["/;/admin", "//;x//admin", "/%3Bx/admin"] {
            assert!(normalize_path(path).is_err(), "{path} was accepted");
        }
    }

    #[test]
    fn encoded_slash_is_rejected() {
        assert!(normalize_path("/info/..%2fprivate").is_err());
        assert!(normalize_path("/a%2Fb").is_err());
        assert!(normalize_path("/a%zz").is_err());
    }

    #[test]
    fn host_port_and_case_are_dropped() {
        assert_eq!(normalize_host("API.Example.Test:443").as_deref(), Some("api.example.test"));
        assert_eq!(normalize_host("api.example.test").as_deref(), Some("api.example.test"));
        assert_eq!(normalize_host("[::1]:8080").as_deref(), Some("[::1]"));
        assert_eq!(normalize_host(""), None);
        assert_eq!(normalize_host("api.example.test.").as_deref(), Some("api.example.test"));
        assert_eq!(normalize_host("api.example.test.:80").as_deref(), Some("api.example.test"));
        assert_eq!(normalize_host("api.example.test:").as_deref(), Some("api.example.test"), "an empty port is allowed");
        assert_eq!(normalize_host("[2001:DB8::1]").as_deref(), Some("[2001:db8::1]"));
        assert_eq!(normalize_host("10.0.0.1:65535").as_deref(), Some("10.0.0.1"));
        assert_eq!(normalize_host("my_host.internal").as_deref(), Some("my_host.internal"));
    }
}
