//! `gatectl plan` against file targets, run through the real binary.

mod command_support;

use command_support::{exit_code, gatectl, text};
use std::path::Path;
use std::process::Output;

/// Returns a spec with one upstream and the routes named in `routes`, each on its own prefix. `header`
/// is the value of an `Authorization` header set on the first route.
fn spec(routes: &[&str], header: &str) -> String {
    let mut text = String::from(
        "apiVersion: gatectl.dev/v1\nkind: Gateway\nupstreams:\n  - name: app\n    targets: [{host: 127.0.0.1, port: 9000}]\nroutes:\n",
    );
    for (position, name) in routes.iter().enumerate() {
        text.push_str(&format!("  - name: {name}\n    match: {{path: {{prefix: /{name}}}}}\n    upstream: app\n"));
        if position == 0 {
            text.push_str(&format!("    requestHeaders:\n      set: {{Authorization: \"{header}\"}}\n"));
        }
    }
    text
}

/// Creates a temporary directory with a key pair `keys/release.*`.
fn workspace() -> tempfile::TempDir {
    let directory = tempfile::tempdir().unwrap();
    let output = gatectl(&["keygen", "--out", "keys", "--id", "release"], directory.path());
    assert_eq!(exit_code(&output), 0, "{}", text(&output.stderr));
    directory
}

/// Builds a live bundle of `spec_text` with `version` into `file`, and returns its hash.
fn live_bundle(directory: &Path, file: &str, spec_text: &str, version: u64) -> String {
    let spec_file = format!("{file}.spec.yaml");
    std::fs::write(directory.join(&spec_file), spec_text).unwrap();
    let version = version.to_string();
    let output =
        gatectl(&["bundle", "build", &spec_file, "--signing-key", "keys/release.key.pem", "--version", &version, "-o", file], directory);
    assert_eq!(exit_code(&output), 0, "{}", text(&output.stderr));
    text(&output.stdout).trim().to_owned()
}

fn read_plan(directory: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(directory.join("plan.json")).unwrap()).unwrap()
}

fn plan(directory: &Path, extra: &[&str]) -> Output {
    let mut arguments = vec!["plan", "new.yaml", "-o", "plan.json"];
    arguments.extend_from_slice(extra);
    gatectl(&arguments, directory)
}

#[test]
fn version_is_highest_live_plus_one() {
    let directory = workspace();
    let path = directory.path();
    live_bundle(path, "eu.json", &spec(&["a"], "Bearer x"), 3);
    let newest = live_bundle(path, "us.json", &spec(&["a"], "Bearer x"), 5);
    std::fs::write(path.join("new.yaml"), spec(&["a", "b"], "Bearer x")).unwrap();

    let output = plan(path, &["--target", "file:eu.json", "--target", "us.json"]);

    assert_eq!(exit_code(&output), 0, "{}", text(&output.stderr));
    let plan = read_plan(path);
    assert_eq!(plan["bundle"]["version"], 6);
    assert_eq!(plan["bundle"]["parent"], newest.as_str());
    assert_eq!(plan["targets"][0]["live"]["version"], 3);
    assert_eq!(plan["targets"][1]["live"]["version"], 5);
    assert_eq!(plan["targets"][1]["live"]["hash"], newest.as_str());
}

