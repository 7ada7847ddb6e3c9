//! OpenAPI operations into routes, and the servers they use into upstreams.

use std::collections::{BTreeMap, HashSet};

use gatectl_spec::model::{Deprecation, HeaderChanges, Method, PathMatch, Route, RouteMatch, SecurityRequirement, Upstream};
use gatectl_spec::path_template::PathTemplate;
use gatectl_spec::source::{SourceId, Span};
use gatectl_spec::yaml::{Node, NodeValue};

use super::builder::{Builder, RouteOrigin};
use super::documents::Documents;
use super::extensions::{self, Levels};
use super::naming::sanitize;
use super::security::SchemeTable;
use super::servers::{Server, read_servers, swagger_operation_server};
use super::warning::Warning;

/// Host of the upstream target written when OpenAPI gives no usable server.
pub const PLACEHOLDER_HOST: &str = "replace-me.invalid";

/// What every operation of one file shares.
pub struct FileContext {
    pub file: SourceId,
    pub root: std::sync::Arc<Node>,
    pub swagger: bool,
    /// Prefix of upstream names and tag of upstreams when several files are imported.
    pub group: Option<String>,
    pub root_servers: Vec<Server>,
    pub schemes: SchemeTable,
    /// Operations that have no server at any level, for one warning per file.
    pub unserved: Vec<String>,
    /// The upstreams with the placeholder target that those operations use.
    pub unserved_upstreams: Vec<String>,
    /// Server lists and relative servers already warned about.
    pub warned_spans: HashSet<Span>,
}

/// One operation being turned into a route.
struct Operation<'a> {
    /// The file the path item was read from, against which its `$ref`s resolve.
    item_file: SourceId,
    path: &'a str,
    path_span: Span,
    method: Method,
    item: &'a Node,
    node: &'a Node,
    path_servers: &'a [Server],
}

/// Imports every operation under `paths`.
pub fn import_paths(documents: &mut Documents, context: &mut FileContext, builder: &mut Builder) {
    let root = std::sync::Arc::clone(&context.root);
    let Some(paths) = root.get("paths") else {
        builder.warn(Warning::new("no-paths", Some(root.span), "the document has no `paths`, so no route was generated"));
        return;
    };
    let NodeValue::Mapping(entries) = &paths.value else {
        builder.warn(Warning::new("invalid-paths", Some(paths.span), format!("`paths` must be a mapping, found a {}", paths.type_name())));
        return;
    };
    for (path_key, item_node) in entries {
        if path_key.name.starts_with("x-") {
            continue;
        }
        let (item_file, item) = match documents.follow(context.file, item_node) {
            Ok(Some(target)) => target,
            Ok(None) => (context.file, item_node.clone()),
            Err(error) => {
                builder.warn(Warning::new(
                    "unresolved-reference",
                    Some(item_node.span),
                    format!("path `{}` is skipped: {error}", path_key.name),
                ));
                continue;
            }
        };
        let NodeValue::Mapping(fields) = &item.value else {
            builder.warn(Warning::new(
                "invalid-path-item",
                Some(item.span),
                format!("path `{}` must be a mapping; it is skipped", path_key.name),
            ));
            continue;
        };
        let path_servers = if context.swagger { Vec::new() } else { read_servers(item.get("servers"), &mut builder.warnings) };
        for (key, node) in fields {
            let Some(method) = operation_method(&key.name) else {
                if !is_path_item_field(&key.name) {
                    builder.warn(Warning::new(
                        "unsupported-method",
                        Some(key.span),
                        format!("`{}` under path `{}` is not an HTTP method gatectl routes; it is skipped", key.name, path_key.name),
                    ));
                }
                continue;
            };
            if !matches!(node.value, NodeValue::Mapping(_)) {
                builder.warn(Warning::new(
                    "invalid-operation",
                    Some(node.span),
                    format!("operation `{} {}` must be a mapping; it is skipped", key.name, path_key.name),
                ));
                continue;
            }
            let operation = Operation {
                item_file,
                path: &path_key.name,
                path_span: path_key.span,
                method,
                item: &item,
                node,
                path_servers: &path_servers,
            };
            import_operation(documents, context, builder, &operation);
        }
    }
}

fn operation_method(key: &str) -> Option<Method> {
    let method = Method::parse(key)?;
    (key == key.to_ascii_lowercase()).then_some(method)
}

