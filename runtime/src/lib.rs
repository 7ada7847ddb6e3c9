//! The gatectl gateway runtime: a reverse proxy that serves a compiled gateway spec.
//!
//! A request flows through the modules in this order: [`listener`] (TCP, TLS, HTTP/1.1 and
//! HTTP/2), [`normalize`] (path and host), [`routing`], then authentication and rate limiting
//! (crate `gatectl-enforce`, called from [`proxy`]). After that come [`upstream`] (pools,
//! balancing, health), [`proxy`] (forwarding) and [`observe`] (access log and metrics).
//!
//! [`admin`] serves the authenticated admin listener, and [`config`] compiles specs and
//! activates them atomically.
//!
//! Start it in-process with [`Runtime::start`]; the `gatectl-runtime` binary is a thin wrapper.

pub mod admin;
pub mod bundle_store;
pub mod config;
pub mod error;
pub mod listener;
pub mod normalize;
pub mod observe;
pub mod proxy;
pub mod routing;
pub mod upstream;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use gatectl_enforce::{EnforcerOptions, RedisLink};
use gatectl_spec::Spec;
use gatectl_spec::model::{ListenerProtocol, Settings};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use config::{Activation, CompileError, ConfigStore};
use listener::{ConnectionSettings, Drain};
use observe::access_log::{AccessLog, AccessLogTarget};
use observe::metrics::Metrics;
use proxy::Gateway;

/// Time the connections still open at the end of the drain get to close.
const ABANDON_WAIT: Duration = Duration::from_secs(2);

/// Time the access log gets at shutdown to write the lines queued before it.
const ACCESS_LOG_FLUSH_WAIT: Duration = Duration::from_secs(5);
/// Maximum wait for one Redis call before `failureMode` applies.
const REDIS_TIMEOUT: Duration = Duration::from_millis(250);

/// How to start the runtime.
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    /// The spec served from the start; without one every request gets 404 until [`RunningRuntime::activate`].
    pub spec: Option<Spec>,
    /// Listen addresses that replace those of `settings.listeners`: the first address replaces
    /// the first listener's (keeping its protocol and certificates), and so on. Addresses beyond
    /// the spec's listeners serve plain HTTP, and spec listeners beyond these addresses are not
    /// opened. Empty to use the spec's addresses as written.
    pub listen: Vec<SocketAddr>,
    /// Admin listener address; no admin listener when `None`.
    pub admin_listen: Option<SocketAddr>,
    /// Bearer token of the admin listener, required when `admin_listen` is set.
    pub admin_token: Option<String>,
    /// TLS of the admin listener, and the CA of required client certificates; plain HTTP when
    /// `None`. The bearer token stays required either way.
    pub admin_tls: Option<admin::tls::AdminTlsOptions>,
    /// Access-log destination; when `None`, `settings.accessLog` of the spec decides.
    pub access_log: Option<AccessLogTarget>,
    /// Time in-flight requests get to finish after shutdown starts.
    pub drain_timeout: Duration,
    /// Time an admin client has to send a whole request head.
    pub admin_header_timeout: Duration,
    /// Redis URL (`redis://host:port/db`) of the rate-limit and quota counters shared by
    /// replicas. Counters stay in this process's memory when `None`.
    pub redis_url: Option<String>,
    /// Trusted keys, state directory and history size of the bundle endpoints.
    pub bundles: admin::bundles::BundleOptions,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        Self {
            spec: None,
            listen: Vec::new(),
            admin_listen: None,
            admin_token: None,
            admin_tls: None,
            access_log: None,
            drain_timeout: Duration::from_secs(30),
            admin_header_timeout: Duration::from_secs(10),
            redis_url: None,
            bundles: admin::bundles::BundleOptions::default(),
        }
    }
}

