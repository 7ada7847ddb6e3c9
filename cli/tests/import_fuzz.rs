//! The importer never panics, whatever document it is given: random JSON values and real
//! fixtures with one node replaced at random, each run through the real binary.

use std::path::Path;
use std::process::Command;

use proptest::prelude::*;
use serde_json::Value;

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        prop::sample::select(vec![
            "3.0.3",
            "3.1.0",
            "2.0",
            "get",
            "/a/{b}",
            "{x}",
            "#/paths",
            "https://x.invalid/{v}",
            "",
            "apiKey",
            "oauth2",
            "http",
            "bearer",
            "path"
        ])
        .prop_map(|text| Value::String(text.to_owned())),
        "[a-z{}/#~.:-]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        let keys = prop::sample::select(vec![
            "openapi",
            "swagger",
            "paths",
            "servers",
            "url",
            "variables",
            "default",
            "get",
            "post",
            "security",
            "components",
            "securitySchemes",
            "type",
            "scheme",
            "in",
            "name",
            "$ref",
            "parameters",
            "host",
            "basePath",
            "schemes",
            "x-gatectl-upstream",
            "x-gatectl-tags",
            "x-gatectl-timeouts",
            "x-gatectl-route-name",
            "operationId",
            "deprecated",
            "tags",
            "/a/{b}",
        ]);
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(keys.prop_map(str::to_owned), inner, 0..5).prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// Replaces the node at a pseudo-random position (chosen by `choice`) with `replacement`.
fn mutate(document: &mut Value, choice: usize, replacement: Value) {
    let mut slots = 0usize;
    count(document, &mut slots);
    let target = choice % slots.max(1);
    let mut index = 0usize;
    replace(document, target, &mut index, replacement);
}

fn count(value: &Value, slots: &mut usize) {
    *slots += 1;
    match value {
        Value::Array(items) => items.iter().for_each(|item| count(item, slots)),
        Value::Object(map) => map.values().for_each(|item| count(item, slots)),
        _ => {}
    }
}

fn replace(value: &mut Value, target: usize, index: &mut usize, replacement: Value) -> Option<Value> {
    if *index == target {
        *value = replacement;
        return None;
    }
    *index += 1;
    let mut replacement = Some(replacement);
    match value {
        Value::Array(items) => {
            for item in items {
                replacement = replace(item, target, index, replacement?);
            }
        }
        Value::Object(map) => {
            for item in map.values_mut() {
                replacement = replace(item, target, index, replacement?);
            }
        }
        _ => {}
    }
    replacement
}

fn assert_no_panic(document: &Value) -> Result<(), TestCaseError> {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("fuzz.json");
    std::fs::write(&path, serde_json::to_vec(document).unwrap()).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_gatectl")).args(["import", "--allow-remote-refs"]).arg(&path).output().unwrap();
    let code = output.status.code();
    prop_assert!(matches!(code, Some(0) | Some(2)), "exit {code:?} for {document}\n{}", String::from_utf8_lossy(&output.stderr));
    Ok(())
}

fn fixture_documents() -> Vec<Value> {
    let directory = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/import");
    let mut documents = Vec::new();
    for name in ["security.yaml", "extensions.yaml", "swagger2.yaml", "server-variables.yaml", "openapi31.json", "operation-servers.yaml"] {
        let text = std::fs::read_to_string(directory.join(name)).unwrap();
        let file = gatectl_spec::source::SourceFile::new(name, text);
        let node = gatectl_spec::yaml::read(&file, gatectl_spec::source::SourceId(0), Default::default()).unwrap();
        documents.push(node.to_json());
    }
    documents
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_documents_never_panic(document in json_value()) {
        assert_no_panic(&document)?;
    }

    #[test]
    fn random_openapi_shapes_never_panic(body in json_value(), version in prop::sample::select(vec!["3.0.3", "3.1.0"])) {
        let document = serde_json::json!({ "openapi": version, "info": {"title": "t", "version": "1"}, "paths": { "/a/{b}": body.clone() }, "components": { "securitySchemes": body } });
        assert_no_panic(&document)?;
    }

    #[test]
    fn mutated_fixtures_never_panic(which in 0usize..6, choice in any::<usize>(), replacement in json_value()) {
        let mut document = fixture_documents().swap_remove(which);
        mutate(&mut document, choice, replacement);
        assert_no_panic(&document)?;
    }
}
