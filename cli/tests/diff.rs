//! `gatectl diff` through the real binary: output formats (insta snapshots), exit codes,
//! `--scope`, `--base` with a temporary git repository, redaction and normalisation.

mod diff_support;

use std::path::Path;
use std::process::Command;

use diff_support::{diff_json, entity, fixture, gatectl, gatectl_in, read_fixture, spec_pair};
use gatectl_spec::load::{LoadOptions, load};
use gatectl_spec::normalize::{REDACTED, normalize};

fn snapshot_settings() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/diff/snapshots"));
    settings.set_prepend_module_to_snapshot(false);
    settings
}

fn diff_fixtures(format: &str) -> diff_support::Run {
    let base = fixture("base.yaml");
    let changed = fixture("changed.yaml");
    gatectl(&["diff", base.to_str().unwrap(), changed.to_str().unwrap(), "--format", format])
}

#[test]
fn human_output_snapshot() {
    let run = diff_fixtures("human");
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(!run.stdout.contains('\u{1b}'), "no colour when stdout is not a terminal");
    snapshot_settings().bind(|| insta::assert_snapshot!("human", run.stdout));
}

#[test]
fn json_output_snapshot() {
    let run = diff_fixtures("json");
    assert_eq!(run.code, 1, "{}", run.stderr);
    let document: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(document["formatVersion"], 1);
    snapshot_settings().bind(|| insta::assert_snapshot!("json", run.stdout));
}

#[test]
fn markdown_output_snapshot() {
    let run = diff_fixtures("markdown");
    assert_eq!(run.code, 1, "{}", run.stderr);
    snapshot_settings().bind(|| insta::assert_snapshot!("markdown", run.stdout));
}

