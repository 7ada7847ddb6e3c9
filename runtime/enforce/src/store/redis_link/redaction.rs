//! Removing passwords from Redis URLs before they reach logs, `/status` or error messages.

/// Removes the password from a Redis URL before it is logged or shown: the password part of
/// `redis://user:password@host`, and the `pass` and `password` query parameters that
/// `redis+unix://` and `unix://` URLs carry. Text that is no URL is shown only when it has no
/// `@` and no `?`, since a password may follow either.
pub(super) fn redact(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        // A password may be anywhere in text that does not parse: before an `@`, in the query,
        // and with `@` or `?` in it. Only text with neither character is safe to show.
        return if url.contains(['@', '?']) { "(not shown, since it may contain a password)".to_owned() } else { url.to_owned() };
    };
    if parsed.password().is_some() {
        let _ = parsed.set_password(Some("***"));
    }
    let has_secret_query = parsed.query_pairs().any(|(name, _)| is_password_parameter(&name));
    if has_secret_query {
        // A password with an unencoded `&` or `#` spills into other pairs or the fragment, so
        // only the parameters redis-rs reads are kept, and the fragment goes.
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .filter(|(name, value)| is_password_parameter(name) || is_plain_setting(name, value))
            .map(|(name, value)| {
                let value = if is_password_parameter(&name) { "***".to_owned() } else { value.into_owned() };
                (name.into_owned(), value)
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
        parsed.set_fragment(None);
    }
    parsed.to_string()
}

/// Tells whether a query parameter is a setting that is shown: a database number, or a protocol
/// version. A value of any other shape may be the tail of a password with an unencoded `&`.
fn is_plain_setting(name: &str, value: &str) -> bool {
    match name {
        "db" => !value.is_empty() && value.bytes().all(|byte| byte.is_ascii_digit()),
        "protocol" => matches!(value, "resp2" | "resp3"),
        _ => false,
    }
}

fn is_password_parameter(name: &str) -> bool {
    name.eq_ignore_ascii_case("pass") || name.eq_ignore_ascii_case("password")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_removes_every_password_form() {
        let cases = [
            ("redis://:secret@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
            ("redis://user:secret@127.0.0.1:6379/0", "redis://user:***@127.0.0.1:6379/0"),
            ("rediss://user:secret@cache.example:6380", "rediss://user:***@cache.example:6380"),
            ("redis+unix:///run/redis.sock?db=1&pass=secret", "redis+unix:///run/redis.sock?db=1&pass=***"),
            ("unix:///run/redis.sock?password=secret", "unix:///run/redis.sock?password=***"),
            ("redis//:secret@127.0.0.1:6379/0", "(not shown, since it may contain a password)"),
            ("redis+unix//run/redis.sock?pass=secret", "(not shown, since it may contain a password)"),
            ("redis+unix://localhost:99999/run/redis.sock?pass=secret", "(not shown, since it may contain a password)"),
            ("redis+unix//run/redis.sock?pass=sec@ret", "(not shown, since it may contain a password)"),
            ("redis//127.0.0.1:6379/0", "redis//127.0.0.1:6379/0"),
            ("redis://:sec?ret@127.0.0.1:6379/0", "(not shown, since it may contain a password)"),
            ("redis+unix:///run/redis.sock?pass=sec&db=ret", "redis+unix:///run/redis.sock?pass=***"),
            ("redis+unix:///run/redis.sock?pass=sec#ret", "redis+unix:///run/redis.sock?pass=***"),
            ("redis+unix:///run/redis.sock?pass=sec&ret=x&db=2", "redis+unix:///run/redis.sock?pass=***&db=2"),
            ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ];
        for (url, expected) in cases {
            assert_eq!(redact(url), expected, "{url}");
        }
    }
}
