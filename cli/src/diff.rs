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
use gatectl_spec::normalize::{canonicalize, redact};

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
    let old = canonicalize(old);
    let new = canonicalize(new);
    let old_redacted = redact(&old);
    let new_redacted = redact(&new);
    let old_entities = entities::collect(&old, &old_redacted);
    let new_entities = entities::collect(&new, &new_redacted);

    let mut changes = Vec::new();
    for kind in entities::KINDS {
        let old_of_kind: Vec<&Entity> = old_entities.iter().filter(|entity| entity.kind == kind).collect();
        let new_of_kind: Vec<&Entity> = new_entities.iter().filter(|entity| entity.kind == kind).collect();
        let scoped_names = names_in_scope(&old_of_kind, &new_of_kind, options.scope.as_deref());
        let old_by_name = index_by_name(&old_of_kind, &scoped_names);
        let new_by_name = index_by_name(&new_of_kind, &scoped_names);
        let mut kind_changes = compare_kind(kind, &old_by_name, &new_by_name, &old, &new);
        if kind == EntityKind::Route {
            kind_changes = pair_renamed_routes(kind_changes, &old_by_name, &new_by_name, &old, &new);
        }
        changes.extend(kind_changes);
    }
    Changes { entities: changes }
}

/// Returns the names of the entities that carry `scope` on either side, or of all entities
/// without a scope. An entity that loses or gains the tag is still compared on both sides.
fn names_in_scope<'a>(old: &[&'a Entity], new: &[&'a Entity], scope: Option<&str>) -> BTreeSet<&'a str> {
    old.iter()
        .chain(new)
        .filter(|entity| scope.is_none_or(|tag| entity.tags.iter().any(|candidate| candidate == tag)))
        .map(|entity| entity.name.as_str())
        .collect()
}

fn index_by_name<'a>(entities: &[&'a Entity], names: &BTreeSet<&str>) -> BTreeMap<&'a str, &'a Entity> {
    entities.iter().filter(|entity| names.contains(entity.name.as_str())).map(|entity| (entity.name.as_str(), *entity)).collect()
}

fn compare_kind(
    kind: EntityKind,
    old_by_name: &BTreeMap<&str, &Entity>,
    new_by_name: &BTreeMap<&str, &Entity>,
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

fn compare_entity(kind: EntityKind, name: &str, old: &Entity, new: &Entity, context: &Context<'_>) -> Option<EntityChange> {
    let differences = walk::compare_values(
        Sides { canonical: Some(&old.canonical), redacted: Some(&old.shown) },
        Sides { canonical: Some(&new.canonical), redacted: Some(&new.shown) },
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
    old_by_name: &BTreeMap<&str, &Entity>,
    new_by_name: &BTreeMap<&str, &Entity>,
    old: &Spec,
    new: &Spec,
) -> Vec<EntityChange> {
    let mut removed: Vec<&str> =
        changes.iter().filter(|change| change.operation == Operation::Removed).map(|change| change.name.as_str()).collect();
    let mut renames: Vec<(String, String)> = Vec::new();
    for added in changes.iter().filter(|change| change.operation == Operation::Added) {
        let new_match = new_by_name[added.name.as_str()].canonical.get("match");
        let Some(position) = removed.iter().position(|name| old_by_name[name].canonical.get("match") == new_match) else { continue };
        renames.push((removed.remove(position).to_owned(), added.name.clone()));
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
