//! Upstream pools: targets with their health state, a balancer and pooled clients.

pub mod balancer;
pub mod client;
pub mod connections;
pub mod direct;
pub mod health;

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use gatectl_spec::model::{ActiveHealthCheck, PassiveHealthCheck, Upstream, UpstreamScheme};

use balancer::{BalanceKey, Balancer};
use client::{ClientError, HttpClient, build_client};

/// A compiled upstream, shared by every route that sends traffic to it.
#[derive(Debug)]
pub struct UpstreamPool {
    pub name: String,
    pub scheme: UpstreamScheme,
    pub base_path: String,
    pub preserve_host: bool,
    pub targets: Vec<TargetState>,
    pub timeouts: gatectl_spec::model::Timeouts,
    pub active: Option<ActiveHealthCheck>,
    passive: Option<PassiveHealthCheck>,
    balancer: Balancer,
    /// Clients by connect timeout: the upstream's own first, then route overrides.
    clients: BTreeMap<Duration, HttpClient>,
}

/// One target and its live state.
#[derive(Debug)]
pub struct TargetState {
    /// `host:port`, as used in URIs and logs.
    pub authority: String,
    pub weight: u32,
    /// Result of active health checks. It starts true and changes only when probes cross a threshold.
    healthy: AtomicBool,
    /// End of a passive ejection, in milliseconds of [`now_millis`]; 0 when not ejected.
    ejected_until: AtomicU64,
    consecutive_failures: AtomicU32,
    active_successes: AtomicU32,
    active_failures: AtomicU32,
    pub in_flight: AtomicU64,
    /// Kept connections, used for plain-HTTP upstreams.
    pub connections: std::sync::Arc<connections::ConnectionPool>,
}

impl TargetState {
    pub fn is_available(&self, now: u64) -> bool {
        self.weight > 0 && self.healthy.load(Ordering::Relaxed) && self.ejected_until.load(Ordering::Relaxed) <= now
    }

    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    pub fn is_ejected(&self) -> bool {
        self.ejected_until.load(Ordering::Relaxed) > now_millis()
    }
}

/// Milliseconds since the first call in this process, a monotonic clock for ejection deadlines.
pub fn now_millis() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    let start = START.get_or_init(Instant::now);
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX).max(1)
}

impl UpstreamPool {
    /// Compiles an upstream; `connect_overrides` are the connect timeouts that routes set for it.
    pub fn compile(upstream: &Upstream, connect_overrides: &[Duration]) -> Result<Self, ClientError> {
        let targets: Vec<TargetState> = upstream
            .targets
            .iter()
            .map(|target| TargetState {
                authority: format_authority(&target.host, target.port),
                weight: target.weight,
                healthy: AtomicBool::new(true),
                ejected_until: AtomicU64::new(0),
                consecutive_failures: AtomicU32::new(0),
                active_successes: AtomicU32::new(0),
                active_failures: AtomicU32::new(0),
                in_flight: AtomicU64::new(0),
                connections: std::sync::Arc::default(),
            })
            .collect();
        let mut clients = BTreeMap::new();
        let own_timeout = upstream.timeouts.connect.as_std();
        for timeout in std::iter::once(&own_timeout).chain(connect_overrides) {
            if !clients.contains_key(timeout) {
                clients.insert(*timeout, build_client(upstream, *timeout)?);
            }
        }
        let balancer = Balancer::new(upstream.load_balancing.algorithm, upstream.load_balancing.hash_on.as_ref(), &targets);
        Ok(Self {
            name: upstream.name.clone(),
            scheme: upstream.scheme,
            base_path: upstream.base_path.trim_end_matches('/').to_owned(),
            preserve_host: upstream.preserve_host,
            targets,
            timeouts: upstream.timeouts.clone(),
            active: upstream.health_checks.active.clone(),
            passive: upstream.health_checks.passive.clone(),
            balancer,
            clients,
        })
    }

    pub fn pick(&self, key: &BalanceKey<'_>) -> Option<usize> {
        self.balancer.pick(&self.targets, key)
    }

    /// Returns the client with this connect timeout, or the upstream's own client.
    pub fn client(&self, connect_timeout: Duration) -> &HttpClient {
        self.clients
            .get(&connect_timeout)
            .or_else(|| self.clients.get(&self.timeouts.connect.as_std()))
            .expect("compile always builds the client for the upstream's own connect timeout")
    }

    pub fn uri_scheme(&self) -> &'static str {
        match self.scheme {
            UpstreamScheme::Https => "https",
            UpstreamScheme::Http | UpstreamScheme::H2c => "http",
        }
    }

    /// Records the outcome of a proxied request for passive health checking.
    pub fn record_passive(&self, target: usize, success: bool) {
        let Some(passive) = &self.passive else { return };
        let state = &self.targets[target];
        if success {
            state.consecutive_failures.store(0, Ordering::Relaxed);
            return;
        }
        let failures = state.consecutive_failures.fetch_add(1, Ordering::Relaxed) + 1;
        if failures >= passive.consecutive_failures {
            state.consecutive_failures.store(0, Ordering::Relaxed);
            let until = now_millis().saturating_add(u64::try_from(passive.ejection_time.as_std().as_millis()).unwrap_or(u64::MAX));
            state.ejected_until.store(until, Ordering::Relaxed);
            tracing::warn!(upstream = %self.name, upstream.addr = %state.authority, failures, "target ejected after consecutive failures");
        }
    }
}

fn format_authority(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') { format!("[{host}]:{port}") } else { format!("{host}:{port}") }
}
