//! Header handling between client and upstream: hop-by-hop removal and forwarding headers.
//!
//! Client address rule: the socket peer is the client unless it is in `settings.trustedProxies`.
//! When it is, `X-Forwarded-For` is read from the right and the first address that is not a
//! trusted proxy is the client (the left-most entry when all are trusted). The peer address is
//! always appended to `X-Forwarded-For` before forwarding, whatever the client sent.

use std::net::IpAddr;

use http::header::{
    CONNECTION, Entry, HeaderMap, HeaderName, HeaderValue, PROXY_AUTHENTICATE, PROXY_AUTHORIZATION, TE, TRAILER, TRANSFER_ENCODING, UPGRADE,
};
use ipnet::IpNet;

pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
pub const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// The W3C trace state header, which belongs to the trace its `traceparent` names.
const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");

const HOP_BY_HOP_COUNT: usize = 8;

/// Headers that describe one connection and are never forwarded (RFC 9110 section 7.6.1). A
/// `static`, not a `const`: each use of a `const` array of header names would build and drop
/// a copy of it.
static HOP_BY_HOP: [HeaderName; HOP_BY_HOP_COUNT] = [
    CONNECTION,
    HeaderName::from_static("keep-alive"),
    PROXY_AUTHORIZATION,
    PROXY_AUTHENTICATE,
    HeaderName::from_static("proxy-connection"),
    TE,
    TRAILER,
    TRANSFER_ENCODING,
];

/// Returns whether the message requests a switch to WebSocket (`Connection: upgrade` with
/// `Upgrade: websocket`). Other protocols, such as `h2c`, are not passed through: after the
/// switch the tunnel's bytes would reach the upstream without routing, auth or logging, so their
/// `Upgrade` header is removed like any other hop-by-hop header.
pub fn is_upgrade_request(headers: &HeaderMap) -> bool {
    let websocket = headers
        .get_all(UPGRADE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|protocol| protocol.trim().split('/').next().is_some_and(|name| name.eq_ignore_ascii_case("websocket")));
    websocket && connection_tokens(headers).any(|token| token.eq_ignore_ascii_case(b"upgrade"))
}

/// Returns whether a 101 response switches to WebSocket: one `Upgrade` value, `websocket`. The
/// gateway offers the upstream WebSocket alone, so any other protocol is a switch it did not
/// request.
pub fn switches_to_websocket(headers: &HeaderMap) -> bool {
    let mut values = headers.get_all(UPGRADE).iter();
    let first = values.next();
    values.next().is_none() && first.is_some_and(|value| value.as_bytes().trim_ascii().eq_ignore_ascii_case(b"websocket"))
}

/// Returns the tokens of the `Connection` header lines, as bytes: a token with bytes outside
/// visible ASCII matches no header name.
fn connection_tokens(headers: &HeaderMap) -> impl Iterator<Item = &[u8]> {
    headers
        .get_all(CONNECTION)
        .iter()
        .flat_map(|value| value.as_bytes().split(|byte| *byte == b','))
        .map(<[u8]>::trim_ascii)
        .filter(|token| !token.is_empty())
}

/// Removes hop-by-hop headers and the headers that `Connection` names, and returns the names
/// `Connection` listed besides the hop-by-hop ones, which trailers must not carry either. With
/// `keep_upgrade`, for a switch to WebSocket, `Upgrade: websocket` and `Connection: upgrade` are
/// set again. Other protocols a client offers are dropped, because a switch to one of them would
/// open a tunnel past routing and auth.
pub fn strip_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) -> Vec<HeaderName> {
    // Most messages carry at most `Connection`, so one pass over the names (compared without
    // hashing) finds the few hop-by-hop headers to remove instead of a lookup for each name.
    let mut found = [false; HOP_BY_HOP_COUNT];
    let mut upgrade = false;
    for name in headers.keys() {
        if *name == UPGRADE {
            upgrade = true;
        } else if let Some(index) = hop_by_hop_index(name) {
            found[index] = true;
        }
    }
    // `HOP_BY_HOP[0]` is `Connection`. Its tokens are usually `keep-alive`, `close` or
    // `upgrade`, which name nothing else to remove, so a list is built only for other tokens.
    let mut named = Vec::new();
    if found[0] && connection_tokens(headers).any(|token| !is_hop_by_hop_token(token)) {
        named = connection_tokens(headers)
            .filter(|token| !is_hop_by_hop_token(token))
            .filter_map(|token| HeaderName::from_bytes(token).ok())
            .collect();
        for name in &named {
            headers.remove(name);
        }
    }
    for (name, _) in HOP_BY_HOP.iter().zip(found).filter(|(_, found)| *found) {
        headers.remove(name);
    }
    if keep_upgrade {
        headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    } else if upgrade {
        headers.remove(UPGRADE);
    }
    named
}

/// Tells whether a header value starts or ends with a space or a tab.
pub fn has_padded_value(headers: &HeaderMap) -> bool {
    headers.values().any(|value| {
        let bytes = value.as_bytes();
        matches!(bytes.first(), Some(b' ' | b'\t')) || matches!(bytes.last(), Some(b' ' | b'\t'))
    })
}

