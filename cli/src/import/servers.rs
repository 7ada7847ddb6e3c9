//! OpenAPI servers (and Swagger 2.0 `schemes`, `host`, `basePath`) read into upstream targets.

use gatectl_spec::model::UpstreamScheme;
use gatectl_spec::source::Span;
use gatectl_spec::yaml::{Node, NodeValue};

use super::warning::Warning;

/// One server URL with its variables replaced by their defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// The URL after variable substitution; distinct URLs give distinct upstreams.
    pub url: String,
    /// Where the host is, or `None` for a relative URL such as `/api`.
    pub endpoint: Option<Endpoint>,
    /// The URL path without a trailing `/`, empty for none.
    pub base_path: String,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub scheme: UpstreamScheme,
    pub host: String,
    pub port: u16,
}

/// Reads an OpenAPI 3 `servers` list. Servers that cannot be used are warnings and left out.
pub fn read_servers(list: Option<&Node>, warnings: &mut Vec<Warning>) -> Vec<Server> {
    let Some(list) = list else { return Vec::new() };
    let NodeValue::Sequence(items) = &list.value else {
        warnings.push(Warning::new(
            "invalid-servers",
            Some(list.span),
            format!("`servers` must be a list, found a {}; it is ignored", list.type_name()),
        ));
        return Vec::new();
    };
    let mut servers = Vec::new();
    for item in items {
        let Some(url_node) = item.get("url") else {
            warnings.push(Warning::new("invalid-server", Some(item.span), "a server has no `url`; it is ignored"));
            continue;
        };
        let Some(raw_url) = url_node.as_str() else {
            warnings.push(Warning::new("invalid-server", Some(url_node.span), "a server `url` must be a string; it is ignored"));
            continue;
        };
        let url = match substitute_variables(raw_url, item.get("variables")) {
            Ok(url) => url,
            Err(message) => {
                warnings.push(Warning::new("unresolved-server-variable", Some(url_node.span), message));
                continue;
            }
        };
        match parse_url(&url) {
            Ok((endpoint, base_path)) => servers.push(Server { url, endpoint, base_path, span: url_node.span }),
            Err(message) => warnings.push(Warning::new("invalid-server", Some(url_node.span), message)),
        }
    }
    servers
}

/// Builds the one server a Swagger 2.0 document describes, if it names a `host` or `basePath`.
pub fn swagger_server(root: &Node, warnings: &mut Vec<Warning>) -> Vec<Server> {
    swagger_server_with_schemes(root, root.get("schemes"), warnings)
}

/// Builds the server of a Swagger 2.0 operation that has its own `schemes`, which replace the
/// document's. The result differs from the document's server only in its scheme (and the default
/// port that goes with it), so a distinct scheme gives a distinct upstream. Returns no server when
/// the operation has no `schemes`, so the document's server applies.
pub fn swagger_operation_server(root: &Node, operation: &Node, warnings: &mut Vec<Warning>) -> Vec<Server> {
    let Some(schemes) = operation.get("schemes") else { return Vec::new() };
    if root.get("host").is_none() {
        warnings.push(Warning::new(
            "ignored-schemes",
            Some(schemes.span),
            "the operation's `schemes` are ignored because the document has no `host`, so its upstream gets a placeholder target anyway; set the upstream's `scheme` and `targets` in an overlay",
        ));
        return Vec::new();
    }
    if let NodeValue::Sequence(items) = &schemes.value
        && !items.iter().any(|item| item.as_str().is_some())
    {
        warnings.push(Warning::new(
            "invalid-schemes",
            Some(schemes.span),
            "the operation's `schemes` list is empty, so the document's `schemes` apply; remove it or name a scheme such as `[https]`",
        ));
        return Vec::new();
    }
    let mut servers = swagger_server_with_schemes(root, Some(schemes), warnings);
    for server in &mut servers {
        server.span = schemes.span;
    }
    servers
}

fn swagger_server_with_schemes(root: &Node, schemes_node: Option<&Node>, warnings: &mut Vec<Warning>) -> Vec<Server> {
    let host = root.get("host");
    let base_path = root.get("basePath");
    let Some(anchor) = host.or(base_path) else { return Vec::new() };
    let base_path_text = base_path.and_then(Node::as_str).unwrap_or("");
    let Some(host) = host else {
        let (_, path) = parse_url(base_path_text).unwrap_or((None, String::new()));
        return vec![Server { url: base_path_text.to_owned(), endpoint: None, base_path: path, span: anchor.span }];
    };
    let Some(host_text) = host.as_str() else {
        warnings.push(Warning::new(
            "invalid-server",
            Some(host.span),
            "`host` must be a string such as `api.example.com:8443`; it is ignored",
        ));
        return Vec::new();
    };
    let schemes: Vec<&str> = match schemes_node.map(|node| &node.value) {
        Some(NodeValue::Sequence(items)) => items.iter().filter_map(Node::as_str).collect(),
        Some(_) => {
            let span = schemes_node.map(|node| node.span);
            warnings.push(Warning::new("invalid-schemes", span, "`schemes` must be a list such as `[https]`; it is ignored"));
            Vec::new()
        }
        None => Vec::new(),
    };
    let scheme = if schemes.iter().any(|scheme| scheme.eq_ignore_ascii_case("https")) {
        "https"
    } else if let Some(first) = schemes.first() {
        first
    } else {
        warnings.push(Warning::new(
            "missing-scheme",
            Some(host.span),
            "the document lists no `schemes`, so https is assumed; add `schemes: [http]` if the server speaks plain HTTP",
        ));
        "https"
    };
    let url = format!("{scheme}://{host_text}{base_path_text}");
    match parse_url(&url) {
        Ok((endpoint, path)) => vec![Server { url, endpoint, base_path: path, span: host.span }],
        Err(message) => {
            warnings.push(Warning::new("invalid-server", Some(host.span), message));
            Vec::new()
        }
    }
}

