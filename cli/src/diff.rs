//! The semantic diff engine: compares two specs entity by entity and classifies each change.
//!
//! [`compare`] takes two specs and returns [`Changes`], which the `human`, `json` and `markdown`
//! modules render. `gatectl diff` uses it for files and git revisions, and `plan` and a later
//! `diff --live` can call it with specs from other sources.
//!
//! Entities are matched by name (`id` for consumers). Both specs are normalised first, so the
//! order of sets and duplicates never show as changes, and values are shown only in redacted form.

mod change;
mod classify;
mod classify_auth;
mod classify_settings;
mod entities;
pub mod git;
pub mod human;
pub mod json;
pub mod markdown;
mod walk;

pub use change::{Changes, Class, EntityChange, EntityKind, FieldChange, Operation};

use std::collections::{BTreeMap, BTreeSet};

use gatectl_spec::Spec;
use gatectl_spec::normalize::canonicalize_in_place;
use serde_json::Value;

use classify::Context;
use entities::Entity;
use walk::{FieldDifference, Sides};

/// Comparison options.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Compare only entities that carry this tag on either side. Entities without tags
    /// (settings, auth providers, policies, tiers) are then left out.
    pub scope: Option<String>,
}

/// Shortest text, in bytes, shown as a line diff instead of old and new values.
const LONG_TEXT_BYTES: usize = 80;

/// Compares `old` with `new` and returns every change, classified.
pub fn compare(old: &Spec, new: &Spec, options: &Options) -> Changes {
    compare_owned(old.clone(), new.clone(), options)
}

/// Compares `old` with `new` like [`compare`], putting the specs in canonical order in place
/// instead of copying them.
pub fn compare_owned(mut old: Spec, mut new: Spec, options: &Options) -> Changes {
    canonicalize_in_place(&mut old);
    canonicalize_in_place(&mut new);
    let (old, new) = (&old, &new);
    let old_entities = entities::collect(old);
    let new_entities = entities::collect(new);

    let mut changes = Vec::new();
    for kind in entities::KINDS {
        let old_of_kind: Vec<&Entity> = old_entities.iter().filter(|entity| entity.kind == kind).collect();
        let new_of_kind: Vec<&Entity> = new_entities.iter().filter(|entity| entity.kind == kind).collect();
        let scoped_names = names_in_scope(&old_of_kind, &new_of_kind, options.scope.as_deref());
        let old_by_name = index_by_name(&old_of_kind, &scoped_names);
        let new_by_name = index_by_name(&new_of_kind, &scoped_names);
        let mut kind_changes = compare_kind(kind, &old_by_name, &new_by_name, old, new);
        if kind == EntityKind::Route {
            kind_changes = pair_renamed_routes(kind_changes, &old_by_name, &new_by_name, old, new);
        }
        changes.extend(kind_changes);
    }
    Changes { entities: changes }
}

/// Returns the names of the entities that carry `scope` on either side, or of all entities
/// without a scope. An entity that loses or gains the tag is still compared on both sides.
fn names_in_scope<'a>(old: &[&Entity<'a>], new: &[&Entity<'a>], scope: Option<&str>) -> BTreeSet<&'a str> {
    old.iter()
        .chain(new)
        .filter(|entity| scope.is_none_or(|tag| entity.tags.iter().any(|candidate| candidate == tag)))
        .map(|entity| entity.name)
        .collect()
}

fn index_by_name<'a, 'spec>(entities: &[&'a Entity<'spec>], names: &BTreeSet<&str>) -> BTreeMap<&'spec str, &'a Entity<'spec>> {
    entities.iter().filter(|entity| names.contains(entity.name)).map(|entity| (entity.name, *entity)).collect()
}

