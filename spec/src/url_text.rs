//! URL authorities found in spec text: the host of a URL, and the password in its user
//! information, for checks that warn about a host and for output that must hide a password.

use std::ops::Range;

/// The authority of the first URL in `text` (`user:password@host:port` after `://`), with its
/// byte offset in `text`. It ends at `/`, `?`, `#`, a quote or whitespace.
pub fn authority(text: &str) -> Option<(usize, &str)> {
    let start = text.find("://")? + 3;
    let rest = &text[start..];
    let end = rest.find(|character: char| matches!(character, '/' | '?' | '#' | '"' | '\'' | '`') || character.is_whitespace());
    Some((start, &rest[..end.unwrap_or(rest.len())]))
}

/// The host of an authority, without user information or port.
pub fn host(authority: &str) -> &str {
    let host_and_port = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    host_and_port.rsplit_once(':').map_or(host_and_port, |(host, _)| host)
}

/// The byte range of the password in an authority's user information, when it has one that is
/// not empty.
pub fn password_range(authority: &str) -> Option<Range<usize>> {
    let at = authority.rfind('@')?;
    let colon = authority[..at].find(':')?;
    (colon + 1 < at).then_some(colon + 1..at)
}

#[cfg(test)]
mod tests {
    use super::{authority, host, password_range};

    #[test]
    fn authority_ends_at_path_or_quote() {
        assert_eq!(authority("url: \"https://svc:pw@keys.test:8443/jwks\""), Some((14, "svc:pw@keys.test:8443")));
        assert_eq!(authority("no url here"), None);
    }

    #[test]
    fn host_drops_user_and_port() {
        assert_eq!(host("svc:pw@keys.test:8443"), "keys.test");
        assert_eq!(host("keys.test"), "keys.test");
    }

    #[test]
    fn password_needs_user_and_text() {
        assert_eq!(password_range("svc:pw@keys.test"), Some(4..6));
        assert_eq!(password_range(":pw@127.0.0.1:6379"), Some(1..3));
        assert_eq!(password_range("svc@keys.test"), None);
        assert_eq!(password_range("svc:@keys.test"), None);
        assert_eq!(password_range("keys.test:8443"), None);
    }
}
