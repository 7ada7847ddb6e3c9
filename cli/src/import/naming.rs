//! Names of generated entities: sanitised to the spec's name pattern and made unique.

use std::collections::HashSet;

/// Longest name the spec accepts (`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`).
const MAX_NAME_CHARS: usize = 128;

/// Turns any text into a valid entity name: characters outside `A-Za-z0-9._-` become `-`, runs of
/// `-` collapse, leading separators go, and the result is cut to 128 characters. Text with no
/// usable character gives `fallback`.
pub fn sanitize(raw: &str, fallback: &str) -> String {
    let mut name = String::with_capacity(raw.len());
    for character in raw.chars() {
        let kept = if character.is_ascii_alphanumeric() || matches!(character, '.' | '_' | '-') { character } else { '-' };
        if kept == '-' && name.ends_with('-') {
            continue;
        }
        name.push(kept);
    }
    let name = name.trim_start_matches(['-', '.', '_']).trim_end_matches('-');
    let name: String = name.chars().take(MAX_NAME_CHARS).collect();
    if name.is_empty() { fallback.to_owned() } else { name }
}

/// Hands out names that are unique within one entity list, in call order: the first caller gets
/// the base name, later ones `base-2`, `base-3` and so on.
#[derive(Debug, Default)]
pub struct NameRegistry {
    used: HashSet<String>,
}

impl NameRegistry {
    /// Reserves and returns a unique name derived from `base`, which must already be sanitised.
    pub fn claim(&mut self, base: &str) -> String {
        if self.used.insert(base.to_owned()) {
            return base.to_owned();
        }
        let mut counter = 2usize;
        loop {
            let suffix = format!("-{counter}");
            let stem: String = base.chars().take(MAX_NAME_CHARS - suffix.len()).collect();
            let candidate = format!("{stem}{suffix}");
            if self.used.insert(candidate.clone()) {
                return candidate;
            }
            counter += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_replaces_and_trims() {
        assert_eq!(sanitize("repos/get-content", "x"), "repos-get-content");
        assert_eq!(sanitize("  list users!! ", "x"), "list-users");
        assert_eq!(sanitize("città", "x"), "citt");
        assert_eq!(sanitize("%%%", "route"), "route");
        assert_eq!(sanitize(&"a".repeat(300), "x").len(), 128);
    }

    #[test]
    fn claim_suffixes_duplicates() {
        let mut names = NameRegistry::default();
        assert_eq!(names.claim("a"), "a");
        assert_eq!(names.claim("a"), "a-2");
        assert_eq!(names.claim("a"), "a-3");
        let long = "b".repeat(128);
        assert_eq!(names.claim(&long), long);
        let second = names.claim(&long);
        assert_eq!(second.len(), 128);
        assert!(second.ends_with("-2"));
    }
}
