//! `x-gatectl-*` extensions: what OpenAPI cannot say about the gateway.
//!
//! Each extension may appear on an operation, on its path item or at the document root. The most
//! specific one wins whole (operation, then path, then root); values are never merged across
//! levels. `docs/import.md` documents each extension.

use gatectl_spec::model::RouteTimeouts;
use gatectl_spec::yaml::{Node, NodeValue};

use super::builder::Builder;
use super::naming::sanitize;
use super::warning::Warning;

/// The three places an extension may be set for one operation.
pub struct Levels<'a> {
    pub operation: &'a Node,
    pub path: &'a Node,
    pub root: &'a Node,
}

/// Every extension this importer reads.
pub const KNOWN: [&str; 5] =
    ["x-gatectl-upstream", "x-gatectl-rate-limits", "x-gatectl-timeouts", "x-gatectl-route-name", "x-gatectl-tags"];

/// The most specific value of an extension.
pub fn find<'a>(levels: &Levels<'a>, name: &str) -> Option<&'a Node> {
    levels.operation.get(name).or_else(|| levels.path.get(name)).or_else(|| levels.root.get(name))
}

/// `x-gatectl-rate-limits`: names of rate-limit policies, which an overlay must define.
pub fn rate_limits(levels: &Levels, builder: &mut Builder) -> Vec<String> {
    find(levels, "x-gatectl-rate-limits").map(|node| string_list(node, "x-gatectl-rate-limits", builder)).unwrap_or_default()
}

/// `x-gatectl-tags`: ownership tags added to the route after its OpenAPI tags.
pub fn tags(levels: &Levels, builder: &mut Builder) -> Vec<String> {
    find(levels, "x-gatectl-tags").map(|node| string_list(node, "x-gatectl-tags", builder)).unwrap_or_default()
}

/// `x-gatectl-timeouts`: the route's `timeouts` (`connect`, `response`, `total`).
pub fn timeouts(levels: &Levels, builder: &mut Builder) -> Option<RouteTimeouts> {
    let node = find(levels, "x-gatectl-timeouts")?;
    match serde_json::from_value::<RouteTimeouts>(node.to_json()) {
        Ok(timeouts) => Some(timeouts),
        Err(error) => {
            builder.warn(Warning::new(
                "invalid-extension",
                Some(node.span),
                format!("`x-gatectl-timeouts` is ignored: {error}; write a mapping such as `{{connect: 2s, response: 10s}}`"),
            ));
            None
        }
    }
}

/// `x-gatectl-route-name`: the route's name. On a path item it names each of its operations
/// `NAME-METHOD`; at the root it means nothing and is reported.
pub fn route_name(levels: &Levels, method: &str, builder: &mut Builder) -> Option<String> {
    let (node, suffix) = match (levels.operation.get("x-gatectl-route-name"), levels.path.get("x-gatectl-route-name")) {
        (Some(node), _) => (node, None),
        (None, Some(node)) => (node, Some(method)),
        (None, None) => {
            if let Some(node) = levels.root.get("x-gatectl-route-name") {
                builder.warn(Warning::new(
                    "misplaced-extension",
                    Some(node.span),
                    "`x-gatectl-route-name` at the document root is ignored; set it on an operation or a path item",
                ));
            }
            return None;
        }
    };
    let Some(raw) = node.as_str() else {
        builder.warn(Warning::new(
            "invalid-extension",
            Some(node.span),
            format!("`x-gatectl-route-name` must be a string, found a {}; it is ignored", node.type_name()),
        ));
        return None;
    };
    let raw = match suffix {
        Some(method) => format!("{raw}-{method}"),
        None => raw.to_owned(),
    };
    let name = sanitize(&raw, "route");
    if name != raw {
        builder.warn(Warning::new(
            "renamed-route",
            Some(node.span),
            format!("`x-gatectl-route-name: {raw}` is not a valid route name; the route is named `{name}`"),
        ));
    }
    Some(name)
}

fn string_list(node: &Node, extension: &str, builder: &mut Builder) -> Vec<String> {
    let items = match &node.value {
        NodeValue::Sequence(items) => items,
        _ => {
            builder.warn(Warning::new(
                "invalid-extension",
                Some(node.span),
                format!("`{extension}` must be a list of strings, found a {}; it is ignored", node.type_name()),
            ));
            return Vec::new();
        }
    };
    let mut values = Vec::new();
    for item in items {
        match item.as_str() {
            Some(text) => values.push(text.to_owned()),
            None => builder.warn(Warning::new(
                "invalid-extension",
                Some(item.span),
                format!("an entry of `{extension}` is a {}, not a string; it is ignored", item.type_name()),
            )),
        }
    }
    values
}

/// Reports `x-gatectl-*` keys that this importer does not know, which are usually misspelt.
pub fn check_unknown(node: &Node, builder: &mut Builder) {
    let NodeValue::Mapping(entries) = &node.value else { return };
    for (key, _) in entries {
        if key.name.starts_with("x-gatectl-") && !KNOWN.contains(&key.name.as_str()) {
            builder.warn(Warning::new(
                "unknown-extension",
                Some(key.span),
                format!("`{}` is not a gatectl extension and is ignored; known extensions are {}", key.name, KNOWN.join(", ")),
            ));
        }
    }
}
