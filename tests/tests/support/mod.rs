//! Helpers for the end-to-end test: locating the built binaries, running `gatectl`, starting and
//! stopping the runtime process, signing JWTs, and reading the access log and metrics.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{EncodePrivateKey, EncodePublicKey};
use tokio::process::{Child, Command};
use tokio::time::Instant;

/// Time one `gatectl` command may take before the test fails.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

/// Time the runtime gets to respond to `GET /healthz` after it was started.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// Interval between two readiness or log polls.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Returns the path of a workspace binary built beside the test executable.
///
/// Cargo puts test executables in `target/debug/deps` and binaries in `target/debug`.
pub fn binary(name: &str) -> PathBuf {
    let test_executable = std::env::current_exe().expect("the path of the test executable is readable");
    let deps_dir = test_executable.parent().expect("the test executable has a parent directory");
    let profile_dir = deps_dir.parent().expect("the test executable's directory has a parent directory");
    let path = profile_dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "binary {} not found; build it first with `cargo build -p gatectl -p gatectl-runtime -p gatectl-e2e` \
         (`cargo test --workspace` builds it too)",
        path.display()
    );
    path
}

/// Returns a port on 127.0.0.1 that was free when this function ran.
///
/// NOTE: another process may take the port between this call and the runtime's bind. The
/// runtime then fails to start, and the readiness check reports that with the runtime's log.
pub fn free_local_address() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding an ephemeral port on 127.0.0.1 works");
    listener.local_addr().expect("a bound listener has a local address")
}

/// Exit status and output of one finished `gatectl` command.
pub struct CommandOutput {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl CommandOutput {
    /// Exit code, or -1 when the process was ended by a signal.
    pub fn code(&self) -> i32 {
        self.status.code().unwrap_or(-1)
    }

