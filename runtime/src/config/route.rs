//! Compiled routes: backends, header changes, limits and deprecation headers.

use std::collections::HashMap;
use std::sync::Arc;

use gatectl_spec::model::{HeaderChanges, Route, RouteTimeouts};
use http::{HeaderMap, HeaderName, HeaderValue};

use super::CompileError;
use super::path_parameters::HeaderTemplate;
use crate::observe::metrics::RouteMetrics;
use crate::upstream::UpstreamPool;
use crate::upstream::balancer::{SmoothWeighted, hash_of};
use gatectl_spec::header_template::has_parameters;

/// A route ready to serve.
#[derive(Debug)]
pub struct CompiledRoute {
    pub name: String,
    pub backend: Backend,
    pub strip_prefix: bool,
    pub host_rewrite: Option<HeaderValue>,
    pub max_body_bytes: Option<u64>,
    /// Read bodies of unknown length in full before contacting the upstream.
    pub request_buffering: bool,
    pub timeouts: RouteTimeouts,
    pub request_headers: CompiledHeaderChanges,
    /// Request headers whose values take path parameters, applied after `request_headers`.
    pub request_header_templates: Vec<HeaderTemplate>,
    pub response_headers: CompiledHeaderChanges,
    /// Path parameter names with their segment positions in the matched path.
    pub path_parameters: Vec<(usize, Arc<str>)>,
    /// `Deprecation`, `Sunset` and `Link` headers added to every response of this route.
    pub deprecation_headers: Vec<(HeaderName, HeaderValue)>,
    /// This route's metric series, looked up on first use.
    pub metrics: RouteMetrics,
    /// The route needs neither credentials nor counting (see `Enforcer::is_open`), so requests
    /// skip the enforcer. Set once the enforcer is built.
    pub open: bool,
}

/// Destination of a route's traffic.
#[derive(Debug)]
pub enum Backend {
    Single(Arc<UpstreamPool>),
    Split { backends: Vec<(Arc<UpstreamPool>, u32)>, balancer: SmoothWeighted, sticky: bool },
}

impl Backend {
    /// Picks the upstream for one request. A sticky split hashes `sticky_key` onto the weights,
    /// so one key stays on one backend while the weights do not change. Other splits follow
    /// smooth weighted round robin, which gives exact shares over each weight cycle.
    pub fn pick(&self, sticky_key: StickyKey<'_>) -> &Arc<UpstreamPool> {
        match self {
            Self::Single(pool) => pool,
            Self::Split { backends, balancer, sticky } => {
                if *sticky {
                    let total: u64 = backends.iter().map(|(_, weight)| u64::from(*weight)).sum();
                    let hash = match sticky_key {
                        StickyKey::Consumer(id) => hash_of(id),
                        StickyKey::Client(address) => hash_of(&address),
                    };
                    let mut point = hash % total.max(1);
                    for (pool, weight) in backends {
                        if point < u64::from(*weight) {
                            return pool;
                        }
                        point -= u64::from(*weight);
                    }
                }
                let index = balancer.pick(|index| Some(backends[index].1)).unwrap_or(0);
                &backends[index].0
            }
        }
    }
}

/// Key that keeps a client on one backend of a sticky split: its consumer when authenticated,
/// otherwise its address.
#[derive(Debug, Clone, Copy)]
pub enum StickyKey<'a> {
    Consumer(&'a str),
    Client(std::net::IpAddr),
}

/// Header changes with parsed names and values, applied in the order remove, set, add.
#[derive(Debug, Default)]
pub struct CompiledHeaderChanges {
    remove: Vec<HeaderName>,
    set: Vec<(HeaderName, HeaderValue)>,
    add: Vec<(HeaderName, HeaderValue)>,
}

impl CompiledHeaderChanges {
    pub fn apply(&self, headers: &mut HeaderMap) {
        for name in &self.remove {
            headers.remove(name);
        }
        for (name, value) in &self.set {
            headers.insert(name.clone(), value.clone());
        }
        for (name, value) in &self.add {
            headers.append(name.clone(), value.clone());
        }
    }
}

