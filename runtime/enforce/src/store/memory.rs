//! The in-memory counter store: sharded maps, each behind its own mutex.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Mutex, MutexGuard};

use super::{BatchOutcome, Check};
use crate::limits::bucket::{BucketState, Outcome, refresh, take_all, take_one};

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
        if let [check] = checks {
            return self.check_one(check, now);
        }
        let shard_indexes: Vec<usize> = checks.iter().map(|check| self.shard_of(&check.key)).collect();
        let mut to_lock = shard_indexes.clone();
        to_lock.sort_unstable();
        to_lock.dedup();
        // The guard of each check's shard, by its place in `to_lock`.
        let guard_of: Vec<usize> = shard_indexes.iter().map(|shard| to_lock.binary_search(shard).unwrap_or_default()).collect();
        let mut guards: Vec<MutexGuard<'_, HashMap<String, BucketState>>> =
            to_lock.iter().map(|&index| self.shards[index].lock().unwrap_or_else(|poisoned| poisoned.into_inner())).collect();

        let states: Vec<BucketState> =
            checks.iter().zip(&guard_of).map(|(check, &guard)| refresh(guards[guard].get(&check.key).copied(), &check.rule, now)).collect();
        let (updated, allowed, outcomes) = take_all(&states, now);

        for ((check, &guard), state) in checks.iter().zip(&guard_of).zip(updated) {
            store_state(&mut guards[guard], &check.key, state, now);
        }
        BatchOutcome { allowed, outcomes: outcomes.into_iter().map(Some).collect() }
    }

    /// Checks a request with a single counter, the common case, with one lock and no sorting.
    fn check_one(&self, check: &Check, now: u64) -> BatchOutcome {
        let mut map = self.shards[self.shard_of(&check.key)].lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let existing = map.get_mut(&check.key);
        let (updated, allowed, outcome) = take_one(refresh(existing.as_deref().copied(), &check.rule, now), now);
        match existing {
            Some(state) => *state = updated,
            None => store_state(&mut map, &check.key, updated, now),
        }
        BatchOutcome { allowed, outcomes: vec![Some(outcome)] }
    }

    pub fn peek(&self, check: &Check, now: u64) -> Outcome {
        let shard = self.shards[self.shard_of(&check.key)].lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let state = refresh(shard.get(&check.key).copied(), &check.rule, now);
        Outcome { has_capacity: state.tokens >= 1, remaining: state.tokens, reset_millis: state.next_refill.saturating_sub(now) }
    }
}

/// Saves a counter's new state, in place when the counter exists.
fn store_state(map: &mut HashMap<String, BucketState>, key: &str, state: BucketState, now: u64) {
    if let Some(existing) = map.get_mut(key) {
        *existing = state;
        return;
    }
    if map.len() >= PRUNE_THRESHOLD {
        // A counter whose refill time has passed is full again or refills on next use, except
        // for partial refills, so dropping it errs towards allowing.
        map.retain(|_, state| state.next_refill > now);
    }
    map.insert(key.to_owned(), state);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::bucket::Rule;

    fn check(key: &str, capacity: u64) -> Check {
        Check { key: key.to_owned(), rule: Rule { capacity, refill: capacity, window_millis: 60_000, period_end: None } }
    }

    #[test]
    fn single_counter_runs_out() {
        let store = MemoryStore::default();
        let checks = [check("a", 2)];
        assert_eq!(store.check(&checks, 1_000).outcomes[0].map(|outcome| outcome.remaining), Some(1));
        assert!(store.check(&checks, 1_001).allowed);
        let third = store.check(&checks, 1_002);
        assert!(!third.allowed);
        assert_eq!(third.outcomes[0].map(|outcome| outcome.remaining), Some(0));
    }

    #[test]
    fn batch_takes_all_or_nothing() {
        let store = MemoryStore::default();
        let roomy = check("roomy", 10);
        let tight = check("tight", 1);
        assert!(store.check(&[roomy.clone(), tight.clone()], 1_000).allowed);

        let rejected = store.check(&[roomy.clone(), tight], 1_001);
        assert!(!rejected.allowed);
        // The rejected batch took nothing from the counter that still had room.
        assert_eq!(store.peek(&roomy, 1_002).remaining, 9);
    }
}
