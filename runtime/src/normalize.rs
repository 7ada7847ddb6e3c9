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
/// Any port is ignored, not only the scheme's default. Returns `None` for an invalid value.
pub fn normalize_host(authority: &str) -> Option<String> {
    let authority = authority.trim();
    let host = if let Some(rest) = authority.strip_prefix('[') {
        let end = rest.find(']')?;
        &authority[..end + 2]
    } else {
        authority.rsplit_once(':').map_or(authority, |(host, _port)| host)
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.is_empty() || host.bytes().any(|byte| byte.is_ascii_whitespace() || byte == b'/' || byte == b'@') {
        return None;
    }
    Some(host.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}
