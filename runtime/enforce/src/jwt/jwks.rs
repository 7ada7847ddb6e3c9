//! A JWKS endpoint's key set, fetched before serving and kept fresh.
//!
//! The cache lifetime is `Cache-Control: max-age` clamped to `minCacheTime`..`maxCacheTime`
//! (`minCacheTime` when the response has no `max-age`). A token with an unknown `kid` causes
//! at most one fetch per `refetchCooldown`, so a flood of made-up `kid`s cannot turn the gateway
//! into a load generator against the identity provider. When a fetch fails, the last good key
//! set stays in use and the next attempt waits for the cooldown.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use gatectl_spec::model::JwksSource;

use super::keys::{VerificationKey, parse_jwks};
use crate::clock::Clock;

/// Largest JWKS document accepted.
const MAX_JWKS_BYTES: usize = 1024 * 1024;

/// Why a JWKS fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error("fetching JWKS from {url} failed: {source}")]
    Request { url: String, source: reqwest::Error },
    #[error("JWKS endpoint {url} returned status {status}; expected 200")]
    Status { url: String, status: u16 },
    #[error("JWKS document from {url} is larger than {MAX_JWKS_BYTES} bytes")]
    TooLarge { url: String },
    #[error("JWKS document from {url} is not valid JSON with a `keys` array: {source}")]
    Invalid { url: String, source: serde_json::Error },
}

struct CachedKeys {
    keys: Arc<Vec<VerificationKey>>,
    /// When the set must be fetched again, in Unix milliseconds.
    expires_at: u64,
    /// When the last fetch was attempted, successful or not.
    last_attempt: u64,
    /// Counts the sets stored, so that a token verified with an earlier set is recognised.
    generation: u64,
}

/// The cached key set of one JWKS endpoint.
pub(crate) struct JwksCache {
    source: JwksSource,
    client: reqwest::Client,
    clock: Arc<dyn Clock>,
    cached: RwLock<CachedKeys>,
    /// Serialises fetches so concurrent requests do not fetch the same set twice.
    fetch_lock: tokio::sync::Mutex<()>,
}

impl JwksCache {
    /// Fetches the key set once; an error here means the provider cannot verify any token.
    pub async fn fetch_initial(source: JwksSource, client: reqwest::Client, clock: Arc<dyn Clock>) -> Result<Self, JwksError> {
        let now = clock.unix_millis();
        let cache = Self {
            source,
            client,
            clock,
            cached: RwLock::new(CachedKeys { keys: Arc::new(Vec::new()), expires_at: 0, last_attempt: now, generation: 0 }),
            fetch_lock: tokio::sync::Mutex::new(()),
        };
        let (keys, max_age) = cache.fetch().await?;
        cache.store(keys, max_age, now);
        Ok(cache)
    }

    /// Returns the current key set, refreshing it first when its cache time is over.
    pub async fn keys(self: &Arc<Self>) -> Arc<Vec<VerificationKey>> {
        self.refresh_if_expired().await;
        self.current()
    }

    /// Returns the number of the current key set, refreshing it first when its cache time is
    /// over. A token verified with a set of another number may have lost its key.
    pub async fn generation(self: &Arc<Self>) -> u64 {
        self.refresh_if_expired().await;
        self.cached.read().unwrap_or_else(|poisoned| poisoned.into_inner()).generation
    }

    async fn refresh_if_expired(self: &Arc<Self>) {
        let now = self.clock.unix_millis();
        let (expired, cooled_down) = {
            let cached = self.cached.read().unwrap_or_else(|poisoned| poisoned.into_inner());
            (now >= cached.expires_at, self.is_cooled_down(&cached, now))
        };
        if expired && cooled_down {
            self.refresh().await;
        }
    }

    /// Fetches the set again because a token named an unknown `kid`, unless the cooldown since
    /// the last fetch has not passed. Returns whether a fetch happened.
    pub async fn refetch_for_unknown_kid(self: &Arc<Self>) -> bool {
        let now = self.clock.unix_millis();
        let cooled_down = {
            let cached = self.cached.read().unwrap_or_else(|poisoned| poisoned.into_inner());
            self.is_cooled_down(&cached, now)
        };
        if !cooled_down {
            tracing::debug!(url = %self.source.url, "unknown kid; JWKS refetch skipped during cooldown");
            return false;
        }
        self.refresh().await
    }

