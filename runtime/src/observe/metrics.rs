//! Prometheus metrics, served on the admin listener at `/metrics`.

use std::sync::{Arc, OnceLock};

use gatectl_enforce::RedisLink;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::config::CompiledConfig;

type Labels = Vec<(&'static str, String)>;

/// Every metric the runtime exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<Labels, Counter>,
    latency: Family<Labels, Histogram, fn() -> Histogram>,
    in_flight: Gauge,
    target_healthy: Family<Labels, Gauge>,
    config_generation: Gauge,
    config_info: Family<Labels, Gauge>,
    /// The Redis counter store, once the runtime has opened it.
    redis: Arc<OnceLock<RedisLink>>,
    /// Requests and 5xx responses of the last minute, for `/status`.
    pub traffic: crate::admin::traffic::TrafficWindow,
}

/// Decrements the in-flight gauge when dropped.
#[derive(Debug)]
pub struct InFlightGuard(Gauge);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Labels of the status classes 1xx to 5xx, by `status / 100 - 1`.
const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// The series of one route that most requests update: the request counters of anonymous
/// requests by status class, and the latency histogram. Each is looked up in its family on first
/// use and kept, so that later requests skip building labels and hashing them. Requests of a
/// named consumer look their counter up in the family each time.
#[derive(Debug, Default)]
pub struct RouteMetrics {
    anonymous_requests: [OnceLock<Counter>; 5],
    latency: OnceLock<Histogram>,
}

fn latency_histogram() -> Histogram {
    // 1 ms to about 33 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("gatectl");
        let requests = Family::<Labels, Counter>::default();
        let latency = Family::<Labels, Histogram, fn() -> Histogram>::new_with_constructor(latency_histogram as fn() -> Histogram);
        let in_flight = Gauge::default();
        let target_healthy = Family::<Labels, Gauge>::default();
        let config_generation = Gauge::default();
        let config_info = Family::<Labels, Gauge>::default();
        registry.register("requests", "Requests by route, consumer and status class", requests.clone());
        registry.register("request_duration_seconds", "Total request latency by route", latency.clone());
        registry.register("requests_in_flight", "Requests being served", in_flight.clone());
        registry.register(
            "upstream_target_healthy",
            "1 when a target may receive traffic, 0 when unhealthy or ejected",
            target_healthy.clone(),
        );
        registry.register("config_generation", "Number of configurations activated since start", config_generation.clone());
        registry.register("config_info", "The active configuration, labelled by its hash", config_info.clone());
        let redis = Arc::new(OnceLock::new());
        registry.register_collector(Box::new(RedisCollector(redis.clone())));
        let traffic = crate::admin::traffic::TrafficWindow::default();
        Self { registry, requests, latency, in_flight, target_healthy, config_generation, config_info, redis, traffic }
    }
}

impl Metrics {
    /// Counts a request in flight until the returned guard is dropped, which also covers
    /// requests whose client disconnects before a response exists.
    pub fn request_started(&self) -> InFlightGuard {
        self.in_flight.inc();
        InFlightGuard(self.in_flight.clone())
    }

    /// Counts a finished request. `cached` contains the route's series when the request
    /// matched a route, and `route` is its name or empty.
    pub fn request_finished(&self, route: &str, cached: Option<&RouteMetrics>, consumer: &str, status: u16, seconds: f64) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        let labels =
            || vec![("route", route.to_owned()), ("consumer", consumer.to_owned()), ("status_class", STATUS_CLASSES[class].to_owned())];
        match cached {
            Some(cached) if consumer.is_empty() => {
                cached.anonymous_requests[class].get_or_init(|| self.requests.get_or_create(&labels()).clone()).inc();
            }
            _ => {
                self.requests.get_or_create(&labels()).inc();
            }
        }
        self.traffic.record(status);
        let route_labels = || vec![("route", route.to_owned())];
        match cached {
            Some(cached) => cached.latency.get_or_init(|| self.latency.get_or_create(&route_labels()).clone()).observe(seconds),
            None => self.latency.get_or_create(&route_labels()).observe(seconds),
        }
    }

    /// Exports the state of the Redis counter store from now on. Only the first link given is
    /// kept, because the runtime opens one for its lifetime.
    pub fn watch_redis(&self, link: RedisLink) {
        let _ = self.redis.set(link);
    }

    pub fn config_activated(&self, generation: u64, hash: &str) {
        self.config_generation.set(i64::try_from(generation).unwrap_or(i64::MAX));
        self.config_info.clear();
        self.config_info.get_or_create(&vec![("hash", hash.to_owned())]).set(1);
    }

    /// Renders the text exposition format, with target health read from `config` now.
    pub fn render(&self, config: &CompiledConfig) -> String {
        self.target_healthy.clear();
        for pool in config.upstreams.values() {
            for target in &pool.targets {
                let labels = vec![("upstream", pool.name.clone()), ("target", target.authority.clone())];
                let healthy = target.is_healthy() && !target.is_ejected();
                self.target_healthy.get_or_create(&labels).set(i64::from(healthy));
            }
        }
        let mut output = String::new();
        if encode(&mut output, &self.registry).is_err() {
            tracing::warn!("encoding metrics failed");
        }
        output
    }
}

/// Exports the Redis counter store's state on each scrape. Nothing is exported while counters
/// stay in memory.
#[derive(Debug)]
struct RedisCollector(Arc<OnceLock<RedisLink>>);

impl Collector for RedisCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(link) = self.0.get() else { return Ok(()) };
        let status = link.status();

        let up = ConstGauge::new(i64::from(status.reachable));
        let metric_encoder = encoder.encode_descriptor(
            "rate_limit_store_up",
            "1 when the Redis counter store responded to the last call or PING, even with an error, 0 otherwise",
            None,
            up.metric_type(),
        )?;
        up.encode(metric_encoder)?;

        let failure_mode_checks = ConstCounter::new(status.failure_mode_calls);
        let metric_encoder = encoder.encode_descriptor(
            "rate_limit_store_failure_mode_checks",
            "Rate-limit checks decided by failureMode because the Redis counter store failed, timed out or was not connected",
            None,
            failure_mode_checks.metric_type(),
        )?;
        failure_mode_checks.encode(metric_encoder)
    }
}