fn compare_kind(
    kind: EntityKind,
    old_by_name: &BTreeMap<&str, &Entity<'_>>,
    new_by_name: &BTreeMap<&str, &Entity<'_>>,
    old: &Spec,
    new: &Spec,
) -> Vec<EntityChange> {
    let mut names: Vec<&str> = old_by_name.keys().chain(new_by_name.keys()).copied().collect();
    names.sort_unstable();
    names.dedup();

    let mut changes = Vec::new();
    for name in names {
        let change = match (old_by_name.get(name), new_by_name.get(name)) {
            (Some(old_entity), Some(new_entity)) => {
                let context = Context { old, new, old_name: name, new_name: name };
                compare_entity(kind, name, old_entity, new_entity, &context)
            }
            (Some(_), None) => {
                let (class, reason) = entities::removed_verdict(kind, name, old, new);
                Some(EntityChange::new(kind, name, Operation::Removed, class, reason))
            }
            (None, Some(_)) => Some(EntityChange::new(kind, name, Operation::Added, Class::Safe, format!("{} added", kind.as_str()))),
            (None, None) => None,
        };
        changes.extend(change);
    }
    changes
}

fn compare_entity(kind: EntityKind, name: &str, old: &Entity<'_>, new: &Entity<'_>, context: &Context<'_>) -> Option<EntityChange> {
    // Equal bodies serialise to equal JSON, so the walk below would find no difference.
    if old.body == new.body {
        return None;
    }
    let (old_canonical, old_shown) = (old.body.canonical(), old.body.shown());
    let (new_canonical, new_shown) = (new.body.canonical(), new.body.shown());
    let differences = walk::compare_values(
        Sides { canonical: Some(&old_canonical), redacted: Some(&old_shown) },
        Sides { canonical: Some(&new_canonical), redacted: Some(&new_shown) },
    );
    let fields = differences.iter().map(|difference| field_change(kind, difference, context)).collect();
    EntityChange::from_fields(kind, name, fields)
}

fn field_change(kind: EntityKind, difference: &FieldDifference, context: &Context<'_>) -> FieldChange {
    let (class, reason) = classify::classify_field(kind, difference, context);
    FieldChange {
        path: difference.path.clone(),
        old: difference.old_shown.clone(),
        new: difference.new_shown.clone(),
        class,
        reason,
        text_diff: text_diff(difference),
    }
}

/// Builds a unified line diff of long or multi-line text values from the redacted values.
fn text_diff(difference: &FieldDifference) -> Option<String> {
    let old = difference.old_shown.as_ref()?.as_str()?;
    let new = difference.new_shown.as_ref()?.as_str()?;
    let is_long = |text: &str| text.len() >= LONG_TEXT_BYTES || text.contains('\n');
    if !is_long(old) && !is_long(new) {
        return None;
    }
    let with_newline = |text: &str| if text.ends_with('\n') { text.to_owned() } else { format!("{text}\n") };
    let (old, new) = (with_newline(old), with_newline(new));
    let diff = similar::TextDiff::from_lines(&old, &new);
    Some(diff.unified_diff().context_radius(2).header("old", "new").to_string())
}

/// Turns a removed route and an added route that match exactly the same requests into one
/// renamed route, so a rename is not reported as a breaking removal.
fn pair_renamed_routes(
    changes: Vec<EntityChange>,
    old_by_name: &BTreeMap<&str, &Entity<'_>>,
    new_by_name: &BTreeMap<&str, &Entity<'_>>,
    old: &Spec,
    new: &Spec,
) -> Vec<EntityChange> {
    let mut removed: Vec<(&str, Option<Value>)> = changes
        .iter()
        .filter(|change| change.operation == Operation::Removed)
        .map(|change| (change.name.as_str(), match_json(old_by_name[change.name.as_str()])))
        .collect();
    let mut renames: Vec<(String, String)> = Vec::new();
    for added in changes.iter().filter(|change| change.operation == Operation::Added) {
        if removed.is_empty() {
            break;
        }
        let new_match = match_json(new_by_name[added.name.as_str()]);
        let Some(position) = removed.iter().position(|(_, old_match)| *old_match == new_match) else { continue };
        renames.push((removed.remove(position).0.to_owned(), added.name.clone()));
    }
    if renames.is_empty() {
        return changes;
    }

    let paired = |name: &str| renames.iter().any(|(old_name, new_name)| old_name == name || new_name == name);
    let mut result: Vec<EntityChange> = changes.iter().filter(|change| !paired(&change.name)).cloned().collect();
    for (old_name, new_name) in &renames {
        let context = Context { old, new, old_name, new_name };
        let Some(mut change) =
            compare_entity(EntityKind::Route, new_name, old_by_name[old_name.as_str()], new_by_name[new_name.as_str()], &context)
        else {
            continue;
        };
        change.renamed_from = Some(old_name.clone());
        result.push(change);
    }
    result.sort_by(|left, right| left.name.cmp(&right.name));
    result
}

