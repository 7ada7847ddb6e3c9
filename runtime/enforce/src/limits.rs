//! Rate limits and quotas: which counters a request must pass, and the response headers.
//!
//! Headers on every response of a route with limits, allowed or rejected, all describing the
//! same counter (the rejecting one, or else the one with the fewest requests left):
//! - `X-RateLimit-Limit`: the counter's capacity;
//! - `X-RateLimit-Remaining`: requests left;
//! - `X-RateLimit-Reset`: seconds (rounded up) until requests come back, never an epoch time;
//! - `RateLimit-Policy: "<policy>";q=<capacity>;w=<window seconds>` and
//!   `RateLimit: "<policy>";r=<remaining>;t=<reset>` (IETF draft-ietf-httpapi-ratelimit-headers,
//!   structured-field form);
//! - on 429, `Retry-After` equal to the reset.

pub(crate) mod bucket;

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use gatectl_spec::Spec;
use gatectl_spec::model::{Limit, QuotaNotifications, QuotaPeriod, RateLimitScope};
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::auth::Identity;
use crate::clock::Clock;
use crate::problem::{ProblemKind, Rejection};
use crate::quota::{Notifier, QuotaNotification, crossed_thresholds, period_name, period_window};
use crate::setup::BuildError;
use crate::store::{Check, Store};
use bucket::{Outcome, Rule};

/// The result of checking a request's rate limits and quotas.
#[derive(Clone, Debug)]
pub struct LimitDecision {
    /// Headers for the response, allowed or not.
    pub headers: HeaderMap,
    /// Why the request is rejected; `None` when it may proceed.
    pub rejection: Option<Rejection>,
}

impl LimitDecision {
    pub fn is_allowed(&self) -> bool {
        self.rejection.is_none()
    }
}

/// One consumer quota and how much of it is used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuotaUsage {
    pub period: QuotaPeriod,
    /// The current period, for example `2026-12-04` or `2026-12`.
    pub window: String,
    pub used: u64,
    pub limit: u64,
    /// Seconds until the period ends.
    pub resets_in_seconds: u64,
}

const X_RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
const X_RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
const X_RATELIMIT_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");
const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

struct CompiledPolicy {
    name: String,
    /// The start of every counter key of the policy: `gatectl:rl:<name>:`.
    key_prefix: String,
    scope: RateLimitScope,
    limits: Vec<CompiledLimit>,
    tier_limits: HashMap<String, Vec<CompiledLimit>>,
}

/// One limit of a policy, with what every request needs from it worked out once.
struct CompiledLimit {
    rule: Rule,
    /// The end of the counter key. The limit's numbers are part of the key, so changing a limit
    /// starts new counters.
    key_suffix: String,
    /// The `RateLimit-Policy` value, the same on every response.
    policy_header: Option<HeaderValue>,
}

impl CompiledLimit {
    fn new(policy: &str, limit: &Limit) -> Self {
        let window_millis = (limit.window.as_std().as_millis() as u64).max(1);
        let capacity = limit.burst.unwrap_or(limit.requests).max(1);
        let window_seconds = window_millis.div_ceil(1000);
        Self {
            rule: Rule { capacity, refill: limit.requests, window_millis, period_end: None },
            key_suffix: format!(":{}/{window_millis}/{capacity}", limit.requests),
            // Policy names are validated by the spec's schema, so this is always valid header text.
            policy_header: HeaderValue::try_from(policy_value(policy, capacity, window_seconds)).ok(),
        }
    }

    fn compile_all(policy: &str, limits: &[Limit]) -> Vec<Self> {
        limits.iter().map(|limit| Self::new(policy, limit)).collect()
    }
}

struct TierQuotas {
    quotas: Vec<(QuotaPeriod, u64)>,
    notifications: Option<QuotaNotifications>,
}

/// What a counter of the request stands for, to label headers and quota notifications.
enum CheckLabel<'a> {
    Rate { policy: &'a str, limit: &'a CompiledLimit },
    Quota { period: QuotaPeriod, window: String },
}

pub(crate) struct Limiter {
    policies: Vec<CompiledPolicy>,
    /// Each route's policies, as positions in `policies`.
    routes: HashMap<String, Vec<usize>>,
    tiers: HashMap<String, TierQuotas>,
    store: Store,
    clock: Arc<dyn Clock>,
    notifier: Arc<Notifier>,
}

