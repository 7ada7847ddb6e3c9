//! The counting algorithm shared by the in-memory store and the Redis script.
//!
//! A token bucket refilled at interval boundaries: a bucket holds at most `capacity` tokens
//! (the limit's `burst`, or `requests`), a request takes one, and every `window` the bucket
//! gets `refill` tokens (the limit's `requests`) back, up to `capacity`. The first request to a
//! full bucket starts its window, so with the default burst a limit behaves like a window that
//! opens at the client's first request.
//!
//! This variant is used instead of GCRA because it lets `X-RateLimit-Reset` mean one thing on
//! every response: the seconds until tokens come back. That value only counts down inside a
//! window, and on a 429 it equals `Retry-After`. GCRA returns capacity continuously, so its reset
//! time rises with each allowed request. Edge behaviour: a client that spends a full bucket
//! at the end of one window can spend `refill` more right after the boundary, so the worst
//! case is `capacity + refill` requests in a short span around a window boundary.
//!
//! Quotas use the same state with no refill: the bucket is refilled to `capacity` at the end
//! of the calendar period (`period_end`).

/// How one counter behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rule {
    pub capacity: u64,
    pub refill: u64,
    pub window_millis: u64,
    /// For quotas: the Unix millisecond at which the period ends and the bucket becomes full.
    pub period_end: Option<u64>,
}

/// A counter's stored state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BucketState {
    pub tokens: u64,
    /// Unix millisecond of the next refill.
    pub next_refill: u64,
}

/// The result for one counter of a checked request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Outcome {
    /// Whether this counter had a token for the request.
    pub has_capacity: bool,
    /// Tokens left after the request.
    pub remaining: u64,
    /// Milliseconds until the next refill.
    pub reset_millis: u64,
}

/// Applies the refills due by `now` to a counter's state (a missing state is a full bucket).
pub(crate) fn refresh(state: Option<BucketState>, rule: &Rule, now: u64) -> BucketState {
    // Adds with saturation: a spec may give a window too long to add to the clock, and such a
    // window then never ends.
    let first_refill = rule.period_end.unwrap_or(now.saturating_add(rule.window_millis));
    let Some(state) = state else {
        return BucketState { tokens: rule.capacity, next_refill: first_refill };
    };
    if now < state.next_refill {
        return BucketState { tokens: state.tokens.min(rule.capacity), ..state };
    }
    if rule.period_end.is_some() {
        return BucketState { tokens: rule.capacity, next_refill: first_refill };
    }
    let window = rule.window_millis.max(1);
    let refills = (now - state.next_refill) / window + 1;
    let tokens = state.tokens.saturating_add(refills.saturating_mul(rule.refill)).min(rule.capacity);
    // A bucket that is full again starts a fresh window at this request.
    let next_refill =
        if tokens >= rule.capacity { now.saturating_add(window) } else { state.next_refill.saturating_add(refills.saturating_mul(window)) };
    BucketState { tokens, next_refill }
}

/// Takes one token from every counter if all have one (all or nothing), and returns the new
/// states, whether the request is allowed, and one outcome per counter.
pub(crate) fn take_all(states: &[BucketState], now: u64) -> (Vec<BucketState>, bool, Vec<Outcome>) {
    let allowed = states.iter().all(|state| state.tokens >= 1);
    let mut updated = Vec::with_capacity(states.len());
    let mut outcomes = Vec::with_capacity(states.len());
    for state in states {
        let tokens = if allowed { state.tokens - 1 } else { state.tokens };
        updated.push(BucketState { tokens, next_refill: state.next_refill });
        outcomes.push(Outcome { has_capacity: state.tokens >= 1, remaining: tokens, reset_millis: state.next_refill.saturating_sub(now) });
    }
    (updated, allowed, outcomes)
}

/// [`take_all`] for a request with a single counter, without allocating.
pub(crate) fn take_one(state: BucketState, now: u64) -> (BucketState, bool, Outcome) {
    let allowed = state.tokens >= 1;
    let tokens = if allowed { state.tokens - 1 } else { state.tokens };
    let outcome = Outcome { has_capacity: allowed, remaining: tokens, reset_millis: state.next_refill.saturating_sub(now) };
    (BucketState { tokens, next_refill: state.next_refill }, allowed, outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO_PER_MINUTE: Rule = Rule { capacity: 2, refill: 2, window_millis: 60_000, period_end: None };

    fn step(state: Option<BucketState>, now: u64) -> (BucketState, bool, Outcome) {
        let refreshed = refresh(state, &TWO_PER_MINUTE, now);
        let (updated, allowed, outcomes) = take_all(&[refreshed], now);
        (updated[0], allowed, outcomes[0])
    }

    #[test]
    fn window_opens_at_first_request() {
        let (state, allowed, outcome) = step(None, 5_000);
        assert!(allowed);
        assert_eq!(outcome.remaining, 1);
        assert_eq!(outcome.reset_millis, 60_000);
        let (state, allowed, _) = step(Some(state), 6_000);
        assert!(allowed);
        let (state, allowed, outcome) = step(Some(state), 7_000);
        assert!(!allowed);
        assert_eq!(outcome.reset_millis, 58_000);
        let (_, allowed, outcome) = step(Some(state), 65_000);
        assert!(allowed);
        assert_eq!(outcome.remaining, 1);
    }

    #[test]
    fn partial_refill_keeps_window_grid() {
        let rule = Rule { capacity: 4, refill: 1, window_millis: 1_000, period_end: None };
        let state = BucketState { tokens: 0, next_refill: 10_000 };
        let refreshed = refresh(Some(state), &rule, 12_500);
        assert_eq!(refreshed, BucketState { tokens: 3, next_refill: 13_000 });
    }

    /// A window too long to add to the clock (a spec may give one of thousands of years) ends
    /// at the largest time instead of overflowing.
    #[test]
    fn huge_window_saturates() {
        let rule = Rule { capacity: 2, refill: 1, window_millis: u64::MAX - 1, period_end: None };
        let now = 1_800_000_000_000;

        let opened = refresh(None, &rule, now);
        let (taken, _, _) = take_all(&[opened, opened], now);
        let partly = refresh(Some(BucketState { tokens: 0, next_refill: now - 1 }), &rule, now);

        assert_eq!(opened, BucketState { tokens: 2, next_refill: u64::MAX });
        assert_eq!(taken[0].tokens, 1);
        assert_eq!(partly, BucketState { tokens: 1, next_refill: u64::MAX });
    }
}
