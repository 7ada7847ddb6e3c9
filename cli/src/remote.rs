//! Client of a runtime's admin API (`docs/admin-api.md`): reads the active bundle, status and
//! history, uploads bundles and activates bundles from the history, over HTTP or, for
//! `https://` targets, TLS with an optional client certificate ([`tls`]).
//!
//! Every error names the target and states what to do next. A `problem+json` body from the runtime
//! is shown with its title, detail and diagnostics.

pub mod tls;

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::blocking::{Client, Response};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde::Deserialize;
use tls::{ADMIN_CA_ENV, ADMIN_CLIENT_CERT_ENV, ADMIN_CLIENT_KEY_ENV, TlsFiles};

/// Environment variable with the admin bearer token, read when `--admin-token-file` is absent.
pub const ADMIN_TOKEN_ENV: &str = "GATECTL_ADMIN_TOKEN";

/// Flags shared by every command that talks to runtimes.
#[derive(Debug, Clone, clap::Args)]
pub struct RemoteArgs {
    /// File holding the admin bearer token of the runtimes; without it the token is read from
    /// GATECTL_ADMIN_TOKEN.
    #[arg(long, value_name = "PATH")]
    pub admin_token_file: Option<PathBuf>,
    /// Time one admin request may take, for example 10s or 500ms.
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    pub admin_timeout: gatectl_spec::Duration,
    /// PEM CA certificates that the runtimes' admin certificates must chain to (https://
    /// targets). With it the system's root certificates are not trusted.
    #[arg(long, value_name = "PATH", env = ADMIN_CA_ENV)]
    pub admin_ca: Option<PathBuf>,
    /// PEM client certificate chain presented to runtimes that require one (their
    /// --admin-client-ca).
    #[arg(long, value_name = "PATH", env = ADMIN_CLIENT_CERT_ENV)]
    pub admin_client_cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of --admin-client-cert.
    #[arg(long, value_name = "PATH", env = ADMIN_CLIENT_KEY_ENV)]
    pub admin_client_key: Option<PathBuf>,
}

impl RemoteArgs {
    /// Reads the token and the TLS files, and builds the HTTP client that [`AdminClient`]s share.
    pub fn connect(&self) -> Result<Connection, String> {
        let token = read_token(self.admin_token_file.as_deref())?;
        let tls = TlsFiles {
            ca: self.admin_ca.clone(),
            client_certificate: self.admin_client_cert.clone(),
            client_key: self.admin_client_key.clone(),
        };
        let timeout = self.admin_timeout.as_std();
        let mut builder = Client::builder().connect_timeout(timeout.min(Duration::from_secs(5))).timeout(timeout).no_proxy();
        if tls.is_set() {
            builder = builder.use_preconfigured_tls(tls.client_config()?);
        }
        let http = builder.build().map_err(|error| format!("cannot set up the HTTP client: {error}"))?;
        Ok(Connection { http, token, tls })
    }
}

fn read_token(path: Option<&Path>) -> Result<Option<String>, String> {
    let token = match path {
        Some(path) => {
            std::fs::read_to_string(path).map_err(|error| format!("cannot read the admin token file {}: {error}", path.display()))?
        }
        None => match std::env::var(ADMIN_TOKEN_ENV) {
            Ok(token) => token,
            Err(_) => return Ok(None),
        },
    };
    let token = token.trim().to_owned();
    if token.is_empty() {
        let source = path.map_or_else(|| ADMIN_TOKEN_ENV.to_owned(), |path| path.display().to_string());
        return Err(format!("the admin token in {source} is empty; put the runtime's admin token there"));
    }
    Ok(Some(token))
}

/// An HTTP client, the bearer token and the TLS files, shared by the clients of several targets.
#[derive(Debug, Clone)]
pub struct Connection {
    http: Client,
    token: Option<String>,
    tls: TlsFiles,
}

impl Connection {
    /// Returns a client for the runtime whose admin API is at `url` (`http://HOST:PORT` or
    /// `https://HOST:PORT`).
    pub fn target(&self, url: &str) -> Result<AdminClient, String> {
        if !is_admin_url(url) {
            return Err(format!("target `{url}` is not an admin URL; write it as http://HOST:PORT or https://HOST:PORT"));
        }
        Ok(AdminClient { connection: self.clone(), base: url.trim_end_matches('/').to_owned() })
    }
}

/// Checks that `text` names a runtime's admin API rather than a file.
pub fn is_admin_url(text: &str) -> bool {
    let rest = text.strip_prefix("http://").or_else(|| text.strip_prefix("https://"));
    rest.is_some_and(|rest| !rest.is_empty())
}