impl Limiter {
    pub fn new(spec: &Spec, store: Store, clock: Arc<dyn Clock>, notifier: Arc<Notifier>) -> Result<Self, BuildError> {
        let policies: Vec<CompiledPolicy> = spec
            .rate_limit_policies
            .iter()
            .map(|policy| CompiledPolicy {
                name: policy.name.clone(),
                key_prefix: format!("gatectl:rl:{}:", policy.name),
                scope: policy.scope,
                limits: CompiledLimit::compile_all(&policy.name, &policy.limits),
                tier_limits: policy
                    .tiers
                    .iter()
                    .map(|(tier, limits)| (tier.clone(), CompiledLimit::compile_all(&policy.name, limits)))
                    .collect(),
            })
            .collect();
        let mut routes = HashMap::new();
        for route in &spec.routes {
            let mut positions = Vec::with_capacity(route.rate_limits.len());
            for policy in &route.rate_limits {
                let Some(position) = policies.iter().position(|compiled| compiled.name == *policy) else {
                    return Err(BuildError::UnknownPolicy { route: route.name.clone(), policy: policy.clone() });
                };
                positions.push(position);
            }
            routes.insert(route.name.clone(), positions);
        }
        let tiers = spec
            .tiers
            .iter()
            .map(|tier| {
                let quotas = tier.quotas.iter().map(|quota| (quota.period, quota.requests)).collect();
                (tier.name.clone(), TierQuotas { quotas, notifications: tier.quota_notifications.clone() })
            })
            .collect();
        Ok(Self { policies, routes, tiers, store, clock, notifier })
    }

    /// Tells whether `route` has no rate limit. A request without a consumer, and so without a
    /// quota, is then never counted on it.
    pub fn has_no_rate_limits(&self, route: &str) -> bool {
        self.routes.get(route).is_none_or(Vec::is_empty)
    }

    pub async fn check(&self, route: &str, identity: &Identity, client_ip: IpAddr) -> LimitDecision {
        let now = self.clock.unix_millis();
        let (checks, labels) = self.checks_for(route, identity, client_ip, now);
        if checks.is_empty() {
            return LimitDecision { headers: HeaderMap::new(), rejection: None };
        }

        let batch = match self.store.check(&checks, now).await {
            Ok(batch) => batch,
            Err(_) => {
                return LimitDecision { headers: HeaderMap::new(), rejection: Some(Rejection::new(ProblemKind::LimitStoreUnavailable)) };
            }
        };

        let reported = select_reported(&batch.outcomes, batch.allowed);
        let mut headers = HeaderMap::with_capacity(8);
        if let Some(index) = reported
            && let Some(outcome) = batch.outcomes[index]
        {
            write_headers(&mut headers, &checks[index], &labels[index], &outcome);
        }

        if batch.allowed {
            self.notify_quotas(identity, &checks, &labels, &batch.outcomes);
            return LimitDecision { headers, rejection: None };
        }
        let kind = match reported.map(|index| &labels[index]) {
            Some(CheckLabel::Quota { .. }) => ProblemKind::QuotaExceeded,
            _ => ProblemKind::RateLimited,
        };
        if let Some(reset) = headers.get("x-ratelimit-reset").cloned() {
            headers.insert(http::header::RETRY_AFTER, reset);
        }
        let mut rejection = Rejection::new(kind);
        rejection.headers = headers.clone();
        LimitDecision { headers, rejection: Some(rejection) }
    }

    /// Reads a consumer's quota use without counting a request.
    pub async fn quota_usage(&self, consumer: &str, tier: Option<&str>) -> Result<Vec<QuotaUsage>, crate::store::StoreUnavailable> {
        let now = self.clock.unix_millis();
        let Some(tier) = tier.and_then(|tier| self.tiers.get(tier)) else { return Ok(Vec::new()) };
        let mut usage = Vec::new();
        for &(period, limit) in &tier.quotas {
            let (window, end) = period_window(period, now);
            let check = quota_check(consumer, period, &window, end, limit);
            let outcome = self.store.peek(&check, now).await?;
            usage.push(QuotaUsage {
                period,
                window,
                used: limit.saturating_sub(outcome.remaining),
                limit,
                resets_in_seconds: end.saturating_sub(now).div_ceil(1000),
            });
        }
        Ok(usage)
    }

    fn checks_for(&self, route: &str, identity: &Identity, client_ip: IpAddr, now: u64) -> (Vec<Check>, Vec<CheckLabel<'_>>) {
        let mut checks = Vec::new();
        let mut labels = Vec::new();
        let tier = identity.consumer.as_ref().and_then(|consumer| consumer.tier.as_deref());

        for &position in self.routes.get(route).into_iter().flatten() {
            let policy = &self.policies[position];
            let limits = tier.and_then(|tier| policy.tier_limits.get(tier)).unwrap_or(&policy.limits);
            for limit in limits {
                let mut key = String::with_capacity(policy.key_prefix.len() + route.len() + 64 + limit.key_suffix.len());
                key.push_str(&policy.key_prefix);
                match policy.scope {
                    RateLimitScope::Global => key.push_str("global"),
                    RateLimitScope::Route => {
                        key.push_str("route:");
                        key.push_str(route);
                    }
                    RateLimitScope::Consumer => identity.push_rate_limit_subject(&mut key, client_ip),
                    RateLimitScope::ConsumerRoute => {
                        identity.push_rate_limit_subject(&mut key, client_ip);
                        key.push_str(":route:");
                        key.push_str(route);
                    }
                    RateLimitScope::ClientIp => {
                        key.push_str("ip:");
                        crate::auth::push_ip(&mut key, client_ip);
                    }
                }
                key.push_str(&limit.key_suffix);
                checks.push(Check { key, rule: limit.rule });
                labels.push(CheckLabel::Rate { policy: &policy.name, limit });
            }
        }

        if let (Some(consumer), Some(quotas)) = (&identity.consumer, tier.and_then(|tier| self.tiers.get(tier))) {
            for &(period, limit) in &quotas.quotas {
                let (window, end) = period_window(period, now);
                checks.push(quota_check(&consumer.id, period, &window, end, limit));
                labels.push(CheckLabel::Quota { period, window });
            }
        }
        (checks, labels)
    }

