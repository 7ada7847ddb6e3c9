//! Building, opening and verifying bundles, and every way a bundle is rejected.

use gatectl_spec::Spec;
use gatectl_spec::bundle::{
    self, BundleError, BundleMetadata, CompiledBundle, DEFAULT_MAX_BUNDLE_BYTES, FORMAT_VERSION, KeyError, SignerKey, TrustedKeys,
};
use gatectl_spec::load::load_str;

const SPEC: &str = "apiVersion: gatectl.dev/v1
kind: Gateway
upstreams:
  - name: orders
    targets: [{host: 127.0.0.1, port: 9000}]
  - name: catalog
    targets: [{host: 127.0.0.1, port: 9100}]
routes:
  - name: orders
    match: {path: {prefix: /orders}}
    upstream: orders
  - name: catalog
    match: {path: {prefix: /catalog}}
    upstream: catalog
";

fn load_spec(text: &str) -> Spec {
    let loaded = load_str("spec.yaml", text);
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    loaded.spec.unwrap()
}

fn metadata(version: u64) -> BundleMetadata {
    BundleMetadata { version, parent: None, created_at: "2026-12-04T20:00:00Z".to_owned(), source_commit: Some("abc123".to_owned()) }
}

fn trust(signer: &SignerKey) -> TrustedKeys {
    let mut trusted = TrustedKeys::new();
    trusted.insert(signer.key_id().to_owned(), signer.verifying_key(), "test".into()).unwrap();
    trusted
}

fn signed_bytes(signer: &SignerKey) -> Vec<u8> {
    bundle::build(&load_spec(SPEC), metadata(7), signer).unwrap().to_bytes()
}

/// Signs an arbitrary payload, so tests can make bundles that `build` would never write.
fn sign_payload(payload: serde_json::Value, signer: &SignerKey) -> Vec<u8> {
    CompiledBundle::from_value(payload).unwrap().sign(signer).to_bytes()
}

fn payload_of(bytes: &[u8]) -> serde_json::Value {
    let envelope: serde_json::Value = serde_json::from_slice(bytes).unwrap();
    envelope["payload"].clone()
}

#[test]
fn build_then_verify_round_trip() {
    let signer = SignerKey::generate(Some("release".into())).unwrap();
    let bytes = signed_bytes(&signer);

    let verified = bundle::verify(&bytes, &trust(&signer)).unwrap();

    assert_eq!(verified.signer, "release");
    assert_eq!(verified.metadata, metadata(7));
    assert!(bundle::is_bundle_hash(&verified.hash), "{}", verified.hash);
    assert_eq!(verified.spec, bundle::normalize_spec(&load_spec(SPEC)));
}

#[test]
fn hash_is_sha256_of_canonical_payload() {
    let signer = SignerKey::generate(None).unwrap();
    let bytes = signed_bytes(&signer);
    let envelope: serde_json::Value = serde_json::from_slice(&bytes).unwrap();

    let canonical = bundle::canonical::to_canonical_bytes(&envelope["payload"]).unwrap();
    let expected = format!("sha256:{}", hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&canonical)));

    assert_eq!(envelope["hash"], expected.as_str());
}

#[test]
fn same_spec_and_metadata_give_identical_bytes() {
    let signer = SignerKey::generate(None).unwrap();
    let first = signed_bytes(&signer);
    let second = signed_bytes(&signer);
    assert_eq!(first, second);

    // The same entities written in another order normalise to the same payload.
    let original = CompiledBundle::new(&load_spec(SPEC), metadata(7)).unwrap();
    let mut spec = load_spec(SPEC);
    spec.upstreams.reverse();
    spec.routes.reverse();
    let reversed = CompiledBundle::new(&spec, metadata(7)).unwrap();
    assert_eq!(original.canonical, reversed.canonical);
    assert_eq!(original.hash, reversed.hash);
}

