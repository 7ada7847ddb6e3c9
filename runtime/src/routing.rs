//! Route matching: hosts, then paths through a per-host trie, then methods, headers and version.
//!
//! Precedence, whatever the declaration order:
//! - an exact host beats a wildcard host (longer wildcard suffix first), which beats routes
//!   without hosts. The first host level with a route whose path matches decides the request.
//! - a route that matches the whole path (exact or template) beats any prefix route, and a longer
//!   prefix beats a shorter one.
//! - a literal segment beats a parameter, and an exact path beats a template of the same shape.
//! - at one path, a route with a version or more header conditions beats one with fewer.
//!
//! Hosts compare without case and without port (any port is ignored). Paths compare
//! case-sensitively. A parameter never matches an empty segment, so `/user/123/` does not match
//! `/user/{id}` and gets 404. A prefix `/info/` is read as `/info` at a segment boundary.

mod trie;

use std::collections::{BTreeSet, HashMap, HashSet};

use gatectl_spec::model::{PathMatch, Route};
use gatectl_spec::path_template::{PathTemplate, Segment};
use http::{HeaderMap, HeaderName, HeaderValue, Method};

pub use trie::split_path;
use trie::{PathTrie, PatternSegment};

use crate::error::ProxyError;

/// Matches requests to route indexes in the spec's route list.
#[derive(Debug, Default)]
pub struct Router {
    exact_hosts: HashMap<String, PathTrie>,
    /// Wildcard hosts by suffix: `*.example.com` is stored as `example.com`.
    wildcard_hosts: HashMap<String, PathTrie>,
    any_host: PathTrie,
    conditions: Vec<Conditions>,
    /// Versions that routes declare; a first path segment equal to one of them is a version.
    versions: HashSet<String>,
}

#[derive(Debug)]
struct Conditions {
    /// Accepted methods; any method when empty.
    methods: Vec<Method>,
    /// The route accepts GET and does not list HEAD, so it also serves HEAD unless another
    /// candidate route lists HEAD. By RFC 9110 section 9.3.2 a server sends the same header
    /// fields for HEAD as for GET, and nginx's `limit_except GET` allows HEAD the same way.
    implicit_head: bool,
    headers: Vec<HeaderCondition>,
    version: Option<String>,
    kind: PathKind,
    /// Number of segments of a prefix route's prefix, to strip it from the forwarded path.
    prefix_segments: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum PathKind {
    Exact,
    Template,
    Prefix,
}

#[derive(Debug)]
struct HeaderCondition {
    name: HeaderName,
    value: Option<HeaderValue>,
    invert: bool,
}

/// The request facts routing looks at.
pub struct RouteQuery<'a> {
    pub host: Option<&'a str>,
    /// Path segments after the version segment, if any, was removed.
    pub segments: &'a [&'a str],
    pub method: &'a Method,
    pub headers: &'a HeaderMap,
    pub version: Option<&'a str>,
}

/// A matched route.
#[derive(Debug, Clone, Copy)]
pub struct RouteMatch {
    pub route: usize,
    /// Number of leading path segments that the route's prefix covers; 0 for other kinds.
    pub prefix_segments: usize,
}

/// Errors in a route that stop compilation.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    #[error("route `{route}`: invalid path template: {message}")]
    Template { route: String, message: String },
    #[error("route `{route}`: invalid header name `{name}` in match.headers")]
    HeaderName { route: String, name: String },
    #[error("route `{route}`: header value for `{name}` is not a valid header value")]
    HeaderValue { route: String, name: String },
    #[error("route `{route}`: path `{path}` must start with `/`")]
    Path { route: String, path: String },
}

impl Router {
    /// Compiles the spec's routes. Route indexes in results are positions in `routes`.
    pub fn compile(routes: &[Route]) -> Result<Self, RouteError> {
        let mut router = Router::default();
        for (index, route) in routes.iter().enumerate() {
            let (pattern, kind) = compile_path(route)?;
            router.conditions.push(compile_conditions(route, kind, pattern.len())?);
            if let Some(version) = &route.matcher.version {
                router.versions.insert(version.clone());
            }
            let is_prefix = kind == PathKind::Prefix;
            if route.matcher.hosts.is_empty() {
                router.any_host.insert(&pattern, is_prefix, index);
            }
            for host in &route.matcher.hosts {
                let host = host.to_ascii_lowercase();
                let trie = match host.strip_prefix("*.") {
                    Some(suffix) => router.wildcard_hosts.entry(suffix.to_owned()).or_default(),
                    None => router.exact_hosts.entry(host).or_default(),
                };
                trie.insert(&pattern, is_prefix, index);
            }
        }
        let conditions = &router.conditions;
        let key = |route: usize| {
            let condition = &conditions[route];
            (condition.kind, condition.version.is_none(), usize::MAX - condition.headers.len(), route)
        };
        router.any_host.sort_by_key(&key);
        for trie in router.exact_hosts.values_mut().chain(router.wildcard_hosts.values_mut()) {
            trie.sort_by_key(&key);
        }
        Ok(router)
    }

    pub fn is_known_version(&self, version: &str) -> bool {
        self.versions.contains(version)
    }

