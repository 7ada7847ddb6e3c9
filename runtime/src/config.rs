//! The compiled configuration and its atomic activation.
//!
//! [`compile`] turns a [`Spec`] into an immutable [`CompiledConfig`]: the route matcher, upstream
//! pools with balancers and clients, per-route settings and the [`Enforcer`] for authentication,
//! rate limits and quotas (JWKS fetched, on the runtime's one Redis connection when there is
//! one). [`ConfigStore::activate`] compiles first and swaps the result in only when compilation
//! succeeded, so a bad spec or an unreachable JWKS endpoint leaves the running configuration
//! untouched. A request keeps the `Arc` it started with, so in-flight requests finish on their
//! configuration.

mod path_parameters;
mod route;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use chrono::{DateTime, Utc};
use gatectl_enforce::{BuildError, Enforcer, EnforcerOptions, RedisLink};
use gatectl_spec::Spec;
use gatectl_spec::model::Versioning;
use http::HeaderName;
use ipnet::IpNet;

pub use route::{Backend, CompiledRoute, StickyKey};

use crate::observe::metrics::Metrics;
use crate::routing::{RouteError, Router};
use crate::upstream::UpstreamPool;
use crate::upstream::client::ClientError;
use crate::upstream::health::spawn_active_checks;

/// An immutable, ready-to-serve configuration.
#[derive(Debug)]
pub struct CompiledConfig {
    /// 0 for the empty configuration served before any activation, then 1, 2, ...
    pub generation: u64,
    /// SHA-256 of the spec's canonical JSON, hex encoded.
    pub hash: String,
    pub activated_at: DateTime<Utc>,
    pub router: Router,
    pub routes: Vec<CompiledRoute>,
    pub upstreams: HashMap<String, Arc<UpstreamPool>>,
    pub trusted_proxies: Vec<IpNet>,
    pub request_id_header: HeaderName,
    pub max_header_bytes: u64,
    pub max_body_bytes: u64,
    /// Time a request body may take to arrive, from the first time the gateway waits for it.
    pub body_timeout: std::time::Duration,
    pub versioning: Versioning,
    /// Authentication, rate limits and quotas; `None` only in the empty configuration, which
    /// has no routes.
    pub enforcement: Option<Enforcement>,
    /// Active health-check tasks, stopped when the configuration is dropped.
    _health_tasks: Vec<AbortOnDrop>,
}

/// The compiled enforcement part of a spec, and the consumer facts the admin listener needs.
pub struct Enforcement {
    pub enforcer: Enforcer,
    /// Tier of every consumer in the spec, by consumer id.
    pub consumer_tiers: HashMap<String, Option<String>>,
}