#[test]
fn bundle_file_is_canonical_json_with_newline() {
    let signer = SignerKey::generate(None).unwrap();
    let bytes = signed_bytes(&signer);
    assert_eq!(bytes.last(), Some(&b'\n'));
    let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let mut canonical = bundle::canonical::to_canonical_bytes(&value).unwrap();
    canonical.push(b'\n');
    assert_eq!(bytes, canonical);
}

#[test]
fn tampered_payload_byte_rejected() {
    let signer = SignerKey::generate(None).unwrap();
    let bytes = signed_bytes(&signer);
    let text = String::from_utf8(bytes).unwrap();
    assert!(text.contains("\"port\":9000"));
    let tampered = text.replacen("\"port\":9000", "\"port\":9001", 1);

    let error = bundle::verify(tampered.as_bytes(), &trust(&signer)).unwrap_err();

    assert!(matches!(error, BundleError::HashMismatch { .. }), "{error}");
    assert!(error.to_string().contains("changed after it was built"), "{error}");
}

#[test]
fn tampered_hash_and_payload_rejected_by_signature() {
    let signer = SignerKey::generate(None).unwrap();
    let bytes = signed_bytes(&signer);
    let mut payload = payload_of(&bytes);
    payload["spec"]["upstreams"][0]["targets"][0]["port"] = 9001.into();
    let forged_hash = CompiledBundle::from_value(payload.clone()).unwrap().hash;
    let mut envelope: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    envelope["payload"] = payload;
    envelope["hash"] = forged_hash.into();

    let error = bundle::verify(&serde_json::to_vec(&envelope).unwrap(), &trust(&signer)).unwrap_err();

    assert!(matches!(error, BundleError::BadSignature { .. }), "{error}");
}

#[test]
fn wrong_key_with_trusted_id_rejected() {
    let signer = SignerKey::generate(Some("release".into())).unwrap();
    let impostor = SignerKey::generate(Some("release".into())).unwrap();
    let bytes = signed_bytes(&impostor);

    let error = bundle::verify(&bytes, &trust(&signer)).unwrap_err();

    assert!(matches!(&error, BundleError::BadSignature { key_id } if key_id == "release"), "{error}");
}

#[test]
fn unknown_key_id_rejected() {
    let signer = SignerKey::generate(Some("release".into())).unwrap();
    let other = SignerKey::generate(Some("someone-else".into())).unwrap();
    let bytes = signed_bytes(&other);

    let error = bundle::verify(&bytes, &trust(&signer)).unwrap_err();

    assert!(matches!(&error, BundleError::UnknownKey { found, .. } if found == &["someone-else"]), "{error}");
    let message = error.to_string();
    assert!(message.contains("someone-else"), "{message}");
    assert!(message.contains("trusted: release"), "{message}");
}

#[test]
fn truncated_file_rejected() {
    let signer = SignerKey::generate(None).unwrap();
    let bytes = signed_bytes(&signer);

    for length in [0, 1, bytes.len() / 2, bytes.len() - 3] {
        let error = bundle::verify(&bytes[..length], &trust(&signer)).unwrap_err();
        assert!(matches!(error, BundleError::Truncated { .. }), "length {length}: {error}");
    }
}

#[test]
fn older_format_version_rejected() {
    let signer = SignerKey::generate(None).unwrap();
    let mut payload = payload_of(&signed_bytes(&signer));
    payload["formatVersion"] = (FORMAT_VERSION - 1).into();
    let bytes = sign_payload(payload, &signer);

    let error = bundle::verify(&bytes, &trust(&signer)).unwrap_err();

    assert!(matches!(&error, BundleError::UnsupportedFormatVersion { found } if found == "0"), "{error}");
}

#[test]
fn missing_format_version_rejected() {
    let signer = SignerKey::generate(None).unwrap();
    let mut payload = payload_of(&signed_bytes(&signer));
    payload.as_object_mut().unwrap().remove("formatVersion");

    let error = bundle::verify(&sign_payload(payload, &signer), &trust(&signer)).unwrap_err();

    assert!(matches!(error, BundleError::UnsupportedFormatVersion { .. }), "{error}");
}

