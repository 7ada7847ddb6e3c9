//! The result of a comparison: changed entities, their field changes and classes.

use serde::Serialize;
use serde_json::Value;

/// How a change affects clients and traffic. Ordered from least to most severe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    /// Clients and traffic keep working as before (added routes, tags, metadata).
    Safe,
    /// Clients keep working, but traffic handling changes in a way worth a second look.
    Risky,
    /// Some requests that worked before stop working.
    Breaking,
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Safe => "safe",
            Self::Risky => "risky",
            Self::Breaking => "breaking",
        }
    }
}

/// A kind of entity in a spec. The order is the order of output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum EntityKind {
    Metadata,
    Settings,
    Upstream,
    Route,
    AuthProvider,
    Consumer,
    RateLimitPolicy,
    Tier,
}

impl EntityKind {
    /// Returns the kind as written in output, for example `rateLimitPolicy`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Metadata => "metadata",
            Self::Settings => "settings",
            Self::Upstream => "upstream",
            Self::Route => "route",
            Self::AuthProvider => "authProvider",
            Self::Consumer => "consumer",
            Self::RateLimitPolicy => "rateLimitPolicy",
            Self::Tier => "tier",
        }
    }

    /// Returns a plural heading for tables, for example `Rate-limit policies`.
    pub fn heading(self) -> &'static str {
        match self {
            Self::Metadata => "Metadata",
            Self::Settings => "Settings",
            Self::Upstream => "Upstreams",
            Self::Route => "Routes",
            Self::AuthProvider => "Auth providers",
            Self::Consumer => "Consumers",
            Self::RateLimitPolicy => "Rate-limit policies",
            Self::Tier => "Tiers",
        }
    }
}

/// What happened to an entity as a whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    Added,
    Removed,
    Changed,
}

/// A change to one field of an entity.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldChange {
    /// Dotted path inside the entity, for example `match.path` or `targets[10.0.0.1:80].weight`.
    pub path: String,
    /// The old value, redacted; absent when the field was added.
    pub old: Option<Value>,
    /// The new value, redacted; absent when the field was removed.
    pub new: Option<Value>,
    pub class: Class,
    /// One line saying why the change has its class.
    pub reason: String,
    /// A unified line diff, for long text values only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text_diff: Option<String>,
}

/// A change to one entity, matched by name (`id` for consumers).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EntityChange {
    pub kind: EntityKind,
    pub name: String,
    /// The old name when a route was renamed without changing what it matches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renamed_from: Option<String>,
    pub operation: Operation,
    /// The maximum class among the change and its fields.
    pub class: Class,
    /// Why the entity change has its class: the reason of its most severe part.
    pub reason: String,
    /// Field changes; empty for added and removed entities.
    pub fields: Vec<FieldChange>,
}

impl EntityChange {
    pub fn new(kind: EntityKind, name: &str, operation: Operation, class: Class, reason: impl Into<String>) -> Self {
        Self { kind, name: name.to_owned(), renamed_from: None, operation, class, reason: reason.into(), fields: Vec::new() }
    }

    /// Builds a `Changed` entry whose class and reason are those of its most severe field.
    pub fn from_fields(kind: EntityKind, name: &str, fields: Vec<FieldChange>) -> Option<Self> {
        let worst = fields.iter().rev().max_by_key(|field| field.class)?;
        let reason = format!("{}: {}", worst.path, worst.reason);
        let mut change = Self::new(kind, name, Operation::Changed, worst.class, reason);
        change.fields = fields;
        Some(change)
    }
}

/// Counts shown in the summary line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub added: usize,
    pub changed: usize,
    pub removed: usize,
    pub breaking: usize,
    pub risky: usize,
}

/// Every change between two specs, ordered by entity kind and name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Changes {
    pub entities: Vec<EntityChange>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.entities.is_empty()
    }

    pub fn has_breaking(&self) -> bool {
        self.entities.iter().any(|entity| entity.class == Class::Breaking)
    }

    pub fn has_risky_or_breaking(&self) -> bool {
        self.entities.iter().any(|entity| matches!(entity.class, Class::Breaking | Class::Risky))
    }

    /// Counts entities by operation, and breaking and risky ones by class.
    pub fn summary(&self) -> Summary {
        let mut summary = Summary::default();
        for entity in &self.entities {
            match entity.operation {
                Operation::Added => summary.added += 1,
                Operation::Removed => summary.removed += 1,
                Operation::Changed => summary.changed += 1,
            }
            match entity.class {
                Class::Breaking => summary.breaking += 1,
                Class::Risky => summary.risky += 1,
                Class::Safe => {}
            }
        }
        summary
    }
}

impl Summary {
    /// Formats the summary line, for example `2 added, 1 changed, 0 removed; 1 breaking, 0 risky`.
    pub fn line(&self) -> String {
        format!(
            "{} added, {} changed, {} removed; {} breaking, {} risky",
            self.added, self.changed, self.removed, self.breaking, self.risky
        )
    }
}
