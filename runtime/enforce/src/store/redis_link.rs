//! The connection to Redis: opened once when the runtime starts and shared by every
//! configuration it activates, so a new bundle reuses the connection instead of making one.
//!
//! The link also decides which calls go to Redis. After a failed call, calls go straight to the
//! failure mode for [`SUSPEND_AFTER_FAILURE`], and then one call at a time tries Redis until one
//! succeeds. While calls wait for a reply and none has come for a quarter of the timeout, new
//! calls do not join them, so a Redis that stops replying delays only the calls of that first
//! moment. The link keeps the state that `/status` and `/metrics` report.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gatectl_spec::model::FailureMode;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::setup::BuildError;

mod redaction;

use redaction::redact;

/// Time between attempts to connect while Redis is unreachable.
const RECONNECT_INTERVAL: Duration = Duration::from_secs(1);
/// Time after a failed call during which calls go straight to the failure mode.
const SUSPEND_AFTER_FAILURE: Duration = Duration::from_secs(1);
/// Time between warnings about stalls of a Redis that replies again in between.
const STALL_WARNING_INTERVAL: Duration = Duration::from_secs(60);
/// Repeated failures of one kind are logged once per this many: about once a minute, since
/// attempts and suspensions start at most once a second.
const LOG_EVERY: u64 = 60;
/// Keys of the script run at start to check the permissions the store needs, one under each
/// prefix of the counters (`gatectl:rl:` for rate limits, `gatectl:quota:` for quotas), where a
/// Redis user limited to the store's keys may write. No counter's key collides with them, since
/// counters' keys go on with a `:` after these words.
const SETTINGS_CHECK_KEYS: [&str; 2] = ["gatectl:rl:settings-check", "gatectl:quota:settings-check"];

/// A cheap-to-clone handle on the Redis connection of the counter store.
#[derive(Clone)]
pub struct RedisLink {
    inner: Arc<LinkState>,
}

struct LinkState {
    /// The URL with its password replaced, for logs and `/status`.
    url: String,
    client: redis::Client,
    config: ConnectionManagerConfig,
    timeout: Duration,
    /// The connection, once one has been made. It reconnects by itself after that.
    connection: Mutex<Option<ConnectionManager>>,
    /// When the next attempt to connect may start, while there is no connection.
    next_connect: Mutex<Instant>,
    /// Failed attempts to connect since the last success.
    failed_connects: AtomicU64,
    /// Attempts to connect since the last success that Redis rejected for a setting.
    rejected_connects: AtomicU64,
    gate: Mutex<CallGate>,
    /// Whether calls have failed since the last call that succeeded.
    calls_failing: AtomicBool,
    /// Failed calls since the last call that succeeded, for the periodic warning.
    failed_calls: AtomicU64,
    /// Calls decided by the failure mode since start, for `/metrics`.
    failure_mode_calls: AtomicU64,
    /// Whether Redis responded to the last call, connection attempt or `PING`.
    reachable: AtomicBool,
    /// The last error (see [`RedisStatus::last_error`]).
    last_error: Mutex<Option<LastError>>,
    /// Whether calls are skipped because pending ones have had no reply, noted once per stall.
    stall_logged: AtomicBool,
    /// Stalls since start, for the warning.
    stalls: AtomicU64,
    /// When the last stall warning was logged.
    last_stall_warning: Mutex<Option<Instant>>,
}

/// An error kept for `/status`, with where it came from.
struct LastError {
    message: String,
    /// Redis did not respond: the connection failed, was refused or timed out. Otherwise Redis
    /// responded with an error, such as a missing permission, which a `PING` does not clear.
    transport: bool,
}

/// The state that decides whether a call may go to Redis now.
struct CallGate {
    /// Calls waiting for a reply.
    pending: u32,
    /// When the pending calls last made progress: the first of them started, or a reply came.
    progress_at: Instant,
    /// Until when calls go straight to the failure mode, after a failed call.
    suspended_until: Instant,
    /// Set by a failed call: until a call succeeds, only one at a time goes to Redis.
    probing: bool,
}