#[test]
fn largest_live_version_leaves_no_successor() {
    let directory = workspace();
    let path = directory.path();
    let largest = gatectl_spec::bundle::MAX_VERSION;
    live_bundle(path, "live.json", &spec(&["a"], "Bearer x"), largest);
    std::fs::write(path.join("new.yaml"), spec(&["a", "b"], "Bearer x")).unwrap();

    let output = plan(path, &["--target", "live.json"]);

    assert_eq!(exit_code(&output), 2, "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("no higher version is left"), "{}", text(&output.stderr));
    let too_large = (largest + 1).to_string();
    let build = gatectl(&["bundle", "build", "new.yaml", "--signing-key", "keys/release.key.pem", "--version", &too_large], path);
    assert_eq!(exit_code(&build), 2, "{}", text(&build.stderr));
}

#[test]
fn first_rollout_starts_at_version_one() {
    let directory = workspace();
    let path = directory.path();
    let named = spec(&["a"], "Bearer x").replace("kind: Gateway\n", "kind: Gateway\nmetadata: {name: shop, labels: {team: orders}}\n");
    std::fs::write(path.join("new.yaml"), named).unwrap();

    let output = plan(path, &["--target", "file:fresh.json"]);

    assert_eq!(exit_code(&output), 0, "{}", text(&output.stderr));
    let plan = read_plan(path);
    assert_eq!(plan["bundle"]["version"], 1);
    assert_eq!(plan["bundle"]["parent"], serde_json::Value::Null);
    assert_eq!(plan["targets"][0]["live"], serde_json::Value::Null);
    assert_eq!(plan["targets"][0]["summary"]["added"], 2);
    assert_eq!(plan["targets"][0]["summary"]["changed"], 0, "a first rollout changes no name or labels: {plan:#}");
}

#[test]
fn canary_targets_form_first_wave() {
    let directory = workspace();
    let path = directory.path();
    std::fs::write(path.join("new.yaml"), spec(&["a"], "Bearer x")).unwrap();

    let output = plan(path, &["--target", "a.json", "--target", "b.json", "--target", "c.json", "--canary", "c.json"]);

    assert_eq!(exit_code(&output), 0, "{}", text(&output.stderr));
    let waves = &read_plan(path)["waves"];
    assert_eq!(waves.as_array().unwrap().len(), 2);
    assert_eq!(waves[0]["number"], 1);
    assert_eq!(waves[0]["canary"], true);
    assert_eq!(waves[0]["targets"], serde_json::json!(["file:c.json"]));
    assert_eq!(waves[1]["canary"], false);
    assert_eq!(waves[1]["targets"], serde_json::json!(["file:a.json", "file:b.json"]));
}

#[test]
fn first_target_is_canary_by_default() {
    let directory = workspace();
    let path = directory.path();
    std::fs::write(path.join("new.yaml"), spec(&["a"], "Bearer x")).unwrap();

    let output = plan(path, &["--target", "a.json", "--target", "b.json", "--target", "c.json"]);

    assert_eq!(exit_code(&output), 0, "{}", text(&output.stderr));
    let waves = &read_plan(path)["waves"];
    assert_eq!(waves[0]["targets"], serde_json::json!(["file:a.json"]));
    assert_eq!(waves[1]["targets"], serde_json::json!(["file:b.json", "file:c.json"]));
}

#[test]
fn summary_lists_breaking_changes() {
    let directory = workspace();
    let path = directory.path();
    live_bundle(path, "live.json", &spec(&["keep"], "Bearer x"), 2);
    std::fs::write(path.join("new.yaml"), spec(&["keep"], "Bearer x").replace("prefix: /keep", "prefix: /moved")).unwrap();

    let output = plan(path, &["--target", "live.json"]);

    assert_eq!(exit_code(&output), 0, "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("0 added, 1 changed, 0 removed; 1 breaking"), "{stderr}");
    assert!(stderr.contains("    change route keep: "), "{stderr}");
    assert!(stderr.contains("[breaking]"), "{stderr}");
}

#[test]
fn unchanged_spec_is_noted() {
    let directory = workspace();
    let path = directory.path();
    live_bundle(path, "live.json", &spec(&["keep"], "Bearer x"), 2);
    std::fs::write(path.join("new.yaml"), spec(&["keep"], "Bearer x")).unwrap();

    let output = plan(path, &["--target", "live.json"]);

    assert_eq!(exit_code(&output), 0, "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("file:live.json: live version 2"), "{stderr}");
    assert!(stderr.contains("already runs this spec, nothing to push"), "{stderr}");
    assert!(stderr.contains("note: every target already runs this spec"), "{stderr}");
    assert_eq!(read_plan(path)["targets"][0]["runsThisSpec"], true);
}

#[test]
fn canary_is_a_target_that_needs_the_bundle() {
    let directory = workspace();
    let path = directory.path();
    live_bundle(path, "current.json", &spec(&["keep"], "Bearer x"), 2);
    live_bundle(path, "behind.json", &spec(&["old"], "Bearer x"), 2);
    std::fs::write(path.join("new.yaml"), spec(&["keep"], "Bearer x")).unwrap();

    let output = plan(path, &["--target", "current.json", "--target", "behind.json"]);

    assert_eq!(exit_code(&output), 0, "{}", text(&output.stderr));
    let waves = &read_plan(path)["waves"];
    assert_eq!(waves[0]["targets"], serde_json::json!(["file:behind.json"]), "{waves:#}");
    assert_eq!(waves[0]["canary"], true);
    assert_eq!(waves[1]["targets"], serde_json::json!(["file:current.json"]), "{waves:#}");
}

#[test]
fn too_many_deletes_rejected_with_list() {
    let directory = workspace();
    let path = directory.path();
    live_bundle(path, "live.json", &spec(&["keep", "old-1", "old-2", "old-3"], "Bearer x"), 2);
    std::fs::write(path.join("new.yaml"), spec(&["keep"], "Bearer x")).unwrap();

    let output = plan(path, &["--target", "live.json", "--max-deletes", "2"]);

    assert_eq!(exit_code(&output), 1);
    let stderr = text(&output.stderr);
    for name in ["old-1", "old-2", "old-3"] {
        assert!(stderr.contains(&format!("delete route {name}")), "{stderr}");
    }
    assert!(stderr.contains("--allow-deletes"), "{stderr}");
    assert!(!path.join("plan.json").exists());
}

#[test]
fn allow_deletes_writes_plan_with_every_delete() {
    let directory = workspace();
    let path = directory.path();
    live_bundle(path, "live.json", &spec(&["keep", "old-1", "old-2", "old-3"], "Bearer x"), 2);
    std::fs::write(path.join("new.yaml"), spec(&["keep"], "Bearer x")).unwrap();

    let output = plan(path, &["--target", "live.json", "--max-deletes", "2", "--allow-deletes"]);

    assert_eq!(exit_code(&output), 0, "{}", text(&output.stderr));
    let plan = read_plan(path);
    assert_eq!(plan["deletes"]["mostDeletesOnOneTarget"], 3);
    assert_eq!(plan["deletes"]["allowDeletes"], true);
    let removed: Vec<&str> = plan["targets"][0]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|change| change["operation"] == "removed")
        .map(|change| change["name"].as_str().unwrap())
        .collect();
    assert_eq!(removed, ["old-1", "old-2", "old-3"]);
}

#[test]
fn deletes_within_limit_accepted() {
    let directory = workspace();
    let path = directory.path();
    live_bundle(path, "live.json", &spec(&["keep", "old-1"], "Bearer x"), 2);
    std::fs::write(path.join("new.yaml"), spec(&["keep"], "Bearer x")).unwrap();

    let output = plan(path, &["--target", "live.json", "--max-deletes", "1"]);

    assert_eq!(exit_code(&output), 0, "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("delete route old-1"), "{}", text(&output.stderr));
}

#[test]
fn plan_file_has_documented_fields() {
    let directory = workspace();
    let path = directory.path();
    live_bundle(path, "live.json", &spec(&["a"], "Bearer x"), 1);
    std::fs::write(path.join("new.yaml"), spec(&["a", "b"], "Bearer x")).unwrap();

    let output = plan(path, &["--target", "live.json", "--source-commit", "feedbeef"]);

    assert_eq!(exit_code(&output), 0, "{}", text(&output.stderr));
    let plan = read_plan(path);
    assert_eq!(plan["planFormat"], 1);
    assert!(plan["createdAt"].as_str().unwrap().ends_with('Z'));
    let bundle = &plan["bundle"];
    assert!(bundle["hash"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(bundle["formatVersion"], 1);
    assert_eq!(bundle["sourceCommit"], "feedbeef");
    assert_eq!(bundle["counts"]["routes"], 2);
    let target = &plan["targets"][0];
    assert_eq!(target["target"], "file:live.json");
    assert_eq!(target["kind"], "file");
    assert_eq!(target["summary"], serde_json::json!({"added": 1, "changed": 0, "removed": 0, "breaking": 0, "risky": 0}));
    assert_eq!(target["changes"][0]["kind"], "route");
    assert_eq!(target["changes"][0]["name"], "b");
    assert_eq!(target["changes"][0]["operation"], "added");
    assert_eq!(plan["healthGates"], serde_json::json!({"maxErrorRatePercent": 1.0, "observationWindow": "5m", "minRequests": 100}));
    assert_eq!(plan["deletes"], serde_json::json!({"maxDeletes": 10, "allowDeletes": false, "mostDeletesOnOneTarget": 0}));
}

#[test]
fn health_gate_flags_recorded() {
    let directory = workspace();
    let path = directory.path();
    std::fs::write(path.join("new.yaml"), spec(&["a"], "Bearer x")).unwrap();

    let output = plan(path, &["--target", "a.json", "--max-error-rate", "0.5", "--observation-window", "90s", "--min-requests", "20"]);

    assert_eq!(exit_code(&output), 0, "{}", text(&output.stderr));
    let gates = &read_plan(path)["healthGates"];
    assert_eq!(gates["maxErrorRatePercent"], 0.5);
    assert_eq!(gates["observationWindow"], "1m30s");
    assert_eq!(gates["minRequests"], 20);
}

#[test]
fn error_rate_above_hundred_percent_rejected() {
    let directory = workspace();
    std::fs::write(directory.path().join("new.yaml"), spec(&["a"], "Bearer x")).unwrap();

    let output = plan(directory.path(), &["--target", "a.json", "--max-error-rate", "150"]);

    assert_eq!(exit_code(&output), 2);
}

#[test]
fn format_name_as_output_file_is_refused() {
    let directory = workspace();
    std::fs::write(directory.path().join("new.yaml"), spec(&["a"], "Bearer x")).unwrap();

    for command in [
        vec!["plan", "new.yaml", "--target", "a.json", "--output", "json"],
        vec!["bundle", "build", "new.yaml", "--signing-key", "keys/release.key.pem", "--version", "1", "--output", "json"],
        vec!["import", "new.yaml", "-o", "yaml"],
    ] {
        let output = gatectl(&command, directory.path());
        assert_eq!(exit_code(&output), 2, "{command:?}");
        let stderr = text(&output.stderr);
        assert!(stderr.contains("is a format name"), "{command:?}: {stderr}");
        assert!(stderr.contains("file name such as"), "{command:?}: {stderr}");
    }
    assert!(!directory.path().join("json").exists());
    assert!(!directory.path().join("yaml").exists());

    // `-o -` of import is standard output, as for most tools.
    let openapi = "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n    get:\n      responses: {'200': {description: ok}}\n";
    std::fs::write(directory.path().join("api.yaml"), openapi).unwrap();
    let imported = gatectl(&["import", "api.yaml", "-o", "-"], directory.path());
    assert_eq!(exit_code(&imported), 0, "{}", text(&imported.stderr));
    assert!(text(&imported.stdout).contains("kind: Gateway"), "{}", text(&imported.stdout));
    assert!(!directory.path().join("-").exists());

    let output = plan(directory.path(), &["--target", "a.json"]);
    assert_eq!(exit_code(&output), 0, "{}", text(&output.stderr));
}

#[test]
fn unsigned_plan_says_apply_refuses_it() {
    let directory = workspace();
    std::fs::write(directory.path().join("new.yaml"), spec(&["a"], "Bearer x")).unwrap();

    let unsigned = plan(directory.path(), &["--target", "a.json"]);
    let signed = plan(directory.path(), &["--target", "a.json", "--signing-key", "keys/release.key.pem"]);

    assert_eq!(exit_code(&unsigned), 0, "{}", text(&unsigned.stderr));
    assert!(text(&unsigned.stderr).contains("the plan carries no bundle"), "{}", text(&unsigned.stderr));
    assert!(!text(&signed.stderr).contains("carries no bundle"), "{}", text(&signed.stderr));
}

#[test]
fn header_token_never_in_plan() {
    let directory = workspace();
    let path = directory.path();
    live_bundle(path, "live.json", &spec(&["a"], "Bearer live-token-4f1c9e"), 1);
    std::fs::write(path.join("new.yaml"), spec(&["a"], "Bearer next-token-7d2a0b")).unwrap();

    let output = plan(path, &["--target", "live.json"]);

    assert_eq!(exit_code(&output), 0, "{}", text(&output.stderr));
    let plan_text = std::fs::read_to_string(path.join("plan.json")).unwrap();
    assert_eq!(read_plan(path)["targets"][0]["summary"]["changed"], 1, "{plan_text}");
    for token in ["live-token-4f1c9e", "next-token-7d2a0b"] {
        assert!(!plan_text.contains(token), "{plan_text}");
        assert!(!text(&output.stderr).contains(token));
        assert!(!text(&output.stdout).contains(token));
    }
    assert!(plan_text.contains("<redacted>"), "{plan_text}");
}

#[test]
fn unreachable_http_target_stops_plan() {
    let directory = workspace();
    std::fs::write(directory.path().join("new.yaml"), spec(&["a"], "Bearer x")).unwrap();
    // A port that was free a moment ago, so nothing answers there.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");

    let output = plan(directory.path(), &["--target", &url]);

    assert_eq!(exit_code(&output), 2);
    let stderr = text(&output.stderr);
    assert!(stderr.contains(&format!("target {url}")), "{stderr}");
    assert!(stderr.contains("check that the runtime is running"), "{stderr}");
    assert!(!directory.path().join("plan.json").exists());
}

#[test]
fn tampered_live_bundle_stops_plan() {
    let directory = workspace();
    let path = directory.path();
    live_bundle(path, "live.json", &spec(&["a"], "Bearer x"), 1);
    let live = path.join("live.json");
    std::fs::write(&live, std::fs::read_to_string(&live).unwrap().replacen("9000", "9009", 1)).unwrap();
    std::fs::write(path.join("new.yaml"), spec(&["a"], "Bearer x")).unwrap();

    let output = plan(path, &["--target", "live.json"]);

    assert_eq!(exit_code(&output), 2);
    assert!(text(&output.stderr).contains("target file:live.json"), "{}", text(&output.stderr));
}

#[test]
fn live_bundle_from_untrusted_signer_stops_plan() {
    let directory = workspace();
    let path = directory.path();
    live_bundle(path, "live.json", &spec(&["a"], "Bearer x"), 1);
    assert_eq!(exit_code(&gatectl(&["keygen", "--out", "other", "--id", "other"], path)), 0);
    std::fs::write(path.join("new.yaml"), spec(&["a"], "Bearer x")).unwrap();

    let trusted = plan(path, &["--target", "live.json", "--trusted-keys", "keys"]);
    let untrusted = plan(path, &["--target", "live.json", "--trusted-keys", "other"]);

    assert_eq!(exit_code(&trusted), 0, "{}", text(&trusted.stderr));
    assert_eq!(exit_code(&untrusted), 2);
    assert!(text(&untrusted.stderr).contains("unknown key ids"), "{}", text(&untrusted.stderr));
}

#[test]
fn duplicate_target_rejected() {
    let directory = workspace();
    std::fs::write(directory.path().join("new.yaml"), spec(&["a"], "Bearer x")).unwrap();

    let output = plan(directory.path(), &["--target", "a.json", "--target", "file:a.json"]);

    assert_eq!(exit_code(&output), 2);
    assert!(text(&output.stderr).contains("given twice"), "{}", text(&output.stderr));
}

#[test]
fn invalid_spec_exits_one() {
    let directory = workspace();
    std::fs::write(directory.path().join("new.yaml"), spec(&["a"], "Bearer x").replace("upstream: app", "upstream: nowhere")).unwrap();

    let output = plan(directory.path(), &["--target", "a.json"]);

    assert_eq!(exit_code(&output), 1);
    assert!(!directory.path().join("plan.json").exists());
}
