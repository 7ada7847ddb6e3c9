//! Collects the entities of the generated spec, names them uniquely and reports conflicts.

use std::collections::HashMap;

use gatectl_spec::model::{AuthProvider, Method, Route, Upstream};
use gatectl_spec::source::{SourceMap, Span};

use super::naming::NameRegistry;
use super::warning::Warning;

/// The spec under construction, shared by every imported file.
#[derive(Default)]
pub struct Builder {
    pub warnings: Vec<Warning>,
    pub upstreams: Vec<Upstream>,
    pub routes: Vec<Route>,
    pub providers: Vec<AuthProvider>,
    upstream_names: NameRegistry,
    /// Upstream name by identity key (source file, server URL, `x-gatectl-upstream` override).
    upstream_keys: HashMap<String, String>,
    route_names: NameRegistry,
    /// Where each route came from, by route name, for conflict messages.
    route_spans: HashMap<String, Option<Span>>,
    /// The first route for each method and path shape.
    shapes: HashMap<(Method, String), ShapeOwner>,
    provider_names: NameRegistry,
}

impl Builder {
    pub fn warn(&mut self, warning: Warning) {
        self.warnings.push(warning);
    }

    /// Adds an auth provider and returns its name. A provider equal to one already added (the
    /// same scheme in two imported files) is shared; a different one with the same name is
    /// renamed.
    pub fn add_provider(&mut self, mut provider: AuthProvider) -> String {
        let same = self.providers.iter().find(|existing| {
            existing.jwt == provider.jwt && existing.api_key == provider.api_key && base_of(&existing.name) == provider.name
        });
        if let Some(existing) = same {
            return existing.name.clone();
        }
        provider.name = self.provider_names.claim(&provider.name);
        let name = provider.name.clone();
        self.providers.push(provider);
        name
    }

    /// Returns the name of the upstream identified by `key`, creating it with `make` (given the
    /// unique name) the first time.
    pub fn upstream(&mut self, key: String, base_name: &str, make: impl FnOnce(String) -> Upstream) -> String {
        if let Some(name) = self.upstream_keys.get(&key) {
            return name.clone();
        }
        let name = self.upstream_names.claim(base_name);
        self.upstreams.push(make(name.clone()));
        self.upstream_keys.insert(key, name.clone());
        name
    }

    /// Adds a route under a unique name, warning when the requested name or the route's method
    /// and path shape are already taken.
    ///
    /// A widened route (its OpenAPI path had a parameter filling only part of a segment) never
    /// stays beside another route of the same method and shape, because the gateway could not
    /// tell them apart. The route whose template is exact wins, whichever comes first, and the
    /// widened one is left out with a warning naming both. Of two widened routes, the first wins.
    /// Two exact routes of the same shape are both kept and reported as a conflict.
    pub fn add_route(&mut self, mut route: Route, origin: &RouteOrigin, sources: &SourceMap) {
        for method in &route.matcher.methods {
            let Some(first) = self.shapes.get(&(*method, origin.shape.to_owned())).cloned() else { continue };
            if origin.widened {
                let message = widened_route_message(&route, origin.span, first.span, sources);
                self.warn(Warning::new("widened-route-dropped", origin.span, message));
                return;
            }
            if first.widened {
                self.drop_widened_route(&first.name, origin.span, sources);
            }
        }

        let name = self.route_names.claim(origin.requested_name);
        if name != origin.requested_name {
            let first = self.route_spans.get(origin.requested_name).copied().flatten();
            self.warn(Warning::new(
                "route-name-conflict",
                origin.span,
                format!(
                    "route name `{}` is already used{}; this route is named `{name}` instead (set `x-gatectl-route-name` to choose a name)",
                    origin.requested_name,
                    describe_place(first, sources)
                ),
            ));
        }
        route.name = name.clone();
        for method in &route.matcher.methods {
            let key = (*method, origin.shape.to_owned());
            match self.shapes.get(&key) {
                Some(first) => {
                    let first_span = self.route_spans.get(&first.name).copied().flatten();
                    let message = format!(
                        "routes `{}`{} and `{name}` both match {} {}: templates that differ only in parameter names match the same requests; remove one operation or give them different paths",
                        first.name,
                        describe_place(first_span, sources),
                        method.as_str(),
                        origin.shape
                    );
                    self.warn(Warning::new("route-conflict", origin.span, message));
                }
                None => {
                    self.shapes.insert(key, ShapeOwner { name: name.clone(), widened: origin.widened, span: origin.span });
                }
            }
        }
        self.route_spans.insert(name, origin.span);
        self.routes.push(route);
    }

    /// Removes a widened route added earlier, in favour of `exact`, which has the same shape.
    fn drop_widened_route(&mut self, widened_name: &str, exact_span: Option<Span>, sources: &SourceMap) {
        let Some(index) = self.routes.iter().position(|route| route.name == widened_name) else { return };
        let widened = self.routes.remove(index);
        let widened_span = self.route_spans.remove(widened_name).flatten();
        self.shapes.retain(|_, owner| owner.name != widened_name);
        let message = widened_route_message(&widened, widened_span, exact_span, sources);
        self.warn(Warning::new("widened-route-dropped", widened_span, message));
    }
}

/// Origin of a route, as [`Builder::add_route`] uses it for naming and conflicts.
pub struct RouteOrigin<'a> {
    /// The name from `x-gatectl-route-name`, `operationId` or method and path, before
    /// deduplication.
    pub requested_name: &'a str,
    /// The path shape (parameters without names) that decides which requests the route matches.
    pub shape: &'a str,
    /// Location of the operation in the OpenAPI file.
    pub span: Option<Span>,
    /// Whether a parameter that filled only part of a path segment was widened to the whole
    /// segment.
    pub widened: bool,
}

/// The route that first took a method and path shape.
#[derive(Clone)]
struct ShapeOwner {
    name: String,
    widened: bool,
    span: Option<Span>,
}

fn widened_route_message(widened: &Route, widened_span: Option<Span>, kept_span: Option<Span>, sources: &SourceMap) -> String {
    let method = widened.matcher.methods.first().map_or("", |method| method.as_str());
    format!(
        "the operation {method} `{}`{} is left out: its path has a parameter that fills only part of a segment, so it would match as `{}`, the same requests as the operation{}, whose path is an exact template; requests of the left-out operation reach that route, so add a route in an overlay if they need different settings",
        openapi_path(widened),
        describe_place(widened_span, sources),
        widened.matcher.path.value(),
        describe_place(kept_span, sources),
    )
}

/// Returns the OpenAPI path a route was generated from, or its template when the metadata lacks it.
fn openapi_path(route: &Route) -> &str {
    route.metadata.get("openapi.path").map_or(route.matcher.path.value(), String::as_str)
}

fn describe_place(span: Option<Span>, sources: &SourceMap) -> String {
    span.map(|span| format!(" (at {})", sources.locate(span))).unwrap_or_default()
}

/// The name without a `-N` suffix added by [`NameRegistry::claim`].
fn base_of(name: &str) -> &str {
    match name.rsplit_once('-') {
        Some((stem, suffix)) if !suffix.is_empty() && suffix.chars().all(|character| character.is_ascii_digit()) => stem,
        _ => name,
    }
}
