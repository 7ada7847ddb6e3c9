//! The bundle endpoints of the admin API: upload (`POST /bundles`), history (`GET /bundles`),
//! the active bundle (`GET /bundles/active`) and rollback (`POST /bundles/{hash}/activate`).
//!
//! An upload runs, in order: the size limit, the signature against the trusted keys, decoding
//! and validation (`gatectl_spec::bundle::verify`, which checks the JSON Schema and the semantic
//! rules), the version check, a full compile, and only then the atomic swap. Any failure leaves
//! the running configuration untouched and returns `application/problem+json`.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use gatectl_spec::bundle::{self, BundleError, TrustedKeys, VerifiedBundle};
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde::Serialize;

use crate::bundle_store::{BundleStore, StoreError, StoredBundle};
use crate::config::ConfigStore;
use crate::proxy::body::{ProxyBody, full_body};

/// Time between attempts to resume a stored bundle after none could be activated at start.
pub const RESUME_RETRY_INTERVAL: Duration = Duration::from_secs(5);

/// Settings of bundle verification and of the history.
#[derive(Debug, Clone)]
pub struct BundleOptions {
    /// Keys whose signatures the runtime accepts; without any, every upload is rejected.
    pub trusted_keys: Option<TrustedKeys>,
    /// Directory the history is kept in; in memory only when `None`.
    pub state_dir: Option<PathBuf>,
    /// Number of bundles kept, the active one included.
    pub history: usize,
    /// Largest bundle accepted, in bytes.
    pub max_bytes: usize,
    /// Time an upload may go without sending a byte before it is rejected with 408. A bound on
    /// progress, not on the whole upload, so a large bundle on a slow link still arrives.
    pub upload_stall_timeout: Duration,
}

impl Default for BundleOptions {
    fn default() -> Self {
        Self {
            trusted_keys: None,
            state_dir: None,
            history: crate::bundle_store::DEFAULT_HISTORY,
            max_bytes: bundle::DEFAULT_MAX_BUNDLE_BYTES,
            upload_stall_timeout: Duration::from_secs(30),
        }
    }
}

/// The bundle history and the configuration store it activates bundles in.
#[derive(Debug)]
pub struct Bundles {
    options: BundleOptions,
    config: Arc<ConfigStore>,
    history: Mutex<BundleStore>,
    /// Serialises uploads and rollbacks, so the version check and the swap see the same
    /// active bundle.
    activation: tokio::sync::Mutex<()>,
    /// The stored bundle that a retry is waiting to resume, while no bundle is active.
    resuming: Mutex<Option<PendingResume>>,
}

/// The bundle a retry is waiting to resume. Uploads are compared with it as with an active
/// bundle, so that a stale pipeline cannot push an older version during the outage.
#[derive(Debug, Clone)]
struct PendingResume {
    version: u64,
    hash: String,
}

/// The active bundle, as `/status` shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActiveBundle {
    pub version: u64,
    pub hash: String,
    pub activated_at: String,
}

/// Failure of an upload or a rollback, with the response status.
struct Rejection {
    status: StatusCode,
    title: &'static str,
    detail: String,
    diagnostics: Vec<serde_json::Value>,
}

impl Rejection {
    fn new(status: StatusCode, title: &'static str, detail: String) -> Self {
        Self { status, title, detail, diagnostics: Vec::new() }
    }
}

impl Bundles {
    /// Opens the history: in the state directory when one is set, else in memory.
    pub fn open(options: BundleOptions, config: Arc<ConfigStore>) -> Result<Self, StoreError> {
        let history = match &options.state_dir {
            Some(directory) => BundleStore::open(directory, options.history)?,
            None => BundleStore::in_memory(options.history),
        };
        Ok(Self { options, config, history: Mutex::new(history), activation: tokio::sync::Mutex::new(()), resuming: Mutex::new(None) })
    }

