//! `gatectl status` and `gatectl plan` against a runtime (in this process) whose admin listener
//! requires TLS client certificates, with a CA, a server certificate for 127.0.0.1 and client
//! certificates generated at test time.

mod command_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use command_support::{exit_code, text};
use gatectl_runtime::admin::tls::AdminTlsOptions;
use gatectl_runtime::{RunningRuntime, Runtime, RuntimeOptions};

const TOKEN: &str = "mtls-test-token";

/// A certificate authority that issues the runtime's and the clients' certificates.
struct Authority {
    certificate: rcgen::Certificate,
    key: rcgen::KeyPair,
}

impl Authority {
    fn new(name: &str) -> Self {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        let key = rcgen::KeyPair::generate().unwrap();
        let certificate = params.self_signed(&key).unwrap();
        Self { certificate, key }
    }

    /// Issues a certificate for `name`; returns the PEM certificate and the PEM private key.
    fn issue(&self, name: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let certificate =
            rcgen::CertificateParams::new(vec![name.to_owned()]).unwrap().signed_by(&key, &self.certificate, &self.key).unwrap();
        (certificate.pem(), key.serialize_pem())
    }
}

/// A runtime whose admin listener speaks TLS with a certificate for 127.0.0.1 and requires a
/// client certificate from `ca.pem`, and the PEM files of a client in a temporary directory.
struct Setup {
    runtime: Option<RunningRuntime>,
    directory: tempfile::TempDir,
    /// Runs the runtime; declared last so that it is dropped after it.
    tokio: tokio::runtime::Runtime,
}

impl Setup {
    fn start() -> Self {
        let directory = tempfile::tempdir().unwrap();
        let authority = Authority::new("gatectl admin test CA");
        write(directory.path(), "ca.pem", &authority.certificate.pem());
        let (server_certificate, server_key) = authority.issue("127.0.0.1");
        let server_certificate = write(directory.path(), "admin.crt", &server_certificate);
        let server_key = write(directory.path(), "admin.key", &server_key);
        let (client_certificate, client_key) = authority.issue("operator.example.test");
        write(directory.path(), "client.crt", &client_certificate);
        write(directory.path(), "client.key", &client_key);
        let (foreign_certificate, foreign_key) = Authority::new("another CA").issue("operator.example.test");
        write(directory.path(), "foreign.crt", &foreign_certificate);
        write(directory.path(), "foreign.key", &foreign_key);
        write(directory.path(), "token", &format!("{TOKEN}\n"));

        let mut tls = AdminTlsOptions::new(server_certificate, server_key);
        tls.client_ca = Some(directory.path().join("ca.pem"));
        let options = RuntimeOptions {
            listen: vec!["127.0.0.1:0".parse().unwrap()],
            admin_listen: Some("127.0.0.1:0".parse().unwrap()),
            admin_token: Some(TOKEN.to_owned()),
            admin_tls: Some(tls),
            access_log: Some(gatectl_runtime::observe::access_log::AccessLogTarget::Disabled),
            drain_timeout: Duration::from_secs(2),
            ..RuntimeOptions::default()
        };
        let tokio = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let runtime = tokio.block_on(Runtime::start(options)).unwrap();
        Self { runtime: Some(runtime), directory, tokio }
    }

    fn path(&self) -> &Path {
        self.directory.path()
    }

    fn admin_url(&self) -> String {
        format!("https://{}", self.runtime.as_ref().unwrap().admin_address().unwrap())
    }

    /// Runs `gatectl` in the temporary directory with the token file, no GATECTL_* variable from
    /// the test's environment, and the variables in `environment`.
    fn run(&self, arguments: &[&str], environment: &[(&str, &str)]) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_gatectl"));
        command.args(arguments).args(["--admin-token-file", "token"]).current_dir(self.path());
        for name in
            ["GATECTL_ADMIN_TOKEN", "GATECTL_ADMIN_CA", "GATECTL_ADMIN_CLIENT_CERT", "GATECTL_ADMIN_CLIENT_KEY", "GATECTL_SIGNING_KEY"]
        {
            command.env_remove(name);
        }
        for (name, value) in environment {
            command.env(name, value);
        }
        command.output().unwrap()
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            self.tokio.block_on(runtime.shutdown());
        }
    }
}

