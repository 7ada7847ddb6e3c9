use std::collections::BTreeMap;

use ipnet::IpNet;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::duration::Duration;
use crate::model::default_true;
use crate::secret::SecretRef;

/// Gateway-wide settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Settings {
    /// Sockets that accept client traffic.
    #[serde(default = "default_listeners")]
    pub listeners: Vec<Listener>,
    /// Proxies whose `X-Forwarded-For` entries are believed. The client address is the
    /// right-most entry not in this list; with an empty list it is the socket's peer address.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub trusted_proxies: Vec<IpNet>,
    /// Header that carries the request ID to the upstream and back to the client.
    #[serde(default = "default_request_id_header")]
    pub request_id_header: String,
    /// The structured access log.
    #[serde(default)]
    pub access_log: AccessLog,
    /// Limits on every request.
    #[serde(default)]
    pub limits: RequestLimits,
    /// Headers that carry the consumer's identity upstream. Client-sent copies are removed.
    #[serde(default)]
    pub consumer_headers: ConsumerHeaders,
    /// How requests select an API version.
    #[serde(default)]
    pub versioning: Versioning,
    /// What happens when the shared rate-limit store cannot be reached.
    #[serde(default)]
    pub rate_limiting: RateLimiting,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listeners: default_listeners(),
            trusted_proxies: Vec::new(),
            request_id_header: default_request_id_header(),
            access_log: AccessLog::default(),
            limits: RequestLimits::default(),
            consumer_headers: ConsumerHeaders::default(),
            versioning: Versioning::default(),
            rate_limiting: RateLimiting::default(),
        }
    }
}

fn default_listeners() -> Vec<Listener> {
    vec![Listener { name: "http".to_owned(), protocol: ListenerProtocol::Http, address: "0.0.0.0:8080".to_owned(), tls: None }]
}

fn default_request_id_header() -> String {
    "X-Request-ID".to_owned()
}

/// A socket that accepts client traffic.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Listener {
    pub name: String,
    /// `http` serves HTTP/1.1 and h2c; `https` serves HTTP/1.1 and HTTP/2 chosen by ALPN.
    pub protocol: ListenerProtocol,
    /// Address and port, for example `0.0.0.0:8443` or `[::]:8080`.
    pub address: String,
    /// Certificates, required for `https`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<ListenerTls>,
}

/// A listener's protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ListenerProtocol {
    Http,
    Https,
}

/// TLS termination settings of a listener.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListenerTls {
    /// Certificates, picked by SNI; the first one serves clients that send no matching name.
    #[schemars(length(min = 1))]
    pub certificates: Vec<Certificate>,
}

/// A certificate chain and its private key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Certificate {
    /// Server names this certificate serves (exact or `*.` wildcard).
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Path of the PEM certificate chain.
    pub certificate: String,
    /// The PEM private key, as a reference.
    pub key: SecretRef,
}

/// Structured access-log settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccessLog {
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// File the JSON lines are appended to; standard output when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

impl Default for AccessLog {
    fn default() -> Self {
        Self { enabled: true, path: None }
    }
}

/// Limits on every request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RequestLimits {
    /// Largest request head (request line and headers) in bytes; larger ones get 431.
    #[serde(default = "default_max_header_bytes")]
    pub max_header_bytes: u64,
    /// Largest request body in bytes; larger ones get 413. Routes may set a lower or higher value.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: u64,
    /// Time a client has to send the request head; slower clients get 408.
    #[serde(default = "default_header_timeout")]
    pub header_timeout: Duration,
    /// Time a client has to send the request body.
    #[serde(default = "default_body_timeout")]
    pub body_timeout: Duration,
    /// Time an idle keep-alive connection stays open.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout: Duration,
}

fn default_max_header_bytes() -> u64 {
    32 * 1024
}

fn default_max_body_bytes() -> u64 {
    10 * 1024 * 1024
}

fn default_header_timeout() -> Duration {
    Duration::from_secs(10)
}

fn default_body_timeout() -> Duration {
    Duration::from_secs(60)
}

fn default_idle_timeout() -> Duration {
    Duration::from_secs(60)
}

impl Default for RequestLimits {
    fn default() -> Self {
        Self {
            max_header_bytes: default_max_header_bytes(),
            max_body_bytes: default_max_body_bytes(),
            header_timeout: default_header_timeout(),
            body_timeout: default_body_timeout(),
            idle_timeout: default_idle_timeout(),
        }
    }
}

/// Headers that carry the authenticated consumer upstream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConsumerHeaders {
    /// Header with the consumer id.
    #[serde(default = "default_consumer_id_header")]
    pub id: String,
    /// Header with the consumer's tier.
    #[serde(default = "default_consumer_tier_header")]
    pub tier: String,
}

fn default_consumer_id_header() -> String {
    "X-Consumer-ID".to_owned()
}

fn default_consumer_tier_header() -> String {
    "X-Consumer-Tier".to_owned()
}

impl Default for ConsumerHeaders {
    fn default() -> Self {
        Self { id: default_consumer_id_header(), tier: default_consumer_tier_header() }
    }
}

/// How a request names the API version it wants.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Versioning {
    /// Read the version from the first path segment (`/v2/orders`). The segment is removed
    /// before the route's path is matched and kept in the path sent upstream.
    #[serde(default = "default_true")]
    pub url_prefix: bool,
    /// Read the version from this header when the path has no version segment.
    #[serde(default = "default_version_header")]
    pub header: String,
    /// Version assumed when the request names none; such requests match only unversioned
    /// routes when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_version: Option<String>,
    /// Names that stand for a concrete version, for example `latest: v2`.
    #[serde(default)]
    pub aliases: BTreeMap<String, String>,
}

fn default_version_header() -> String {
    "Accept-Version".to_owned()
}

impl Default for Versioning {
    fn default() -> Self {
        Self { url_prefix: true, header: default_version_header(), default_version: None, aliases: BTreeMap::new() }
    }
}

/// How rate limits use the shared counter store.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RateLimiting {
    /// `open` keeps counting locally on each node while the store is unreachable (limits become
    /// per node); `closed` answers 503 to requests that need the store.
    #[serde(default)]
    pub failure_mode: FailureMode,
    /// Percent of a rate limit's capacity that a node takes from the shared store in one call
    /// and then hands out itself until the window ends. A node never admits more than it took,
    /// so a limit is never exceeded, but tokens a node took and did not use are lost to the
    /// other nodes for that window. `0` sends every request to the store. Quotas always ask the
    /// store for every request.
    #[serde(default = "default_lease_percent")]
    #[schemars(range(min = 0, max = 25))]
    pub lease_percent: u8,
}

impl Default for RateLimiting {
    fn default() -> Self {
        Self { failure_mode: FailureMode::default(), lease_percent: default_lease_percent() }
    }
}

fn default_lease_percent() -> u8 {
    1
}

/// Fail-open or fail-closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FailureMode {
    #[default]
    Open,
    Closed,
}
