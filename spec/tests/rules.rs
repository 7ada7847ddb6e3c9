//! Semantic rules checked through the library: loading a small spec and running the rules.

use chrono::{TimeZone, Utc};
use gatectl_spec::load::load_str;
use gatectl_spec::rules::{self, RuleConfig, RuleSetting};
use gatectl_spec::source::{SourceFile, SourceId};
use gatectl_spec::{Diagnostic, Severity};

const HEADER: &str =
    "apiVersion: gatectl.dev/v1\nkind: Gateway\nupstreams:\n  - name: app\n    targets: [{ host: 127.0.0.1, port: 9000 }]\n";

/// Loads `HEADER` followed by `rest` and returns the findings of the semantic rules.
fn check_with(rest: &str, config: &RuleConfig) -> Vec<Diagnostic> {
    let loaded = load_str("spec.yaml", &format!("{HEADER}{rest}"));
    assert!(loaded.diagnostics.is_empty(), "the test spec must load: {:?}", loaded.diagnostics);
    rules::check(loaded.spec.as_ref().expect("loaded"), &loaded.index, config)
}

fn check(rest: &str) -> Vec<Diagnostic> {
    check_with(rest, &RuleConfig::default())
}

fn rule_ids(findings: &[Diagnostic]) -> Vec<&'static str> {
    findings.iter().map(|finding| finding.rule).collect()
}

fn route(name: &str, matcher: &str) -> String {
    format!("  - name: {name}\n    match: {matcher}\n    upstream: app\n")
}

#[test]
fn literal_segment_route_is_not_shadowed_by_parameter() {
    for routes in [
        [
            route("by-id", "{ path: { template: \"/user/{id}\" }, methods: [GET] }"),
            route("new", "{ path: { template: \"/user/new\" }, methods: [GET] }"),
        ],
        [
            route("new", "{ path: { template: \"/user/new\" }, methods: [GET] }"),
            route("by-id", "{ path: { template: \"/user/{id}\" }, methods: [GET] }"),
        ],
    ] {
        let findings = check(&format!("routes:\n{}{}", routes[0], routes[1]));
        assert!(findings.is_empty(), "{findings:?}");
    }
}

#[test]
fn repeated_name_shadowing_gives_positions() {
    let same = route("orders", "{ path: { prefix: /orders } }");
    let findings = check(&format!("routes:\n{same}{same}"));
    assert_eq!(rule_ids(&findings), ["duplicate-name", "shadowed-route"]);
    assert_eq!(findings[1].message, "route `orders` at routes[1] can never match: route `orders` at routes[0] takes all of its requests");
}

#[test]
fn invalid_template_is_reported_once() {
    let findings = check(&format!("routes:\n{}", route("users", "{ path: { template: \"/users//{id}\" } }")));
    assert_eq!(rule_ids(&findings), ["invalid-path-template"]);
    // The same text as an exact path is no template, so the unmatchable path is reported.
    let findings = check(&format!("routes:\n{}", route("users", "{ path: { exact: \"/users//all\" } }")));
    assert_eq!(rule_ids(&findings), ["unmatchable-path"]);
}

#[test]
fn identical_template_after_another_is_shadowed() {
    let findings = check(&format!(
        "routes:\n{}{}",
        route("first", "{ path: { template: \"/user/{id}\" } }"),
        route("second", "{ path: { template: \"/user/{id}\" } }")
    ));
    assert_eq!(rule_ids(&findings), ["shadowed-route"]);
    assert!(findings[0].message.contains("`second`"), "{}", findings[0].message);
    assert_eq!(findings[0].related.len(), 1, "the shadowing route is shown too");
}

#[test]
fn renamed_parameters_are_ambiguous_with_both_locations() {
    let loaded = load_str(
        "spec.yaml",
        &format!(
            "{HEADER}routes:\n{}{}",
            route("a", "{ path: { template: \"/example/{id}\" }, methods: [GET] }"),
            route("b", "{ path: { template: \"/example/{exampleId}\" }, methods: [GET, POST] }")
        ),
    );
    let findings = rules::check(loaded.spec.as_ref().unwrap(), &loaded.index, &RuleConfig::default());
    assert_eq!(rule_ids(&findings), ["ambiguous-route"]);
    let primary = loaded.sources.locate(findings[0].span.unwrap());
    let related = loaded.sources.locate(findings[0].related[0].0);
    assert_eq!((primary.line, primary.column), (11, 32));
    assert_eq!((related.line, related.column), (8, 32));
}

