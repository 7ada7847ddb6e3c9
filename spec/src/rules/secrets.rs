//! Strings that look like credentials written into the spec in plain text.
//!
//! Secrets belong outside the spec, read through `env:NAME` or `file:PATH` references, because a
//! spec is committed, diffed and printed. The checks are heuristics: they look for well-known
//! credential shapes in every string, and for long random-looking values in header values. A
//! finding never repeats the value.

use super::{Context, describe};

/// Shortest header value the entropy check looks at, in characters.
const MIN_RANDOM_LENGTH: usize = 33;
/// Shannon entropy, in bits per character, from which a header value counts as random. By the
/// formula, random base64 of 33 to 64 characters scores about 4.5 to 5.5 and random hex about 3.7
/// to 4. NOTE: this is a heuristic, so long mixed identifiers can be reported too.
const MIN_RANDOM_ENTROPY: f64 = 3.5;
/// Prefixes of well-known access token formats (GitHub, GitLab, Slack, Stripe).
const TOKEN_PREFIXES: [&str; 7] = ["ghp_", "gho_", "github_pat_", "glpat-", "xoxb-", "xoxp-", "sk_live_"];

pub(super) fn check(context: &mut Context<'_>) {
    let mut findings = Vec::new();
    super::strings::visit_strings(context.spec, &mut |pointer, text| {
        if let Some(kind) = classify(text, is_header_value(pointer)) {
            findings.push((pointer.to_owned(), kind));
        }
    });
    for (pointer, kind) in findings {
        let message = format!("{} looks like {kind} written in plain text", describe(&pointer));
        context.report(super::PLAINTEXT_SECRET, message, &pointer);
    }
}

/// Returns whether the pointer names a value in a route's `requestHeaders` or `responseHeaders` `set`
/// or `add` mapping.
fn is_header_value(pointer: &str) -> bool {
    let mut tokens = pointer.split('/').skip(1);
    tokens.next() == Some("routes")
        && tokens.next().is_some()
        && matches!(tokens.next(), Some("requestHeaders" | "responseHeaders"))
        && matches!(tokens.next(), Some("set" | "add"))
        && tokens.next().is_some()
        && tokens.next().is_none()
}

/// Names the kind of credential `text` looks like, if any.
pub(super) fn classify(text: &str, is_header_value: bool) -> Option<&'static str> {
    if text.contains("-----BEGIN") && text.contains("PRIVATE KEY") {
        return Some("a PEM private key");
    }
    let mut words = text.split_whitespace();
    if let (Some(scheme), Some(credential), None) = (words.next(), words.next(), words.next())
        && (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("basic"))
        && credential.len() >= 16
    {
        return Some("an Authorization credential");
    }
    for word in text.split_whitespace() {
        if crate::url_text::authority(word).is_some_and(|(_, authority)| crate::url_text::password_range(authority).is_some()) {
            return Some("a URL with a password");
        }
        if is_jwt(word) {
            return Some("a JSON Web Token");
        }
        if is_aws_access_key_id(word) {
            return Some("an AWS access key id");
        }
        if TOKEN_PREFIXES.iter().any(|prefix| word.strip_prefix(prefix).is_some_and(|rest| rest.len() >= 16)) {
            return Some("an access token");
        }
    }
    if is_header_value && is_random(text) {
        return Some("a secret key (a long random value)");
    }
    None
}

fn is_jwt(word: &str) -> bool {
    let parts: Vec<&str> = word.split('.').collect();
    let is_base64url = |part: &str| part.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_');
    parts.len() == 3
        && parts[0].starts_with("eyJ")
        && parts[0].len() > 10
        && parts[1].len() > 4
        && parts.iter().all(|part| is_base64url(part))
}

fn is_aws_access_key_id(word: &str) -> bool {
    word.len() == 20
        && (word.starts_with("AKIA") || word.starts_with("ASIA"))
        && word.bytes().all(|byte| byte.is_ascii_uppercase() || byte.is_ascii_digit())
}

fn is_random(text: &str) -> bool {
    let length = text.chars().count();
    if length < MIN_RANDOM_LENGTH || text.chars().any(char::is_whitespace) || is_uuid(text) {
        return false;
    }
    let has_digit = text.bytes().any(|byte| byte.is_ascii_digit());
    let has_letter = text.bytes().any(|byte| byte.is_ascii_alphabetic());
    has_digit && has_letter && shannon_entropy(text) >= MIN_RANDOM_ENTROPY
}

/// Returns whether `text` is a hyphenated UUID, which is an identifier and not a secret.
fn is_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    let lengths: Vec<usize> = groups.iter().map(|group| group.len()).collect();
    lengths == [8, 4, 4, 4, 12] && groups.iter().all(|group| group.bytes().all(|byte| byte.is_ascii_hexdigit()))
}

fn shannon_entropy(text: &str) -> f64 {
    let mut counts = std::collections::HashMap::new();
    for character in text.chars() {
        *counts.entry(character).or_insert(0usize) += 1;
    }
    let length = text.chars().count() as f64;
    counts.values().map(|count| *count as f64 / length).map(|probability| -probability * probability.log2()).sum()
}

#[cfg(test)]
mod tests {
    use super::classify;

    #[test]
    fn url_password_is_a_secret() {
        assert_eq!(classify("https://svc:S3cret@keys.example.test/jwks.json", false), Some("a URL with a password"));
        assert_eq!(classify("redis://:S3cret@127.0.0.1:6379", false), Some("a URL with a password"));
    }

    #[test]
    fn url_without_password_is_not() {
        assert_eq!(classify("https://svc@keys.example.test/jwks.json", false), None);
        assert_eq!(classify("https://keys.example.test/a:b@c", false), None);
        assert_eq!(classify("https://keys.example.test:8443/jwks.json", false), None);
    }
}