#[test]
fn spec_failing_schema_rejected() {
    let signer = SignerKey::generate(None).unwrap();
    let mut payload = payload_of(&signed_bytes(&signer));
    payload["spec"]["routes"][0]["upstreem"] = "orders".into();

    let error = bundle::verify(&sign_payload(payload, &signer), &trust(&signer)).unwrap_err();

    let BundleError::InvalidSpec { problems } = &error else { panic!("expected InvalidSpec, got {error}") };
    assert!(problems.iter().any(|problem| problem.contains("upstreem")), "{problems:?}");
}

#[test]
fn spec_failing_semantic_rule_rejected() {
    let signer = SignerKey::generate(None).unwrap();
    let mut payload = payload_of(&signed_bytes(&signer));
    payload["spec"]["routes"][0]["upstream"] = "missing-upstream".into();

    let error = bundle::verify(&sign_payload(payload, &signer), &trust(&signer)).unwrap_err();

    let BundleError::InvalidSpec { problems } = &error else { panic!("expected InvalidSpec, got {error}") };
    assert!(problems.iter().any(|problem| problem.contains("missing-upstream")), "{problems:?}");
}

#[test]
fn invalid_parent_hash_rejected() {
    let signer = SignerKey::generate(None).unwrap();
    let mut payload = payload_of(&signed_bytes(&signer));
    payload["parent"] = "sha256:not-hex".into();

    let error = bundle::verify(&sign_payload(payload, &signer), &trust(&signer)).unwrap_err();

    assert!(matches!(error, BundleError::InvalidPayload { .. }), "{error}");
}

#[test]
fn version_without_successor_rejected() {
    let signer = SignerKey::generate(None).unwrap();
    for version in [bundle::MAX_VERSION + 1, u64::MAX] {
        let mut payload = payload_of(&signed_bytes(&signer));
        payload["version"] = version.into();
        let error = bundle::verify(&sign_payload(payload, &signer), &trust(&signer)).unwrap_err();
        assert!(error.to_string().contains("largest bundle version"), "{error}");

        let Err(error) = CompiledBundle::new(&load_spec(SPEC), metadata(version)) else { panic!("build must reject version {version}") };
        assert!(matches!(error, BundleError::InvalidPayload { .. }), "{error}");
    }
    assert!(CompiledBundle::new(&load_spec(SPEC), metadata(bundle::MAX_VERSION)).is_ok());
}

#[test]
fn repeated_member_rejected() {
    let signer = SignerKey::generate(None).unwrap();
    let bytes = signed_bytes(&signer);
    let text = String::from_utf8(bytes).unwrap();
    // An unsigned payload before the signed one: a reader that keeps the first would see it.
    let unsigned = r#"{"formatVersion":1,"version":99}"#;
    let doubled_payload = text.replacen("\"payload\":", &format!("\"payload\":{unsigned},\"payload\":"), 1);
    let doubled_inner = text.replacen("\"version\":7", "\"version\":7,\"version\":7", 1);

    for (case, bytes) in [("payload", doubled_payload), ("inner", doubled_inner)] {
        let error = bundle::verify(bytes.as_bytes(), &trust(&signer)).unwrap_err();
        assert!(matches!(error, BundleError::MalformedEnvelope { .. }), "{case}: {error}");
        assert!(error.to_string().contains("appears twice"), "{case}: {error}");
    }
}

#[test]
fn oversized_file_rejected_before_parsing() {
    let signer = SignerKey::generate(None).unwrap();
    let bytes = signed_bytes(&signer);

    let error = bundle::verify_with_limit(&bytes, &trust(&signer), bytes.len() - 1).unwrap_err();

    assert!(matches!(error, BundleError::TooLarge { .. }), "{error}");
    assert!(bundle::verify_with_limit(&bytes, &trust(&signer), bytes.len()).is_ok());
    assert!(bytes.len() < DEFAULT_MAX_BUNDLE_BYTES);
}

