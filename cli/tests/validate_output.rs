//! Output formats, exit codes and rule configuration of `gatectl validate`, through the real
//! binary. Human output is snapshotted without colour at a fixed width of 100 columns.

use std::path::Path;
use std::process::{Command, Output};

fn fixtures() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/validate"))
}

/// Runs `gatectl validate ARGS` in `directory` with colour off and a fixed width.
fn validate_in(directory: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gatectl"))
        .current_dir(directory)
        .env("NO_COLOR", "1")
        .env("COLUMNS", "100")
        .arg("validate")
        .args(args)
        .output()
        .expect("gatectl runs")
}

fn validate(args: &[&str]) -> Output {
    validate_in(fixtures(), args)
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn json(output: &Output) -> Vec<serde_json::Value> {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| panic!("stdout is not JSON ({error}): {}", stdout(output)))
}

#[test]
fn empty_overlay_is_reported_as_empty() {
    let directory = tempfile::tempdir().unwrap();
    std::fs::write(directory.path().join("spec.yaml"), "apiVersion: gatectl.dev/v1\nkind: Gateway\n").unwrap();
    std::fs::write(directory.path().join("empty.yaml"), "# to be written\n").unwrap();

    let output = validate_in(directory.path(), &["--format", "json", "spec.yaml", "--overlay", "empty.yaml"]);

    assert_eq!(output.status.code(), Some(1));
    let findings = json(&output);
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!(findings[0]["file"], "empty.yaml");
    assert!(findings[0]["message"].as_str().unwrap().contains("no document"), "{findings:#?}");
    assert!(findings[0]["help"].as_str().unwrap().contains("overlay"), "{findings:#?}");
}

/// A schema error does not hide the semantic findings of the same run: both come in one report,
/// and a rule does not report again a value the schema already reported.
#[test]
fn schema_error_keeps_rule_findings() {
    let directory = tempfile::tempdir().unwrap();
    let spec = "apiVersion: gatectl.dev/v1\nkind: Gateway\nupstreams:\n  - name: app\n    targets: [{host: 127.0.0.1, port: 80}]\nroutes:\n  - name: bad name\n    match: {path: {prefix: /a}}\n    upstream: app\n  - name: orders\n    match: {path: {prefix: /orders}}\n    upstream: missing\n";
    std::fs::write(directory.path().join("spec.yaml"), spec).unwrap();

    let output = validate_in(directory.path(), &["--format", "json", "spec.yaml"]);

    assert_eq!(output.status.code(), Some(1));
    let findings = json(&output);
    let rules: Vec<&str> = findings.iter().map(|finding| finding["rule"].as_str().unwrap()).collect();
    assert!(rules.contains(&"schema"), "{findings:#?}");
    assert!(rules.contains(&"unknown-upstream"), "the rule finding must come with the schema error: {findings:#?}");
    let lines: Vec<u64> = findings.iter().map(|finding| finding["line"].as_u64().unwrap()).collect();
    let mut distinct = lines.clone();
    distinct.dedup();
    assert_eq!(lines, distinct, "one finding per value: {findings:#?}");
}

/// A spec the loader cannot decode gets no semantic findings, and the report ends with a note
/// about it.
#[test]
fn undecodable_spec_says_rules_did_not_run() {
    let directory = tempfile::tempdir().unwrap();
    let spec = "apiVersion: gatectl.dev/v1\nkind: Gateway\ncolour: blue\nupstreams:\n  - name: app\n    targets: [{host: 127.0.0.1, port: 80}]\nroutes:\n  - name: orders\n    match: {path: {prefix: /orders}}\n    upstream: missing\n";
    std::fs::write(directory.path().join("spec.yaml"), spec).unwrap();

    let output = validate_in(directory.path(), &["--format", "json", "spec.yaml"]);

    assert_eq!(output.status.code(), Some(1));
    assert_eq!(json(&output).len(), 1, "only the unknown field: {}", stdout(&output));
    assert!(stderr(&output).contains("the semantic rules did not run"), "{}", stderr(&output));
}