/// The store's state, as `/status` and `/metrics` report it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisStatus {
    /// The URL without its password.
    pub url: String,
    /// Whether Redis responded to the last call, connection attempt or `PING`, even if only
    /// with an error.
    pub reachable: bool,
    /// Rate-limit checks decided by the failure mode since start.
    pub failure_mode_calls: u64,
    /// The error of the last failed call, connection attempt or `PING`. A successful call
    /// clears it. A successful `PING` or connection clears it only when Redis had not
    /// responded, because an error that Redis returned, such as a missing permission, may
    /// still fail every call while `PING` works.
    pub last_error: Option<String>,
}

/// Permission for one call to Redis. Dropping it without a verdict counts the call as ended,
/// for example when the request that made it is cancelled.
pub(crate) struct CallPermit<'a> {
    link: &'a RedisLink,
}

impl RedisLink {
    /// Connects to `url` and checks what the store needs. Fails for an invalid URL and for
    /// settings that waiting does not fix (see [`is_configuration_error`]). An unreachable
    /// Redis is no error: the failure mode applies and the link keeps trying to connect, so
    /// that a gateway starts during a Redis outage.
    pub async fn open(url: &str, timeout: Duration) -> Result<Self, BuildError> {
        let redacted = redact(url);
        let client = redis::Client::open(url).map_err(|source| BuildError::InvalidRedisUrl { url: redacted.clone(), source })?;
        // One attempt per connection: the link itself tries again once per RECONNECT_INTERVAL,
        // and retries inside an attempt would only delay the start.
        let config = ConnectionManagerConfig::new().set_connection_timeout(timeout).set_response_timeout(timeout).set_number_of_retries(0);
        let (connection, last_error) = match probe(&client, &config).await {
            Ok(connection) => {
                tracing::info!(url = %redacted, "rate-limit store connected");
                (Some(connection), None)
            }
            Err(error) if is_configuration_error(&error) => {
                return Err(BuildError::RedisSettings { url: redacted, source: error });
            }
            Err(error) => {
                tracing::warn!(url = %redacted, %error, "rate-limit store unreachable; the failure mode applies until a connection succeeds");
                (None, Some(LastError { message: error.to_string(), transport: true }))
            }
        };
        let now = Instant::now();
        let inner = LinkState {
            url: redacted,
            client,
            config,
            timeout,
            next_connect: Mutex::new(if connection.is_some() { now } else { now + RECONNECT_INTERVAL }),
            reachable: AtomicBool::new(connection.is_some()),
            connection: Mutex::new(connection),
            failed_connects: AtomicU64::new(0),
            rejected_connects: AtomicU64::new(0),
            gate: Mutex::new(CallGate { pending: 0, progress_at: now, suspended_until: now, probing: false }),
            calls_failing: AtomicBool::new(false),
            failed_calls: AtomicU64::new(0),
            failure_mode_calls: AtomicU64::new(0),
            last_error: Mutex::new(last_error),
            stall_logged: AtomicBool::new(false),
            stalls: AtomicU64::new(0),
            last_stall_warning: Mutex::new(None),
        };
        Ok(Self { inner: Arc::new(inner) })
    }

    /// Returns the maximum wait for one call before the failure mode applies.
    pub fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    pub fn status(&self) -> RedisStatus {
        RedisStatus {
            url: self.inner.url.clone(),
            reachable: self.inner.reachable.load(Ordering::Relaxed),
            failure_mode_calls: self.inner.failure_mode_calls.load(Ordering::Relaxed),
            last_error: lock(&self.inner.last_error).as_ref().map(|error| error.message.clone()),
        }
    }