    fn history(&self) -> MutexGuard<'_, BundleStore> {
        self.history.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn active(&self) -> Option<ActiveBundle> {
        self.history().active().map(|bundle| ActiveBundle {
            version: bundle.version,
            hash: bundle.hash.clone(),
            activated_at: bundle::format_timestamp(bundle.activated_at),
        })
    }

    /// Activates the bundle that was active before the restart, or else the newest one of the
    /// history that still verifies. Runs before the proxy accepts traffic.
    ///
    /// Only a bundle that no longer verifies is passed over, because the trusted keys decide
    /// that for good. When the bundle to resume does not compile, perhaps because Redis or a
    /// JWKS endpoint is unreachable for now, no older bundle takes its place: an older one may
    /// be less strict. A task then compiles it again every [`RESUME_RETRY_INTERVAL`] until it,
    /// an upload or a rollback is active.
    pub async fn resume(self: &Arc<Self>) -> Option<ActiveBundle> {
        let (candidate, verified) = self.resume_candidate().await?;
        let error = match self.config.activate(&verified.spec).await {
            Ok(_) => return self.record_resumed(candidate, &verified),
            Err(error) => error,
        };
        tracing::warn!(
            bundle.version = candidate.version,
            bundle.hash = %candidate.hash,
            %error,
            retry_seconds = RESUME_RETRY_INTERVAL.as_secs(),
            "the bundle to resume does not compile; starting without it and trying again until it compiles"
        );
        *self.resuming.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some(PendingResume { version: candidate.version, hash: candidate.hash.clone() });
        let bundles = self.clone();
        tokio::spawn(async move { bundles.retry_resume(candidate, verified).await });
        None
    }

    /// Compiles the bundle to resume again and again until it compiles or another bundle is
    /// active. Only the swap holds the activation lock, so uploads and rollbacks never wait for
    /// a compile.
    async fn retry_resume(&self, candidate: StoredBundle, verified: VerifiedBundle) {
        let mut failures = 1_u64;
        loop {
            tokio::time::sleep(RESUME_RETRY_INTERVAL).await;
            if self.active().is_some() {
                return;
            }
            let compiled = match self.config.compile(&verified.spec).await {
                Ok(compiled) => compiled,
                Err(error) => {
                    failures += 1;
                    // One line a minute is enough to show that the outage goes on.
                    if failures.is_multiple_of((60 / RESUME_RETRY_INTERVAL.as_secs()).max(1)) {
                        tracing::warn!(bundle.hash = %candidate.hash, %error, failures, "the bundle to resume still does not compile");
                    } else {
                        tracing::debug!(bundle.hash = %candidate.hash, %error, "the bundle to resume still does not compile");
                    }
                    continue;
                }
            };
            let _activation = self.activation.lock().await;
            // An upload or a rollback may have activated a bundle meanwhile.
            if self.active().is_some() {
                return;
            }
            self.config.install(compiled);
            self.record_resumed(candidate, &verified);
            return;
        }
    }

    /// Returns the first stored bundle in resume order that still verifies.
    async fn resume_candidate(&self) -> Option<(StoredBundle, VerifiedBundle)> {
        let candidates = self.history().resume_order();
        if candidates.is_empty() {
            return None;
        }
        let Some(trusted) = &self.options.trusted_keys else {
            tracing::warn!(
                bundles = candidates.len(),
                "the state directory has bundles, but no --trusted-keys are set to verify them; starting without a bundle"
            );
            return None;
        };
        for candidate in candidates {
            match verify_blocking(candidate.bytes.clone(), trusted.clone(), self.options.max_bytes).await {
                Ok(verified) => return Some((candidate, verified)),
                Err(error) => {
                    tracing::warn!(bundle.hash = %candidate.hash, %error, "stored bundle no longer verifies; trying an older one");
                }
            }
        }
        tracing::warn!("no stored bundle verifies; starting without a bundle");
        None
    }