#[test]
fn disjoint_methods_are_neither_ambiguous_nor_shadowed() {
    let findings = check(&format!(
        "routes:\n{}{}",
        route("read", "{ path: { template: \"/example/{id}\" }, methods: [GET] }"),
        route("write", "{ path: { template: \"/example/{exampleId}\" }, methods: [PUT] }")
    ));
    assert!(findings.is_empty(), "{findings:?}");
}

#[test]
fn partly_overlapping_methods_are_ambiguous() {
    let findings = check(&format!(
        "routes:\n{}{}",
        route("first", "{ path: { prefix: /api }, methods: [GET, POST] }"),
        route("second", "{ path: { prefix: /api/ }, methods: [GET, PUT] }")
    ));
    assert_eq!(rule_ids(&findings), ["ambiguous-route"]);
    assert!(findings[0].message.contains("GET"), "{}", findings[0].message);
}

#[test]
fn exact_path_shadows_template_without_parameters() {
    let findings = check(&format!(
        "routes:\n{}{}",
        route("template", "{ path: { template: /health } }"),
        route("exact", "{ path: { exact: /health } }")
    ));
    assert_eq!(rule_ids(&findings), ["shadowed-route"]);
    assert!(findings[0].message.starts_with("route `template`"), "{}", findings[0].message);
}

#[test]
fn specific_hosts_and_prefixes_not_shadowed() {
    let findings = check(&format!(
        "routes:\n{}{}{}{}",
        route("any-host", "{ path: { prefix: /api } }"),
        route("exact-host", "{ path: { prefix: /api }, hosts: [api.example.test] }"),
        route("wildcard-host", "{ path: { prefix: /api }, hosts: [\"*.example.test\"] }"),
        route("longer", "{ path: { prefix: /api/v2 } }")
    ));
    assert!(findings.is_empty(), "{findings:?}");
}

#[test]
fn header_conditions_separate_routes() {
    let findings = check(&format!(
        "routes:\n{}{}",
        route("plain", "{ path: { prefix: /api } }"),
        route("beta", "{ path: { prefix: /api }, headers: [{ name: X-Beta }] }")
    ));
    assert!(findings.is_empty(), "{findings:?}");
}

#[test]
fn uuid_header_value_is_not_a_secret() {
    let findings = check(&format!(
        "routes:\n{}    requestHeaders:\n      set:\n        X-Tenant: 550e8400-e29b-41d4-a716-446655440000\n        X-Trace-Sample: \"0.5\"\n",
        route("all", "{ path: { prefix: / } }")
    ));
    assert!(findings.is_empty(), "{findings:?}");
}

#[test]
fn secret_shapes_are_found_without_repeating_the_value() {
    let values = [
        ("Authorization", "Basic dXNlcjpwYXNzd29yZDEyMzQ1Ng=="),
        ("X-Aws", "AKIAIOSFODNN7EXAMPLE"),
        ("X-Key", "9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a"),
        ("X-Token", "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ012345"),
        ("X-Pem", "\"-----BEGIN PRIVATE KEY-----\\nMIIE\\n-----END PRIVATE KEY-----\""),
    ];
    for (header, value) in values {
        let findings = check(&format!(
            "routes:\n{}    responseHeaders:\n      add:\n        {header}: {value}\n",
            route("all", "{ path: { prefix: / } }")
        ));
        assert_eq!(rule_ids(&findings), ["plaintext-secret"], "{header}");
        assert!(!findings[0].message.contains(value.trim_matches('"')), "{}", findings[0].message);
    }
}

#[test]
fn secret_in_metadata_is_found() {
    let findings = check(&format!(
        "routes:\n{}    metadata:\n      note: \"token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.sig\"\n",
        route("all", "{ path: { prefix: / } }")
    ));
    assert_eq!(rule_ids(&findings), ["plaintext-secret"]);
}

#[test]
fn route_timeouts_fall_back_to_upstream_for_order() {
    let findings = check(&format!("routes:\n{}    timeouts: {{ response: 90s }}\n", route("slow", "{ path: { prefix: / } }")));
    assert_eq!(rule_ids(&findings), ["timeout-order"]);
}

#[test]
fn probe_timeout_must_be_below_interval() {
    let text = "apiVersion: gatectl.dev/v1\nkind: Gateway\nupstreams:\n  - name: app\n    targets: [{ host: 127.0.0.1, port: 9000 }]\n    healthChecks:\n      active: { path: /health, interval: 2s, timeout: 2s }\nroutes:\n  - name: all\n    match: { path: { prefix: / } }\n    upstream: app\n";
    let loaded = load_str("spec.yaml", text);
    let findings = rules::check(loaded.spec.as_ref().unwrap(), &loaded.index, &RuleConfig::default());
    assert_eq!(rule_ids(&findings), ["invalid-duration"]);
    assert_eq!(loaded.sources.locate(findings[0].span.unwrap()).line, 7);
}

