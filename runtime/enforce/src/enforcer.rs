//! The [`Enforcer`]: a spec compiled once for authentication and limits.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use gatectl_spec::Spec;
use http::{HeaderMap, Uri};

use crate::auth::{Authenticator, Identity};
use crate::clock::{Clock, SystemClock};
use crate::limits::{LimitDecision, Limiter, QuotaUsage};
use crate::problem::{ProblemKind, Rejection};
use crate::quota::Notifier;
use crate::setup::BuildError;
use crate::store::{MemoryStore, RedisLink, RedisStore, Store};

/// How an [`Enforcer`] is built, beyond the spec.
#[derive(Clone)]
pub struct EnforcerOptions {
    /// Time source for JWT checks, JWKS caching, limits and quotas.
    pub clock: Arc<dyn Clock>,
    /// Connection to the Redis counter store shared by replicas; counters stay in this
    /// process's memory when absent.
    pub redis: Option<RedisLink>,
}

impl Default for EnforcerOptions {
    fn default() -> Self {
        Self { clock: Arc::new(SystemClock), redis: None }
    }
}

/// Authentication, rate limits and quotas of one spec version. Immutable after construction
/// except for caches and counters; share it behind an `Arc`.
pub struct Enforcer {
    authenticator: Authenticator,
    limiter: Limiter,
}

impl Enforcer {
    /// Compiles a spec: loads static keys and fetches every JWKS. Must run
    /// inside a tokio runtime, which also runs the quota webhook sender.
    pub async fn new(spec: &Spec, options: EnforcerOptions) -> Result<Self, BuildError> {
        // NOTE: no proxy is used, so JWKS and webhook requests go only to the URLs in the spec.
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(BuildError::HttpClient)?;
        let clock = options.clock.clone();
        let authenticator = Authenticator::new(spec, &client, clock.clone()).await?;
        let store = match options.redis {
            Some(link) => Store::Redis(Box::new(RedisStore::new(link, &spec.settings.rate_limiting))),
            None => Store::Memory(MemoryStore::default()),
        };
        let limiter = Limiter::new(spec, store, clock, Notifier::start(client))?;
        Ok(Self { authenticator, limiter })
    }

    /// Tells whether `route` is public and has no rate limits. Its requests need neither
    /// credentials nor counting, so [`Enforcer::anonymous`] gives what [`Enforcer::authenticate`]
    /// and [`Enforcer::check_limits`] would decide for them.
    pub fn is_open(&self, route: &str) -> bool {
        self.authenticator.is_public(route) && self.limiter.has_no_rate_limits(route)
    }

    /// Returns the identity of a request on an open route (see [`Enforcer::is_open`]).
    pub fn anonymous(&self) -> Identity {
        self.authenticator.anonymous()
    }

    /// Checks a request's credentials against the route's `security` requirements.
    pub async fn authenticate(&self, route: &str, headers: &HeaderMap, uri: &Uri) -> Result<Identity, Rejection> {
        self.authenticator.authenticate(route, headers, uri).await
    }

    /// Counts the request against the route's rate limits and the consumer's quotas. Call it
    /// after [`Enforcer::authenticate`] succeeded, and add `headers` to the response either way.
    pub async fn check_limits(&self, route: &str, identity: &Identity, client_ip: IpAddr) -> LimitDecision {
        if !self.authenticator.has_route(route) {
            return LimitDecision { headers: HeaderMap::new(), rejection: Some(Rejection::new(ProblemKind::UnknownRoute)) };
        }
        self.limiter.check(route, identity, client_ip).await
    }

    /// Reads a consumer's quota use for the admin listener. Returns an empty list for consumers
    /// without quotas, and `None` when the counter store is unreachable.
    pub async fn quota_usage(&self, consumer: &str, tier: Option<&str>) -> Option<Vec<QuotaUsage>> {
        self.limiter.quota_usage(consumer, tier).await.ok()
    }
}