fn is_path_item_field(key: &str) -> bool {
    matches!(key, "$ref" | "summary" | "description" | "servers" | "parameters") || key.starts_with("x-")
}

fn import_operation(documents: &mut Documents, context: &mut FileContext, builder: &mut Builder, operation: &Operation) {
    let root = std::sync::Arc::clone(&context.root);
    let levels = Levels { operation: operation.node, path: operation.item, root: &root };
    let label = format!("{} {}", operation.method.as_str(), operation.path);
    extensions::check_unknown(operation.node, builder);
    extensions::check_unknown(operation.item, builder);

    let Some((template, widened)) = parse_template(operation.path, operation.path_span, builder) else { return };
    let declared = declared_path_parameters(documents, operation, builder);
    for name in template.parameter_names() {
        if !declared.contains(name) {
            builder.warn(Warning::new(
                "undeclared-path-parameter",
                Some(operation.path_span),
                format!("path parameter `{name}` of `{label}` has no `in: path` parameter declaration; the route matches any value"),
            ));
        }
    }

    let upstream = upstream_for(context, builder, operation, &levels, &label);
    let security = effective_security(context, builder, operation);
    let (requested_name, operation_id) = route_name(operation, &levels, builder);
    let path_match = if template.parameter_names().next().is_none() {
        PathMatch::Exact(template.to_string())
    } else {
        PathMatch::Template(template.to_string())
    };
    let shape = template.shape();

    let mut metadata = BTreeMap::new();
    metadata.insert("openapi.source".to_owned(), documents.path(context.file).display().to_string());
    metadata.insert("openapi.path".to_owned(), operation.path.to_owned());
    if let Some(operation_id) = operation_id {
        metadata.insert("openapi.operationId".to_owned(), operation_id);
    }
    let names: Vec<&str> = template.parameter_names().collect();
    if !names.is_empty() {
        metadata.insert("openapi.pathParameters".to_owned(), serde_json::to_string(&names).unwrap_or_default());
    }

    let deprecated = matches!(operation.node.get("deprecated").map(|node| &node.value), Some(NodeValue::Bool(true)));
    let route = Route {
        name: String::new(),
        matcher: RouteMatch { hosts: Vec::new(), path: path_match, methods: vec![operation.method], headers: Vec::new(), version: None },
        upstream: Some(upstream),
        split: None,
        security,
        allow_tokens_without_expiry: false,
        rate_limits: extensions::rate_limits(&levels, builder),
        request_headers: HeaderChanges::default(),
        response_headers: HeaderChanges::default(),
        max_body_bytes: None,
        request_buffering: true,
        timeouts: extensions::timeouts(&levels, builder),
        strip_prefix: false,
        host_rewrite: None,
        deprecation: deprecated.then(Deprecation::default),
        tags: route_tags(operation.node, &levels, builder),
        metadata,
    };
    let span = operation.node.get("operationId").map(|node| node.span).or(Some(operation.path_span));
    let origin = RouteOrigin { requested_name: &requested_name, shape: &shape, span, widened };
    builder.add_route(route, &origin, &documents.sources);
}

/// Parses the path key as a template, returning it with whether it had to be widened. A segment
/// that mixes text and a parameter (`{id}.json`) becomes a whole-segment parameter, with a
/// warning, because routes match whole segments.
fn parse_template(path: &str, span: Span, builder: &mut Builder) -> Option<(PathTemplate, bool)> {
    if let Ok(template) = PathTemplate::parse(path) {
        return Some((template, false));
    }
    let repaired: Vec<String> = path
        .split('/')
        .map(|segment| match (segment.find('{'), segment.find('}')) {
            (Some(open), Some(close)) if open < close && (open > 0 || close + 1 < segment.len()) => {
                format!("{{{}}}", &segment[open + 1..close])
            }
            _ => segment.to_owned(),
        })
        .collect();
    let repaired = repaired.join("/");
    match PathTemplate::parse(&repaired) {
        Ok(template) => {
            builder.warn(Warning::new(
                "partial-segment-parameter",
                Some(span),
                format!("path `{path}` has a parameter that fills only part of a segment; the route matches `{repaired}`, which accepts any value in that segment"),
            ));
            Some((template, true))
        }
        Err(error) => {
            builder.warn(Warning::new("invalid-path", Some(span), format!("path `{path}` is skipped: {error}")));
            None
        }
    }
}

