//! A per-segment trie of route paths. Lookup walks the request's segments once per branch, so its
//! cost depends on the path's depth and not on the number of routes.

use std::collections::HashMap;

/// One pattern segment: a literal or a `{parameter}` that matches one non-empty segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PatternSegment {
    Literal(String),
    Parameter,
}

#[derive(Debug, Default)]
pub struct PathTrie {
    root: Node,
}

#[derive(Debug, Default)]
struct Node {
    literals: HashMap<String, Node>,
    parameter: Option<Box<Node>>,
    /// Routes whose whole path ends here (exact and template paths), most specific first.
    full: Vec<usize>,
    /// Prefix routes whose prefix ends here, most specific first.
    prefix: Vec<usize>,
}

impl PathTrie {
    pub fn insert(&mut self, pattern: &[PatternSegment], is_prefix: bool, route: usize) {
        let mut node = &mut self.root;
        for segment in pattern {
            node = match segment {
                PatternSegment::Literal(text) => node.literals.entry(text.clone()).or_default(),
                PatternSegment::Parameter => node.parameter.get_or_insert_with(Box::default),
            };
        }
        if is_prefix { node.prefix.push(route) } else { node.full.push(route) }
    }

    /// Sorts the routes stored at each node by `key`, most specific first.
    pub fn sort_by_key<K: Ord>(&mut self, key: &impl Fn(usize) -> K) {
        self.root.sort(key);
    }

    /// Appends the routes whose path matches `segments` to `output`, most specific first:
    /// whole-path matches in literal-before-parameter order, then prefix matches from the
    /// longest prefix to the shortest.
    pub fn collect(&self, segments: &[&str], output: &mut Vec<usize>) {
        let mut prefixes: Vec<&[usize]> = Vec::new();
        collect_full(&self.root, segments, output);
        let mut node = &self.root;
        prefixes.push(&node.prefix);
        for segment in segments {
            match node.literals.get(*segment) {
                Some(next) => {
                    node = next;
                    prefixes.push(&node.prefix);
                }
                None => break,
            }
        }
        // NOTE: prefixes only follow literal segments; prefix patterns cannot contain parameters.
        for routes in prefixes.iter().rev() {
            output.extend_from_slice(routes);
        }
    }
}

fn collect_full(node: &Node, segments: &[&str], output: &mut Vec<usize>) {
    let Some((first, rest)) = segments.split_first() else {
        output.extend_from_slice(&node.full);
        return;
    };
    if let Some(next) = node.literals.get(*first) {
        collect_full(next, rest, output);
    }
    if !first.is_empty()
        && let Some(next) = &node.parameter
    {
        collect_full(next, rest, output);
    }
}

impl Node {
    fn sort<K: Ord>(&mut self, key: &impl Fn(usize) -> K) {
        self.full.sort_by_key(|route| key(*route));
        self.prefix.sort_by_key(|route| key(*route));
        for child in self.literals.values_mut() {
            child.sort(key);
        }
        if let Some(child) = &mut self.parameter {
            child.sort(key);
        }
    }
}

/// Splits a normalised path into segments: `/` has none, `/a/b/` has `a`, `b` and an empty one.
pub fn split_path(path: &str) -> impl Iterator<Item = &str> {
    let rest = path.strip_prefix('/').unwrap_or(path);
    rest.split('/').filter(move |_| !rest.is_empty())
}