#[test]
fn wildcard_hosts_only_as_leading_label() {
    for (host, valid) in
        [("*.example.test", true), ("api.*.test", false), ("*example.test", false), ("-bad.test", false), ("10.0.0.1", true)]
    {
        let findings = check(&format!("routes:\n{}", route("all", &format!("{{ path: {{ prefix: / }}, hosts: [\"{host}\"] }}"))));
        assert_eq!(findings.is_empty(), valid, "{host}: {findings:?}");
    }
}

#[test]
fn target_host_rejects_wildcard() {
    let text = HEADER.replace("host: 127.0.0.1", "host: \"*.example.test\"");
    let loaded = load_str("spec.yaml", &format!("{text}routes:\n{}", route("all", "{ path: { prefix: / } }")));
    let findings = rules::check(loaded.spec.as_ref().unwrap(), &loaded.index, &RuleConfig::default());
    assert_eq!(rule_ids(&findings), ["invalid-host"]);
}

#[test]
fn sunset_compares_with_configured_clock() {
    let rest = format!("routes:\n{}    deprecation: {{ sunset: 2030-01-01T00:00:00Z }}\n", route("all", "{ path: { prefix: / } }"));
    let mut config = RuleConfig::default();
    config.now = Some(Utc.with_ymd_and_hms(2029, 12, 31, 0, 0, 0).unwrap());
    assert!(check_with(&rest, &config).is_empty());
    config.now = Some(Utc.with_ymd_and_hms(2030, 1, 2, 0, 0, 0).unwrap());
    assert_eq!(rule_ids(&check_with(&rest, &config)), ["sunset-in-past"]);
}

#[test]
fn config_turns_rules_off_and_changes_severity() {
    let file = SourceFile::new(".gatectl.yaml", "rules:\n  unused-upstream: error\n  plaintext-secret: off\n");
    let config = RuleConfig::parse(&file, SourceId(0)).unwrap();
    assert_eq!(config.setting("plaintext-secret"), Some(RuleSetting::Off));
    let findings = check_with("", &config);
    assert_eq!(rule_ids(&findings), ["unused-upstream"]);
    assert_eq!(findings[0].severity, Severity::Error);
}

#[test]
fn config_unknown_rule_has_location() {
    let file = SourceFile::new(".gatectl.yaml", "rules:\n  unused-upstreams: off\n  schema: off\n  shadowed-route: loud\n");
    let error = RuleConfig::parse(&file, SourceId(0)).unwrap_err();
    let found: Vec<(&str, (usize, usize))> =
        error.diagnostics.iter().map(|diagnostic| (diagnostic.rule, file.line_column(diagnostic.span.unwrap().start))).collect();
    assert_eq!(found, [("unknown-rule", (2, 3)), ("invalid-config", (3, 3)), ("invalid-config", (4, 19))]);
    assert!(error.diagnostics[0].help.as_deref().unwrap().contains("unused-upstream"));
}

#[test]
fn every_finding_has_a_location_and_help() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/spec/gateway.yaml")).unwrap();
    let broken = text.replace("upstream: catalog", "upstream: catalogue").replace("tier: gold", "tier: platinum");
    let loaded = load_str("gateway.yaml", &broken);
    let findings = rules::check(loaded.spec.as_ref().unwrap(), &loaded.index, &RuleConfig::default());
    assert!(!findings.is_empty());
    for finding in &findings {
        assert!(finding.span.is_some(), "{finding:?}");
        assert!(finding.help.is_some(), "{finding:?}");
    }
}

#[test]
fn version_segment_in_path_is_reported() {
    let users = route("users", "{ path: { prefix: /users }, version: v2 }");
    let by_alias = route("latest-docs", "{ path: { prefix: /latest/docs } }");
    let plain = route("v3-docs", "{ path: { prefix: /v3/docs } }");
    let settings = "settings:\n  versioning: { aliases: { latest: v2 } }\n";

    let findings = check(&format!("{settings}routes:\n{users}{by_alias}{plain}"));
    let without_prefix =
        check(&format!("settings:\n  versioning: {{ urlPrefix: false, aliases: {{ latest: v2 }} }}\nroutes:\n{users}{by_alias}"));

    assert_eq!(rule_ids(&findings), ["version-prefix-path"], "{findings:?}");
    assert!(findings[0].message.contains("`latest-docs`"), "{}", findings[0].message);
    assert!(without_prefix.is_empty(), "{without_prefix:?}");
}