    /// Sends `PING` and records whether Redis responded within the timeout, so that
    /// [`RedisLink::status`] is current even while no request reaches the store. A reply also
    /// ends a suspension, so calls go to Redis again at once.
    pub async fn refresh(&self) {
        let Some(mut connection) = self.connection() else { return };
        let ping = async {
            let command = redis::cmd("PING");
            match command.query_async::<String>(&mut connection).await {
                Err(error) if was_not_sent(&error) => command.query_async::<String>(&mut connection).await,
                result => result,
            }
        };
        let error = match tokio::time::timeout(self.inner.timeout, ping).await {
            Ok(Ok(_)) => {
                self.responded(false);
                lock(&self.inner.gate).suspended_until = Instant::now();
                return;
            }
            // A rejection, such as a password changed while connected, is a response.
            Ok(Err(error)) if is_configuration_error(&error) => {
                self.rejected(error.to_string());
                return;
            }
            Ok(Err(error)) => error.to_string(),
            Err(_) => "PING timed out".to_owned(),
        };
        tracing::debug!(url = %self.inner.url, error, "rate-limit store did not respond to PING");
        self.not_responded(error);
    }

    /// Returns the connection, or `None` while there is none. Then it starts an attempt to
    /// connect in the background, at most one per [`RECONNECT_INTERVAL`], so requests never
    /// wait for one.
    pub(crate) fn connection(&self) -> Option<ConnectionManager> {
        if let Some(connection) = lock(&self.inner.connection).as_ref() {
            return Some(connection.clone());
        }
        {
            let mut next_connect = lock(&self.inner.next_connect);
            let now = Instant::now();
            if now < *next_connect {
                return None;
            }
            *next_connect = now + RECONNECT_INTERVAL;
        }
        let link = self.clone();
        tokio::spawn(async move { link.connect().await });
        None
    }

    /// Makes one attempt to connect, with the checks of [`RedisLink::open`], and logs a failure
    /// at once the first time and then once per [`LOG_EVERY`] attempts.
    async fn connect(&self) {
        let inner = &self.inner;
        let error = match probe(&inner.client, &inner.config).await {
            Ok(connection) => {
                tracing::info!(url = %inner.url, "rate-limit store connected");
                inner.failed_connects.store(0, Ordering::Relaxed);
                inner.rejected_connects.store(0, Ordering::Relaxed);
                *lock(&inner.connection) = Some(connection);
                self.responded(false);
                return;
            }
            Err(error) => error,
        };
        if is_configuration_error(&error) {
            // Redis responds but rejects the gateway, which no wait will fix. The first
            // rejection is logged at once, however many attempts failed before Redis came up.
            let rejections = inner.rejected_connects.fetch_add(1, Ordering::Relaxed) + 1;
            if rejections == 1 || rejections.is_multiple_of(LOG_EVERY) {
                tracing::error!(url = %inner.url, %error, rejections, "the rate-limit store rejected the gateway; check the password, the user's permissions and the database number in --redis-url");
            }
            self.rejected(error.to_string());
            return;
        }
        let failures = inner.failed_connects.fetch_add(1, Ordering::Relaxed) + 1;
        if failures.is_multiple_of(LOG_EVERY) {
            tracing::warn!(url = %inner.url, %error, failures, "rate-limit store still unreachable");
        } else {
            tracing::debug!(url = %inner.url, %error, "rate-limit store still unreachable");
        }
        self.not_responded(error.to_string());
    }

    /// Returns a permit for one call, or `Err` with the reason the call must not be made. The
    /// reasons are a suspension after a failure, and another call testing whether Redis is
    /// back. With `failureMode: open`, pending calls that have seen no reply for a quarter of
    /// the timeout are one more: counting locally costs little, while waiting delays requests.
    /// With `closed`, a call waits for its timeout instead, since skipping it would reject a
    /// request that a slow Redis would still have admitted.
    pub(crate) fn permit(&self, failure_mode: FailureMode) -> Result<CallPermit<'_>, &'static str> {
        let now = Instant::now();
        let mut gate = lock(&self.inner.gate);
        if now < gate.suspended_until {
            return Err("a recent call failed");
        }
        if gate.pending > 0 && gate.probing {
            return Err("another call is testing whether Redis is back");
        }
        let stall = self.inner.timeout / 4;
        if failure_mode == FailureMode::Open && gate.pending > 0 && now.duration_since(gate.progress_at) > stall {
            drop(gate);
            if !self.inner.stall_logged.swap(true, Ordering::Relaxed) {
                self.warn_about_stall(stall);
            }
            return Err("pending calls have had no reply for a quarter of the timeout");
        }
        if gate.pending == 0 {
            gate.progress_at = now;
        }
        gate.pending += 1;
        Ok(CallPermit { link: self })
    }

