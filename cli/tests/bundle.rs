//! `gatectl keygen` and `gatectl bundle build|inspect|verify`, run through the real binary.

mod command_support;

use command_support::{exit_code, gatectl, text};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SPEC: &str = "apiVersion: gatectl.dev/v1
kind: Gateway
metadata:
  name: shop
upstreams:
  - name: orders
    targets: [{host: 127.0.0.1, port: 9000}]
routes:
  - name: orders
    match: {path: {prefix: /orders}}
    upstream: orders
";

/// Creates a temporary directory with `spec.yaml` and a key pair `keys/release.*`.
fn workspace() -> tempfile::TempDir {
    let directory = tempfile::tempdir().unwrap();
    std::fs::write(directory.path().join("spec.yaml"), SPEC).unwrap();
    let output = gatectl(&["keygen", "--out", "keys", "--id", "release"], directory.path());
    assert_eq!(exit_code(&output), 0, "{}", text(&output.stderr));
    directory
}

fn build(directory: &Path, output_file: &str) -> Output {
    gatectl(
        &[
            "bundle",
            "build",
            "spec.yaml",
            "--signing-key",
            "keys/release.key.pem",
            "--version",
            "4",
            "--source-commit",
            "0123abc",
            "-o",
            output_file,
        ],
        directory,
    )
}

fn private_key_body(path: &Path) -> String {
    let pem = std::fs::read_to_string(path).unwrap();
    pem.lines().nth(1).unwrap().to_owned()
}

#[test]
fn keygen_writes_private_key_with_mode_0600() {
    let directory = workspace();
    let private_key = directory.path().join("keys/release.key.pem");

    let metadata = std::fs::metadata(&private_key).unwrap();

    #[cfg(unix)]
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&metadata.permissions()) & 0o777, 0o600);
    assert!(std::fs::read_to_string(&private_key).unwrap().starts_with("-----BEGIN PRIVATE KEY-----"));
}

#[test]
fn keygen_public_key_file_names_key_id() {
    let directory = workspace();

    let public: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(directory.path().join("keys/release.pub.json")).unwrap()).unwrap();

    assert_eq!(public["keyId"], "release");
    assert_eq!(public["algorithm"], "ed25519");
    assert!(public["publicKey"].as_str().unwrap().starts_with("-----BEGIN PUBLIC KEY-----"));
}

#[test]
fn keygen_derives_key_id_from_public_key() {
    let directory = tempfile::tempdir().unwrap();

    let output = gatectl(&["keygen", "--out", "keys"], directory.path());

    assert_eq!(exit_code(&output), 0, "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    let key_id = stdout.lines().next().unwrap().trim_start_matches("key id:").trim().to_owned();
    let digits = key_id.strip_prefix("ed25519-").unwrap();
    assert_eq!(digits.len(), 16, "{key_id}");
    assert!(digits.bytes().all(|byte| byte.is_ascii_hexdigit()), "{key_id}");
    assert!(directory.path().join(format!("keys/{key_id}.key.pem")).exists());
    assert!(directory.path().join(format!("keys/{key_id}.pub.json")).exists());
}

#[test]
fn keygen_never_overwrites_a_key() {
    let directory = workspace();
    let before = std::fs::read(directory.path().join("keys/release.key.pem")).unwrap();

    let output = gatectl(&["keygen", "--out", "keys", "--id", "release"], directory.path());

    assert_eq!(exit_code(&output), 2);
    assert!(text(&output.stderr).contains("already exists"), "{}", text(&output.stderr));
    assert_eq!(std::fs::read(directory.path().join("keys/release.key.pem")).unwrap(), before);
}

#[test]
fn keygen_rejects_invalid_key_id() {
    let directory = tempfile::tempdir().unwrap();

    let output = gatectl(&["keygen", "--out", "keys", "--id", "../escape"], directory.path());

    assert_eq!(exit_code(&output), 2);
    assert!(text(&output.stderr).contains("invalid key id"), "{}", text(&output.stderr));
}

#[test]
fn build_then_verify_exits_zero() {
    let directory = workspace();

    let built = build(directory.path(), "bundle.json");
    assert_eq!(exit_code(&built), 0, "{}", text(&built.stderr));
    let hash = text(&built.stdout).trim().to_owned();
    assert!(hash.starts_with("sha256:"), "{hash}");

    let verified = gatectl(&["bundle", "verify", "bundle.json", "--trusted-keys", "keys"], directory.path());
    assert_eq!(exit_code(&verified), 0, "{}", text(&verified.stderr));
    let stdout = text(&verified.stdout);
    assert!(stdout.contains(&hash), "{stdout}");
    assert!(stdout.contains("signed by release"), "{stdout}");
}

#[test]
fn builds_with_same_time_are_byte_identical() {
    let directory = workspace();
    let build_at_fixed_time = |name: &str| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_gatectl"));
        command
            .args(["bundle", "build", "spec.yaml", "--signing-key", "keys/release.key.pem", "--version", "1", "-o", name])
            .current_dir(directory.path())
            .env("SOURCE_DATE_EPOCH", "1764878400");
        let output = command.output().unwrap();
        assert_eq!(exit_code(&output), 0, "{}", text(&output.stderr));
        std::fs::read(directory.path().join(name)).unwrap()
    };

    assert_eq!(build_at_fixed_time("first.json"), build_at_fixed_time("second.json"));
}