impl std::fmt::Debug for Enforcement {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Enforcement").field("consumers", &self.consumer_tiers.len()).finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Errors that stop a spec from compiling. The running configuration is unchanged.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    #[error(transparent)]
    Route(#[from] RouteError),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("route `{route}` refers to upstream `{upstream}`, which the spec does not define; add it under upstreams")]
    UnknownUpstream { route: String, upstream: String },
    #[error("route `{route}` has neither `upstream` nor `split`; give exactly one of them")]
    NoBackend { route: String },
    #[error("route `{route}`: every split weight is 0; give at least one backend a positive weight")]
    ZeroSplit { route: String },
    #[error("{field}: `{value}` is not a valid header {part}")]
    Header { field: String, value: String, part: &'static str },
    #[error("route `{route}`: `${{path.{name}}}` in requestHeaders is not a parameter of its path; use a parameter of its template")]
    UnknownPathParameter { route: String, name: String },
    #[error("authentication or rate limiting cannot be set up: {0}")]
    Enforcement(#[from] BuildError),
    #[error("the spec cannot be hashed: {0}")]
    Hash(#[from] gatectl_spec::bundle::BundleError),
}

impl CompiledConfig {
    /// Builds the configuration served before any spec is activated. It has no routes, so every
    /// request gets 404.
    pub fn empty() -> Self {
        let settings = gatectl_spec::model::Settings::default();
        Self {
            generation: 0,
            hash: String::new(),
            activated_at: Utc::now(),
            router: Router::default(),
            routes: Vec::new(),
            upstreams: HashMap::new(),
            trusted_proxies: Vec::new(),
            request_id_header: HeaderName::from_static("x-request-id"),
            max_header_bytes: settings.limits.max_header_bytes,
            max_body_bytes: settings.limits.max_body_bytes,
            body_timeout: settings.limits.body_timeout.as_std(),
            versioning: settings.versioning,
            enforcement: None,
            _health_tasks: Vec::new(),
        }
    }
}

/// Compiles a spec. Must run inside a Tokio runtime, because it fetches JWKS documents and
/// starts the active health checks.
pub async fn compile(spec: &Spec, generation: u64, enforcer_options: &EnforcerOptions) -> Result<CompiledConfig, CompileError> {
    let router = Router::compile(&spec.routes)?;

    let mut connect_overrides: HashMap<&str, Vec<Duration>> = HashMap::new();
    for route in &spec.routes {
        let Some(connect) = route.timeouts.as_ref().and_then(|timeouts| timeouts.connect) else { continue };
        let names = route.upstream.iter().chain(route.split.iter().flat_map(|split| split.backends.iter().map(|b| &b.upstream)));
        for name in names {
            connect_overrides.entry(name.as_str()).or_default().push(connect.as_std());
        }
    }
    let mut upstreams = HashMap::new();
    for upstream in &spec.upstreams {
        let overrides = connect_overrides.get(upstream.name.as_str()).map(Vec::as_slice).unwrap_or_default();
        upstreams.insert(upstream.name.clone(), Arc::new(UpstreamPool::compile(upstream, overrides)?));
    }

    let mut routes = spec.routes.iter().map(|route| route::compile_route(route, &upstreams)).collect::<Result<Vec<_>, _>>()?;

    let request_id_header = HeaderName::from_bytes(spec.settings.request_id_header.as_bytes()).map_err(|_| CompileError::Header {
        field: "settings.requestIdHeader".to_owned(),
        value: spec.settings.request_id_header.clone(),
        part: "name",
    })?;
    let hash = gatectl_spec::bundle::spec_hash(spec)?;

    // Built last among the fallible steps, because it performs network I/O (JWKS, Redis).
    let enforcer = Enforcer::new(spec, enforcer_options.clone()).await?;
    for route in &mut routes {
        route.open = enforcer.is_open(&route.name);
    }
    let consumer_tiers = spec.consumers.iter().map(|consumer| (consumer.id.clone(), consumer.tier.clone())).collect();
    let health_tasks = upstreams.values().filter_map(|pool| spawn_active_checks(pool.clone())).map(AbortOnDrop).collect();

    Ok(CompiledConfig {
        generation,
        hash,
        activated_at: Utc::now(),
        router,
        routes,
        upstreams,
        trusted_proxies: spec.settings.trusted_proxies.clone(),
        request_id_header,
        max_header_bytes: spec.settings.limits.max_header_bytes,
        max_body_bytes: spec.settings.limits.max_body_bytes,
        body_timeout: spec.settings.limits.body_timeout.as_std(),
        versioning: spec.settings.versioning.clone(),
        enforcement: Some(Enforcement { enforcer, consumer_tiers }),
        _health_tasks: health_tasks,
    })
}

/// The active configuration, swapped atomically.
pub struct ConfigStore {
    current: ArcSwap<CompiledConfig>,
    generations: AtomicU64,
    metrics: Arc<Metrics>,
    enforcer_options: EnforcerOptions,
    /// Serialises activations, so the configuration stored last is the one with the highest
    /// generation even when two activations overlap.
    activation_lock: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for ConfigStore {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ConfigStore")
            .field("current", &self.current)
            .field("generations", &self.generations)
            .field("redis", &self.enforcer_options.redis)
            .finish_non_exhaustive()
    }
}

/// Generation and hash of the configuration that [`ConfigStore::activate`] switched to.
#[derive(Debug, Clone)]
pub struct Activation {
    pub generation: u64,
    pub hash: String,
}

impl ConfigStore {
    /// Creates a store whose rate-limit counters stay in this process's memory.
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self::with_enforcer_options(metrics, EnforcerOptions::default())
    }

    /// Creates a store whose configurations build their enforcers with `enforcer_options`, for
    /// example with a Redis connection for counters shared between replicas.
    pub fn with_enforcer_options(metrics: Arc<Metrics>, enforcer_options: EnforcerOptions) -> Self {
        Self {
            current: ArcSwap::from_pointee(CompiledConfig::empty()),
            generations: AtomicU64::new(0),
            metrics,
            enforcer_options,
            activation_lock: tokio::sync::Mutex::new(()),
        }
    }

    /// Returns the configuration to serve one request with.
    pub fn current(&self) -> Arc<CompiledConfig> {
        self.current.load_full()
    }

    /// Returns the connection to the Redis counter store, when counters are kept there.
    pub fn redis(&self) -> Option<&RedisLink> {
        self.enforcer_options.redis.as_ref()
    }

    /// Compiles `spec` fully, then makes it the active configuration. On any error the running
    /// configuration stays active and the error names what to fix. Requests already in flight
    /// finish on the configuration they started with. Listener addresses and certificates are
    /// read at start only and do not change here.
    ///
    /// Every activation builds a new enforcer, so JWKS documents are fetched again. Rate-limit
    /// and quota counters held in memory start from zero, but counters in Redis carry over.
    ///
    /// Must be called inside a Tokio runtime.
    pub async fn activate(&self, spec: &Spec) -> Result<Activation, CompileError> {
        let _serialised = self.activation_lock.lock().await;
        let generation = self.generations.fetch_add(1, Ordering::SeqCst) + 1;
        let had_config = self.current.load().generation != 0;
        let compiled = compile(spec, generation, &self.enforcer_options).await.inspect_err(|error| {
            if !had_config {
                tracing::warn!(%error, "activation failed, and no configuration was active before it");
            } else {
                tracing::warn!(config.generation = generation, %error, "activation failed, so the running configuration stays active");
            }
        })?;
        Ok(self.store_compiled(compiled))
    }

    /// Compiles `spec` without activating it and without logging a failure, for a caller that
    /// tries again and activates it later with [`Self::install`].
    pub async fn compile(&self, spec: &Spec) -> Result<CompiledConfig, CompileError> {
        let generation = self.generations.fetch_add(1, Ordering::SeqCst) + 1;
        compile(spec, generation, &self.enforcer_options).await
    }

    /// Makes a configuration from [`Self::compile`] the active one.
    pub fn install(&self, compiled: CompiledConfig) -> Activation {
        self.store_compiled(compiled)
    }

    fn store_compiled(&self, compiled: CompiledConfig) -> Activation {
        let generation = compiled.generation;
        let activation = Activation { generation, hash: compiled.hash.clone() };
        self.current.store(Arc::new(compiled));
        self.metrics.config_activated(generation, &activation.hash);
        tracing::info!(config.generation = generation, config.hash = %activation.hash, "configuration activated");
        activation
    }
}
