//! Routes that compete for the same requests: ambiguous pairs and shadowed routes.
//!
//! The precedence these checks assume is written out in `docs/precedence.md`, and the runtime
//! router follows the same order. In short, among the routes that match a request, the host
//! pattern decides first (exact, then wildcard, then any host), then the path (exact, then
//! template, then prefix; literal segments before parameters; longer prefixes first), and
//! declaration order breaks the remaining ties. Those remaining ties are what this module finds.

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::model::{Method, PathMatch, Route};
use crate::path_template::PathTemplate;

use super::{Context, pointer};

/// Everything that must be equal for two routes to tie on precedence, apart from methods.
#[derive(Debug, PartialEq, Eq, Hash)]
struct TieKey {
    hosts: BTreeSet<String>,
    headers: BTreeSet<(String, Option<String>, bool)>,
    version: Option<String>,
    /// The path kind used for grouping (`exact` for templates without parameters) and the
    /// normalised path or template shape.
    path: (&'static str, String),
}

/// A route inside a tie group.
struct Candidate<'a> {
    index: usize,
    route: &'a Route,
    /// 2 for exact paths, 1 for templates: an exact path beats a template that has no parameter.
    rank: u8,
    /// The template text, for templates with parameters.
    template: Option<&'a str>,
}

pub(super) fn check(context: &mut Context<'_>) {
    check_version_prefixes(context);
    let spec = context.spec;
    let mut groups: HashMap<TieKey, Vec<Candidate<'_>>> = HashMap::new();
    for (index, route) in spec.routes.iter().enumerate() {
        let Some((key, candidate)) = tie_key(index, route) else { continue };
        groups.entry(key).or_default().push(candidate);
    }
    let mut groups: Vec<Vec<Candidate<'_>>> = groups.into_values().filter(|group| group.len() > 1).collect();
    groups.sort_by_key(|group| group[0].index);

    let mut shadowed: HashSet<usize> = HashSet::new();
    for group in &groups {
        for (position, earlier) in group.iter().enumerate() {
            for later in &group[position + 1..] {
                compare(context, earlier, later, &mut shadowed);
            }
        }
    }
}

/// Reports routes whose path starts with a segment that requests use to name an API version.
/// With versions in the URL, the runtime takes such a segment as the version and matches the
/// rest of the path, so the route gets only requests that repeat the segment.
fn check_version_prefixes(context: &mut Context<'_>) {
    let spec = context.spec;
    let versioning = &spec.settings.versioning;
    if !versioning.url_prefix {
        return;
    }
    let declared: BTreeSet<&str> = spec.routes.iter().filter_map(|route| route.matcher.version.as_deref()).collect();
    let aliases = versioning.aliases.iter().filter(|(_, target)| declared.contains(target.as_str())).map(|(alias, _)| alias.as_str());
    let names: BTreeSet<&str> = declared.iter().copied().chain(aliases).collect();
    for (index, route) in spec.routes.iter().enumerate() {
        let path = route.matcher.path.value();
        let first = path.trim_start_matches('/').split('/').next().unwrap_or_default();
        if !names.contains(first) {
            continue;
        }
        let message = format!(
            "route `{}` starts with `/{first}`, which requests use to name API version `{first}`: a request for `{path}` is read as that version and the rest of its path, so this route gets only `/{first}{path}`",
            route.name
        );
        let at = path_pointer(context, index);
        context.report("version-prefix-path", message, &at);
    }
}