#[test]
fn verify_rejects_tampered_bundle_with_exit_one() {
    let directory = workspace();
    build(directory.path(), "bundle.json");
    let path = directory.path().join("bundle.json");
    let tampered = std::fs::read_to_string(&path).unwrap().replacen("/orders", "/orderz", 1);
    std::fs::write(&path, tampered).unwrap();

    let output = gatectl(&["bundle", "verify", "bundle.json", "--trusted-keys", "keys"], directory.path());

    assert_eq!(exit_code(&output), 1);
    assert!(text(&output.stderr).contains("does not match its hash"), "{}", text(&output.stderr));
}

#[test]
fn verify_rejects_untrusted_signer_with_exit_one() {
    let directory = workspace();
    build(directory.path(), "bundle.json");
    let keygen = gatectl(&["keygen", "--out", "other-keys", "--id", "other"], directory.path());
    assert_eq!(exit_code(&keygen), 0);

    let output = gatectl(&["bundle", "verify", "bundle.json", "--trusted-keys", "other-keys"], directory.path());

    assert_eq!(exit_code(&output), 1);
    assert!(text(&output.stderr).contains("unknown key ids (release)"), "{}", text(&output.stderr));
}

#[test]
fn verify_rejects_truncated_bundle_with_exit_one() {
    let directory = workspace();
    build(directory.path(), "bundle.json");
    let path = directory.path().join("bundle.json");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();

    let output = gatectl(&["bundle", "verify", "bundle.json", "--trusted-keys", "keys"], directory.path());

    assert_eq!(exit_code(&output), 1);
    assert!(text(&output.stderr).contains("truncated"), "{}", text(&output.stderr));
}

#[test]
fn verify_exits_two_when_it_cannot_run() {
    let directory = workspace();
    build(directory.path(), "bundle.json");

    let missing_keys = gatectl(&["bundle", "verify", "bundle.json", "--trusted-keys", "no-such-dir"], directory.path());
    let missing_bundle = gatectl(&["bundle", "verify", "missing.json", "--trusted-keys", "keys"], directory.path());

    assert_eq!(exit_code(&missing_keys), 2, "{}", text(&missing_keys.stderr));
    assert_eq!(exit_code(&missing_bundle), 2, "{}", text(&missing_bundle.stderr));
}