#[test]
fn non_ascii_column_matches_json() {
    let directory = tempfile::tempdir().unwrap();
    let spec = "apiVersion: gatectl.dev/v1\nkind: Gateway\nupstreams:\n  - name: app\n    targets: [{host: 127.0.0.1, port: 80}]\nroutes:\n  - name: a\n    match: {path: {prefix: /äöü}, methods: [GETX]}\n    upstream: app\n";
    std::fs::write(directory.path().join("spec.yaml"), spec).unwrap();

    let findings = json(&validate_in(directory.path(), &["--format", "json", "spec.yaml"]));
    let human = stderr(&validate_in(directory.path(), &["spec.yaml"]));

    assert_eq!((findings[0]["line"].as_u64(), findings[0]["column"].as_u64()), (Some(8), Some(45)), "{findings:#?}");
    assert!(human.contains("[spec.yaml:8:45]"), "{human}");

    // Old Mac line ends: a lone CR ends a line in every format.
    std::fs::write(directory.path().join("spec.yaml"), spec.replace('\n', "\r")).unwrap();
    let findings = json(&validate_in(directory.path(), &["--format", "json", "spec.yaml"]));
    let human = stderr(&validate_in(directory.path(), &["spec.yaml"]));
    assert_eq!((findings[0]["line"].as_u64(), findings[0]["column"].as_u64()), (Some(8), Some(45)), "{findings:#?}");
    assert!(human.contains("[spec.yaml:8:45]"), "{human}");
    assert!(human.contains(" 8 │     match: {path: {prefix: /äöü}, methods: [GETX]}\n"), "{human}");
    assert!(!human.contains('\r'), "a CR would move the cursor back: {human:?}");
}

#[test]
fn human_report_masks_url_passwords_in_snippets() {
    let output = validate(&["placeholder-jwt.yaml"]);
    let report = stderr(&output);

    assert!(report.contains("placeholder-host"), "{report}");
    assert!(!report.contains("S3cretPassw0rd"), "{report}");
    assert!(report.contains("svc:**************@jwks.invalid"), "{report}");
}

#[test]
fn output_names_the_format_too() {
    let by_format = validate(&["--format", "json", "report/mixed.yaml"]);
    let by_output = validate(&["--output", "json", "report/mixed.yaml"]);

    assert_eq!(by_output.status.code(), Some(1));
    assert_eq!(json(&by_output), json(&by_format));
}

#[test]
fn human_report_snapshot() {
    let output = validate(&["report/mixed.yaml"]);
    assert_eq!(output.status.code(), Some(1));
    insta::assert_snapshot!("human_report", stderr(&output));
}

#[test]
fn human_report_hides_secret_value() {
    let output = validate(&["report/mixed.yaml"]);
    let text = stderr(&output);
    assert!(text.contains("plaintext-secret"), "{text}");
    assert!(!text.contains("eyJhbGciOiJIUzI1NiJ9"), "the secret leaked into the report:\n{text}");
}

#[test]
fn human_report_has_no_colour_under_no_color() {
    let text = stderr(&validate(&["report/mixed.yaml"]));
    assert!(!text.contains('\u{1b}'), "{text}");
}