    /// Warns that calls are skipped after a stall: at once for the first stall, then at most
    /// once per [`STALL_WARNING_INTERVAL`] with the count of stalls since start.
    fn warn_about_stall(&self, waited: Duration) {
        let stalls = self.inner.stalls.fetch_add(1, Ordering::Relaxed) + 1;
        let now = Instant::now();
        let mut last = lock(&self.inner.last_stall_warning);
        if last.is_some_and(|last| now.duration_since(last) < STALL_WARNING_INTERVAL) {
            return;
        }
        *last = Some(now);
        drop(last);
        tracing::warn!(url = %self.inner.url, ?waited, stalls, "rate-limit store has not replied; checks are counted locally until it does");
    }

    /// Counts a rate-limit check that the failure mode decided without calling Redis.
    pub(crate) fn skipped(&self) {
        self.inner.failure_mode_calls.fetch_add(1, Ordering::Relaxed);
    }

    /// Records that Redis responded. A call's success clears any error. A `PING` or a
    /// connection clears only an error of Redis not responding (see [`RedisStatus::last_error`]).
    fn responded(&self, by_call: bool) {
        self.inner.reachable.store(true, Ordering::Relaxed);
        let mut last_error = lock(&self.inner.last_error);
        if by_call || last_error.as_ref().is_some_and(|error| error.transport) {
            *last_error = None;
        }
    }

    /// Records that Redis responded with an error, such as a missing permission, which a later
    /// `PING` does not clear.
    fn rejected(&self, message: String) {
        self.inner.reachable.store(true, Ordering::Relaxed);
        *lock(&self.inner.last_error) = Some(LastError { message, transport: false });
    }

    /// Records that Redis did not respond: a failed connection, a refusal or a timeout.
    fn not_responded(&self, message: String) {
        self.inner.reachable.store(false, Ordering::Relaxed);
        *lock(&self.inner.last_error) = Some(LastError { message, transport: true });
    }
}

impl CallPermit<'_> {
    /// Records a call that Redis completed, and logs the recovery after failed calls.
    pub(crate) fn succeeded(self) {
        let inner = &self.link.inner;
        {
            let mut gate = lock(&inner.gate);
            gate.progress_at = Instant::now();
            gate.probing = false;
        }
        self.link.responded(true);
        inner.stall_logged.store(false, Ordering::Relaxed);
        if inner.calls_failing.swap(false, Ordering::Relaxed) {
            inner.failed_calls.store(0, Ordering::Relaxed);
            tracing::info!(url = %inner.url, "rate-limit store calls succeed again");
        }
    }

    /// Records a call that failed or timed out, which the failure mode decides. Starts a
    /// suspension, and logs the first failure after a success at once and later ones about
    /// once a minute.
    pub(crate) fn failed(self, error: &CallError, failure_mode: FailureMode) {
        let inner = &self.link.inner;
        inner.failure_mode_calls.fetch_add(1, Ordering::Relaxed);
        {
            let mut gate = lock(&inner.gate);
            gate.suspended_until = Instant::now() + SUSPEND_AFTER_FAILURE;
            gate.probing = true;
        }
        let message = error.to_string();
        if error.is_transport() {
            self.link.not_responded(message.clone());
        } else {
            self.link.rejected(message.clone());
        }
        let first = !inner.calls_failing.swap(true, Ordering::Relaxed);
        let failures = inner.failed_calls.fetch_add(1, Ordering::Relaxed) + 1;
        if !first && !failures.is_multiple_of(LOG_EVERY) {
            return;
        }
        match error {
            CallError::Redis(redis_error) if is_configuration_error(redis_error) => {
                tracing::error!(url = %inner.url, error = message, failures, ?failure_mode, "the rate-limit store rejected a call; check the password and the user's permissions in --redis-url");
            }
            _ if first => tracing::warn!(url = %inner.url, error = message, ?failure_mode, "rate-limit store call failed"),
            _ => tracing::warn!(url = %inner.url, error = message, failures, ?failure_mode, "rate-limit store calls still fail"),
        }
    }
}