#[test]
fn signing_key_read_from_environment() {
    let directory = tempfile::tempdir().unwrap();
    std::fs::write(directory.path().join("spec.yaml"), SPEC).unwrap();
    let keygen = gatectl(&["keygen", "--out", "keys"], directory.path());
    let key_id = text(&keygen.stdout).lines().next().unwrap().trim_start_matches("key id:").trim().to_owned();
    let private_key = directory.path().join(format!("keys/{key_id}.key.pem"));
    let pem = std::fs::read_to_string(&private_key).unwrap();

    let output = Command::new(env!("CARGO_BIN_EXE_gatectl"))
        .args(["bundle", "build", "spec.yaml", "--version", "2", "-o", "bundle.json"])
        .current_dir(directory.path())
        .env("GATECTL_SIGNING_KEY", &pem)
        .env_remove("GATECTL_SIGNING_KEY_ID")
        .output()
        .unwrap();

    assert_eq!(exit_code(&output), 0, "{}", text(&output.stderr));
    let body = private_key_body(&private_key);
    assert!(!text(&output.stdout).contains(&body));
    assert!(!text(&output.stderr).contains(&body));
    let verified = gatectl(&["bundle", "verify", "bundle.json", "--trusted-keys", "keys"], directory.path());
    assert_eq!(exit_code(&verified), 0, "{}", text(&verified.stderr));
    assert!(text(&verified.stdout).contains(&format!("signed by {key_id}")));
}

#[test]
fn build_without_signing_key_exits_two() {
    let directory = workspace();

    let output = gatectl(&["bundle", "build", "spec.yaml", "--version", "1", "-o", "bundle.json"], directory.path());

    assert_eq!(exit_code(&output), 2);
    assert!(text(&output.stderr).contains("GATECTL_SIGNING_KEY"), "{}", text(&output.stderr));
    assert!(!directory.path().join("bundle.json").exists());
}

#[test]
fn build_rejects_invalid_spec_with_exit_one() {
    let directory = workspace();
    std::fs::write(directory.path().join("spec.yaml"), SPEC.replace("upstream: orders", "upstream: missing")).unwrap();

    let output = build(directory.path(), "bundle.json");

    assert_eq!(exit_code(&output), 1);
    assert!(text(&output.stderr).contains("missing"), "{}", text(&output.stderr));
    assert!(!directory.path().join("bundle.json").exists());
}

#[test]
fn build_rejects_malformed_parent_hash() {
    let directory = workspace();

    let output = gatectl(
        &["bundle", "build", "spec.yaml", "--signing-key", "keys/release.key.pem", "--version", "1", "--parent", "abc", "-o", "b.json"],
        directory.path(),
    );

    assert_eq!(exit_code(&output), 2);
    assert!(text(&output.stderr).contains("--parent `abc`"), "{}", text(&output.stderr));
}

fn inspect_settings() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", "[created-at]");
    settings.add_filter(r"sha256:[0-9a-f]{64}", "[hash]");
    settings
}

#[test]
fn inspect_shows_metadata_and_counts() {
    let directory = workspace();
    build(directory.path(), "bundle.json");

    let output = gatectl(&["bundle", "inspect", "bundle.json"], directory.path());

    assert_eq!(exit_code(&output), 0, "{}", text(&output.stderr));
    inspect_settings().bind(|| insta::assert_snapshot!("inspect_text", text(&output.stdout)));
}

#[test]
fn inspect_json_output() {
    let directory = workspace();
    build(directory.path(), "bundle.json");

    let output = gatectl(&["bundle", "inspect", "bundle.json", "--output", "json"], directory.path());

    assert_eq!(exit_code(&output), 0, "{}", text(&output.stderr));
    inspect_settings().bind(|| insta::assert_snapshot!("inspect_json", text(&output.stdout)));
}

#[test]
fn inspect_takes_format_for_output() {
    let directory = workspace();
    build(directory.path(), "bundle.json");

    let by_output = gatectl(&["bundle", "inspect", "bundle.json", "--output", "json"], directory.path());
    let by_format = gatectl(&["bundle", "inspect", "bundle.json", "--format", "json"], directory.path());

    assert_eq!(exit_code(&by_format), 0, "{}", text(&by_format.stderr));
    assert_eq!(text(&by_format.stdout), text(&by_output.stdout));
}

#[test]
fn inspect_rejects_tampered_bundle() {
    let directory = workspace();
    build(directory.path(), "bundle.json");
    let path: PathBuf = directory.path().join("bundle.json");
    std::fs::write(&path, std::fs::read_to_string(&path).unwrap().replacen("9000", "9001", 1)).unwrap();

    let output = gatectl(&["bundle", "inspect", "bundle.json"], directory.path());

    assert_eq!(exit_code(&output), 1);
    assert!(text(&output.stderr).contains("does not match its hash"), "{}", text(&output.stderr));
}