/// Returns the `match` field of a route entity as canonical JSON, with a path template replaced
/// by its shape: routes whose templates differ only in parameter names match the same requests.
fn match_json(entity: &Entity<'_>) -> Option<Value> {
    let mut matched = entity.body.canonical().get("match").cloned()?;
    if let Some(template) = matched.pointer_mut("/path/template")
        && let Some(shape) =
            template.as_str().and_then(|text| gatectl_spec::path_template::PathTemplate::parse(text).ok()).map(|parsed| parsed.shape())
    {
        *template = Value::String(shape);
    }
    Some(matched)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = "apiVersion: gatectl.dev/v1\nkind: Gateway\nupstreams:\n  - name: app\n    targets: [{host: 127.0.0.1, port: 9000}]\nroutes:\n  - name: orders\n    match: {path: {prefix: /orders}, methods: [POST, GET]}\n    upstream: app\n    requestHeaders:\n      set: {Authorization: Bearer old-token}\n  - name: users\n    match: {path: {prefix: /users}}\n    upstream: app\n";

    fn spec(text: &str) -> Spec {
        let loaded = gatectl_spec::load::load_str("spec.yaml", text);
        loaded.spec.unwrap_or_else(|| panic!("{:?}", loaded.diagnostics))
    }

    #[test]
    fn route_renamed_with_its_path_parameter_is_safe() {
        let template = |name: &str, parameter: &str| {
            format!(
                "apiVersion: gatectl.dev/v1\nkind: Gateway\nupstreams:\n  - name: app\n    targets: [{{host: 127.0.0.1, port: 9000}}]\nroutes:\n  - name: {name}\n    match: {{path: {{template: \"/example/{{{parameter}}}\"}}, methods: [GET]}}\n    upstream: app\n"
            )
        };
        let old = spec(&template("get-example-id", "id"));
        let new = spec(&template("get-example-exampleId", "exampleId"));
        let changes = compare(&old, &new, &Options::default());
        assert_eq!(changes.entities.len(), 1, "{changes:?}");
        let change = &changes.entities[0];
        assert_eq!(change.renamed_from.as_deref(), Some("get-example-id"));
        assert_eq!(change.class, Class::Safe, "{change:?}");
    }

    #[test]
    fn reordered_spec_has_no_changes() {
        let reordered = SPEC.replace("[POST, GET]", "[GET, POST]");
        let changes = compare(&spec(SPEC), &spec(&reordered), &Options::default());
        assert!(changes.is_empty(), "{changes:?}");
    }

    #[test]
    fn changed_secret_is_found_but_not_shown() {
        let changed = SPEC.replace("Bearer old-token", "Bearer new-token");
        let changes = compare_owned(spec(SPEC), spec(&changed), &Options::default());
        assert_eq!(changes.entities.len(), 1, "{changes:?}");
        let change = &changes.entities[0];
        assert_eq!(change.name, "orders");
        assert_eq!(change.fields.len(), 1);
        assert_eq!(change.fields[0].path, "requestHeaders.set.Authorization");
        assert_eq!(change.fields[0].old, change.fields[0].new, "both sides are shown redacted");
        let shown = format!("{changes:?}");
        assert!(!shown.contains("old-token"), "{shown}");
        assert!(!shown.contains("new-token"), "{shown}");
    }
}