#[test]
fn sarif_snapshot() {
    let output = validate(&["--format", "sarif", "report/mixed.yaml"]);
    assert_eq!(output.status.code(), Some(1));
    let log: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(log["version"], "2.1.0");
    let rules = log["runs"][0]["tool"]["driver"]["rules"].as_array().unwrap();
    assert!(rules.iter().all(|rule| rule["help"]["text"].as_str().is_some_and(|text| !text.is_empty())));
    insta::with_settings!({ filters => vec![(r#""semanticVersion": "[^"]+""#, r#""semanticVersion": "[version]""#)] }, {
        insta::assert_snapshot!("sarif_report", stdout(&output));
    });
}

#[test]
fn github_snapshot() {
    let output = validate(&["--format", "github", "report/mixed.yaml"]);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert!(text.lines().all(|line| line.starts_with("::error ") || line.starts_with("::warning ")), "{text}");
    insta::assert_snapshot!("github_report", text);
}

#[test]
fn json_reports_end_position() {
    let findings = json(&validate(&["--format", "json", "unknown-upstream.yaml"]));
    let finding = findings.iter().find(|finding| finding["rule"] == "unknown-upstream").unwrap();
    assert_eq!((finding["line"].as_u64(), finding["column"].as_u64()), (Some(9), Some(15)));
    assert_eq!((finding["endLine"].as_u64(), finding["endColumn"].as_u64()), (Some(9), Some(17)));
    assert_eq!(finding["severity"], "error");
}

#[test]
fn exit_zero_for_valid_spec() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/spec");
    let output = validate(&[example]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stderr(&output).contains("0 errors, 0 warnings in 1 file"), "{}", stderr(&output));
}

#[test]
fn exit_zero_with_warnings_unless_strict() {
    let relaxed = validate(&["unused-upstream.yaml"]);
    assert_eq!(relaxed.status.code(), Some(0), "{}", stderr(&relaxed));
    assert!(stderr(&relaxed).contains("0 errors, 1 warning in 1 file"), "{}", stderr(&relaxed));
    let strict = validate(&["--strict", "unused-upstream.yaml"]);
    assert_eq!(strict.status.code(), Some(1));
}

#[test]
fn exit_one_for_invalid_spec() {
    assert_eq!(validate(&["unknown-upstream.yaml"]).status.code(), Some(1));
}

#[test]
fn exit_two_for_missing_file() {
    let output = validate(&["does-not-exist.yaml"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("does-not-exist.yaml"), "{}", stderr(&output));
}

#[test]
fn exit_two_for_bad_flag() {
    assert_eq!(validate(&["--format", "xml", "unused-upstream.yaml"]).status.code(), Some(2));
}

#[test]
fn config_file_in_working_directory_applies() {
    let output = validate_in(&fixtures().join("config"), &["--format", "json", "../unused-upstream.yaml", "../plaintext-secret.yaml"]);
    let findings = json(&output);
    assert!(findings.iter().all(|finding| finding["rule"] != "unused-upstream"), "{findings:#?}");
    let secret = findings.iter().find(|finding| finding["rule"] == "plaintext-secret").expect("secret finding");
    assert_eq!(secret["severity"], "error");
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn config_flag_with_unknown_rule_exits_two() {
    let output = validate(&["--config", "bad-config.yaml", "unused-upstream.yaml"]);
    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    assert!(text.contains("unknown-rule"), "{text}");
    assert!(text.contains("bad-config.yaml:2:3"), "{text}");
    assert!(text.contains("did you mean `unused-upstream`"), "{text}");
}

#[test]
fn config_flag_missing_file_exits_two() {
    let output = validate(&["--config", "missing.yaml", "unused-upstream.yaml"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("missing.yaml"), "{}", stderr(&output));
}

#[test]
fn findings_point_to_their_own_file() {
    let output = validate(&["--format", "json", "--overlay", "report/overlay.yaml", "report/multi"]);
    let findings = json(&output);
    let files: Vec<(&str, &str)> =
        findings.iter().map(|finding| (finding["rule"].as_str().unwrap(), finding["file"].as_str().unwrap())).collect();
    assert!(files.contains(&("unknown-upstream", "report/multi/routes.yaml")), "{files:?}");
    assert!(files.contains(&("unknown-upstream", "report/overlay.yaml")), "{files:?}");
    assert!(stderr(&output).contains("in 3 files"), "{}", stderr(&output));
}

#[test]
fn human_report_across_files_snapshot() {
    let output = validate(&["--overlay", "report/overlay.yaml", "report/multi"]);
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    assert!(text.contains("[report/multi/base.yaml:4:11]"), "the first definition is shown in its own file:\n{text}");
    insta::assert_snapshot!("human_report_across_files", text);
}

/// A file name, its bytes, the expected rule and the expected line and column.
type LoaderCase = (&'static str, &'static [u8], &'static str, (u64, u64));

#[test]
fn loader_errors_reach_user_with_location() {
    let directory = tempfile::tempdir().unwrap();
    let cases: [LoaderCase; 3] = [
        ("encoding.yaml", b"apiVersion: \xff\n", "invalid-encoding", (1, 13)),
        ("duplicate.yaml", b"apiVersion: gatectl.dev/v1\nkind: Gateway\nkind: Gateway\n", "duplicate-key", (3, 1)),
        ("syntax.yaml", b"apiVersion: gatectl.dev/v1\nroutes: [\n", "invalid-yaml", (2, 9)),
    ];
    for (name, bytes, rule, (line, column)) in cases {
        std::fs::write(directory.path().join(name), bytes).unwrap();
        let output = validate_in(directory.path(), &["--format", "json", name]);
        assert_eq!(output.status.code(), Some(1), "{name}");
        let findings = json(&output);
        assert_eq!(findings[0]["rule"], rule, "{name}: {findings:#?}");
        assert!(findings[0]["help"].as_str().is_some_and(|help| !help.is_empty()), "{name} has no help: {findings:#?}");
        assert_eq!((findings[0]["line"].as_u64(), findings[0]["column"].as_u64()), (Some(line), Some(column)), "{name}");
    }
}