#[test]
fn exit_zero_without_changes() {
    let base = fixture("base.yaml");
    let run = gatectl(&["diff", base.to_str().unwrap(), base.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "No changes.\n");
}

#[test]
fn exit_one_with_changes() {
    assert_eq!(diff_fixtures("human").code, 1);
}

#[test]
fn exit_two_for_missing_file() {
    let base = fixture("base.yaml");
    let run = gatectl(&["diff", base.to_str().unwrap(), "does-not-exist.yaml"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("does-not-exist.yaml"), "{}", run.stderr);
    assert!(run.stdout.is_empty());
}

#[test]
fn exit_two_for_invalid_spec() {
    let pair = spec_pair(&read_fixture("base.yaml"), "apiVersion: gatectl.dev/v1\nkind: Gateway\nroutes: 3\n");
    let run = gatectl(&["diff", pair.old.to_str().unwrap(), pair.new.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("new.yaml:3:"), "diagnostic names file and line: {}", run.stderr);
    assert!(run.stderr.contains("is invalid"), "{}", run.stderr);
}

#[test]
fn both_invalid_sides_reported_old_first() {
    let invalid = "apiVersion: gatectl.dev/v1\nkind: Gateway\nroutes: 3\n";
    let pair = spec_pair(invalid, &invalid.replace("routes: 3", "upstreams: x"));
    let run = gatectl(&["diff", pair.old.to_str().unwrap(), pair.new.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    let old_at = run.stderr.find("old.yaml:3:").unwrap_or_else(|| panic!("no old-side diagnostic: {}", run.stderr));
    let new_at = run.stderr.find("new.yaml:3:").unwrap_or_else(|| panic!("no new-side diagnostic: {}", run.stderr));
    assert!(old_at < new_at, "the old side comes first: {}", run.stderr);
    assert!(run.stderr.contains("the old spec"), "{}", run.stderr);
    assert!(run.stderr.contains("the new spec"), "{}", run.stderr);
    assert!(run.stdout.is_empty());
}

#[test]
fn exit_two_for_wrong_path_count() {
    let base = fixture("base.yaml");
    let run = gatectl(&["diff", base.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--base"), "{}", run.stderr);
}

#[test]
fn fail_on_breaking_ignores_safe_changes() {
    let base = read_fixture("base.yaml");
    let safe = base.replace("    tags: [team-catalog]\n    metadata:", "    tags: [team-catalog, public]\n    metadata:");
    let pair = spec_pair(&base, &safe);
    let args = ["diff", pair.old.to_str().unwrap(), pair.new.to_str().unwrap()];
    assert_eq!(gatectl(&args).code, 1, "any change fails by default");
    let mut with_flag = args.to_vec();
    with_flag.extend(["--fail-on", "breaking"]);
    assert_eq!(gatectl(&with_flag).code, 0);
}

#[test]
fn fail_on_risky_fails_on_auth_removal() {
    let base = read_fixture("base.yaml");
    let public = base.replacen("    security:\n      - bearer: [orders:read]\n      - key: []\n", "", 1);
    assert_ne!(public, base, "the fixture has a route with security");
    let pair = spec_pair(&base, &public);
    let args = ["diff", pair.old.to_str().unwrap(), pair.new.to_str().unwrap()];
    let fail_on = |level: &'static str| {
        let mut with_flag = args.to_vec();
        with_flag.extend(["--fail-on", level]);
        gatectl(&with_flag).code
    };

    assert_eq!(fail_on("breaking"), 0, "removing authentication breaks no client");
    assert_eq!(fail_on("risky"), 1);
}

#[test]
fn fail_on_breaking_fails_on_breaking() {
    let base = fixture("base.yaml");
    let changed = fixture("changed.yaml");
    let run = gatectl(&["diff", base.to_str().unwrap(), changed.to_str().unwrap(), "--fail-on", "breaking"]);
    assert_eq!(run.code, 1);
}

#[test]
fn secrets_never_appear_in_any_format() {
    let token_old = "upstream-token-aaaaaaaaaaaaaaaa";
    let token_new = "upstream-token-bbbbbbbbbbbbbbbb";
    let full_hash = "4c2a904bafba06591225113ad17b5cec1fa1f8ac6e8d1efa3e0a0f1b6b4b2f6e";
    let base = read_fixture("base.yaml");
    let new = base
        .replace(token_old, token_new)
        .replace("label: ci-2026-11", "label: ci-2026-12")
        .replace("X-Gateway: gatectl", "X-Gateway: gatectl\n        X-Upstream-Key: 9f8e7d6c5b4a39281706f5e4d3c2b1a0");
    let pair = spec_pair(&base, &new);
    for format in ["human", "json", "markdown"] {
        let run = gatectl(&["diff", pair.old.to_str().unwrap(), pair.new.to_str().unwrap(), "--format", format]);
        assert_eq!(run.code, 1, "{format}: {}", run.stderr);
        for secret in [token_old, token_new, "9f8e7d6c5b4a39281706f5e4d3c2b1a0", full_hash] {
            assert!(!run.stdout.contains(secret), "{format} output shows {secret}:\n{}", run.stdout);
            assert!(!run.stderr.contains(secret), "{format} error output shows {secret}");
        }
        assert!(run.stdout.contains(REDACTED), "{format} output marks the redacted change");
        assert!(run.stdout.contains("sha256:4c2a904bafba…"), "{format} output shows the short hash");
    }
}

#[test]
fn scope_limits_to_tagged_entities() {
    let base = read_fixture("base.yaml");
    let start = base.find("  - name: list-products").unwrap();
    let new = base[..start].replace("port: 9202, weight: 100", "port: 9202, weight: 10");
    let (code, document) = diff_json(&base, &new, &["--scope", "team-orders"]);
    assert_eq!(code, 1);
    let changes = document["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{document:#}");
    assert_eq!(entity(&document, "upstream", "orders")["class"], "risky");

    let (code, document) = diff_json(&base, &new, &["--scope", "team-catalog"]);
    assert_eq!(code, 1);
    assert_eq!(entity(&document, "route", "list-products")["operation"], "removed");
    assert_eq!(document["changes"].as_array().unwrap().len(), 1, "{document:#}");
}

#[test]
fn scope_with_unknown_tag_exits_two() {
    let base = fixture("base.yaml");
    let run = gatectl(&["diff", base.to_str().unwrap(), base.to_str().unwrap(), "--scope", "team-ordres"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("`team-ordres`"), "{}", run.stderr);
    assert!(run.stdout.is_empty());
}

#[test]
fn scope_never_reports_outside_deletions() {
    let base = read_fixture("base.yaml");
    let start = base.find("  - name: list-products").unwrap();
    let pair = spec_pair(&base, &base[..start]);
    let run = gatectl(&["diff", pair.old.to_str().unwrap(), pair.new.to_str().unwrap(), "--scope", "team-orders"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.stdout, "No changes.\n");
}

fn git(directory: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args(["-c", "user.name=gatectl test", "-c", "user.email=test@example.invalid", "-c", "commit.gpgsign=false"])
        .args(args)
        .current_dir(directory)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?}");
}

#[test]
fn base_revision_from_git() {
    let repository = tempfile::tempdir().unwrap();
    let root = repository.path();
    let spec_directory = root.join("spec");
    std::fs::create_dir(&spec_directory).unwrap();
    std::fs::write(spec_directory.join("gateway.yaml"), read_fixture("base.yaml")).unwrap();
    std::fs::write(spec_directory.join("notes.txt"), "not a spec").unwrap();
    git(root, &["init", "-q", "-b", "main"]);
    git(root, &["add", "."]);
    git(root, &["commit", "-q", "-m", "base"]);

    let run = gatectl_in(root, &["diff", "--base", "main", "spec"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);

    std::fs::write(spec_directory.join("gateway.yaml"), read_fixture("changed.yaml")).unwrap();
    let run = gatectl_in(root, &["diff", "--base", "main", "spec", "--format", "json"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let document: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(entity(&document, "route", "list-categories")["operation"], "added");

    let file = spec_directory.join("gateway.yaml");
    let run = gatectl_in(&spec_directory, &["diff", "--base", "HEAD", file.to_str().unwrap(), "--fail-on", "breaking"]);
    assert_eq!(run.code, 1, "a single file at a revision, from a subdirectory: {}", run.stderr);
}

#[test]
fn base_revision_errors_exit_two() {
    let repository = tempfile::tempdir().unwrap();
    let root = repository.path();
    std::fs::write(root.join("gateway.yaml"), read_fixture("base.yaml")).unwrap();
    git(root, &["init", "-q", "-b", "main"]);
    git(root, &["add", "."]);
    git(root, &["commit", "-q", "-m", "base"]);
    std::fs::write(root.join("new.yaml"), read_fixture("base.yaml")).unwrap();

    let run = gatectl_in(root, &["diff", "--base", "no-such-branch", "gateway.yaml"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("no-such-branch"), "{}", run.stderr);

    let run = gatectl_in(root, &["diff", "--base", "main", "new.yaml"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("does not exist at revision main"), "{}", run.stderr);

    let run = gatectl_in(root, &["diff", "--base", "--help", "gateway.yaml"]);
    assert_eq!(run.code, 2);
}

#[test]
fn overlay_applies_to_both_sides() {
    let directory = tempfile::tempdir().unwrap();
    let overlay = directory.path().join("overlay.yaml");
    std::fs::write(&overlay, "settings:\n  limits:\n    maxBodyBytes: 2048\n").unwrap();
    let base = fixture("base.yaml");
    let run = gatectl(&["diff", base.to_str().unwrap(), base.to_str().unwrap(), "--overlay", overlay.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
}

fn load_fixture(path: &Path) -> gatectl_spec::Spec {
    let loaded = load(&[path.to_owned()], &LoadOptions::default()).unwrap();
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    loaded.spec.unwrap()
}

#[test]
fn normalize_is_idempotent_on_full_fixture() {
    let spec = load_fixture(&fixture("full.yaml"));
    let once = normalize(&spec);
    assert_eq!(normalize(&once), once);
    assert_ne!(once, spec, "the fixture is written out of canonical order");
}

#[test]
fn normalized_form_diffs_equal() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/spec/gateway.yaml");
    for path in [fixture("full.yaml"), example] {
        let spec = load_fixture(&path);
        let directory = tempfile::tempdir().unwrap();
        let normalized = directory.path().join("normalized.json");
        std::fs::write(&normalized, serde_json::to_string_pretty(&normalize(&spec)).unwrap()).unwrap();
        let run = gatectl(&["diff", path.to_str().unwrap(), normalized.to_str().unwrap()]);
        assert_eq!(run.code, 0, "{}: {}{}", path.display(), run.stdout, run.stderr);
        let run = gatectl(&["diff", normalized.to_str().unwrap(), path.to_str().unwrap()]);
        assert_eq!(run.code, 0, "{}, reversed: {}{}", path.display(), run.stdout, run.stderr);
    }
}

#[test]
fn normalized_full_fixture_has_no_token() {
    let spec = normalize(&load_fixture(&fixture("full.yaml")));
    let text = serde_json::to_string(&spec).unwrap();
    assert!(!text.contains("s3cr3t-upstream-token"));
    assert!(!text.contains("abc123"), "webhook token query parameter");
    assert!(text.contains("env:JWT_HMAC_SECRET"), "secret references are kept");
}

#[test]
fn scope_compares_entity_losing_tag() {
    let base = read_fixture("base.yaml");
    let new = base.replace("    upstream: catalog\n    tags: [team-catalog]", "    upstream: catalog\n    tags: []");
    let (code, document) = diff_json(&base, &new, &["--scope", "team-catalog"]);
    assert_eq!(code, 1);
    let change = entity(&document, "route", "list-products");
    assert_eq!(change["operation"], "changed", "{document:#}");
    assert_eq!(change["fields"][0]["path"], "tags");
}

#[test]
fn match_header_secret_is_redacted() {
    let base = read_fixture("base.yaml");
    let new = base.replace(
        "      methods: [POST]\n",
        "      methods: [POST]\n      headers:\n        - { name: X-Internal-Token, value: not-for-diff-output }\n",
    );
    let (_, document) = diff_json(&base, &new, &[]);
    let text = document.to_string();
    assert!(!text.contains("not-for-diff-output"), "{text}");
    assert!(text.contains(REDACTED));
}