    fn record_resumed(&self, candidate: StoredBundle, verified: &VerifiedBundle) -> Option<ActiveBundle> {
        let stored = StoredBundle { activated_at: Utc::now(), ..candidate };
        if let Err(error) = self.history().record_activation(stored) {
            tracing::warn!(%error, "cannot record the resumed bundle in the state directory");
        }
        *self.resuming.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
        tracing::info!(bundle.version = verified.metadata.version, bundle.hash = %verified.hash, "resumed bundle from the state directory");
        self.active()
    }

    /// Verifies, checks the version of, compiles and activates an uploaded bundle.
    async fn upload(&self, bytes: Bytes) -> Result<ActiveBundle, Rejection> {
        let Some(trusted) = &self.options.trusted_keys else {
            return Err(Rejection::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "No trusted keys",
                "this runtime has no trusted public keys, so it accepts no bundle; restart it with --trusted-keys DIR".to_owned(),
            ));
        };
        let _activation = self.activation.lock().await;
        let verified = verify_blocking(bytes.to_vec().into(), trusted.clone(), self.options.max_bytes).await.map_err(rejection)?;

        // The version to beat: the active bundle's, or while none is active, that of the bundle
        // a retry is waiting to resume.
        let active = self.active();
        if let Some(active) = active.as_ref().filter(|active| active.hash == verified.hash) {
            return Ok(active.clone());
        }
        let floor = match active {
            Some(active) => Some((active.version, active.hash, "is active")),
            None => self
                .resuming
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone()
                .map(|pending| (pending.version, pending.hash, "was active before the restart and is resumed as soon as it compiles")),
        };
        if let Some((version, hash, state)) = floor
            && hash != verified.hash
            && verified.metadata.version <= version
        {
            return Err(Rejection::new(
                StatusCode::CONFLICT,
                "Version not higher than the active one",
                format!(
                    "the bundle has version {}, but version {version} {state}; build it with a higher version, or roll back with POST /bundles/{{hash}}/activate",
                    verified.metadata.version
                ),
            ));
        }
        self.swap(&verified, bytes.to_vec().into()).await
    }

    /// Activates a bundle of the history again, whatever its version.
    async fn roll_back(&self, hash: &str) -> Result<ActiveBundle, Rejection> {
        let Some(trusted) = &self.options.trusted_keys else {
            return Err(Rejection::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "No trusted keys",
                "this runtime has no trusted public keys, so it activates no bundle; restart it with --trusted-keys DIR".to_owned(),
            ));
        };
        let _activation = self.activation.lock().await;
        let stored = self.history().get(hash).cloned();
        let Some(stored) = stored else {
            return Err(Rejection::new(
                StatusCode::NOT_FOUND,
                "Bundle not in the history",
                format!("bundle {hash} is not in this runtime's history; GET /bundles lists the bundles it can activate"),
            ));
        };
        // Verified again, because the trusted keys may have changed since the upload.
        let verified = verify_blocking(stored.bytes.clone(), trusted.clone(), self.options.max_bytes).await.map_err(rejection)?;
        self.swap(&verified, stored.bytes).await
    }

    /// Compiles and swaps in a verified bundle, then records it in the history.
    async fn swap(&self, verified: &VerifiedBundle, bytes: Arc<[u8]>) -> Result<ActiveBundle, Rejection> {
        self.config.activate(&verified.spec).await.map_err(|error| {
            let mut rejection = Rejection::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Bundle does not compile",
                format!("the bundle's spec cannot be activated: {error}"),
            );
            rejection.diagnostics.push(serde_json::json!({ "rule": "compile", "message": error.to_string(), "pointer": "/payload/spec" }));
            rejection
        })?;
        *self.resuming.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
        let stored = StoredBundle { hash: verified.hash.clone(), version: verified.metadata.version, activated_at: Utc::now(), bytes };
        tracing::info!(bundle.version = stored.version, bundle.hash = %stored.hash, signer = %verified.signer, "bundle activated");
        if let Err(error) = self.history().record_activation(stored) {
            tracing::warn!(%error, bundle.hash = %verified.hash, "bundle activated but not saved to the state directory");
            return Err(Rejection::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Bundle not saved",
                format!("the bundle is active, but saving it failed, so a restart would not resume it: {error}"),
            ));
        }
        Ok(self.active().expect("a bundle was just recorded as active"))
    }
}

