use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::duration::Duration;

/// A named set of rate limits that routes enforce.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RateLimitPolicy {
    /// Name that routes use in `rateLimits`.
    #[schemars(regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"), length(min = 1, max = 128))]
    pub name: String,
    /// Whose requests share one counter.
    #[serde(default)]
    pub scope: RateLimitScope,
    /// Limits enforced together, for example one per second and one per hour. Consumers whose
    /// tier appears in `tiers` get that tier's limits instead.
    #[schemars(length(min = 1))]
    pub limits: Vec<Limit>,
    /// Limits per consumer tier, replacing `limits` for consumers of that tier.
    #[serde(default)]
    pub tiers: BTreeMap<String, Vec<Limit>>,
}

/// Whose requests share one rate-limit counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RateLimitScope {
    /// One counter for all requests on all routes using the policy.
    Global,
    /// One counter per route.
    Route,
    /// One counter per consumer across routes; anonymous requests are counted per client IP.
    #[default]
    Consumer,
    /// One counter per consumer and route; anonymous requests are counted per client IP.
    ConsumerRoute,
    /// One counter per client IP address.
    ClientIp,
}

/// A number of requests per window, with an optional burst.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Limit {
    /// Requests allowed per window, on average.
    #[schemars(range(min = 1))]
    pub requests: u64,
    /// The window, for example `1s` or `1h`.
    pub window: Duration,
    /// Requests that may arrive at once above the steady rate; `requests` when absent, so a
    /// full window's allowance may be spent at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<u64>,
}

/// A consumer tier.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Tier {
    /// Name that consumers use in `tier` and policies in `tiers`.
    #[schemars(regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"), length(min = 1, max = 128))]
    pub name: String,
    /// Request quotas over UTC calendar days or months.
    #[serde(default)]
    pub quotas: Vec<Quota>,
    /// Webhook notification when a consumer's quota use crosses thresholds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota_notifications: Option<QuotaNotifications>,
}

/// A quota: requests per UTC calendar day or month.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Quota {
    pub period: QuotaPeriod,
    #[schemars(range(min = 1))]
    pub requests: u64,
}

/// A calendar period in UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum QuotaPeriod {
    Day,
    Month,
}

/// Where and when quota notifications are sent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QuotaNotifications {
    /// URL that receives a JSON POST when a threshold is crossed.
    #[schemars(regex(pattern = r"^https?://"))]
    pub webhook: String,
    /// Percentages of the quota that trigger one notification each per window.
    #[serde(default = "default_thresholds")]
    pub thresholds: Vec<u8>,
}

fn default_thresholds() -> Vec<u8> {
    vec![80, 100]
}