/// The `traffic` section of `GET /status`.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Traffic {
    pub window_seconds: u64,
    pub requests: u64,
    pub errors: u64,
    pub error_rate: f64,
}

/// The fields of `GET /status` that the CLI reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeStatus {
    pub version: Option<u64>,
    pub hash: Option<String>,
    pub activated_at: Option<String>,
    #[serde(default)]
    pub traffic: Traffic,
    /// The compiled configuration. Every runtime sends it, so a JSON response without it comes
    /// from another server.
    pub config: ConfigStatus,
    /// The store of rate-limit and quota counters. Older runtimes leave it out.
    #[serde(default)]
    pub rate_limit_store: Option<RateLimitStore>,
}

/// `rateLimitStore` of `GET /status`.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RateLimitStore {
    /// `memory` or `redis`.
    pub kind: String,
    /// The Redis URL without its password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Whether the last call or `PING` to Redis succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reachable: Option<bool>,
    /// Rate-limit checks decided by `failureMode` since the runtime started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_mode_checks: Option<u64>,
    /// The error of the last failed call, connection attempt or `PING`, until one succeeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// `config` of `GET /status`.
#[derive(Debug, Clone, Deserialize)]
pub struct ConfigStatus {
    /// The spec hash of the configuration served; empty while it serves nothing.
    pub hash: String,
}

/// Response of an upload or an activation.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Activated {
    pub version: u64,
    pub hash: String,
    pub activated_at: String,
}

/// One entry of `GET /bundles`.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    pub version: u64,
    pub hash: String,
    pub activated_at: Option<String>,
    pub active: bool,
}

/// Describes an error response: `request` returned the status, then the problem's title,
/// detail and diagnostics.
fn problem_message(request: &str, status: StatusCode, problem: &Problem) -> String {
    let mut message = format!("{request} returned {status}");
    // A title that only repeats the reason phrase after the status adds nothing.
    let title = problem.title.as_ref().filter(|title| Some(title.as_str()) != status.canonical_reason());
    for part in [title, problem.detail.as_ref()].into_iter().flatten() {
        message.push_str(": ");
        message.push_str(part);
    }
    for diagnostic in &problem.diagnostics {
        let rule = diagnostic.rule.as_deref().unwrap_or("error");
        let pointer = diagnostic.pointer.as_deref().map(|pointer| format!(" at {pointer}")).unwrap_or_default();
        message.push_str(&format!("\n  [{rule}]{pointer} {}", diagnostic.message));
    }
    message
}

/// A `problem+json` body (RFC 9457) with the runtime's diagnostics.
#[derive(Debug, Default, Deserialize)]
struct Problem {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    detail: Option<String>,
    #[serde(default)]
    diagnostics: Vec<ProblemDiagnostic>,
}

#[derive(Debug, Deserialize)]
struct ProblemDiagnostic {
    #[serde(default)]
    rule: Option<String>,
    message: String,
    #[serde(default)]
    pointer: Option<String>,
}

/// Failure of an admin request.
#[derive(Debug)]
pub enum RemoteError {
    /// The runtime responded with an error status, for example 409 for an old version.
    Rejected { status: StatusCode, message: String },
    /// The request got no response, or the response could not be read.
    Unreachable(String),
}

impl std::fmt::Display for RemoteError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Rejected { message, .. } | Self::Unreachable(message) => formatter.write_str(message),
        }
    }
}

impl From<RemoteError> for String {
    fn from(error: RemoteError) -> Self {
        error.to_string()
    }
}

/// The admin API of one runtime.
#[derive(Debug, Clone)]
pub struct AdminClient {
    connection: Connection,
    base: String,
}

impl AdminClient {
    /// Returns the admin URL this client talks to, as given (without a trailing slash).
    pub fn url(&self) -> &str {
        &self.base
    }

    /// Returns the active bundle's bytes as uploaded, or `None` when the runtime runs none.
    pub fn active_bundle(&self) -> Result<Option<Vec<u8>>, RemoteError> {
        let response = self.send(reqwest::Method::GET, "/bundles/active", None)?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let response = self.check(response, "GET /bundles/active")?;
        let bytes = response.bytes().map_err(|error| self.unreadable("GET /bundles/active", &error))?;
        Ok(Some(bytes.to_vec()))
    }

    pub fn status(&self) -> Result<RuntimeStatus, RemoteError> {
        self.get_json("/status")
    }

    /// Returns the bundle history, highest version first.
    pub fn history(&self) -> Result<Vec<HistoryEntry>, RemoteError> {
        self.get_json("/bundles")
    }