#[test]
fn unsigned_bundle_rejected() {
    let signer = SignerKey::generate(None).unwrap();
    let mut envelope: serde_json::Value = serde_json::from_slice(&signed_bytes(&signer)).unwrap();
    envelope["signatures"] = serde_json::json!([]);

    let error = bundle::verify(&serde_json::to_vec(&envelope).unwrap(), &trust(&signer)).unwrap_err();

    assert!(matches!(error, BundleError::Unsigned), "{error}");
}

#[test]
fn non_envelope_json_rejected() {
    let signer = SignerKey::generate(None).unwrap();
    for text in ["[1, 2]", "{\"payload\": {}}", "not json at all", "{\"hash\":\"x\",\"payload\":{},\"signatures\":[],\"extra\":1}"] {
        let error = bundle::verify(text.as_bytes(), &trust(&signer)).unwrap_err();
        assert!(matches!(error, BundleError::MalformedEnvelope { .. }), "{text}: {error}");
    }
}

#[test]
fn second_signature_by_untrusted_key_ignored() {
    let signer = SignerKey::generate(Some("release".into())).unwrap();
    let other = SignerKey::generate(Some("other".into())).unwrap();
    let mut envelope = bundle::build(&load_spec(SPEC), metadata(1), &signer).unwrap();
    let extra = bundle::build(&load_spec(SPEC), metadata(1), &other).unwrap();
    envelope.signatures.insert(0, extra.signatures[0].clone());

    let verified = bundle::verify(&envelope.to_bytes(), &trust(&signer)).unwrap();

    assert_eq!(verified.signer, "release");
}

#[test]
fn open_skips_signatures_but_checks_hash() {
    let signer = SignerKey::generate(None).unwrap();
    let bytes = signed_bytes(&signer);

    let opened = bundle::open(&bytes).unwrap();
    assert_eq!(opened.metadata.version, 7);
    assert_eq!(opened.signatures[0].key_id, signer.key_id());

    let tampered = String::from_utf8(bytes).unwrap().replacen("/orders", "/orderz", 1);
    assert!(matches!(bundle::open(tampered.as_bytes()), Err(BundleError::HashMismatch { .. })));
}

#[test]
fn trusted_keys_read_from_directory() {
    let directory = tempfile::tempdir().unwrap();
    let signer = SignerKey::generate(Some("release".into())).unwrap();
    std::fs::write(directory.path().join("release.pub.json"), signer.to_public_key_file()).unwrap();
    std::fs::write(directory.path().join("notes.txt"), "not a key").unwrap();

    let trusted = TrustedKeys::from_path(directory.path()).unwrap();

    assert_eq!(trusted.key_ids().collect::<Vec<_>>(), ["release"]);
    assert!(bundle::verify(&signed_bytes(&signer), &trusted).is_ok());
}

#[test]
fn trusted_keys_reject_conflicting_ids() {
    let directory = tempfile::tempdir().unwrap();
    let first = SignerKey::generate(Some("release".into())).unwrap();
    let second = SignerKey::generate(Some("release".into())).unwrap();
    std::fs::write(directory.path().join("a.pub.json"), first.to_public_key_file()).unwrap();
    std::fs::write(directory.path().join("b.pub.json"), second.to_public_key_file()).unwrap();

    let error = TrustedKeys::from_path(directory.path()).unwrap_err();

    assert!(matches!(error, KeyError::DuplicateKeyId { .. }), "{error}");
}

#[test]
fn trusted_keys_directory_without_keys_rejected() {
    let directory = tempfile::tempdir().unwrap();

    let error = TrustedKeys::from_path(directory.path()).unwrap_err();

    assert!(matches!(error, KeyError::NoTrustedKeys { .. }), "{error}");
}

#[test]
fn private_key_errors_never_echo_the_key() {
    let signer = SignerKey::generate(None).unwrap();
    let pem = signer.to_private_pem();
    let body = pem.lines().nth(1).unwrap().to_owned();
    let damaged = pem.replace(&body, &body[..body.len() - 4]);

    let error = SignerKey::from_pem(&damaged, None).unwrap_err();

    assert!(matches!(error, KeyError::InvalidPrivateKey { .. }), "{error}");
    assert!(!error.to_string().contains(&body[..20]), "{error}");
}
