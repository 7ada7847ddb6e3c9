use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::duration::Duration;
use crate::model::default_true;

/// A backend service: a set of targets that share a scheme, base path, timeouts, balancing and
/// health checking.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Upstream {
    /// Stable name that routes refer to.
    #[schemars(regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"), length(min = 1, max = 128))]
    pub name: String,
    /// Protocol used to reach the targets.
    #[serde(default)]
    pub scheme: UpstreamScheme,
    /// Path prefix put before the forwarded path, for example `/v1`. Empty for none.
    #[serde(default)]
    #[schemars(regex(pattern = r"^(/[^?#]*)?$"))]
    pub base_path: String,
    /// Servers that receive the traffic. Requests to an upstream with no targets get 503.
    #[serde(default)]
    pub targets: Vec<Target>,
    /// Connect, response and total timeouts.
    #[serde(default)]
    pub timeouts: Timeouts,
    /// How a target is picked for each request.
    #[serde(default)]
    pub load_balancing: LoadBalancing,
    /// Active and passive health checking of targets.
    #[serde(default)]
    pub health_checks: HealthChecks,
    /// TLS towards the targets when `scheme` is `https`.
    #[serde(default)]
    pub tls: UpstreamTls,
    /// Whether the client's `Host` header is sent upstream (`true`) or replaced by the target's
    /// host (`false`).
    #[serde(default = "default_true")]
    pub preserve_host: bool,
    /// Labels for ownership and filtering (`gatectl diff --scope`).
    #[serde(default)]
    pub tags: Vec<String>,
    /// Free-form notes, for example where an imported upstream came from.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

/// Protocol towards an upstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum UpstreamScheme {
    #[default]
    Http,
    Https,
    /// HTTP/2 without TLS (prior knowledge), for gRPC backends.
    H2c,
}

/// One server of an upstream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Target {
    /// Host name or IP address.
    #[schemars(length(min = 1, max = 253))]
    pub host: String,
    /// TCP port.
    #[schemars(range(min = 1, max = 65535))]
    pub port: u16,
    /// Relative share of traffic under weighted balancing; 0 takes the target out of rotation.
    #[serde(default = "default_weight")]
    #[schemars(range(max = 10000))]
    pub weight: u32,
}

fn default_weight() -> u32 {
    100
}

/// Timeouts towards an upstream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Timeouts {
    /// Time allowed to open a connection to a target.
    #[serde(default = "default_connect_timeout")]
    pub connect: Duration,
    /// Time allowed between sending the request and receiving the response headers.
    #[serde(default = "default_response_timeout")]
    pub response: Duration,
    /// Time allowed for the whole exchange, body included.
    #[serde(default = "default_total_timeout")]
    pub total: Duration,
}

fn default_connect_timeout() -> Duration {
    Duration::from_secs(5)
}

fn default_response_timeout() -> Duration {
    Duration::from_secs(30)
}

fn default_total_timeout() -> Duration {
    Duration::from_secs(60)
}

impl Default for Timeouts {
    fn default() -> Self {
        Self { connect: default_connect_timeout(), response: default_response_timeout(), total: default_total_timeout() }
    }
}

/// Load-balancing settings.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoadBalancing {
    /// Algorithm that picks a target.
    #[serde(default)]
    pub algorithm: LoadBalancingAlgorithm,
    /// Input of the hash for `consistent-hash`; required by that algorithm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash_on: Option<HashOn>,
}

/// A load-balancing algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum LoadBalancingAlgorithm {
    /// Each target in turn, ignoring weights.
    #[default]
    RoundRobin,
    /// In turn, in proportion to target weights (smooth weighted round robin).
    Weighted,
    /// The target with the fewest requests in flight.
    LeastRequests,
    /// A hash ring, so one key keeps going to the same target while the targets do not change.
    ConsistentHash,
}

/// The key that `consistent-hash` balancing hashes: `{header: NAME}`, `consumer` or `client-ip`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum HashOn {
    /// The value of a request header; requests without it are spread round robin.
    Header(String),
    /// The authenticated consumer's id; anonymous requests are spread round robin.
    Consumer,
    /// The client's IP address, after the trusted-proxy rule.
    ClientIp,
}

/// Active and passive health checks.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HealthChecks {
    /// Periodic HTTP probes; off when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<ActiveHealthCheck>,
    /// Ejection after consecutive failures of real traffic; off when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passive: Option<PassiveHealthCheck>,
}

/// Periodic HTTP probe of each target.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ActiveHealthCheck {
    /// Path probed with GET.
    #[schemars(regex(pattern = r"^/"))]
    pub path: String,
    /// Time between two probes of one target.
    #[serde(default = "default_probe_interval")]
    pub interval: Duration,
    /// Time a probe may take before it counts as a failure.
    #[serde(default = "default_probe_timeout")]
    pub timeout: Duration,
    /// Consecutive successes that mark an unhealthy target healthy again.
    #[serde(default = "default_healthy_threshold")]
    #[schemars(range(min = 1, max = 100))]
    pub healthy_threshold: u32,
    /// Consecutive failures that mark a target unhealthy.
    #[serde(default = "default_unhealthy_threshold")]
    #[schemars(range(min = 1, max = 100))]
    pub unhealthy_threshold: u32,
    /// Status codes that count as healthy.
    #[serde(default = "default_healthy_statuses")]
    pub healthy_statuses: Vec<u16>,
}

fn default_probe_interval() -> Duration {
    Duration::from_secs(10)
}

fn default_probe_timeout() -> Duration {
    Duration::from_secs(2)
}

fn default_healthy_threshold() -> u32 {
    2
}

fn default_unhealthy_threshold() -> u32 {
    3
}

fn default_healthy_statuses() -> Vec<u16> {
    vec![200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 307, 308]
}

/// Ejection of targets that fail real traffic.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PassiveHealthCheck {
    /// Consecutive failures (connect errors, timeouts, 5xx responses) that eject a target.
    #[serde(default = "default_consecutive_failures")]
    #[schemars(range(min = 1, max = 1000))]
    pub consecutive_failures: u32,
    /// How long an ejected target gets no traffic before it is tried again.
    #[serde(default = "default_ejection_time")]
    pub ejection_time: Duration,
}

fn default_consecutive_failures() -> u32 {
    5
}

fn default_ejection_time() -> Duration {
    Duration::from_secs(30)
}

/// TLS settings towards an upstream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpstreamTls {
    /// Whether the target's certificate is verified. Turning this off is reported by `validate`.
    #[serde(default = "default_true")]
    pub verify: bool,
    /// PEM file of the certificate authorities to trust; the system roots when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<String>,
    /// Server name sent in SNI and checked in the certificate; the target host when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sni: Option<String>,
}

impl Default for UpstreamTls {
    fn default() -> Self {
        Self { verify: true, ca: None, sni: None }
    }
}