/// Errors that stop the runtime from starting.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("the spec cannot be activated: {0}")]
    Compile(#[from] CompileError),
    #[error(transparent)]
    Tls(#[from] listener::tls::TlsError),
    #[error("listener `{name}`: address `{address}` is not a valid socket address such as 0.0.0.0:8080")]
    Address { name: String, address: String },
    #[error("cannot listen on {address}: {source}; stop the process that holds the port, or choose another address")]
    Bind { address: SocketAddr, source: std::io::Error },
    #[error("the admin listener needs a bearer token; pass --admin-token-file or set GATECTL_ADMIN_TOKEN")]
    MissingAdminToken,
    #[error("the admin listener address {0} is also a proxy listener address; pick another port")]
    AdminOnProxyPort(SocketAddr),
    #[error(transparent)]
    AdminTls(#[from] admin::tls::AdminTlsError),
    #[error("cannot open the access log: {0}")]
    AccessLog(std::io::Error),
    #[error("cannot open the bundle history: {0}")]
    BundleHistory(#[from] bundle_store::StoreError),
    #[error(transparent)]
    RedisSettings(#[from] gatectl_enforce::BuildError),
}

/// Entry point of the runtime.
pub struct Runtime;

/// A started runtime.
pub struct RunningRuntime {
    proxy_addresses: Vec<SocketAddr>,
    admin_address: Option<SocketAddr>,
    store: Arc<ConfigStore>,
    gateway: Arc<Gateway>,
    drain: Arc<Drain>,
    admin_stop: watch::Sender<bool>,
    accept_tasks: Vec<JoinHandle<()>>,
    drain_timeout: Duration,
}

/// Result of a graceful shutdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrainOutcome {
    /// Connections still open when the drain timeout passed; 0 when everything finished.
    pub abandoned_connections: usize,
}

struct PlannedListener {
    name: String,
    address: SocketAddr,
    tls: Option<tokio_rustls::TlsAcceptor>,
}

impl Runtime {
    /// Binds every listener, activates the spec and starts serving. Must run inside a Tokio runtime.
    pub async fn start(options: RuntimeOptions) -> Result<RunningRuntime, StartError> {
        let settings = options.spec.as_ref().map(|spec| spec.settings.clone()).unwrap_or_default();
        let admin_token = match (options.admin_listen, &options.admin_token) {
            (Some(_), None) => return Err(StartError::MissingAdminToken),
            (_, token) => token.clone(),
        };
        let admin_tls = match (options.admin_listen, &options.admin_tls) {
            (Some(_), Some(tls)) => Some(admin::tls::AdminTlsAcceptor::load(tls)?),
            _ => None,
        };
        let planned = plan_listeners(&settings, &options.listen)?;
        let metrics = Arc::new(Metrics::default());
        // One connection serves every configuration. A wrong password stops the start whichever
        // configuration comes first, the spec or a stored bundle, because no activation could
        // succeed until it is fixed.
        let redis = match &options.redis_url {
            Some(url) => Some(RedisLink::open(url, REDIS_TIMEOUT).await?),
            None => None,
        };
        if let Some(link) = &redis {
            metrics.watch_redis(link.clone());
        }
        let enforcer_options = EnforcerOptions { redis, ..EnforcerOptions::default() };
        let store = Arc::new(ConfigStore::with_enforcer_options(metrics.clone(), enforcer_options));
        if let Some(spec) = &options.spec {
            store.activate(spec).await?;
        }
        // Bundles of the state directory replace the spec above, before any listener accepts.
        let bundles = Arc::new(admin::bundles::Bundles::open(options.bundles.clone(), store.clone())?);
        bundles.resume().await;
        if let Some(admin) = options.admin_listen
            && admin.port() != 0
            && planned.iter().any(|listener| listener.address == admin)
        {
            return Err(StartError::AdminOnProxyPort(admin));
        }

        // `--access-log` chooses where lines go; `settings.accessLog.enabled: false` turns the
        // log off wherever it would go.
        let access_target = match (settings.access_log.enabled, options.access_log.clone(), &settings.access_log.path) {
            (false, ..) => AccessLogTarget::Disabled,
            (true, Some(target), _) => target,
            (true, None, Some(path)) => AccessLogTarget::File(PathBuf::from(path)),
            (true, None, None) => AccessLogTarget::Stdout,
        };
        let access_log = AccessLog::start(access_target).await.map_err(StartError::AccessLog)?;
        let drain = Arc::new(Drain::default());
        let gateway = Arc::new(Gateway { store: store.clone(), metrics: metrics.clone(), access_log, drain: drain.clone() });
        let connection_settings = ConnectionSettings {
            header_timeout: settings.limits.header_timeout.as_std(),
            idle_timeout: settings.limits.idle_timeout.as_std(),
        };

        let mut proxy_addresses = Vec::new();
        let mut accept_tasks = Vec::new();
        for listener in planned {
            let socket =
                TcpListener::bind(listener.address).await.map_err(|source| StartError::Bind { address: listener.address, source })?;
            let bound = socket.local_addr().map_err(|source| StartError::Bind { address: listener.address, source })?;
            tracing::info!(listener = %listener.name, address = %bound, tls = listener.tls.is_some(), "proxy listener bound");
            proxy_addresses.push(bound);
            let task = listener::accept_loop(socket, listener.tls, gateway.clone(), connection_settings, drain.clone());
            accept_tasks.push(tokio::spawn(task));
        }

        let (admin_stop, admin_stopped) = watch::channel(false);
        let mut admin_address = None;
        if let (Some(address), Some(token)) = (options.admin_listen, admin_token) {
            let socket = TcpListener::bind(address).await.map_err(|source| StartError::Bind { address, source })?;
            let bound = socket.local_addr().map_err(|source| StartError::Bind { address, source })?;
            let client_certificates = options.admin_tls.as_ref().is_some_and(|tls| tls.client_ca.is_some());
            tracing::info!(address = %bound, tls = admin_tls.is_some(), client_certificates, "admin listener bound");
            admin_address = Some(bound);
            let admin =
                Arc::new(admin::Admin { store: store.clone(), metrics, token, bundles, header_timeout: options.admin_header_timeout });
            tokio::spawn(admin::serve(socket, admin, admin_tls, admin_stopped));
        }

        Ok(RunningRuntime {
            proxy_addresses,
            admin_address,
            store,
            gateway,
            drain,
            admin_stop,
            accept_tasks,
            drain_timeout: options.drain_timeout,
        })
    }
}

fn plan_listeners(settings: &Settings, overrides: &[SocketAddr]) -> Result<Vec<PlannedListener>, StartError> {
    let mut planned = Vec::new();
    for (index, listener) in settings.listeners.iter().enumerate() {
        let address = match overrides.get(index) {
            Some(address) => *address,
            None if !overrides.is_empty() => {
                let skipped: Vec<&str> = settings.listeners[index..].iter().map(|listener| listener.name.as_str()).collect();
                tracing::warn!(
                    listeners = ?skipped,
                    listen_addresses = overrides.len(),
                    "spec listeners without a --listen address are not opened; pass one --listen per listener to keep them"
                );
                break;
            }
            None => listener
                .address
                .parse()
                .map_err(|_| StartError::Address { name: listener.name.clone(), address: listener.address.clone() })?,
        };
        let tls = match listener.protocol {
            ListenerProtocol::Http => None,
            ListenerProtocol::Https => {
                Some(tokio_rustls::TlsAcceptor::from(listener::tls::server_config(&listener.name, listener.tls.as_ref())?))
            }
        };
        planned.push(PlannedListener { name: listener.name.clone(), address, tls });
    }
    for (index, address) in overrides.iter().enumerate().skip(settings.listeners.len()) {
        planned.push(PlannedListener { name: format!("listen-{index}"), address: *address, tls: None });
    }
    Ok(planned)
}

impl RunningRuntime {
    /// Bound proxy listener addresses, in listener order.
    pub fn proxy_addresses(&self) -> &[SocketAddr] {
        &self.proxy_addresses
    }

    pub fn admin_address(&self) -> Option<SocketAddr> {
        self.admin_address
    }

    pub fn store(&self) -> &Arc<ConfigStore> {
        &self.store
    }

    /// Compiles and activates a new spec; see [`ConfigStore::activate`]. On error the running
    /// configuration keeps serving.
    pub async fn activate(&self, spec: &Spec) -> Result<Activation, CompileError> {
        self.store.activate(spec).await
    }

    /// Stops accepting connections, lets in-flight requests finish within the drain timeout and
    /// reports how many connections were still open when it passed. Those connections are then
    /// closed, their unfinished requests logged with status 503, and the access log written out.
    pub async fn shutdown(self) -> DrainOutcome {
        self.shutdown_or(std::future::pending()).await
    }

    /// Shuts down as [`RunningRuntime::shutdown`] does, but ends the drain early, as if its
    /// timeout had passed, once `force` completes: a second SIGTERM, for example.
    pub async fn shutdown_or(self, force: impl Future<Output = ()>) -> DrainOutcome {
        tracing::info!(connections = self.drain.active_connections(), timeout = ?self.drain_timeout, "shutdown started; draining connections");
        self.drain.start();
        self.admin_stop.send_replace(true);
        for task in self.accept_tasks {
            let _ = task.await;
        }
        let finished = tokio::select! {
            finished = tokio::time::timeout(self.drain_timeout, self.drain.wait()) => finished.is_ok(),
            () = force => self.drain.active_connections() == 0,
        };
        let abandoned_connections = if finished { 0 } else { self.drain.active_connections() };
        if finished {
            tracing::info!("drain finished; every in-flight request completed");
        } else {
            tracing::warn!(abandoned_connections, "drain ended with connections still open; closing them");
            self.drain.abandon();
            // Abandoned connections close when next polled, so this wait is short. Its bound
            // keeps a connection that fails to close from stopping the exit.
            if tokio::time::timeout(ABANDON_WAIT, self.drain.wait()).await.is_err() {
                tracing::warn!(connections = self.drain.active_connections(), "connections did not close at the end of the drain");
            }
        }
        self.gateway.access_log.flush(ACCESS_LOG_FLUSH_WAIT).await;
        DrainOutcome { abandoned_connections }
    }
}
