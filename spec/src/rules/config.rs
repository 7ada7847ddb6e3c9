//! Rule configuration: which rules are off and which severities are changed.
//!
//! The configuration lives in the `rules` mapping of a YAML file (`.gatectl.yaml` by default),
//! for example `rules: {unused-upstream: off, plaintext-secret: error}`. Other top-level keys
//! belong to other commands and are ignored here.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::diagnostic::{Diagnostic, Severity};
use crate::load::read_error_diagnostic;
use crate::source::{SourceFile, SourceId};
use crate::yaml::{self, NodeValue, ReadLimits};

/// What the configuration says about one rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleSetting {
    Off,
    Severity(Severity),
}

/// Rule settings, plus the clock the date rules compare against.
#[derive(Debug, Clone, Default)]
pub struct RuleConfig {
    settings: HashMap<&'static str, RuleSetting>,
    /// The time `sunset-in-past` compares with; the current time when `None`.
    pub now: Option<DateTime<Utc>>,
}

/// Why a rule configuration was rejected; each diagnostic points into the configuration file.
#[derive(Debug, Clone)]
pub struct ConfigError {
    pub diagnostics: Vec<Diagnostic>,
}

impl RuleConfig {
    /// Reads the `rules` mapping of a configuration file.
    pub fn parse(file: &SourceFile, source: SourceId) -> Result<Self, ConfigError> {
        let root = yaml::read(file, source, ReadLimits::default())
            .map_err(|error| ConfigError { diagnostics: vec![read_error_diagnostic(&error)] })?;
        let mut config = Self::default();
        let rules = match &root.value {
            NodeValue::Null => return Ok(config),
            NodeValue::Mapping(_) => root.get("rules"),
            _ => {
                let diagnostic =
                    Diagnostic::error("invalid-config", format!("the configuration must be a mapping, found a {}", root.type_name()))
                        .at(Some(root.span))
                        .with_help("write `rules:` followed by rule ids and `off`, `note`, `warning` or `error`");
                return Err(ConfigError { diagnostics: vec![diagnostic] });
            }
        };
        let Some(rules) = rules else { return Ok(config) };
        let entries = match &rules.value {
            NodeValue::Mapping(entries) => entries,
            NodeValue::Null => return Ok(config),
            _ => {
                let diagnostic = Diagnostic::error("invalid-config", format!("`rules` must be a mapping, found a {}", rules.type_name()))
                    .at(Some(rules.span))
                    .with_help("write each rule id as a key, for example `unused-upstream: off`");
                return Err(ConfigError { diagnostics: vec![diagnostic] });
            }
        };
        let mut diagnostics = Vec::new();
        for (key, value) in entries {
            let Some(rule) = super::rule(&key.name) else {
                let mut diagnostic = Diagnostic::error("unknown-rule", format!("unknown rule id `{}`", key.name)).at(Some(key.span));
                let ids = super::RULES.iter().filter(|rule| rule.configurable).map(|rule| rule.id);
                diagnostic.help = Some(match super::closest(&key.name, ids) {
                    Some(candidate) => format!("did you mean `{candidate}`? docs/rules.md lists every rule"),
                    None => "docs/rules.md lists every rule id".to_owned(),
                });
                diagnostics.push(diagnostic);
                continue;
            };
            if !rule.configurable {
                diagnostics.push(
                    Diagnostic::error("invalid-config", format!("rule `{}` belongs to the loader and cannot be configured", rule.id))
                        .at(Some(key.span))
                        .with_help("remove this entry; loader rules always report errors"),
                );
                continue;
            }
            let setting = match value.as_str().map(str::to_ascii_lowercase).as_deref() {
                Some("off") => RuleSetting::Off,
                Some("note") => RuleSetting::Severity(Severity::Note),
                Some("warning") => RuleSetting::Severity(Severity::Warning),
                Some("error") => RuleSetting::Severity(Severity::Error),
                _ => {
                    // YAML 1.2 reads a bare `off` as a string, but `false` is a boolean.
                    let setting_text = value.as_str().map_or_else(|| value.type_name().to_owned(), |text| format!("`{text}`"));
                    diagnostics.push(
                        Diagnostic::error("invalid-config", format!("invalid setting {setting_text} for rule `{}`", rule.id))
                            .at(Some(value.span))
                            .with_help("write `off`, `note`, `warning` or `error`"),
                    );
                    continue;
                }
            };
            config.settings.insert(rule.id, setting);
        }
        if diagnostics.is_empty() { Ok(config) } else { Err(ConfigError { diagnostics }) }
    }

    /// Sets one rule; returns `false` when the id is not a configurable rule.
    pub fn set(&mut self, id: &str, setting: RuleSetting) -> bool {
        match super::rule(id) {
            Some(rule) if rule.configurable => {
                self.settings.insert(rule.id, setting);
                true
            }
            _ => false,
        }
    }

    /// Returns the configured setting of a rule, if any.
    pub fn setting(&self, id: &str) -> Option<RuleSetting> {
        self.settings.get(id).copied()
    }

    /// Applies the configuration to one finding: `None` when its rule is off.
    pub fn apply(&self, mut diagnostic: Diagnostic) -> Option<Diagnostic> {
        match self.settings.get(diagnostic.rule) {
            Some(RuleSetting::Off) => None,
            Some(RuleSetting::Severity(severity)) => {
                diagnostic.severity = *severity;
                Some(diagnostic)
            }
            None => Some(diagnostic),
        }
    }
}
