//! Counter stores: in memory (one node) or Redis (shared by replicas).

mod memory;
mod redis_link;
mod redis_store;

pub(crate) use memory::MemoryStore;
pub use redis_link::{RedisLink, RedisStatus};
pub(crate) use redis_store::RedisStore;

use crate::limits::bucket::{Outcome, Rule};

/// One counter a request must pass.
#[derive(Clone, Debug)]
pub(crate) struct Check {
    /// Built only from stable ids: policy or quota name, scope key and limit.
    pub key: String,
    pub rule: Rule,
}

/// The result of checking all counters of a request.
#[derive(Clone, Debug)]
pub(crate) struct BatchOutcome {
    pub allowed: bool,
    /// One per check; `None` where the store did not look at that counter (see
    /// [`RedisStore`]'s local cache of rejected counters).
    pub outcomes: Vec<Option<Outcome>>,
}

/// The shared rate-limit store was unreachable and `failureMode` is `closed`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StoreUnavailable;

pub(crate) enum Store {
    Memory(MemoryStore),
    Redis(Box<RedisStore>),
}

impl Store {
    pub async fn check(&self, checks: &[Check], now: u64) -> Result<BatchOutcome, StoreUnavailable> {
        if checks.is_empty() {
            return Ok(BatchOutcome { allowed: true, outcomes: Vec::new() });
        }
        match self {
            Self::Memory(store) => Ok(store.check(checks, now)),
            Self::Redis(store) => store.check(checks, now).await,
        }
    }

    /// Reads a counter without taking a token.
    pub async fn peek(&self, check: &Check, now: u64) -> Result<Outcome, StoreUnavailable> {
        match self {
            Self::Memory(store) => Ok(store.peek(check, now)),
            Self::Redis(store) => store.peek(check, now).await,
        }
    }
}
