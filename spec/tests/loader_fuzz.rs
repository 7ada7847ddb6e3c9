//! Bounded fuzzing of the loader and the rules: arbitrary bytes, YAML-like text and mutated
//! valid specs go through `load_str` and, when they load, through every rule. The property is
//! that nothing panics and every loader finding has a location. Case counts are fixed so the
//! test runs in CI in a few seconds.

use gatectl_spec::load::load_str;
use gatectl_spec::rules::{self, RuleConfig};
use proptest::prelude::*;

const EXAMPLE: &str = include_str!("../../examples/spec/gateway.yaml");

fn config() -> ProptestConfig {
    ProptestConfig { cases: 192, failure_persistence: None, ..ProptestConfig::default() }
}

/// Loads `text`, runs the rules when it loads, and checks the findings.
fn exercise(text: &str) {
    let loaded = load_str("fuzz.yaml", text);
    for diagnostic in &loaded.diagnostics {
        assert!(diagnostic.span.is_some(), "loader finding without a location: {diagnostic:?}");
        let location = loaded.sources.locate(diagnostic.span.unwrap());
        assert!(location.line >= 1 && location.column >= 1);
    }
    if let Some(spec) = &loaded.spec {
        for finding in rules::check(spec, &loaded.index, &RuleConfig::default()) {
            if let Some(span) = finding.span {
                let _ = loaded.sources.locate(span);
            }
        }
    }
}

/// One edit of a valid spec.
#[derive(Debug, Clone)]
enum Mutation {
    Delete { at: usize, length: usize },
    Insert { at: usize, text: String },
    Duplicate { at: usize, length: usize },
    Swap { first: usize, second: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let snippet = prop_oneof![
        Just(": ".to_owned()),
        Just("\n  - ".to_owned()),
        Just("&a ".to_owned()),
        Just("*a".to_owned()),
        Just("{".to_owned()),
        Just("]".to_owned()),
        Just("\"".to_owned()),
        Just("\t".to_owned()),
        Just("!!binary ".to_owned()),
        Just("/{id}".to_owned()),
        Just("0s".to_owned()),
        Just("null".to_owned()),
        "[a-z{}/:*.-]{1,12}",
    ];
    prop_oneof![
        (any::<usize>(), 1usize..64).prop_map(|(at, length)| Mutation::Delete { at, length }),
        (any::<usize>(), snippet).prop_map(|(at, text)| Mutation::Insert { at, text }),
        (any::<usize>(), 1usize..200).prop_map(|(at, length)| Mutation::Duplicate { at, length }),
        (any::<usize>(), any::<usize>()).prop_map(|(first, second)| Mutation::Swap { first, second }),
    ]
}

/// Applies edits to the example spec, always cutting at character boundaries.
fn mutate(mutations: &[Mutation]) -> String {
    let mut text = EXAMPLE.to_owned();
    let boundary = |text: &str, at: usize| {
        let mut at = at % (text.len() + 1);
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        at
    };
    for mutation in mutations {
        match mutation {
            Mutation::Delete { at, length } => {
                let start = boundary(&text, *at);
                let end = boundary(&text, (start + length).min(text.len()));
                text.replace_range(start..end, "");
            }
            Mutation::Insert { at, text: inserted } => {
                let at = boundary(&text, *at);
                text.insert_str(at, inserted);
            }
            Mutation::Duplicate { at, length } => {
                let start = boundary(&text, *at);
                let end = boundary(&text, (start + length).min(text.len()));
                let copy = text[start..end].to_owned();
                text.insert_str(end, &copy);
            }
            Mutation::Swap { first, second } => {
                let mut lines: Vec<&str> = text.lines().collect();
                if !lines.is_empty() {
                    let count = lines.len();
                    lines.swap(first % count, second % count);
                }
                text = lines.join("\n");
            }
        }
    }
    text
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        exercise(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn yaml_like_text_never_panics(text in "([a-zA-Z{}\\[\\]:,&*!|>'\"#/ -]|\n  |\n- ){0,200}") {
        exercise(&text);
    }

    #[test]
    fn mutated_example_never_panics(mutations in proptest::collection::vec(mutation(), 1..6)) {
        exercise(&mutate(&mutations));
    }
}

#[test]
fn hostile_inputs_are_reported_with_location() {
    let deep = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
    let bomb = {
        let mut text = "a: &a [x, x, x, x, x, x, x, x, x, x]\n".to_owned();
        let names = ["b", "c", "d", "e", "f", "g", "h", "i"];
        let mut previous = "a";
        for name in names {
            text.push_str(&format!("{name}: &{name} [*{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}]\n"));
            previous = name;
        }
        text
    };
    for (name, text) in [
        ("deep nesting", deep.as_str()),
        ("alias bomb", bomb.as_str()),
        ("duplicate key", "apiVersion: gatectl.dev/v1\napiVersion: gatectl.dev/v1\n"),
        ("tab indentation", "routes:\n\t- name: a\n"),
        ("wrong type", "apiVersion: gatectl.dev/v1\nkind: Gateway\nroutes: 5\n"),
    ] {
        let loaded = load_str("hostile.yaml", text);
        assert!(loaded.has_errors(), "{name} must be rejected");
        assert!(loaded.diagnostics.iter().all(|diagnostic| diagnostic.span.is_some()), "{name}: {:?}", loaded.diagnostics);
    }
}