/// Names of the `in: path` parameters declared at path and operation level.
fn declared_path_parameters(documents: &mut Documents, operation: &Operation, builder: &mut Builder) -> HashSet<String> {
    let mut names = HashSet::new();
    for list in [operation.item.get("parameters"), operation.node.get("parameters")].into_iter().flatten() {
        let NodeValue::Sequence(parameters) = &list.value else {
            builder.warn(Warning::new(
                "invalid-parameters",
                Some(list.span),
                format!("`parameters` must be a list of parameter objects, found a {}; it is ignored", list.type_name()),
            ));
            continue;
        };
        for parameter in parameters {
            let resolved = match documents.follow(operation.item_file, parameter) {
                Ok(Some((_, target))) => target,
                Ok(None) => parameter.clone(),
                Err(error) => {
                    builder.warn(Warning::new("unresolved-reference", Some(parameter.span), format!("a parameter is skipped: {error}")));
                    continue;
                }
            };
            if resolved.get("in").and_then(Node::as_str) == Some("path")
                && let Some(name) = resolved.get("name").and_then(Node::as_str)
            {
                names.insert(name.to_owned());
            }
        }
    }
    names
}

fn upstream_for(context: &mut FileContext, builder: &mut Builder, operation: &Operation, levels: &Levels, label: &str) -> String {
    let operation_servers = if context.swagger {
        swagger_operation_server(&context.root, operation.node, &mut builder.warnings)
    } else {
        read_servers(operation.node.get("servers"), &mut builder.warnings)
    };
    let list_span = |servers: &[Server]| servers.first().map(|server| server.span);
    let (servers, level) = if !operation_servers.is_empty() {
        (operation_servers.as_slice(), "operation")
    } else if !operation.path_servers.is_empty() {
        (operation.path_servers, "path")
    } else {
        (context.root_servers.as_slice(), "root")
    };
    if servers.len() > 1
        && let Some(span) = list_span(servers)
        && context.warned_spans.insert(span)
    {
        let others: Vec<&str> = servers[1..].iter().map(|server| server.url.as_str()).collect();
        builder.warn(Warning::new(
            "extra-servers",
            Some(span),
            format!(
                "the {level}-level servers list several URLs; routes use the first, `{}`, and ignore {others:?}; add their hosts as `targets` in an overlay if they serve the same API",
                servers[0].url
            ),
        ));
    }
    let server = servers.first().cloned();
    if server.is_none() {
        context.unserved.push(label.to_owned());
    }
    let override_node = extensions::find(levels, "x-gatectl-upstream");
    let override_json = override_node.map(|node| node.to_json());
    let key = format!(
        "{}|{}|{}",
        context.file.0,
        server.as_ref().map_or("", |server| server.url.as_str()),
        override_json.as_ref().map(ToString::to_string).unwrap_or_default()
    );

    let mut base_name = match (&server, override_json.as_ref().and_then(|json| json.get("name")).and_then(|name| name.as_str())) {
        (_, Some(name)) => sanitize(name, "upstream"),
        (Some(Server { endpoint: Some(endpoint), base_path, .. }), None) => {
            let default_port = if endpoint.scheme == gatectl_spec::model::UpstreamScheme::Https { 443 } else { 80 };
            let port = if endpoint.port == default_port { String::new() } else { format!("-{}", endpoint.port) };
            sanitize(&format!("{}{port}{base_path}", endpoint.host), "upstream")
        }
        (Some(Server { endpoint: None, base_path, .. }), None) => sanitize(&format!("relative{base_path}"), "relative"),
        (None, None) => "placeholder".to_owned(),
    };
    if let Some(group) = &context.group {
        base_name = sanitize(&format!("{group}.{base_name}"), "upstream");
    }
    let relative = match &server {
        Some(Server { endpoint: None, url, span, .. }) if context.warned_spans.insert(*span) => Some((url.clone(), *span)),
        _ => None,
    };
    let group = context.group.clone();
    let mut override_error = None;
    let name = builder.upstream(key, &base_name, |name| {
        let (upstream, error) = make_upstream(name, server.as_ref(), override_node, group);
        override_error = error;
        upstream
    });
    if server.is_none() && !context.unserved_upstreams.contains(&name) {
        context.unserved_upstreams.push(name.clone());
    }
    if let Some((url, span)) = relative {
        builder.warn(Warning::new(
            "relative-server",
            Some(span),
            format!("server URL `{url}` is relative, so its host is unknown; its path is kept as the base path of upstream `{name}`, which gets the placeholder target `{PLACEHOLDER_HOST}`: set `targets` of upstream `{name}` in an overlay"),
        ));
    }
    if let (Some(error), Some(node)) = (override_error, override_node) {
        builder.warn(Warning::new(
            "invalid-extension",
            Some(node.span),
            format!("`x-gatectl-upstream` is ignored because it does not form a valid upstream: {error}"),
        ));
    }
    name
}