/// Runs the CPU-heavy verification (canonical JSON, SHA-256, schema and rules) off the async
/// worker threads.
async fn verify_blocking(bytes: Arc<[u8]>, trusted: TrustedKeys, max_bytes: usize) -> Result<VerifiedBundle, BundleError> {
    tokio::task::spawn_blocking(move || bundle::verify_with_limit(&bytes, &trusted, max_bytes))
        .await
        .unwrap_or_else(|error| Err(BundleError::InvalidPayload { reason: format!("verification stopped: {error}") }))
}

/// Maps a verification failure to its status and diagnostics.
fn rejection(error: BundleError) -> Rejection {
    let (status, title) = match &error {
        BundleError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "Bundle too large"),
        BundleError::Truncated { .. } | BundleError::MalformedEnvelope { .. } | BundleError::UnsupportedFormatVersion { .. } => {
            (StatusCode::BAD_REQUEST, "Not a readable bundle")
        }
        BundleError::HashMismatch { .. } | BundleError::Unsigned | BundleError::UnknownKey { .. } | BundleError::BadSignature { .. } => {
            (StatusCode::UNPROCESSABLE_ENTITY, "Bundle signature not trusted")
        }
        BundleError::InvalidPayload { .. } | BundleError::InvalidSpec { .. } => {
            (StatusCode::UNPROCESSABLE_ENTITY, "Bundle content invalid")
        }
    };
    let mut rejection = Rejection::new(status, title, error.to_string());
    match &error {
        BundleError::InvalidSpec { problems } => rejection.diagnostics = problems.iter().map(|problem| diagnostic(problem)).collect(),
        BundleError::InvalidPayload { reason } => {
            rejection.diagnostics.push(serde_json::json!({ "rule": "payload", "message": reason, "pointer": "/payload" }));
        }
        _ => {}
    }
    rejection
}

/// Turns one problem of `BundleError::InvalidSpec` into `{rule, message, pointer}`. Problems of
/// the semantic rules start with `[rule]`; the others come from the JSON Schema or the decoder.
fn diagnostic(problem: &str) -> serde_json::Value {
    let (rule, message) = match problem.strip_prefix('[').and_then(|rest| rest.split_once("] ")) {
        Some((rule, message)) => (rule.to_owned(), message.to_owned()),
        None => ("schema".to_owned(), problem.to_owned()),
    };
    serde_json::json!({ "rule": rule, "message": message, "pointer": "/payload/spec" })
}

/// Handles an authorized request under `/bundles`.
pub async fn handle(bundles: &Bundles, request: Request<Incoming>, request_id: &str) -> Response<ProxyBody> {
    let path = request.uri().path().to_owned();
    let method = request.method().clone();
    let result = match (&method, path.as_str()) {
        (&Method::GET, "/bundles") => return json_response(StatusCode::OK, &history_json(bundles)),
        (&Method::GET, "/bundles/active") => return active_bundle(bundles, request_id),
        (&Method::POST, "/bundles") => match read_body(request, &bundles.options).await {
            Ok(bytes) => bundles.upload(bytes).await.map(|active| (StatusCode::CREATED, active)),
            Err(rejection) => Err(rejection),
        },
        (&Method::POST, _) if path.starts_with("/bundles/") && path.ends_with("/activate") => {
            let hash = &path["/bundles/".len()..path.len() - "/activate".len()];
            let hash = percent_encoding::percent_decode_str(hash).decode_utf8_lossy().into_owned();
            bundles.roll_back(&hash).await.map(|active| (StatusCode::OK, active))
        }
        _ => Err(Rejection::new(
            StatusCode::NOT_FOUND,
            "Unknown admin endpoint",
            format!(
                "{method} {path} is not an admin endpoint; see GET/POST /bundles, GET /bundles/active, POST /bundles/{{hash}}/activate"
            ),
        )),
    };
    match result {
        Ok((status, active)) => json_response(status, &serde_json::to_value(active).unwrap_or_default()),
        Err(rejection) => {
            tracing::warn!(request.id = %request_id, status = rejection.status.as_u16(), detail = %rejection.detail, "bundle request rejected");
            problem(&rejection, request_id)
        }
    }
}

