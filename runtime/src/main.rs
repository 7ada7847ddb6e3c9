//! The `gatectl-runtime` binary: parses flags, sets up JSON logging and runs the gateway.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use gatectl_runtime::admin::bundles::BundleOptions;
use gatectl_runtime::admin::tls::AdminTlsOptions;
use gatectl_runtime::observe::access_log::AccessLogTarget;
use gatectl_runtime::{Runtime, RuntimeOptions};
use gatectl_spec::load::{LoadOptions, load};
use tokio::signal::unix::{Signal, SignalKind, signal};

/// mimalloc keeps per-thread free lists, so the many small allocations of each request (header
/// maps, bodies, futures) stay cheap. With glibc's allocator they took about a fifth of the
/// proxy's instructions under callgrind.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The gatectl gateway runtime: a reverse proxy that serves a gateway spec.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Flags {
    /// Spec file or directory to serve. Without it every request gets 404 until a spec is activated.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Overlay applied on top of `--config`, as `gatectl validate --overlay` does (repeatable,
    /// applied in order).
    #[arg(long = "overlay", value_name = "FILE", requires = "config")]
    overlays: Vec<PathBuf>,
    /// Proxy listen address (repeatable); replaces the addresses of settings.listeners in order.
    /// Without either, the proxy listens on 0.0.0.0:8080.
    #[arg(long = "listen", value_name = "ADDR")]
    listen: Vec<SocketAddr>,
    /// Admin listener address (metrics, health, status); must differ from every proxy address.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9901")]
    admin_listen: SocketAddr,
    /// File holding the admin bearer token; it takes precedence over --admin-token and
    /// GATECTL_ADMIN_TOKEN.
    #[arg(long, value_name = "PATH")]
    admin_token_file: Option<PathBuf>,
    /// Admin bearer token.
    #[arg(long, env = "GATECTL_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// PEM certificate chain (leaf first) that makes the admin listener speak TLS. The bearer
    /// token is still required.
    #[arg(long, value_name = "PATH", requires = "admin_tls_key")]
    admin_tls_cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of --admin-tls-cert.
    #[arg(long, value_name = "PATH", requires = "admin_tls_cert")]
    admin_tls_key: Option<PathBuf>,
    /// PEM CA certificates that admin clients' certificates must chain to. Clients without such
    /// a certificate fail the TLS handshake. Needs --admin-tls-cert and --admin-tls-key.
    #[arg(long, value_name = "PATH", requires_all = ["admin_tls_cert", "admin_tls_key"])]
    admin_client_ca: Option<PathBuf>,
    /// Tokio worker threads; all cores when absent. With 1, everything runs on one thread.
    #[arg(long, value_name = "N")]
    workers: Option<usize>,
    /// Access-log file; standard output when absent (or settings.accessLog.path when the spec sets it).
    #[arg(long, value_name = "PATH")]
    access_log: Option<PathBuf>,
    /// Time in-flight requests get to finish after SIGTERM or SIGINT, for example 30s.
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    drain_timeout: gatectl_spec::Duration,
    /// Redis URL for rate-limit and quota counters shared by replicas, for example
    /// redis://127.0.0.1:6379/0. Counters stay in this process's memory when absent.
    #[arg(long, value_name = "URL", env = "GATECTL_REDIS_URL", hide_env_values = true)]
    redis_url: Option<String>,
    /// File holding the Redis URL, so that a password in it stays out of the process list; it
    /// takes precedence over --redis-url and GATECTL_REDIS_URL.
    #[arg(long, value_name = "PATH")]
    redis_url_file: Option<PathBuf>,
    /// Public key file (*.pub.json) or directory of them whose signatures uploaded bundles must
    /// carry (repeatable). Without it the runtime accepts no bundle.
    #[arg(long = "trusted-keys", value_name = "DIR")]
    trusted_keys: Vec<PathBuf>,
    /// Directory where the active bundle and the recent ones are kept, so that a restart
    /// resumes the last active bundle before serving. Without it the history is lost on exit.
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Number of bundles kept in the history, the active one included.
    #[arg(long, value_name = "N", default_value_t = gatectl_runtime::bundle_store::DEFAULT_HISTORY)]
    bundle_history: usize,
}