pub(super) fn compile_route(route: &Route, upstreams: &HashMap<String, Arc<UpstreamPool>>) -> Result<CompiledRoute, CompileError> {
    let find = |name: &String| {
        upstreams.get(name).cloned().ok_or_else(|| CompileError::UnknownUpstream { route: route.name.clone(), upstream: name.clone() })
    };
    let backend = match (&route.upstream, &route.split) {
        (Some(name), _) => Backend::Single(find(name)?),
        (None, Some(split)) => {
            let backends = split
                .backends
                .iter()
                .map(|backend| Ok::<_, CompileError>((find(&backend.upstream)?, backend.weight)))
                .collect::<Result<Vec<_>, _>>()?;
            if backends.iter().all(|(_, weight)| *weight == 0) {
                return Err(CompileError::ZeroSplit { route: route.name.clone() });
            }
            Backend::Split { balancer: SmoothWeighted::new(backends.len()), backends, sticky: split.sticky }
        }
        (None, None) => return Err(CompileError::NoBackend { route: route.name.clone() }),
    };
    let field = |part: &str| format!("routes[{}].{part}", route.name);
    let host_rewrite = match &route.host_rewrite {
        None => None,
        Some(host) => Some(HeaderValue::from_str(host).map_err(|_| CompileError::Header {
            field: field("hostRewrite"),
            value: host.clone(),
            part: "value",
        })?),
    };
    let path_parameters = super::path_parameters::parameters(route);
    Ok(CompiledRoute {
        name: route.name.clone(),
        backend,
        strip_prefix: route.strip_prefix,
        host_rewrite,
        max_body_bytes: route.max_body_bytes,
        request_buffering: route.request_buffering,
        timeouts: route.timeouts.clone().unwrap_or_default(),
        request_headers: compile_changes(&route.request_headers, &field("requestHeaders"), true)?,
        request_header_templates: HeaderTemplate::compile_all(&route.request_headers, route, &path_parameters)?,
        response_headers: compile_changes(&route.response_headers, &field("responseHeaders"), false)?,
        path_parameters,
        deprecation_headers: deprecation_headers(route, &field("deprecation.link"))?,
        metrics: RouteMetrics::default(),
        open: false,
    })
}

/// Compiles header changes. With `skip_templates`, values that take path parameters are left to
/// [`HeaderTemplate`].
fn compile_changes(changes: &HeaderChanges, field: &str, skip_templates: bool) -> Result<CompiledHeaderChanges, CompileError> {
    let name = |text: &String| {
        HeaderName::from_bytes(text.as_bytes()).map_err(|_| CompileError::Header {
            field: field.to_owned(),
            value: text.clone(),
            part: "name",
        })
    };
    let value = |text: &String| {
        HeaderValue::from_str(text).map_err(|_| CompileError::Header { field: field.to_owned(), value: text.clone(), part: "value" })
    };
    let pairs = |map: &std::collections::BTreeMap<String, String>| {
        map.iter()
            .filter(|(_, text)| !(skip_templates && has_parameters(text)))
            .map(|(key, text)| Ok((name(key)?, value(text)?)))
            .collect::<Result<Vec<_>, CompileError>>()
    };
    Ok(CompiledHeaderChanges {
        remove: changes.remove.iter().map(name).collect::<Result<_, _>>()?,
        set: pairs(&changes.set)?,
        add: pairs(&changes.add)?,
    })
}

fn deprecation_headers(route: &Route, field: &str) -> Result<Vec<(HeaderName, HeaderValue)>, CompileError> {
    let Some(deprecation) = &route.deprecation else { return Ok(Vec::new()) };
    let since = deprecation.since.map_or(0, |since| since.timestamp());
    let since = HeaderValue::from_str(&format!("@{since}")).unwrap_or(HeaderValue::from_static("@0"));
    let mut headers = vec![(HeaderName::from_static("deprecation"), since)];
    if let Some(sunset) = deprecation.sunset {
        let date = sunset.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
        if let Ok(value) = HeaderValue::from_str(&date) {
            headers.push((HeaderName::from_static("sunset"), value));
        }
    }
    if let Some(link) = &deprecation.link {
        let value = HeaderValue::from_str(&format!("<{link}>; rel=\"deprecation\"; type=\"text/html\""))
            .map_err(|_| CompileError::Header { field: field.to_owned(), value: link.clone(), part: "value" })?;
        headers.push((http::header::LINK, value));
    }
    Ok(headers)
}