/// Reads the request body, rejecting bodies beyond the bundle size limit before reading them
/// whole, and uploads that stall.
async fn read_body(request: Request<Incoming>, options: &BundleOptions) -> Result<Bytes, Rejection> {
    let max_bytes = options.max_bytes;
    let too_large = || {
        Rejection::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Bundle too large",
            format!("the bundle is larger than the limit of {max_bytes} bytes; split the spec or raise the runtime's limit"),
        )
    };
    // A declared length over the limit is rejected before a byte of the body is read.
    if http_body::Body::size_hint(request.body()).lower() > max_bytes as u64 {
        return Err(too_large());
    }
    let mut body = Limited::new(request.into_body(), max_bytes);
    let mut received = Vec::new();
    loop {
        let Ok(frame) = tokio::time::timeout(options.upload_stall_timeout, body.frame()).await else {
            return Err(Rejection::new(
                StatusCode::REQUEST_TIMEOUT,
                "Upload stalled",
                format!(
                    "no part of the bundle arrived for {} seconds after {} bytes; send the bundle again",
                    options.upload_stall_timeout.as_secs(),
                    received.len()
                ),
            ));
        };
        match frame {
            None => return Ok(Bytes::from(received)),
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    received.extend_from_slice(data);
                }
            }
            Some(Err(error)) if error.is::<http_body_util::LengthLimitError>() => return Err(too_large()),
            Some(Err(error)) => {
                return Err(Rejection::new(
                    StatusCode::BAD_REQUEST,
                    "Upload failed",
                    format!("the request body could not be read: {error}; send the bundle again"),
                ));
            }
        }
    }
}

fn history_json(bundles: &Bundles) -> serde_json::Value {
    let history = bundles.history();
    let active = history.active().map(|bundle| bundle.hash.clone());
    let entries: Vec<serde_json::Value> = history
        .history()
        .iter()
        .map(|bundle| {
            serde_json::json!({
                "version": bundle.version,
                "hash": bundle.hash,
                "activatedAt": bundle::format_timestamp(bundle.activated_at),
                "active": Some(&bundle.hash) == active.as_ref(),
            })
        })
        .collect();
    serde_json::Value::Array(entries)
}

fn active_bundle(bundles: &Bundles, request_id: &str) -> Response<ProxyBody> {
    let bytes = bundles.history().active().map(|bundle| bundle.bytes.clone());
    let Some(bytes) = bytes else {
        let rejection = Rejection::new(
            StatusCode::NOT_FOUND,
            "No active bundle",
            "this runtime runs no bundle yet; upload one with POST /bundles".to_owned(),
        );
        return problem(&rejection, request_id);
    };
    let mut response = Response::new(full_body(Bytes::copy_from_slice(&bytes)));
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn json_response(status: StatusCode, value: &serde_json::Value) -> Response<ProxyBody> {
    let mut response = Response::new(full_body(Bytes::from(value.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn problem(rejection: &Rejection, request_id: &str) -> Response<ProxyBody> {
    let mut body = serde_json::json!({
        "type": "about:blank",
        "title": rejection.title,
        "status": rejection.status.as_u16(),
        "detail": rejection.detail,
        "requestId": request_id,
    });
    if !rejection.diagnostics.is_empty() {
        body["diagnostics"] = serde_json::Value::Array(rejection.diagnostics.clone());
    }
    let mut response = Response::new(full_body(Bytes::from(body.to_string())));
    *response.status_mut() = rejection.status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
    response
}
