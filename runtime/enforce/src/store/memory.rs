//! The in-memory counter store: sharded maps, each behind its own mutex.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Mutex, MutexGuard};

use super::{BatchOutcome, Check};
use crate::limits::bucket::{BucketState, Outcome, refresh, take_all};

const SHARDS: usize = 64;
/// Entries per shard above which idle counters are dropped.
const PRUNE_THRESHOLD: usize = 10_000;

pub(crate) struct MemoryStore {
    shards: Vec<Mutex<HashMap<String, BucketState>>>,
    hasher: RandomState,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self { shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(), hasher: RandomState::new() }
    }
}

impl MemoryStore {
    fn shard_of(&self, key: &str) -> usize {
        (self.hasher.hash_one(key) as usize) % SHARDS
    }

    /// Checks all counters atomically: the shards involved are locked in ascending order, so
    /// concurrent batches cannot deadlock, and tokens are taken only when every counter has one.
    pub fn check(&self, checks: &[Check], now: u64) -> BatchOutcome {
        let shard_indexes: Vec<usize> = checks.iter().map(|check| self.shard_of(&check.key)).collect();
        let mut to_lock = shard_indexes.clone();
        to_lock.sort_unstable();
        to_lock.dedup();
        let mut guards: HashMap<usize, MutexGuard<'_, HashMap<String, BucketState>>> =
            to_lock.into_iter().map(|index| (index, self.shards[index].lock().unwrap_or_else(|poisoned| poisoned.into_inner()))).collect();

        let states: Vec<BucketState> = checks
            .iter()
            .zip(&shard_indexes)
            .map(|(check, shard)| refresh(guards[shard].get(&check.key).copied(), &check.rule, now))
            .collect();
        let (updated, allowed, outcomes) = take_all(&states, now);

        for ((check, shard), state) in checks.iter().zip(&shard_indexes).zip(updated) {
            let Some(map) = guards.get_mut(shard) else { continue };
            if map.len() >= PRUNE_THRESHOLD {
                // A counter whose refill time has passed is full again or refills on next use,
                // except for partial refills; dropping it errs towards allowing.
                map.retain(|_, state| state.next_refill > now);
            }
            map.insert(check.key.clone(), state);
        }
        BatchOutcome { allowed, outcomes: outcomes.into_iter().map(Some).collect() }
    }

    pub fn peek(&self, check: &Check, now: u64) -> Outcome {
        let shard = self.shards[self.shard_of(&check.key)].lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let state = refresh(shard.get(&check.key).copied(), &check.rule, now);
        Outcome { has_capacity: state.tokens >= 1, remaining: state.tokens, reset_millis: state.next_refill.saturating_sub(now) }
    }
}