/// Builds the upstream for one server, then applies the fields of an `x-gatectl-upstream`
/// override. An override that does not form a valid upstream is left out, and its error returned.
fn make_upstream(name: String, server: Option<&Server>, override_node: Option<&Node>, group: Option<String>) -> (Upstream, Option<String>) {
    let mut json = serde_json::json!({ "name": name });
    match server {
        Some(Server { endpoint: Some(endpoint), base_path, url, .. }) => {
            json["scheme"] = serde_json::to_value(endpoint.scheme).unwrap_or_default();
            json["basePath"] = base_path.clone().into();
            json["targets"] = serde_json::json!([{ "host": endpoint.host, "port": endpoint.port }]);
            json["metadata"] = serde_json::json!({ "openapi.server": url });
        }
        Some(Server { endpoint: None, base_path, url, .. }) => {
            json["basePath"] = base_path.clone().into();
            json["targets"] = serde_json::json!([{ "host": PLACEHOLDER_HOST, "port": 80 }]);
            json["metadata"] = serde_json::json!({ "openapi.server": url, "openapi.placeholder": "true" });
        }
        None => {
            json["targets"] = serde_json::json!([{ "host": PLACEHOLDER_HOST, "port": 80 }]);
            json["metadata"] = serde_json::json!({ "openapi.placeholder": "true" });
        }
    }
    if let Some(group) = group {
        json["tags"] = serde_json::json!([format!("openapi:{group}")]);
    }
    let plain: Upstream = serde_json::from_value(json.clone()).expect("generated upstream fields match the model");
    let Some(override_json) = override_node.map(Node::to_json) else { return (plain, None) };
    let serde_json::Value::Object(fields) = override_json else {
        return (plain, Some("it must be a mapping of upstream fields".to_owned()));
    };
    for (field, value) in fields {
        if field != "name" {
            json[field] = value;
        }
    }
    match serde_json::from_value(json) {
        Ok(upstream) => (upstream, None),
        Err(error) => (plain, Some(error.to_string())),
    }
}

fn effective_security(context: &mut FileContext, builder: &mut Builder, operation: &Operation) -> Vec<SecurityRequirement> {
    let root = std::sync::Arc::clone(&context.root);
    match operation.node.get("security").or_else(|| root.get("security")) {
        Some(list) => context.schemes.map_requirements(list, builder),
        None => Vec::new(),
    }
}

fn route_name(operation: &Operation, levels: &Levels, builder: &mut Builder) -> (String, Option<String>) {
    let operation_id = operation.node.get("operationId").and_then(Node::as_str).map(str::to_owned);
    let method = operation.method.as_str().to_ascii_lowercase();
    let explicit = extensions::route_name(levels, &method, builder);
    let name = match (explicit, &operation_id) {
        (Some(name), _) => name,
        (None, Some(id)) => derived_route_name(id, operation, builder),
        (None, None) => derived_route_name(&format!("{method}-{}", operation.path), operation, builder),
    };
    (name, operation_id)
}

/// Sanitises `source` into a route name. Route names are ASCII, so letters such as `à` are
/// lost, and a warning lets the author choose the name instead.
fn derived_route_name(source: &str, operation: &Operation, builder: &mut Builder) -> String {
    let name = sanitize(source, "route");
    if !source.is_ascii() {
        builder.warn(Warning::new(
            "renamed-route",
            Some(operation.node.span),
            format!(
                "the route name `{name}` leaves out the non-ASCII characters of `{source}`; set `operationId` or `x-gatectl-route-name` to choose the name"
            ),
        ));
    }
    name
}

fn route_tags(node: &Node, levels: &Levels, builder: &mut Builder) -> Vec<String> {
    let mut tags: Vec<String> = Vec::new();
    if let Some(NodeValue::Sequence(items)) = node.get("tags").map(|node| &node.value) {
        tags.extend(items.iter().filter_map(Node::as_str).map(str::to_owned));
    }
    tags.extend(extensions::tags(levels, builder));
    let mut seen = HashSet::new();
    tags.retain(|tag| seen.insert(tag.clone()));
    tags
}