    fn notify_quotas(&self, identity: &Identity, checks: &[Check], labels: &[CheckLabel<'_>], outcomes: &[Option<Outcome>]) {
        let Some(consumer) = &identity.consumer else { return };
        let Some(tier) = consumer.tier.as_deref() else { return };
        let Some(notifications) = self.tiers.get(tier).and_then(|quotas| quotas.notifications.as_ref()) else { return };
        for ((check, label), outcome) in checks.iter().zip(labels).zip(outcomes) {
            let (CheckLabel::Quota { period, window }, Some(outcome)) = (label, outcome) else { continue };
            let limit = check.rule.capacity;
            let used = limit.saturating_sub(outcome.remaining);
            for threshold in crossed_thresholds(&notifications.thresholds, used, limit) {
                let notification = QuotaNotification {
                    consumer: consumer.id.clone(),
                    tier: tier.to_owned(),
                    period: period_name(*period).to_owned(),
                    window: window.clone(),
                    threshold,
                    used,
                    limit,
                };
                self.notifier.notify(&notifications.webhook, notification);
            }
        }
    }
}

fn quota_check(consumer: &str, period: QuotaPeriod, window: &str, end: u64, limit: u64) -> Check {
    Check {
        key: format!("gatectl:quota:consumer:{consumer}:{}:{window}", period_name(period)),
        rule: Rule { capacity: limit, refill: 0, window_millis: 1, period_end: Some(end) },
    }
}

/// Picks the counter to report: when rejected, the empty counter that refills last; otherwise
/// the one with the fewest requests left (the later reset on a tie).
fn select_reported(outcomes: &[Option<Outcome>], allowed: bool) -> Option<usize> {
    let known = outcomes.iter().enumerate().filter_map(|(index, outcome)| outcome.map(|outcome| (index, outcome)));
    if allowed {
        known.min_by_key(|(_, outcome)| (outcome.remaining, std::cmp::Reverse(outcome.reset_millis))).map(|(index, _)| index)
    } else {
        known.filter(|(_, outcome)| !outcome.has_capacity).max_by_key(|(_, outcome)| outcome.reset_millis).map(|(index, _)| index)
    }
}

fn write_headers(headers: &mut HeaderMap, check: &Check, label: &CheckLabel<'_>, outcome: &Outcome) {
    let reset = outcome.reset_millis.div_ceil(1000);
    let limit = check.rule.capacity;
    let (name, policy_header): (Cow<'_, str>, Option<HeaderValue>) = match label {
        CheckLabel::Rate { policy, limit } => (Cow::Borrowed(policy), limit.policy_header.clone()),
        CheckLabel::Quota { period, .. } => {
            let name = format!("quota-{}", period_name(*period));
            let window = crate::quota::period_seconds(*period, check.rule.period_end.unwrap_or(0));
            let value = HeaderValue::try_from(policy_value(&name, limit, window)).ok();
            (Cow::Owned(name), value)
        }
    };
    headers.insert(X_RATELIMIT_LIMIT, HeaderValue::from(limit));
    headers.insert(X_RATELIMIT_REMAINING, HeaderValue::from(outcome.remaining));
    headers.insert(X_RATELIMIT_RESET, HeaderValue::from(reset));
    if let Some(value) = policy_header {
        headers.insert(RATELIMIT_POLICY, value);
    }
    // `"<name>";r=<remaining>;t=<reset>`, built without the formatting machinery.
    let mut numbers = itoa::Buffer::new();
    let mut value = String::with_capacity(name.len() + 32);
    value.push('"');
    value.push_str(&name);
    value.push_str("\";r=");
    value.push_str(numbers.format(outcome.remaining));
    value.push_str(";t=");
    value.push_str(numbers.format(reset));
    // Policy names are validated by the spec's schema, so this is always valid header text.
    if let Ok(value) = HeaderValue::try_from(value) {
        headers.insert(RATELIMIT, value);
    }
}

/// Builds the `RateLimit-Policy` value: `"<name>";q=<capacity>;w=<window seconds>`.
fn policy_value(name: &str, capacity: u64, window_seconds: u64) -> String {
    format!("\"{name}\";q={capacity};w={window_seconds}")
}