/// Joins the `cookie` fields of an HTTP/2 request into one with `; `, as RFC 9113 section
/// 8.2.3 requires before the request goes over HTTP/1.1. Browsers send each cookie as a field of
/// its own over HTTP/2, and an HTTP/1.1 server may read only the first `Cookie` line.
pub fn join_cookies(headers: &mut HeaderMap) {
    let mut values = headers.get_all(http::header::COOKIE).iter();
    if values.nth(1).is_none() {
        return;
    }
    let mut joined = Vec::new();
    for value in headers.get_all(http::header::COOKIE) {
        if !joined.is_empty() {
            joined.extend_from_slice(b"; ");
        }
        joined.extend_from_slice(value.as_bytes());
    }
    // Joined valid values with `; ` are a valid value.
    if let Ok(value) = HeaderValue::from_bytes(&joined) {
        headers.insert(http::header::COOKIE, value);
    }
}

/// Forwards `tracestate` only with a trace that goes on (`continued`), because a new trace
/// starts without state, and drops its lines that have no list member.
pub fn keep_tracestate(headers: &mut HeaderMap, continued: bool) {
    let has_members = |value: &HeaderValue| value.as_bytes().iter().any(|byte| !matches!(byte, b' ' | b'\t' | b','));
    if !continued || !headers.get_all(TRACESTATE).iter().any(has_members) {
        headers.remove(TRACESTATE);
        return;
    }
    if headers.get_all(TRACESTATE).iter().all(has_members) {
        return;
    }
    let kept: Vec<HeaderValue> = headers.get_all(TRACESTATE).iter().filter(|value| has_members(value)).cloned().collect();
    headers.remove(TRACESTATE);
    for value in kept {
        headers.append(TRACESTATE, value);
    }
}

/// Tells whether `name` is a hop-by-hop header, `Upgrade` included.
pub fn is_hop_by_hop(name: &HeaderName) -> bool {
    *name == UPGRADE || hop_by_hop_index(name).is_some()
}

/// Returns the position of `name` in `HOP_BY_HOP`. Comparing with constants one by one cost less
/// than half as many instructions as a search of the array under callgrind.
fn hop_by_hop_index(name: &HeaderName) -> Option<usize> {
    const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
    const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");
    let index = if *name == CONNECTION {
        0
    } else if *name == KEEP_ALIVE {
        1
    } else if *name == PROXY_AUTHORIZATION {
        2
    } else if *name == PROXY_AUTHENTICATE {
        3
    } else if *name == PROXY_CONNECTION {
        4
    } else if *name == TE {
        5
    } else if *name == TRAILER {
        6
    } else if *name == TRANSFER_ENCODING {
        7
    } else {
        return None;
    };
    Some(index)
}

/// Returns whether a `Connection` token names a header that is handled anyway (or none):
/// `Upgrade` is removed or kept by `strip_hop_by_hop` itself.
fn is_hop_by_hop_token(token: &[u8]) -> bool {
    token.eq_ignore_ascii_case(b"close")
        || token.eq_ignore_ascii_case(b"upgrade")
        || HOP_BY_HOP.iter().any(|name| token.eq_ignore_ascii_case(name.as_str().as_bytes()))
}

/// Returns the client's address under the trusted-proxy rule in this module's documentation.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |address: &IpAddr| trusted.iter().any(|network| network.contains(address));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut client = peer;
    let entries = headers
        .get_all(&X_FORWARDED_FOR)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .collect::<Vec<_>>();
    for entry in entries.iter().rev() {
        let Ok(address) = entry.trim().parse::<IpAddr>() else { return client };
        client = address;
        if !is_trusted(&address) {
            return address;
        }
    }
    client
}

/// Appends the peer address (`peer`, the address as a header value) to `X-Forwarded-For`,
/// merging repeated headers into one line.
pub fn append_forwarded_for(headers: &mut HeaderMap, peer: &HeaderValue) {
    let mut entry = match headers.entry(X_FORWARDED_FOR) {
        Entry::Vacant(entry) => {
            entry.insert(peer.clone());
            return;
        }
        Entry::Occupied(entry) => entry,
    };
    let mut line = Vec::new();
    for value in entry.iter() {
        line.extend_from_slice(value.as_bytes());
        line.extend_from_slice(b", ");
    }
    line.extend_from_slice(peer.as_bytes());
    if let Ok(value) = HeaderValue::from_bytes(&line) {
        entry.insert(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ip_skips_trusted_proxies() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_static("203.0.113.9, 198.51.100.1, 10.0.0.2"));
        let peer: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(client_ip(peer, &headers, &trusted), "198.51.100.1".parse::<IpAddr>().unwrap());
        let outsider: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(client_ip(outsider, &headers, &trusted), outsider);
    }

    #[test]
    fn hop_by_hop_index_follows_the_list() {
        for (position, name) in HOP_BY_HOP.iter().enumerate() {
            assert_eq!(hop_by_hop_index(name), Some(position), "{name}");
        }
        assert_eq!(hop_by_hop_index(&UPGRADE), None);
        assert_eq!(hop_by_hop_index(&HeaderName::from_static("x-keep-alive")), None);
    }

    #[test]
    fn connection_named_headers_are_removed() {
        let mut headers = HeaderMap::new();
        headers.insert(CONNECTION, HeaderValue::from_static("close, X-Secret"));
        headers.insert("x-secret", HeaderValue::from_static("1"));
        headers.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut headers, false);
        assert!(!headers.contains_key("x-secret"));
        assert!(!headers.contains_key(CONNECTION));
        assert!(headers.contains_key("x-kept"));
    }
}
