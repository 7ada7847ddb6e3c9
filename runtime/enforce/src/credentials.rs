//! Reading credentials from a request: the bearer token and API keys.
//!
//! Bearer rule: the scheme is matched without case (RFC 9110 section 11.1), followed by one or
//! more spaces and the token. Nothing may follow the token. A request with two
//! `Authorization` headers, or two copies of an API key header, query parameter or cookie, is
//! ambiguous and rejected.

use http::{HeaderMap, Uri};
use percent_encoding::percent_decode_str;

use gatectl_spec::model::{ApiKeyLocation, ApiKeyProvider};

/// What the `Authorization` header holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BearerCredential<'a> {
    /// No header, another scheme, or the scheme without a token.
    Absent,
    /// Two or more headers, or a value that is not `Bearer <token>`.
    Malformed,
    Token(&'a str),
}

/// Reads the bearer token from the `Authorization` header.
pub(crate) fn bearer_token(headers: &HeaderMap) -> BearerCredential<'_> {
    let mut values = headers.get_all(http::header::AUTHORIZATION).iter();
    let Some(value) = values.next() else { return BearerCredential::Absent };
    if values.next().is_some() {
        return BearerCredential::Malformed;
    }
    // A header value contains no control characters but tab, so it is text exactly when it is
    // ASCII, which `is_ascii` checks a word at a time rather than byte by byte.
    let bytes = value.as_bytes();
    if !bytes.is_ascii() {
        return BearerCredential::Malformed;
    }
    let Ok(text) = std::str::from_utf8(bytes) else { return BearerCredential::Malformed };

    let (scheme, rest) = text.split_once(' ').unwrap_or((text, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return BearerCredential::Absent;
    }
    let token = rest.trim_start_matches(' ');
    if token.is_empty() {
        return BearerCredential::Absent;
    }
    if memchr::memchr2(b' ', b'\t', token.as_bytes()).is_some() {
        return BearerCredential::Malformed;
    }
    BearerCredential::Token(token)
}

/// What an API key location holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeyCredential {
    Absent,
    /// Given more than once, or not valid text.
    Malformed,
    Key(String),
}

/// Reads an API key from the header, query parameter or cookie the provider names.
pub(crate) fn api_key(provider: &ApiKeyProvider, headers: &HeaderMap, uri: &Uri) -> KeyCredential {
    let found = match provider.location {
        ApiKeyLocation::Header => header_values(headers, &provider.name),
        ApiKeyLocation::Query => query_values(uri, &provider.name),
        ApiKeyLocation::Cookie => cookie_values(headers, &provider.name),
    };
    match found {
        Err(()) => KeyCredential::Malformed,
        Ok(values) if values.len() > 1 => KeyCredential::Malformed,
        Ok(values) => match values.into_iter().next() {
            Some(value) if !value.is_empty() => KeyCredential::Key(value),
            _ => KeyCredential::Absent,
        },
    }
}

fn header_values(headers: &HeaderMap, name: &str) -> Result<Vec<String>, ()> {
    headers.get_all(name).iter().map(|value| value.to_str().map(str::to_owned).map_err(|_| ())).collect()
}

fn query_values(uri: &Uri, name: &str) -> Result<Vec<String>, ()> {
    let Some(query) = uri.query() else { return Ok(Vec::new()) };
    let mut values = Vec::new();
    for pair in query.split('&') {
        let (raw_name, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        let decoded_name = percent_decode_str(raw_name).decode_utf8().map_err(|_| ())?;
        if decoded_name == name {
            values.push(percent_decode_str(raw_value).decode_utf8().map_err(|_| ())?.into_owned());
        }
    }
    Ok(values)
}

fn cookie_values(headers: &HeaderMap, name: &str) -> Result<Vec<String>, ()> {
    let mut values = Vec::new();
    for header in headers.get_all(http::header::COOKIE) {
        let text = header.to_str().map_err(|_| ())?;
        for pair in text.split(';') {
            if let Some((cookie_name, value)) = pair.trim().split_once('=')
                && cookie_name == name
            {
                values.push(value.trim_matches('"').to_owned());
            }
        }
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers_with(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(http::header::AUTHORIZATION, value.parse().unwrap());
        }
        headers
    }

    #[test]
    fn bearer_scheme_forms() {
        let token = BearerCredential::Token("abc");
        assert_eq!(bearer_token(&headers_with(&["Bearer abc"])), token);
        assert_eq!(bearer_token(&headers_with(&["bearer abc"])), token);
        assert_eq!(bearer_token(&headers_with(&["BEARER abc"])), token);
        assert_eq!(bearer_token(&headers_with(&["Bearer  abc"])), token);
        assert_eq!(bearer_token(&headers_with(&["Bearer"])), BearerCredential::Absent);
        assert_eq!(bearer_token(&headers_with(&["Bearer "])), BearerCredential::Absent);
        assert_eq!(bearer_token(&headers_with(&["Basic xyz"])), BearerCredential::Absent);
        assert_eq!(bearer_token(&headers_with(&["Bearer abc def"])), BearerCredential::Malformed);
        assert_eq!(bearer_token(&headers_with(&["Bearer abc", "Bearer abc"])), BearerCredential::Malformed);
    }

    #[test]
    fn query_key_is_percent_decoded() {
        let provider = ApiKeyProvider { location: ApiKeyLocation::Query, name: "api_key".into() };
        let uri: Uri = "/x?a=1&api_key=gk_a%2Db".parse().unwrap();
        assert_eq!(api_key(&provider, &HeaderMap::new(), &uri), KeyCredential::Key("gk_a-b".into()));
        let twice: Uri = "/x?api_key=a&api_key=b".parse().unwrap();
        assert_eq!(api_key(&provider, &HeaderMap::new(), &twice), KeyCredential::Malformed);
    }
}