    /// Finds the route for a request, or returns 404 or 405 (with `Allow`) as an error.
    pub fn lookup(&self, query: &RouteQuery<'_>) -> Result<RouteMatch, ProxyError> {
        let mut candidates = Vec::new();
        for trie in self.host_levels(query.host) {
            candidates.clear();
            trie.collect(query.segments, &mut candidates);
            if candidates.is_empty() {
                continue;
            }
            return self.pick(&candidates, query);
        }
        Err(ProxyError::NoRoute)
    }

    fn host_levels<'a>(&'a self, host: Option<&'a str>) -> impl Iterator<Item = &'a PathTrie> + 'a {
        let exact = host.and_then(|host| self.exact_hosts.get(host));
        let wildcards = host
            .into_iter()
            .flat_map(move |host| host.match_indices('.').filter_map(move |(position, _)| self.wildcard_hosts.get(&host[position + 1..])));
        exact.into_iter().chain(wildcards).chain(std::iter::once(&self.any_host))
    }

    fn pick(&self, candidates: &[usize], query: &RouteQuery<'_>) -> Result<RouteMatch, ProxyError> {
        let mut allowed: BTreeSet<&str> = BTreeSet::new();
        let mut head_by_get = None;
        for &route in candidates {
            let condition = &self.conditions[route];
            if !condition.matches_version(query.version) || !condition.matches_headers(query.headers) {
                continue;
            }
            if condition.methods.contains(query.method) {
                return Ok(RouteMatch { route, prefix_segments: condition.prefix_segments });
            }
            // A route that lists no methods does not list HEAD, so a more specific GET route
            // found before it keeps HEAD.
            if condition.methods.is_empty() {
                return Ok(head_by_get.unwrap_or(RouteMatch { route, prefix_segments: condition.prefix_segments }));
            }
            if condition.implicit_head {
                if *query.method == Method::HEAD && head_by_get.is_none() {
                    head_by_get = Some(RouteMatch { route, prefix_segments: condition.prefix_segments });
                }
                allowed.insert(Method::HEAD.as_str());
            }
            allowed.extend(condition.methods.iter().map(Method::as_str));
        }
        if let Some(found) = head_by_get {
            return Ok(found);
        }
        if allowed.is_empty() {
            return Err(ProxyError::NoRoute);
        }
        let allow = allowed.into_iter().collect::<Vec<_>>().join(", ");
        Err(ProxyError::MethodNotAllowed { allow })
    }
}

impl Conditions {
    fn matches_version(&self, requested: Option<&str>) -> bool {
        match &self.version {
            None => true,
            Some(version) => requested == Some(version.as_str()),
        }
    }

    fn matches_headers(&self, headers: &HeaderMap) -> bool {
        self.headers.iter().all(|condition| {
            let present = match &condition.value {
                None => headers.contains_key(&condition.name),
                Some(value) => headers.get_all(&condition.name).iter().any(|candidate| candidate == value),
            };
            present != condition.invert
        })
    }
}

fn compile_path(route: &Route) -> Result<(Vec<PatternSegment>, PathKind), RouteError> {
    let path = route.matcher.path.value();
    if !path.starts_with('/') {
        return Err(RouteError::Path { route: route.name.clone(), path: path.to_owned() });
    }
    // Literal segments take the form request paths are normalised to, so `/café` in a spec
    // matches the `/caf%C3%A9` that clients send.
    let literal = |text: &str| PatternSegment::Literal(gatectl_spec::request_path::canonical_segment(text));
    match &route.matcher.path {
        PathMatch::Exact(path) => Ok((split_path(path).map(literal).collect(), PathKind::Exact)),
        PathMatch::Prefix(path) => {
            let trimmed = path.strip_suffix('/').unwrap_or(path);
            Ok((split_path(trimmed).map(literal).collect(), PathKind::Prefix))
        }
        PathMatch::Template(path) => {
            let template = PathTemplate::parse(path)
                .map_err(|error| RouteError::Template { route: route.name.clone(), message: error.to_string() })?;
            let mut pattern: Vec<PatternSegment> = template
                .segments
                .iter()
                .map(|segment| match segment {
                    Segment::Literal(text) => literal(text),
                    Segment::Parameter(_) => PatternSegment::Parameter,
                })
                .collect();
            if template.trailing_slash {
                pattern.push(literal(""));
            }
            Ok((pattern, PathKind::Template))
        }
    }
}

fn compile_conditions(route: &Route, kind: PathKind, pattern_length: usize) -> Result<Conditions, RouteError> {
    let methods: Vec<Method> =
        route.matcher.methods.iter().filter_map(|method| Method::from_bytes(method.as_str().as_bytes()).ok()).collect();
    let mut headers = Vec::new();
    for header in &route.matcher.headers {
        let name = HeaderName::from_bytes(header.name.as_bytes())
            .map_err(|_| RouteError::HeaderName { route: route.name.clone(), name: header.name.clone() })?;
        let value = match &header.value {
            None => None,
            Some(value) => Some(
                HeaderValue::from_str(value)
                    .map_err(|_| RouteError::HeaderValue { route: route.name.clone(), name: header.name.clone() })?,
            ),
        };
        headers.push(HeaderCondition { name, value, invert: header.invert });
    }
    let prefix_segments = if kind == PathKind::Prefix { pattern_length } else { 0 };
    let implicit_head = methods.contains(&Method::GET) && !methods.contains(&Method::HEAD);
    Ok(Conditions { methods, implicit_head, headers, version: route.matcher.version.clone(), kind, prefix_segments })
}