    fn current(&self) -> Arc<Vec<VerificationKey>> {
        self.cached.read().unwrap_or_else(|poisoned| poisoned.into_inner()).keys.clone()
    }

    fn is_cooled_down(&self, cached: &CachedKeys, now: u64) -> bool {
        now.saturating_sub(cached.last_attempt) >= self.source.refetch_cooldown.as_std().as_millis() as u64
    }

    /// Fetches the set in a task of its own, so that a client who leaves while it runs cannot
    /// cancel a fetch that has already used up the cooldown.
    async fn refresh(self: &Arc<Self>) -> bool {
        let cache = self.clone();
        tokio::spawn(async move { cache.refresh_now().await }).await.unwrap_or(false)
    }

    async fn refresh_now(&self) -> bool {
        let _guard = self.fetch_lock.lock().await;
        let now = self.clock.unix_millis();
        {
            // Another request may have fetched while this one waited for the lock.
            let mut cached = self.cached.write().unwrap_or_else(|poisoned| poisoned.into_inner());
            if !self.is_cooled_down(&cached, now) {
                return false;
            }
            cached.last_attempt = now;
        }
        match self.fetch().await {
            Ok((keys, max_age)) => {
                tracing::info!(url = %self.source.url, keys = keys.len(), "JWKS refreshed");
                self.store(keys, max_age, now);
            }
            Err(error) => {
                tracing::warn!(url = %self.source.url, %error, "JWKS refresh failed; keeping the last good key set");
            }
        }
        true
    }

    fn store(&self, keys: Vec<VerificationKey>, max_age: Option<Duration>, now: u64) {
        let min = self.source.min_cache_time.as_std();
        let max = self.source.max_cache_time.as_std().max(min);
        let lifetime = max_age.unwrap_or(min).clamp(min, max);
        let mut cached = self.cached.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        cached.keys = Arc::new(keys);
        cached.generation += 1;
        cached.expires_at = now + lifetime.as_millis() as u64;
        cached.last_attempt = now;
    }

    async fn fetch(&self) -> Result<(Vec<VerificationKey>, Option<Duration>), JwksError> {
        let url = &self.source.url;
        let request_error = |source| JwksError::Request { url: url.clone(), source };
        let response = self
            .client
            .get(url)
            .timeout(self.source.timeout.as_std())
            .header(http::header::ACCEPT, "application/jwk-set+json, application/json")
            .send()
            .await
            .map_err(request_error)?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(JwksError::Status { url: url.clone(), status: response.status().as_u16() });
        }
        let max_age = response.headers().get(http::header::CACHE_CONTROL).and_then(|value| value.to_str().ok()).and_then(parse_max_age);
        if response.content_length().is_some_and(|length| length > MAX_JWKS_BYTES as u64) {
            return Err(JwksError::TooLarge { url: url.clone() });
        }
        let body = response.bytes().await.map_err(request_error)?;
        if body.len() > MAX_JWKS_BYTES {
            return Err(JwksError::TooLarge { url: url.clone() });
        }
        let (keys, skipped) = parse_jwks(&body).map_err(|source| JwksError::Invalid { url: url.clone(), source })?;
        if skipped > 0 {
            tracing::warn!(url = %url, skipped, "JWKS entries skipped: not signature keys of a supported type");
        }
        Ok((keys, max_age))
    }
}

/// Reads `max-age` from a `Cache-Control` value; `no-store` and `no-cache` count as zero.
fn parse_max_age(value: &str) -> Option<Duration> {
    let mut max_age = None;
    for directive in value.split(',').map(str::trim) {
        let lowercase = directive.to_ascii_lowercase();
        if lowercase == "no-store" || lowercase == "no-cache" {
            return Some(Duration::ZERO);
        }
        if let Some(seconds) = lowercase.strip_prefix("max-age=") {
            max_age = seconds.trim_matches('"').parse::<u64>().ok().map(Duration::from_secs);
        }
    }
    max_age
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_is_read_from_cache_control() {
        assert_eq!(parse_max_age("public, max-age=300"), Some(Duration::from_secs(300)));
        assert_eq!(parse_max_age("Max-Age=5"), Some(Duration::from_secs(5)));
        assert_eq!(parse_max_age("no-store"), Some(Duration::ZERO));
        assert_eq!(parse_max_age("public"), None);
        assert_eq!(parse_max_age("max-age=abc"), None);
    }
}