    /// Describes the command's result for an assertion message.
    pub fn describe(&self) -> String {
        format!("exit status {}\n--- stdout ---\n{}\n--- stderr ---\n{}", self.status, self.stdout, self.stderr)
    }
}

/// Runs `gatectl` with `args` in `working_dir` and waits for it to exit.
pub async fn run_gatectl(working_dir: &Path, args: &[&str]) -> CommandOutput {
    let mut command = Command::new(binary("gatectl"));
    command
        .args(args)
        .current_dir(working_dir)
        .env("NO_COLOR", "1")
        .env_remove("GATECTL_ADMIN_TOKEN")
        .env_remove("GATECTL_SIGNING_KEY")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let running = command.output();
    let output = tokio::time::timeout(COMMAND_TIMEOUT, running)
        .await
        .unwrap_or_else(|_| panic!("`gatectl {}` did not finish within {COMMAND_TIMEOUT:?}", args.join(" ")))
        .unwrap_or_else(|error| panic!("`gatectl {}` could not be started: {error}", args.join(" ")));
    CommandOutput {
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A running `gatectl-runtime` process, killed when this value is dropped (also when an
/// assertion fails).
pub struct RuntimeProcess {
    child: Child,
    pub proxy_url: String,
    pub admin_url: String,
    pub log_path: PathBuf,
}

/// Files and addresses the runtime is started with.
pub struct RuntimeConfig<'a> {
    pub work_dir: &'a Path,
    pub admin_token_file: &'a Path,
    pub trusted_keys: &'a Path,
    pub state_dir: &'a Path,
    pub access_log: &'a Path,
}

impl RuntimeProcess {
    /// Starts the runtime on free ports of 127.0.0.1 and waits until its admin listener responds
    /// to `GET /healthz`.
    pub async fn start(config: &RuntimeConfig<'_>, client: &reqwest::Client) -> Self {
        let proxy_address = free_local_address();
        let admin_address = free_local_address();
        let log_path = config.work_dir.join("runtime.log");
        let log = std::fs::File::create(&log_path).expect("the runtime log file can be created in the temp dir");
        let log_for_stderr = log.try_clone().expect("the runtime log file handle can be cloned");
        let child = Command::new(binary("gatectl-runtime"))
            .arg("--listen")
            .arg(proxy_address.to_string())
            .arg("--admin-listen")
            .arg(admin_address.to_string())
            .arg("--admin-token-file")
            .arg(config.admin_token_file)
            .arg("--trusted-keys")
            .arg(config.trusted_keys)
            .arg("--state-dir")
            .arg(config.state_dir)
            .arg("--access-log")
            .arg(config.access_log)
            .current_dir(config.work_dir)
            // The file's token takes precedence over the environment's, so every admin call of
            // the end-to-end tests checks that.
            .env("GATECTL_ADMIN_TOKEN", "a-token-the-file-overrides")
            .env_remove("GATECTL_REDIS_URL")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_for_stderr)
            .kill_on_drop(true)
            .spawn()
            .expect("gatectl-runtime can be started");
        let mut runtime =
            Self { child, proxy_url: format!("http://{proxy_address}"), admin_url: format!("http://{admin_address}"), log_path };
        runtime.wait_until_healthy(client).await;
        runtime
    }

    async fn wait_until_healthy(&mut self, client: &reqwest::Client) {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let health_url = format!("{}/healthz", self.admin_url);
        loop {
            if let Ok(response) = client.get(&health_url).send().await
                && response.status().is_success()
            {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("gatectl-runtime exited with {status} before it was healthy; its log:\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "gatectl-runtime did not respond to {health_url} within {STARTUP_TIMEOUT:?}; its log:\n{}",
                self.log()
            );
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// Returns what the runtime wrote to standard output and standard error so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_else(|error| format!("(log {} unreadable: {error})", self.log_path.display()))
    }
}

impl Drop for RuntimeProcess {
    fn drop(&mut self) {
        // `kill_on_drop` sends SIGKILL too, but only when the child is dropped. Killing and
        // reaping here makes sure that no runtime outlives the test, whichever assertion failed.
        let _ = self.child.start_kill();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while matches!(self.child.try_wait(), Ok(None)) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        if std::thread::panicking() {
            eprintln!("gatectl-runtime log:\n{}", self.log());
        }
    }
}

/// An Ed25519 key pair for signing test JWTs with `alg: EdDSA`.
pub struct JwtKey {
    encoding_key: jsonwebtoken::EncodingKey,
    pub public_key_pem: String,
}

impl JwtKey {
    /// Generates a new random key pair.
    pub fn generate() -> Self {
        let signing_key = SigningKey::generate(&mut rand::rngs::OsRng);
        let private_pem = signing_key.to_pkcs8_pem(LineEnding::LF).expect("an Ed25519 key encodes as PKCS#8 PEM");
        let public_key_pem =
            signing_key.verifying_key().to_public_key_pem(LineEnding::LF).expect("an Ed25519 public key encodes as SPKI PEM");
        let encoding_key =
            jsonwebtoken::EncodingKey::from_ed_pem(private_pem.as_bytes()).expect("jsonwebtoken reads the PKCS#8 Ed25519 key");
        Self { encoding_key, public_key_pem }
    }

    /// Signs `claims` as a compact JWT with the key id `kid`.
    pub fn sign(&self, kid: &str, claims: &serde_json::Value) -> String {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, claims, &self.encoding_key).expect("signing a JWT with an Ed25519 key works")
    }
}

/// Returns the current Unix time in seconds.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("the clock is after 1970").as_secs()
}

/// Reads the access log until a JSON line with `requestId` equal to `request_id` appears, and
/// returns that line. Returns `None` when none appears within five seconds.
pub async fn find_access_log_line(path: &Path, request_id: &str) -> Option<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let found = text
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .find(|line| line["requestId"] == request_id);
        if found.is_some() || Instant::now() >= deadline {
            return found;
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Sums the `gatectl_requests_total` samples of `route` by their `status_class` label, over all
/// consumers, from a Prometheus text exposition.
pub fn requests_by_status_class(metrics: &str, route: &str) -> BTreeMap<String, u64> {
    let mut totals = BTreeMap::new();
    for line in metrics.lines() {
        let Some(rest) = line.strip_prefix("gatectl_requests_total{") else { continue };
        let Some((labels, value)) = rest.rsplit_once("} ") else { continue };
        let labels = parse_labels(labels);
        if labels.get("route").map(String::as_str) != Some(route) {
            continue;
        }
        let Some(status_class) = labels.get("status_class") else { continue };
        let count: f64 = value.trim().parse().unwrap_or_else(|_| panic!("metrics sample value is not a number: {line}"));
        *totals.entry(status_class.clone()).or_insert(0) += count as u64;
    }
    totals
}

/// Parses `name="value",name="value"` (Prometheus label syntax, with `\"`, `\\` and `\n`
/// escapes) into a map.
fn parse_labels(text: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut rest = text;
    while let Some((name, after_name)) = rest.split_once("=\"") {
        let mut value = String::new();
        let mut characters = after_name.char_indices();
        let mut end = after_name.len();
        while let Some((index, character)) = characters.next() {
            match character {
                '\\' => match characters.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, escaped)) => value.push(escaped),
                    None => break,
                },
                '"' => {
                    end = index + 1;
                    break;
                }
                other => value.push(other),
            }
        }
        labels.insert(name.trim_start_matches(',').trim().to_owned(), value);
        rest = &after_name[end..];
    }
    labels
}

/// Returns the status class label (`2xx`, `4xx`…) of an HTTP status code.
pub fn status_class(status: reqwest::StatusCode) -> String {
    format!("{}xx", status.as_u16() / 100)
}
