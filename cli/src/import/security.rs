//! Security schemes into auth providers, and security requirements into `route.security`.
//!
//! Bearer tokens, OAuth 2 and OpenID Connect become JWT providers; API keys become API-key
//! providers. OpenAPI does not give a JWT issuer or keys, so JWT providers get placeholders under
//! the reserved `.invalid` domain (RFC 2606), which never resolves. Schemes gatectl cannot
//! enforce (HTTP basic, mutual TLS, unknown types) also become placeholder JWT providers, so a
//! route that requires them rejects every request until an overlay replaces the provider: an
//! import never turns a protected operation into a public route.

use std::collections::BTreeMap;

use gatectl_spec::model::{ApiKeyLocation, ApiKeyProvider, AuthProvider, JwtProvider, SecurityRequirement};
use gatectl_spec::source::{SourceId, Span};
use gatectl_spec::yaml::{Node, NodeValue};

use super::builder::Builder;
use super::documents::Documents;
use super::naming::sanitize;
use super::warning::Warning;

/// Issuer written into generated JWT providers; an overlay must replace it.
pub const PLACEHOLDER_ISSUER: &str = "https://issuer.invalid/replace-me";
/// JWKS URL written into generated JWT providers; an overlay must replace it.
pub const PLACEHOLDER_JWKS_URL: &str = "https://jwks.invalid/replace-me/jwks.json";

/// The providers that one file's security schemes became, by scheme name.
#[derive(Debug, Default)]
pub struct SchemeTable {
    providers: BTreeMap<String, MappedScheme>,
}

#[derive(Debug, Clone)]
struct MappedScheme {
    provider: String,
    /// Whether required scopes are checked (JWT providers) or dropped (API keys).
    checks_scopes: bool,
}

/// Maps `components.securitySchemes` (OpenAPI 3) or `securityDefinitions` (Swagger 2.0).
pub fn map_schemes(documents: &mut Documents, file: SourceId, root: &Node, builder: &mut Builder) -> SchemeTable {
    let mut table = SchemeTable::default();
    let definitions =
        root.get("securityDefinitions").or_else(|| root.get("components").and_then(|components| components.get("securitySchemes")));
    let Some(NodeValue::Mapping(entries)) = definitions.map(|node| &node.value) else {
        return table;
    };
    for (key, value) in entries {
        let (scheme_file, scheme) = match documents.follow(file, value) {
            Ok(Some((target_file, target))) => (target_file, target),
            Ok(None) => (file, value.clone()),
            Err(error) => {
                builder.warn(Warning::new("unresolved-reference", Some(value.span), format!("security scheme `{}`: {error}", key.name)));
                (file, Node { value: NodeValue::Null, span: value.span })
            }
        };
        let _ = scheme_file;
        let mapped = map_scheme(&key.name, &scheme, key.span, builder);
        table.providers.insert(key.name.clone(), mapped);
    }
    table
}

fn map_scheme(name: &str, scheme: &Node, span: Span, builder: &mut Builder) -> MappedScheme {
    let kind = scheme.get("type").and_then(Node::as_str).unwrap_or("").to_owned();
    let http_scheme = scheme.get("scheme").and_then(Node::as_str).unwrap_or("").to_ascii_lowercase();
    let provider_name = sanitize(name, "security-scheme");
    match kind.as_str() {
        "apiKey" => match api_key_provider(scheme) {
            Ok(api_key) => {
                let provider = AuthProvider { name: provider_name, jwt: None, api_key: Some(api_key) };
                MappedScheme { provider: builder.add_provider(provider), checks_scopes: false }
            }
            Err(message) => {
                let note = format!("security scheme `{name}`: {message}");
                placeholder(name, &provider_name, span, "unsupported-security-scheme", &note, builder)
            }
        },
        "http" if http_scheme == "bearer" => jwt(name, &provider_name, span, "bearer tokens", builder),
        "oauth2" => jwt(name, &provider_name, span, "OAuth 2 access tokens", builder),
        "openIdConnect" => {
            let discovery = scheme.get("openIdConnectUrl").and_then(Node::as_str).unwrap_or("the OpenID Connect discovery URL");
            let what = format!("OpenID Connect tokens (copy `issuer` and `jwks_uri` from {discovery})");
            jwt(name, &provider_name, span, &what, builder)
        }
        "mutualTLS" => {
            let note = format!(
                "security scheme `{name}` is mutual TLS, which the gatectl runtime does not support yet; routes that require it reject every request until an overlay replaces provider `{provider_name}`"
            );
            placeholder(name, &provider_name, span, "unsupported-mutual-tls", &note, builder)
        }
        _ => {
            let described = if kind == "http" || kind == "basic" {
                format!("HTTP {}", if kind == "basic" { "basic" } else { &http_scheme })
            } else {
                format!("type `{kind}`")
            };
            let note = format!(
                "security scheme `{name}` ({described}) cannot be enforced by gatectl; routes that require it reject every request until an overlay replaces provider `{provider_name}`"
            );
            placeholder(name, &provider_name, span, "unsupported-security-scheme", &note, builder)
        }
    }
}