fn main() -> ExitCode {
    let flags = Flags::parse();
    tracing_subscriber::fmt()
        .event_format(gatectl_runtime::observe::log_lines::JsonLines)
        .fmt_fields(gatectl_runtime::observe::log_fields::JsonSpanFields)
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    // A panic becomes one JSON log line. Inside a request, the line carries the request's IDs.
    std::panic::set_hook(Box::new(|panic| tracing::error!(%panic, "the runtime panicked")));

    // One worker runs every task on this thread with Tokio's current-thread scheduler, which
    // skips the work-stealing scheduler's cross-thread bookkeeping.
    let mut builder = match flags.workers {
        Some(0 | 1) => tokio::runtime::Builder::new_current_thread(),
        Some(workers) => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(workers.max(1));
            builder
        }
        None => tokio::runtime::Builder::new_multi_thread(),
    };
    builder.enable_all();
    let runtime = match builder.build() {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!(%error, "cannot start the Tokio runtime");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(flags)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = %chain_text(&error), "gatectl-runtime stopped");
            ExitCode::FAILURE
        }
    }
}

/// Joins an error and its causes with `: `, leaving out a cause whose text the message before
/// it already contains, as when a message quotes its OS error.
fn chain_text(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let part = cause.to_string();
        if text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

async fn run(flags: Flags) -> anyhow::Result<()> {
    let spec = match &flags.config {
        None => None,
        Some(path) => Some(load_spec(path, &flags.overlays)?),
    };
    let admin_token = match (&flags.admin_token_file, &flags.admin_token) {
        (Some(path), _) => Some(read_secret_file(path, "admin token", "the token")?),
        (None, token) => token.clone(),
    };
    let redis_url = match (&flags.redis_url_file, &flags.redis_url) {
        (Some(path), _) => Some(read_secret_file(path, "Redis URL", "the URL")?),
        (None, url) => url.clone(),
    };
    let admin_tls = admin_tls(&flags);
    let options = RuntimeOptions {
        spec,
        listen: flags.listen,
        admin_listen: Some(flags.admin_listen),
        admin_token: admin_token.filter(|token| !token.is_empty()),
        admin_tls,
        access_log: flags.access_log.map(AccessLogTarget::File),
        drain_timeout: flags.drain_timeout.as_std(),
        admin_header_timeout: RuntimeOptions::default().admin_header_timeout,
        redis_url: redis_url.filter(|url| !url.is_empty()),
        bundles: BundleOptions {
            trusted_keys: trusted_keys(&flags.trusted_keys)?,
            state_dir: flags.state_dir,
            history: flags.bundle_history,
            ..BundleOptions::default()
        },
    };
    let mut signals = ShutdownSignals::listen()?;
    let running = Runtime::start(options).await?;
    let proxy: Vec<String> = running.proxy_addresses().iter().map(ToString::to_string).collect();
    let admin = running.admin_address().map(|address| address.to_string()).unwrap_or_default();
    tracing::info!(proxy = %proxy.join(","), %admin, "gatectl-runtime started");

    signals.next().await;
    // A second signal ends the drain at once, as nginx's fast shutdown does. An operator need
    // not wait out the drain timeout or send SIGKILL, which would lose the access log's tail.
    let second_signal = async {
        signals.next().await;
        tracing::warn!("second signal received; closing the open connections now");
    };
    // The shutdown logs the connections it cuts at the timeout. They do not fail the exit,
    // because long-lived connections such as WebSocket tunnels end this way on every shutdown.
    running.shutdown_or(second_signal).await;
    tracing::info!("gatectl-runtime stopped");
    Ok(())
}

/// Reads a secret kept in a file of its own, without the blanks and newline at its ends.
/// `secret_name` names the secret in errors, and `expected_content` is what an empty file
/// should hold, for the error's advice.
fn read_secret_file(path: &std::path::Path, secret_name: &str, expected_content: &str) -> anyhow::Result<String> {
    let text =
        std::fs::read_to_string(path).map_err(|error| anyhow::anyhow!("cannot read {secret_name} file {}: {error}", path.display()))?;
    let secret = text.trim();
    if secret.is_empty() {
        anyhow::bail!("{secret_name} file {} is empty; write {expected_content} into it", path.display());
    }
    Ok(secret.to_owned())
}

/// Returns the admin listener's TLS files, or `None` without --admin-tls-cert. Clap ensures
/// that the certificate and key come together and that --admin-client-ca comes with both.
fn admin_tls(flags: &Flags) -> Option<AdminTlsOptions> {
    let (Some(certificate), Some(key)) = (&flags.admin_tls_cert, &flags.admin_tls_key) else { return None };
    let mut options = AdminTlsOptions::new(certificate, key);
    options.client_ca = flags.admin_client_ca.clone();
    Some(options)
}

/// Reads the trusted public keys; `None` without any --trusted-keys.
fn trusted_keys(paths: &[PathBuf]) -> anyhow::Result<Option<gatectl_spec::bundle::TrustedKeys>> {
    if paths.is_empty() {
        return Ok(None);
    }
    let mut trusted = gatectl_spec::bundle::TrustedKeys::new();
    for path in paths {
        trusted.add_path(path).map_err(|error| anyhow::anyhow!("--trusted-keys {}: {error}", path.display()))?;
    }
    Ok(Some(trusted))
}

fn load_spec(path: &PathBuf, overlays: &[PathBuf]) -> anyhow::Result<gatectl_spec::Spec> {
    let options = LoadOptions { overlays: overlays.to_vec(), ..LoadOptions::default() };
    let loaded = load(std::slice::from_ref(path), &options)?;
    let mut errors = Vec::new();
    if let Some(spec) = &loaded.spec {
        // What `gatectl validate` reports. Warnings, such as an upstream that no route uses, are
        // logged so that a mistake in an overlay does not pass unnoticed. Errors stop the start,
        // as they stop a bundle from being activated.
        for finding in gatectl_spec::rules::check(spec, &loaded.index, &gatectl_spec::rules::RuleConfig::default()) {
            let place = finding.span.map(|span| loaded.sources.locate(span).to_string()).unwrap_or_default();
            if finding.severity == gatectl_spec::diagnostic::Severity::Error {
                errors.push(finding);
                continue;
            }
            tracing::warn!(rule = finding.rule, severity = ?finding.severity, %place, "{}; run `gatectl validate` on the spec for details", finding.message);
        }
    }
    if let Some(spec) = loaded.spec
        && errors.is_empty()
    {
        return Ok(spec);
    }
    let mut message = if overlays.is_empty() {
        format!("the spec {} is invalid:", path.display())
    } else {
        format!("the spec {} with its overlays is invalid:", path.display())
    };
    let is_error = |diagnostic: &&gatectl_spec::diagnostic::Diagnostic| diagnostic.severity == gatectl_spec::diagnostic::Severity::Error;
    for diagnostic in loaded.diagnostics.iter().filter(is_error).chain(&errors) {
        let place = diagnostic.span.map(|span| {
            let location = loaded.sources.locate(span);
            format!("{}:{}:{}: ", location.path.display(), location.line, location.column)
        });
        message.push_str(&format!("\n  {}{}", place.unwrap_or_default(), diagnostic.message));
    }
    anyhow::bail!(message)
}

/// SIGTERM and SIGINT, listened to from start-up on, so that no signal is missed between two
/// waits.
struct ShutdownSignals {
    terminate: Signal,
    interrupt: Signal,
}

impl ShutdownSignals {
    fn listen() -> std::io::Result<Self> {
        Ok(Self { terminate: signal(SignalKind::terminate())?, interrupt: signal(SignalKind::interrupt())? })
    }

    /// Waits for the next SIGTERM or SIGINT.
    async fn next(&mut self) {
        tokio::select! {
            _ = self.terminate.recv() => tracing::info!("SIGTERM received"),
            _ = self.interrupt.recv() => tracing::info!("SIGINT received"),
        }
    }
}