/// Replaces each `{name}` with the default of that server variable.
fn substitute_variables(url: &str, variables: Option<&Node>) -> Result<String, String> {
    let mut result = String::with_capacity(url.len());
    let mut rest = url;
    while let Some(open) = rest.find('{') {
        result.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after.find('}').ok_or_else(|| format!("server URL `{url}` has a `{{` without a closing `}}`; it is ignored"))?;
        let name = &after[..close];
        let default = variables.and_then(|variables| variables.get(name)).and_then(|variable| variable.get("default"));
        let value = match default.map(|node| &node.value) {
            Some(NodeValue::String(text)) => text.clone(),
            Some(NodeValue::Number(number)) => number.to_string(),
            _ => {
                return Err(format!(
                    "server URL `{url}` uses variable `{name}`, which has no `default`; add `variables: {{{name}: {{default: ...}}}}` to the server"
                ));
            }
        };
        result.push_str(&value);
        rest = &after[close + 1..];
    }
    result.push_str(rest);
    Ok(result)
}

/// Splits a server URL into endpoint and base path. A URL without `scheme://` is relative.
pub fn parse_url(url: &str) -> Result<(Option<Endpoint>, String), String> {
    let without_fragment = url.split(['?', '#']).next().unwrap_or("");
    let Some((scheme_text, rest)) = without_fragment.split_once("://") else {
        return Ok((None, normalise_base_path(without_fragment)));
    };
    let scheme = match scheme_text.to_ascii_lowercase().as_str() {
        "http" => UpstreamScheme::Http,
        "https" => UpstreamScheme::Https,
        other => return Err(format!("server URL `{url}` uses scheme `{other}`; gatectl upstreams speak http or https, so it is ignored")),
    };
    let (authority, path) = match rest.find('/') {
        Some(slash) => (&rest[..slash], &rest[slash..]),
        None => (rest, ""),
    };
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let (host, port_text) = split_host_port(authority);
    if host.is_empty() || host.len() > 253 {
        return Err(format!("server URL `{url}` has no usable host; it is ignored"));
    }
    let default_port = if scheme == UpstreamScheme::Https { 443 } else { 80 };
    let port = match port_text {
        None | Some("") => default_port,
        Some(text) => match text.parse::<u16>() {
            Ok(port) if port > 0 => port,
            _ => return Err(format!("server URL `{url}` has an invalid port `{text}`; it is ignored")),
        },
    };
    Ok((Some(Endpoint { scheme, host: host.to_ascii_lowercase(), port }), normalise_base_path(path)))
}

fn split_host_port(authority: &str) -> (&str, Option<&str>) {
    if let Some(inner) = authority.strip_prefix('[') {
        return match inner.split_once(']') {
            Some((host, rest)) => (host, rest.strip_prefix(':')),
            None => (inner, None),
        };
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    }
}

fn normalise_base_path(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        String::new()
    } else if trimmed.starts_with('/') {
        trimmed.to_owned()
    } else {
        format!("/{trimmed}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_with_port_and_path() {
        let (endpoint, base_path) = parse_url("https://users.internal.example:8443/v2/").unwrap();
        let endpoint = endpoint.unwrap();
        assert_eq!(endpoint.host, "users.internal.example");
        assert_eq!(endpoint.port, 8443);
        assert_eq!(endpoint.scheme, UpstreamScheme::Https);
        assert_eq!(base_path, "/v2");
    }

    #[test]
    fn default_ports_and_ipv6() {
        assert_eq!(parse_url("http://a.example").unwrap().0.unwrap().port, 80);
        assert_eq!(parse_url("https://a.example").unwrap().0.unwrap().port, 443);
        let endpoint = parse_url("http://[::1]:9000/x").unwrap().0.unwrap();
        assert_eq!((endpoint.host.as_str(), endpoint.port), ("::1", 9000));
    }

    #[test]
    fn relative_and_invalid_urls() {
        assert_eq!(parse_url("/api/").unwrap(), (None, "/api".to_owned()));
        assert_eq!(parse_url("api").unwrap(), (None, "/api".to_owned()));
        assert!(parse_url("ftp://a.example").is_err());
        assert!(parse_url("https://a.example:99999").is_err());
        assert!(parse_url("https://:80").is_err());
    }

    #[test]
    fn unterminated_variable_is_an_error() {
        assert!(substitute_variables("https://{region.example", None).is_err());
        assert!(substitute_variables("https://{region}.example", None).is_err());
        assert_eq!(substitute_variables("https://plain.example", None).unwrap(), "https://plain.example");
    }
}