    /// Uploads a signed bundle, which the runtime verifies and activates.
    pub fn upload(&self, bundle: &[u8]) -> Result<Activated, RemoteError> {
        let response = self.send(reqwest::Method::POST, "/bundles", Some(bundle.to_vec()))?;
        let response = self.check(response, "POST /bundles")?;
        response.json().map_err(|error| self.unreadable("POST /bundles", &error))
    }

    /// Activates a bundle from the runtime's history.
    pub fn activate(&self, hash: &str) -> Result<Activated, RemoteError> {
        let path = format!("/bundles/{hash}/activate");
        let response = self.send(reqwest::Method::POST, &path, None)?;
        let what = format!("POST {path}");
        let response = self.check(response, &what)?;
        response.json().map_err(|error| self.unreadable(&what, &error))
    }

    fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, RemoteError> {
        let what = format!("GET {path}");
        let response = self.send(reqwest::Method::GET, path, None)?;
        let response = self.check(response, &what)?;
        response.json().map_err(|error| self.unreadable(&what, &error))
    }

    fn send(&self, method: reqwest::Method, path: &str, body: Option<Vec<u8>>) -> Result<Response, RemoteError> {
        let what = format!("{method} {path}");
        let mut request = self.connection.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.connection.token {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        if let Some(body) = body {
            request = request.header(CONTENT_TYPE, "application/json").body(body);
        }
        request.send().map_err(|error| RemoteError::Unreachable(self.describe_send_failure(&what, &error)))
    }

    /// Builds the message for a request that got no response, naming the target and the cause: a
    /// rejected or missing certificate, a timeout, or a connection failure.
    fn describe_send_failure(&self, what: &str, error: &reqwest::Error) -> String {
        if let Some(explanation) = self.connection.tls.explain(error) {
            return format!("target {}: {what} failed: {explanation}", self.base);
        }
        if error.is_timeout() {
            return format!(
                "target {}: {what} timed out; check that the runtime is running and that the URL is its --admin-listen address",
                self.base
            );
        }
        let hint = if !self.base.starts_with("https://") {
            "check that the runtime is running, that the URL is its --admin-listen address, and use https:// when the runtime runs with --admin-tls-cert"
        } else if self.connection.tls.client_certificate.is_none() {
            "check that the runtime is running and that the URL is its --admin-listen address; if the runtime requires client certificates (--admin-client-ca), pass --admin-client-cert and --admin-client-key"
        } else {
            "check that the runtime is running and that the URL is its --admin-listen address"
        };
        format!("target {}: {what} failed: {}; {hint}", self.base, error_chain(error))
    }

    /// Turns an error status into a message that names the target and the fix.
    fn check(&self, response: Response, what: &str) -> Result<Response, RemoteError> {
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        if status == StatusCode::UNAUTHORIZED {
            let hint = if self.connection.token.is_some() {
                "the admin token was rejected; check --admin-token-file or GATECTL_ADMIN_TOKEN against the runtime's token"
            } else {
                "no admin token was sent; pass --admin-token-file or set GATECTL_ADMIN_TOKEN"
            };
            return Err(RemoteError::Rejected {
                status,
                message: format!("target {}: {what} returned 401 Unauthorized: {hint}", self.base),
            });
        }
        let problem: Problem = response.json().unwrap_or_default();
        Err(RemoteError::Rejected { status, message: problem_message(&format!("target {}: {what}", self.base), status, &problem) })
    }

    fn unreadable(&self, what: &str, error: &reqwest::Error) -> RemoteError {
        RemoteError::Unreachable(format!(
            "target {}: the response to {what} is not what the admin API returns ({}); check that the URL points at a gatectl runtime's admin listener",
            self.base,
            error_chain(error)
        ))
    }
}

/// Joins an error and its sources, because reqwest puts the useful part (connection refused,
/// invalid JSON) in the source.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_phrase_is_not_repeated_as_title() {
        let problem =
            |title: &str| Problem { title: Some(title.to_owned()), detail: Some("the disk is full".to_owned()), diagnostics: Vec::new() };
        let status = StatusCode::INTERNAL_SERVER_ERROR;

        assert_eq!(
            problem_message("target t: POST /bundles", status, &problem("Internal Server Error")),
            "target t: POST /bundles returned 500 Internal Server Error: the disk is full"
        );
        assert_eq!(
            problem_message("target t: POST /bundles", status, &problem("Bundle not saved")),
            "target t: POST /bundles returned 500 Internal Server Error: Bundle not saved: the disk is full"
        );
    }
}