fn api_key_provider(scheme: &Node) -> Result<ApiKeyProvider, String> {
    let location = match scheme.get("in").and_then(Node::as_str) {
        Some("header") => ApiKeyLocation::Header,
        Some("query") => ApiKeyLocation::Query,
        Some("cookie") => ApiKeyLocation::Cookie,
        other => return Err(format!("`in` is {other:?}; an API key must be in `header`, `query` or `cookie`")),
    };
    let name = scheme.get("name").and_then(Node::as_str).unwrap_or("");
    if name.is_empty() || name.len() > 256 {
        return Err("an API key needs a `name` of 1 to 256 characters".to_owned());
    }
    Ok(ApiKeyProvider { location, name: name.to_owned() })
}

fn jwt(scheme_name: &str, provider_name: &str, span: Span, what: &str, builder: &mut Builder) -> MappedScheme {
    let provider = AuthProvider { name: provider_name.to_owned(), jwt: Some(placeholder_jwt()), api_key: None };
    let provider = builder.add_provider(provider);
    builder.warn(Warning::new(
        "placeholder-jwt-provider",
        Some(span),
        format!(
            "security scheme `{scheme_name}` accepts {what}; provider `{provider}` was generated with a placeholder issuer and JWKS URL, so set `jwt.issuer` and `jwt.jwks.url` of provider `{provider}` in an overlay"
        ),
    ));
    MappedScheme { provider, checks_scopes: true }
}

fn placeholder(scheme_name: &str, provider_name: &str, span: Span, code: &'static str, note: &str, builder: &mut Builder) -> MappedScheme {
    let _ = scheme_name;
    let provider = AuthProvider { name: provider_name.to_owned(), jwt: Some(placeholder_jwt()), api_key: None };
    let provider = builder.add_provider(provider);
    builder.warn(Warning::new(code, Some(span), note.to_owned()));
    MappedScheme { provider, checks_scopes: false }
}

/// A JWT provider that no real token can satisfy until the user sets its issuer and keys.
pub fn placeholder_jwt() -> JwtProvider {
    let settings = serde_json::json!({ "issuer": PLACEHOLDER_ISSUER, "jwks": { "url": PLACEHOLDER_JWKS_URL } });
    serde_json::from_value(settings).expect("the placeholder JWT settings match the model")
}

impl SchemeTable {
    /// Maps a `security` list: entries are alternatives (OR), the schemes inside one entry must
    /// all pass (AND). An empty list stays empty, which makes the route public.
    pub fn map_requirements(&mut self, list: &Node, builder: &mut Builder) -> Vec<SecurityRequirement> {
        let NodeValue::Sequence(entries) = &list.value else {
            builder.warn(Warning::new(
                "invalid-security",
                Some(list.span),
                format!("`security` must be a list of requirement objects, found a {}; the route requires provider `invalid-security` until fixed", list.type_name()),
            ));
            return vec![self.fail_closed("invalid-security", list.span, builder)];
        };
        let mut requirements = Vec::new();
        for entry in entries {
            let NodeValue::Mapping(schemes) = &entry.value else {
                builder.warn(Warning::new("invalid-security", Some(entry.span), "a security requirement must be a mapping of scheme names to scope lists; it is replaced by a provider that rejects every request"));
                requirements.push(self.fail_closed("invalid-security", entry.span, builder));
                continue;
            };
            let mut requirement = SecurityRequirement::new();
            for (key, scopes) in schemes {
                let mapped = self.lookup(&key.name, key.span, builder);
                let scopes = scope_list(scopes);
                if !scopes.is_empty() && !mapped.checks_scopes {
                    builder.warn(Warning::new(
                        "scopes-ignored",
                        Some(scopes_span(scopes_node(schemes, &key.name), key.span)),
                        format!(
                            "scopes {scopes:?} on scheme `{}` are not checked because provider `{}` has no scopes",
                            key.name, mapped.provider
                        ),
                    ));
                }
                let scopes = if mapped.checks_scopes { scopes } else { Vec::new() };
                requirement.entry(mapped.provider).or_default().extend(scopes);
            }
            requirements.push(requirement);
        }
        requirements
    }

    fn lookup(&mut self, scheme: &str, span: Span, builder: &mut Builder) -> MappedScheme {
        if let Some(mapped) = self.providers.get(scheme) {
            return mapped.clone();
        }
        let provider_name = sanitize(scheme, "security-scheme");
        let note = format!(
            "security requirement names scheme `{scheme}`, which is not defined; routes that require it reject every request until you define the scheme or an overlay replaces provider `{provider_name}`"
        );
        let mapped = placeholder(scheme, &provider_name, span, "undefined-security-scheme", &note, builder);
        self.providers.insert(scheme.to_owned(), mapped.clone());
        mapped
    }

    fn fail_closed(&mut self, name: &str, span: Span, builder: &mut Builder) -> SecurityRequirement {
        let provider = AuthProvider { name: name.to_owned(), jwt: Some(placeholder_jwt()), api_key: None };
        let provider = builder.add_provider(provider);
        let _ = span;
        SecurityRequirement::from([(provider, Vec::new())])
    }
}

fn scope_list(node: &Node) -> Vec<String> {
    match &node.value {
        NodeValue::Sequence(items) => items.iter().filter_map(Node::as_str).map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

fn scopes_node<'a>(schemes: &'a [(gatectl_spec::yaml::Key, Node)], name: &str) -> Option<&'a Node> {
    schemes.iter().find(|(key, _)| key.name == name).map(|(_, value)| value)
}

fn scopes_span(node: Option<&Node>, fallback: Span) -> Span {
    node.map_or(fallback, |node| node.span)
}