fn write(directory: &Path, name: &str, contents: &str) -> PathBuf {
    let path = directory.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

const CLIENT: [&str; 6] = ["--admin-ca", "ca.pem", "--admin-client-cert", "client.crt", "--admin-client-key", "client.key"];

#[test]
fn status_over_mtls_succeeds() {
    let setup = Setup::start();
    let target = setup.admin_url();

    let mut arguments = vec!["status", "--target", &target];
    arguments.extend(CLIENT);
    let output = setup.run(&arguments, &[]);

    assert_eq!(exit_code(&output), 0, "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), format!("{target}: no bundle active\n  rate-limit store: memory\n"));
}

#[test]
fn status_reads_tls_files_from_environment() {
    let setup = Setup::start();
    let target = setup.admin_url();
    let environment =
        [("GATECTL_ADMIN_CA", "ca.pem"), ("GATECTL_ADMIN_CLIENT_CERT", "client.crt"), ("GATECTL_ADMIN_CLIENT_KEY", "client.key")];

    let output = setup.run(&["status", "--target", &target, "--output", "json"], &environment);

    assert_eq!(exit_code(&output), 0, "{}", text(&output.stderr));
    let statuses: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(statuses[0]["target"], target.as_str());
}

#[test]
fn status_without_client_certificate_names_target() {
    let setup = Setup::start();
    let target = setup.admin_url();

    let output = setup.run(&["status", "--target", &target, "--admin-ca", "ca.pem"], &[]);

    let stderr = text(&output.stderr);
    assert_eq!(exit_code(&output), 2, "{stderr}");
    assert!(stderr.contains(&format!("target {target}")), "{stderr}");
    assert!(stderr.contains("--admin-client-cert"), "{stderr}");
    assert!(text(&output.stdout).is_empty(), "{}", text(&output.stdout));
}

#[test]
fn status_with_foreign_client_certificate_fails() {
    let setup = Setup::start();
    let target = setup.admin_url();

    let output = setup.run(
        &["status", "--target", &target, "--admin-ca", "ca.pem", "--admin-client-cert", "foreign.crt", "--admin-client-key", "foreign.key"],
        &[],
    );

    let stderr = text(&output.stderr);
    assert_eq!(exit_code(&output), 2, "{stderr}");
    assert!(stderr.contains(&format!("target {target}")), "{stderr}");
    assert!(stderr.contains("rejected the client certificate foreign.crt"), "{stderr}");
}

#[test]
fn status_without_admin_ca_rejects_runtime() {
    let setup = Setup::start();
    let target = setup.admin_url();

    let output = setup.run(&["status", "--target", &target, "--admin-client-cert", "client.crt", "--admin-client-key", "client.key"], &[]);

    let stderr = text(&output.stderr);
    assert_eq!(exit_code(&output), 2, "{stderr}");
    assert!(stderr.contains(&format!("target {target}")), "{stderr}");
    assert!(stderr.contains("the runtime's TLS certificate was rejected"), "{stderr}");
    assert!(stderr.contains("--admin-ca"), "{stderr}");
}

#[test]
fn status_with_http_target_on_tls_listener_fails() {
    let setup = Setup::start();
    let target = setup.admin_url().replace("https://", "http://");

    let mut arguments = vec!["status", "--target", &target];
    arguments.extend(CLIENT);
    let output = setup.run(&arguments, &[]);

    let stderr = text(&output.stderr);
    assert_eq!(exit_code(&output), 2, "{stderr}");
    assert!(stderr.contains(&format!("target {target}")), "{stderr}");
    assert!(stderr.contains("use https://"), "{stderr}");
}

#[test]
fn tls_file_errors_name_flag_and_file() {
    let setup = Setup::start();
    let target = setup.admin_url();
    write(setup.path(), "notes.txt", "not a certificate\n");

    let cases: [(&[&str], &[&str]); 5] = [
        (&["--admin-ca", "missing.pem"], &["--admin-ca missing.pem", "cannot read the file"]),
        (&["--admin-ca", "notes.txt"], &["--admin-ca notes.txt", "contains no PEM certificate"]),
        (&["--admin-ca", "ca.pem", "--admin-client-cert", "client.crt"], &["--admin-client-cert client.crt", "--admin-client-key"]),
        (
            &["--admin-ca", "ca.pem", "--admin-client-cert", "client.crt", "--admin-client-key", "client.crt"],
            &["--admin-client-key client.crt", "contains no PEM private key"],
        ),
        (
            &["--admin-ca", "ca.pem", "--admin-client-cert", "client.crt", "--admin-client-key", "foreign.key"],
            &["--admin-client-key foreign.key does not match the certificate in --admin-client-cert client.crt"],
        ),
    ];

    for (flags, expected) in cases {
        let mut arguments = vec!["status", "--target", &target];
        arguments.extend(flags);
        let output = setup.run(&arguments, &[]);
        let stderr = text(&output.stderr);
        assert_eq!(exit_code(&output), 2, "{flags:?}: {stderr}");
        for part in expected {
            assert!(stderr.contains(part), "{flags:?}: expected {part:?} in {stderr}");
        }
    }
}

#[test]
fn plan_reads_live_bundle_over_mtls() {
    let setup = Setup::start();
    let target = setup.admin_url();
    write(
        setup.path(),
        "spec.yaml",
        "apiVersion: gatectl.dev/v1\nkind: Gateway\nupstreams:\n  - name: app\n    targets: [{host: 127.0.0.1, port: 9}]\nroutes:\n  - name: svc\n    match: {path: {prefix: /svc}}\n    upstream: app\n",
    );

    let mut arguments = vec!["plan", "spec.yaml", "--target", &target, "-o", "plan.json"];
    arguments.extend(CLIENT);
    let output = setup.run(&arguments, &[]);

    assert_eq!(exit_code(&output), 0, "{}", text(&output.stderr));
    let plan = std::fs::read_to_string(setup.path().join("plan.json")).unwrap();
    assert!(plan.contains(&target), "{plan}");
}