impl Drop for CallPermit<'_> {
    fn drop(&mut self) {
        let mut gate = lock(&self.link.inner.gate);
        gate.pending = gate.pending.saturating_sub(1);
    }
}

/// The cause of a failed call to Redis.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CallError {
    #[error(transparent)]
    Redis(redis::RedisError),
    #[error("timed out")]
    TimedOut,
    #[error("unexpected script reply of {0} values")]
    UnexpectedReply(usize),
}

impl CallError {
    /// Tells whether Redis did not respond, as opposed to responding with an error.
    fn is_transport(&self) -> bool {
        match self {
            Self::Redis(error) if is_configuration_error(error) => false,
            Self::Redis(error) => {
                error.is_io_error() || error.is_timeout() || error.is_connection_dropped() || error.is_connection_refusal()
            }
            Self::TimedOut => true,
            Self::UnexpectedReply(_) => false,
        }
    }
}

impl std::fmt::Debug for RedisLink {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("RedisLink").field("url", &self.inner.url).finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Tells whether a call failed before its command was sent, so that sending it again cannot
/// count it twice. The connection manager of redis-rs 0.32 hands the error of its last failed
/// reconnection to the next call, and starts a new attempt, so the first call after Redis comes
/// back fails that way unless it is sent again.
pub(crate) fn was_not_sent(error: &redis::RedisError) -> bool {
    error.is_connection_refusal() || error.to_string().starts_with("Reconnecting failed")
}

/// Connects and runs what the store needs once: `PING`, which fails without the right
/// password, and the check script on a key of its own, which fails without the permission to
/// run scripts or to write keys. The key expires within seconds. Errors other than those of a
/// setting are left to the caller.
async fn probe(client: &redis::Client, config: &ConnectionManagerConfig) -> redis::RedisResult<ConnectionManager> {
    let mut connection = ConnectionManager::new_with_config(client.clone(), config.clone()).await?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_millis() as u64);
    let checks = async {
        redis::cmd("PING").query_async::<String>(&mut connection).await?;
        // One counter of one token refilled per second, of which nothing is taken, under each
        // prefix that the counters use.
        let script = redis::Script::new(super::redis_store::CHECK_SCRIPT);
        for key in SETTINGS_CHECK_KEYS {
            let mut invocation = script.prepare_invoke();
            invocation.arg(now).key(key).arg(1).arg(1).arg(1_000).arg(0).arg(0);
            invocation.invoke_async::<Vec<i64>>(&mut connection).await?;
        }
        Ok(())
    };
    match checks.await {
        Err(error) if is_configuration_error(&error) => Err(error),
        _ => Ok(connection),
    }
}

/// Tells whether an error is a setting to fix rather than an outage to wait out. Such settings
/// are a wrong or missing password, a missing permission to run scripts or to write keys, a
/// database number the server lacks, a read-only replica, and an invalid client setting.
fn is_configuration_error(error: &redis::RedisError) -> bool {
    if matches!(error.kind(), redis::ErrorKind::AuthenticationFailed | redis::ErrorKind::InvalidClientConfig | redis::ErrorKind::ReadOnly) {
        return true;
    }
    if matches!(error.code(), Some("NOAUTH" | "WRONGPASS" | "NOPERM")) {
        return true;
    }
    // Messages of Redis 7 for an ACL refusal inside a script, and of redis-rs for a failed SELECT.
    let text = error.to_string();
    text.contains("can't run this command") || text.contains("refused to switch database")
}