fn compare(context: &mut Context<'_>, earlier: &Candidate<'_>, later: &Candidate<'_>, shadowed: &mut HashSet<usize>) {
    let earlier_methods = &earlier.route.matcher.methods;
    let later_methods = &later.route.matcher.methods;
    let overlap =
        earlier_methods.is_empty() || later_methods.is_empty() || later_methods.iter().any(|method| earlier_methods.contains(method));
    if !overlap {
        return;
    }
    if let (Some(first), Some(second)) = (earlier.template, later.template)
        && first != second
    {
        let message = format!(
            "routes `{}` and `{}` match the same requests: `{first}` and `{second}` differ only in parameter names",
            earlier.route.name, later.route.name
        );
        report_pair(context, "ambiguous-route", message, later.index, earlier.index, "the other route");
        return;
    }
    let (winner, loser) = if later.rank > earlier.rank { (later, earlier) } else { (earlier, later) };
    let winner_methods = &winner.route.matcher.methods;
    let loser_methods = &loser.route.matcher.methods;
    let covered =
        winner_methods.is_empty() || (!loser_methods.is_empty() && loser_methods.iter().all(|method| winner_methods.contains(method)));
    if covered {
        if shadowed.insert(loser.index) {
            let message = if loser.route.name == winner.route.name {
                // Two routes of one name (a `duplicate-name` finding) are named by their positions.
                format!(
                    "route `{name}` at routes[{}] can never match: route `{name}` at routes[{}] takes all of its requests",
                    loser.index,
                    winner.index,
                    name = loser.route.name
                )
            } else {
                format!("route `{}` can never match: route `{}` takes all of its requests", loser.route.name, winner.route.name)
            };
            report_pair(context, "shadowed-route", message, loser.index, winner.index, "this route matches first");
        }
        return;
    }
    if winner.rank == loser.rank {
        let shared: Vec<&str> = shared_methods(earlier_methods, later_methods).into_iter().map(Method::as_str).collect();
        let message = format!(
            "routes `{}` and `{}` both match {} requests on the same hosts and path; only declaration order picks `{}`",
            earlier.route.name,
            later.route.name,
            shared.join(", "),
            earlier.route.name
        );
        report_pair(context, "ambiguous-route", message, later.index, earlier.index, "the other route");
    }
}

fn shared_methods(first: &[Method], second: &[Method]) -> Vec<Method> {
    Method::ALL
        .into_iter()
        .filter(|method| (first.is_empty() || first.contains(method)) && (second.is_empty() || second.contains(method)))
        .collect()
}

fn report_pair(context: &mut Context<'_>, rule: &'static str, message: String, at: usize, other: usize, label: &str) {
    let other_span = context.index.value(&path_pointer(context, other));
    let at_pointer = path_pointer(context, at);
    let finding = context.report(rule, message, &at_pointer);
    finding.related.extend(other_span.map(|span| (span, label.to_owned())));
}

/// Pointer to the path value of a route, for example `/routes/3/match/path/template`.
fn path_pointer(context: &Context<'_>, index: usize) -> String {
    let kind = match context.spec.routes[index].matcher.path {
        PathMatch::Exact(_) => "exact",
        PathMatch::Prefix(_) => "prefix",
        PathMatch::Template(_) => "template",
    };
    pointer(&["routes", &index.to_string(), "match", "path", kind])
}

/// Builds the tie key of a route; `None` for a template that does not parse (reported by the
/// `invalid-path-template` rule).
fn tie_key(index: usize, route: &Route) -> Option<(TieKey, Candidate<'_>)> {
    let matcher = &route.matcher;
    let hosts = matcher.hosts.iter().map(|host| host.to_ascii_lowercase()).collect();
    let headers = matcher.headers.iter().map(|header| (header.name.to_ascii_lowercase(), header.value.clone(), header.invert)).collect();
    let mut candidate = Candidate { index, route, rank: 2, template: None };
    let path = match &matcher.path {
        PathMatch::Exact(path) => ("exact", path.clone()),
        PathMatch::Prefix(path) => {
            let trimmed = path.trim_end_matches('/');
            ("prefix", if trimmed.is_empty() { "/".to_owned() } else { trimmed.to_owned() })
        }
        PathMatch::Template(text) => {
            let template = PathTemplate::parse(text).ok()?;
            candidate.rank = 1;
            if template.parameter_names().next().is_none() {
                ("exact", template.to_string())
            } else {
                candidate.template = Some(text);
                ("template", template.shape())
            }
        }
    };
    Some((TieKey { hosts, headers, version: matcher.version.clone(), path }, candidate))
}
