//! One invalid fixture per rule, run through the real binary with `--format json`: each test
//! checks that the rule fires at the expected line and column.

use std::path::Path;
use std::process::Command;

fn fixtures() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/validate"))
}

/// Runs `gatectl validate --format json FILE` in the fixtures folder and returns the findings.
fn findings(file: &str) -> Vec<serde_json::Value> {
    let output = Command::new(env!("CARGO_BIN_EXE_gatectl"))
        .current_dir(fixtures())
        .args(["validate", "--format", "json", file])
        .output()
        .expect("gatectl runs");
    assert_ne!(output.status.code(), Some(2), "{file}: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("stdout is a JSON array")
}

/// Asserts that `rule` is reported at `line`:`column` of the fixture named after the rule.
fn assert_finding(rule: &str, line: u64, column: u64) {
    let file = format!("{rule}.yaml");
    let all = findings(&file);
    let found: Vec<&serde_json::Value> = all.iter().filter(|finding| finding["rule"] == rule).collect();
    assert_eq!(found.len(), 1, "expected one `{rule}` finding, got {all:#?}");
    let finding = found[0];
    assert_eq!(finding["file"], file.as_str());
    assert_eq!((finding["line"].as_u64(), finding["column"].as_u64()), (Some(line), Some(column)), "{finding:#}");
    assert!(finding["help"].as_str().is_some_and(|help| !help.is_empty()), "{finding:#}");
}

macro_rules! rule_fixtures {
    ($($test:ident: $rule:literal at $line:literal : $column:literal;)*) => {
        $(
            #[test]
            fn $test() {
                assert_finding($rule, $line, $column);
            }
        )*
    };
}

rule_fixtures! {
    unknown_upstream: "unknown-upstream" at 9:15;
    unknown_policy: "unknown-policy" at 10:18;
    unknown_auth_provider: "unknown-auth-provider" at 11:9;
    unknown_tier: "unknown-tier" at 5:11;
    duplicate_name: "duplicate-name" at 6:11;
    duplicate_api_key: "duplicate-api-key" at 11:17;
    route_destination: "route-destination" at 9:5;
    auth_provider_kind: "auth-provider-kind" at 4:5;
    jwt_no_keys: "jwt-no-keys" at 5:5;
    jwt_key_material: "jwt-key-material" at 8:11;
    jwt_mixed_algorithms: "jwt-mixed-algorithms" at 6:19;
    ambiguous_route: "ambiguous-route" at 11:32;
    shadowed_route: "shadowed-route" at 11:30;
    zero_weight: "zero-weight" at 10:17;
    missing_hash_on: "missing-hash-on" at 6:33;
    invalid_host: "invalid-host" at 8:43;
    invalid_listener_address: "invalid-listener-address" at 5:48;
    invalid_path_template: "invalid-path-template" at 8:32;
    unmatchable_path: "unmatchable-path" at 8:30;
    version_prefix_path: "version-prefix-path" at 11:29;
    invalid_header_name: "invalid-header-name" at 12:9;
    invalid_duration: "invalid-duration" at 7:15;
    timeout_order: "timeout-order" at 6:39;
    https_without_tls: "https-without-tls" at 6:17;
    unused_upstream: "unused-upstream" at 4:11;
    plaintext_secret: "plaintext-secret" at 12:24;
    placeholder_host: "placeholder-host" at 5:23;
    unknown_path_parameter: "unknown-path-parameter" at 11:52;
    framing_header: "framing-header" at 11:14;
    tls_verify_disabled: "tls-verify-disabled" at 7:20;
    sunset_in_past: "sunset-in-past" at 11:15;
    deprecation_order: "deprecation-order" at 11:14;
}

#[test]
fn placeholder_jwks_url_is_reported_without_its_password() {
    let all = findings("placeholder-jwt.yaml");
    let found: Vec<&serde_json::Value> = all.iter().filter(|finding| finding["rule"] == "placeholder-host").collect();
    assert_eq!(found.len(), 1, "only the JWKS URL is a placeholder that matters: {all:#?}");
    assert_eq!((found[0]["line"].as_u64(), found[0]["column"].as_u64()), (Some(7), Some(20)));
    let message = found[0]["message"].as_str().unwrap();
    assert!(!message.contains("S3cretPassw0rd"), "{message}");
    assert!(message.contains("svc:<redacted>@jwks.invalid"), "{message}");
}

#[test]
fn zero_duration_gets_its_own_help() {
    let all = findings("zero-duration.yaml");
    let finding = all.iter().find(|finding| finding["rule"] == "invalid-duration").expect("an invalid-duration finding");
    assert_eq!((finding["line"].as_u64(), finding["column"].as_u64()), (Some(6), Some(26)), "{finding:#}");
    assert_eq!(finding["help"], "use a duration above zero, such as `5s`");
}

#[test]
fn mistyped_placeholders_are_reported() {
    let all = findings("mistyped-placeholders.yaml");
    let lines: Vec<(u64, u64)> = all
        .iter()
        .filter(|finding| finding["rule"] == "unknown-path-parameter")
        .map(|finding| (finding["line"].as_u64().unwrap(), finding["column"].as_u64().unwrap()))
        .collect();
    // X-A, X-B and X-C on line 11, X-E on line 13; X-D is a valid placeholder.
    assert_eq!(lines, [(11, 19), (11, 37), (11, 56), (13, 19)], "{all:#?}");
}

#[test]
fn every_semantic_rule_has_a_fixture() {
    for rule in gatectl_spec::rules::RULES.iter().filter(|rule| rule.configurable) {
        assert!(fixtures().join(format!("{}.yaml", rule.id)).is_file(), "no fixture for rule `{}`", rule.id);
    }
}

#[test]
fn ambiguous_route_names_both_locations() {
    let all = findings("ambiguous-route.yaml");
    let related = &all[0]["related"][0];
    assert_eq!((related["line"].as_u64(), related["column"].as_u64()), (Some(8), Some(32)));
}

#[test]
fn example_spec_has_no_findings() {
    let example = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/spec"));
    let output = Command::new(env!("CARGO_BIN_EXE_gatectl"))
        .current_dir(fixtures())
        .args(["validate", "--strict", "--format", "json"])
        .arg(example)
        .output()
        .expect("gatectl runs");
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "[]");
    assert_eq!(output.status.code(), Some(0));
}
