//! The Redis counter store, for rate limits shared by several gateway replicas.
//!
//! One Lua script checks all counters of a request atomically, running the same algorithm as
//! [`crate::limits::bucket`]. Time comes from the gateway's clock (passed to the script), so
//! replicas must keep their clocks in sync (NTP); skew between replicas shifts window edges.
//! Counters found over their limit are remembered locally until their refill time, so rejected
//! traffic does not reach Redis. When Redis fails or times out, `failureMode: open` counts in a
//! local in-memory store instead (limits become per node), and `closed` rejects with 503.
//!
//! A request with one rate-limit counter takes a lease: `leasePercent` of the counter's capacity
//! (at least one token) in one script run. The node hands out the leased tokens itself until
//! they run out or the counter's window ends, whichever comes first. Then it takes a new lease.
//! The counter in Redis is lowered by the whole lease at once, so the nodes together never admit
//! more than the limit. What a lease costs is accuracy on the other side: tokens leased by one
//! node and not used before the window ends are lost to the others, at most `leasePercent` of
//! the capacity per node and window. `X-RateLimit-Remaining` counts the node's own lease plus
//! what Redis had left when the lease was taken. Quotas and requests with several counters take
//! one token per request, because they must be all or nothing across counters.

use std::collections::HashMap;
use std::sync::Mutex;

use gatectl_spec::model::{FailureMode, RateLimiting};

use super::redis_link::{CallError, was_not_sent};
use super::{BatchOutcome, Check, MemoryStore, RedisLink, StoreUnavailable};
use crate::limits::bucket::Outcome;

/// Most counters remembered as rejected before the local cache is pruned.
const BLOCKED_CACHE_CAPACITY: usize = 100_000;

/// Most leases kept before expired ones are dropped.
const LEASE_CAPACITY: usize = 100_000;

/// Values the check script returns per counter: tokens before, tokens after, next refill, and
/// tokens taken.
const REPLY_PER_CHECK: usize = 4;

pub(super) const CHECK_SCRIPT: &str = r#"
local now = tonumber(ARGV[1])
local count = #KEYS
local tokens, refills = {}, {}
local allowed = 1
for i = 1, count do
  local base = 1 + (i - 1) * 5
  local capacity, refill = tonumber(ARGV[base + 1]), tonumber(ARGV[base + 2])
  local window, period_end = tonumber(ARGV[base + 3]), tonumber(ARGV[base + 4])
  local state = redis.call('HMGET', KEYS[i], 't', 'n')
  local t, n = tonumber(state[1]), tonumber(state[2])
  if t == nil or n == nil then
    t = capacity
    if period_end > 0 then n = period_end else n = now + window end
  elseif now >= n then
    if period_end > 0 then
      t, n = capacity, period_end
    else
      local k = math.floor((now - n) / window) + 1
      t = math.min(capacity, t + k * refill)
      if t >= capacity then n = now + window else n = n + k * window end
    end
  end
  t = math.min(t, capacity)
  tokens[i], refills[i] = t, n
  if t < 1 then allowed = 0 end
end
local result = {allowed}
for i = 1, count do
  local base = 1 + (i - 1) * 5
  local capacity, refill = tonumber(ARGV[base + 1]), tonumber(ARGV[base + 2])
  local window, period_end = tonumber(ARGV[base + 3]), tonumber(ARGV[base + 4])
  local had = tokens[i]
  local granted = 0
  if allowed == 1 then granted = math.min(tonumber(ARGV[base + 5]), had) end
  local t = had - granted
  redis.call('HSET', KEYS[i], 't', string.format('%.0f', t), 'n', string.format('%.0f', refills[i]))
  local full_at = refills[i]
  if period_end == 0 and refill > 0 then full_at = refills[i] + window * math.ceil(capacity / refill) end
  redis.call('PEXPIREAT', KEYS[i], string.format('%.0f', full_at))
  table.insert(result, had)
  table.insert(result, t)
  table.insert(result, refills[i])
  table.insert(result, granted)
end
return result
"#;

const PEEK_SCRIPT: &str = r#"
local state = redis.call('HMGET', KEYS[1], 't', 'n')
return {tonumber(state[1]) or -1, tonumber(state[2]) or -1}
"#;

/// Tokens of one counter that this node took from Redis and hands out itself.
#[derive(Clone, Copy, Debug)]
struct Lease {
    tokens: u64,
    /// The tokens left in the counter in Redis after the lease was taken.
    shared_remaining: u64,
    /// The counter's next refill, as a Unix millisecond: the lease is void from then on.
    expires: u64,
    /// Until when (Unix millisecond) a request is renewing the lease; 0 when none is.
    renewing_until: u64,
}

/// The decision of [`RedisStore::take_leased`] for a request.
enum LeaseStep {
    /// Admitted from the node's lease.
    Admitted(BatchOutcome),
    /// This request renews the lease.
    Renew,
    /// Another request is renewing the lease; this one takes a single token from Redis.
    OneToken,
}

pub(crate) struct RedisStore {
    link: RedisLink,
    check_script: redis::Script,
    peek_script: redis::Script,
    failure_mode: FailureMode,
    fallback: MemoryStore,
    /// Counters known to be empty, with the Unix millisecond of their next refill.
    blocked: Mutex<HashMap<String, u64>>,
    /// `settings.rateLimiting.leasePercent`.
    lease_percent: u64,
    /// Tokens this node took from counters in Redis and has not handed out yet.
    leases: Mutex<HashMap<String, Lease>>,
}

impl RedisStore {
    /// Builds the store of one configuration on the runtime's shared connection.
    pub fn new(link: RedisLink, settings: &RateLimiting) -> Self {
        Self {
            link,
            check_script: redis::Script::new(CHECK_SCRIPT),
            peek_script: redis::Script::new(PEEK_SCRIPT),
            failure_mode: settings.failure_mode,
            fallback: MemoryStore::default(),
            blocked: Mutex::new(HashMap::new()),
            lease_percent: u64::from(settings.lease_percent),
            leases: Mutex::new(HashMap::new()),
        }
    }

    pub async fn check(&self, checks: &[Check], now: u64) -> Result<BatchOutcome, StoreUnavailable> {
        // The node's own lease comes first: a counter that Redis reported empty may still have
        // tokens leased to this node.
        let mut lease = self.lease_size(checks);
        if lease > 1 {
            match self.take_leased(&checks[0].key, now) {
                LeaseStep::Admitted(outcome) => return Ok(outcome),
                LeaseStep::Renew => {}
                LeaseStep::OneToken => lease = 1,
            }
        }
        if let Some(outcome) = self.check_blocked(checks, now) {
            return Ok(outcome);
        }

        let Some(mut connection) = self.link.connection() else { return self.skip(checks, now) };
        let permit = match self.link.permit(self.failure_mode) {
            Ok(permit) => permit,
            Err(reason) => {
                tracing::trace!(reason, "rate-limit store call skipped");
                return self.skip(checks, now);
            }
        };

        let mut invocation = self.check_script.prepare_invoke();
        invocation.arg(now);
        for check in checks {
            invocation.key(&check.key);
            invocation
                .arg(check.rule.capacity)
                .arg(check.rule.refill)
                .arg(check.rule.window_millis)
                .arg(check.rule.period_end.unwrap_or(0))
                .arg(lease);
        }
        let call = async {
            match invocation.invoke_async::<Vec<i64>>(&mut connection).await {
                Err(error) if was_not_sent(&error) => invocation.invoke_async::<Vec<i64>>(&mut connection).await,
                result => result,
            }
        };
        let error = match tokio::time::timeout(self.link.timeout(), call).await {
            Ok(Ok(reply)) if reply.len() == 1 + REPLY_PER_CHECK * checks.len() => {
                permit.succeeded();
                return Ok(self.read_reply(checks, &reply, lease, now));
            }
            Ok(Ok(reply)) => CallError::UnexpectedReply(reply.len()),
            Ok(Err(error)) => CallError::Redis(error),
            Err(_) => CallError::TimedOut,
        };
        permit.failed(&error, self.failure_mode);
        self.decide_without_store(checks, now)
    }

    /// Reads the check script's reply: keeps the lease and the counters found empty, and
    /// returns each counter's outcome.
    fn read_reply(&self, checks: &[Check], reply: &[i64], lease: u64, now: u64) -> BatchOutcome {
        let allowed = reply[0] == 1;
        let mut outcomes = Vec::with_capacity(checks.len());
        for (index, check) in checks.iter().enumerate() {
            let values = &reply[1 + index * REPLY_PER_CHECK..][..REPLY_PER_CHECK];
            let [had, shared_remaining, next_refill, tokens_taken] =
                [values[0], values[1], values[2], values[3]].map(|value| value.max(0) as u64);
            // One taken token is this request's; the rest are leased to this node.
            let leased = tokens_taken.saturating_sub(1);
            if lease > 1 {
                self.store_lease(&check.key, leased, shared_remaining, next_refill, now);
            }
            let remaining = shared_remaining + leased;
            if remaining == 0 {
                self.remember_blocked(&check.key, next_refill, now);
            }
            outcomes.push(Some(Outcome { has_capacity: had >= 1, remaining, reset_millis: next_refill.saturating_sub(now) }));
        }
        BatchOutcome { allowed, outcomes }
    }

    pub async fn peek(&self, check: &Check, now: u64) -> Result<Outcome, StoreUnavailable> {
        let Some(mut connection) = self.link.connection() else { return Err(StoreUnavailable) };
        let mut invocation = self.peek_script.prepare_invoke();
        invocation.key(&check.key);
        let reply = match tokio::time::timeout(self.link.timeout(), invocation.invoke_async::<Vec<i64>>(&mut connection)).await {
            Ok(Ok(reply)) if reply.len() == 2 => reply,
            _ => return Err(StoreUnavailable),
        };
        let state = (reply[0] >= 0 && reply[1] >= 0)
            .then(|| crate::limits::bucket::BucketState { tokens: reply[0] as u64, next_refill: reply[1] as u64 });
        let state = crate::limits::bucket::refresh(state, &check.rule, now);
        Ok(Outcome { has_capacity: state.tokens >= 1, remaining: state.tokens, reset_millis: state.next_refill.saturating_sub(now) })
    }

    /// Tokens to take from Redis for this request: a lease for a single rate-limit counter,
    /// otherwise one.
    fn lease_size(&self, checks: &[Check]) -> u64 {
        match checks {
            [check] if check.rule.period_end.is_none() => (check.rule.capacity.saturating_mul(self.lease_percent) / 100).max(1),
            _ => 1,
        }
    }

    /// Admits a request from this node's lease on the counter when it has a token left in the
    /// current window. Otherwise the first request to find the lease empty renews it, and
    /// requests arriving while that renewal is under way take one token each, so concurrent
    /// requests do not each lease a share of the capacity.
    fn take_leased(&self, key: &str, now: u64) -> LeaseStep {
        let renewal_deadline = now + self.link.timeout().as_millis() as u64;
        let mut leases = self.leases.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let Some(lease) = leases.get_mut(key) else {
            if leases.len() >= LEASE_CAPACITY {
                leases.retain(|_, lease| lease.expires > now || lease.renewing_until > now);
            }
            if leases.len() < LEASE_CAPACITY {
                leases.insert(key.to_owned(), Lease { tokens: 0, shared_remaining: 0, expires: 0, renewing_until: renewal_deadline });
            }
            return LeaseStep::Renew;
        };
        if lease.tokens > 0 && now < lease.expires {
            lease.tokens -= 1;
            let remaining = lease.tokens + lease.shared_remaining;
            let outcome = Outcome { has_capacity: true, remaining, reset_millis: lease.expires - now };
            return LeaseStep::Admitted(BatchOutcome { allowed: true, outcomes: vec![Some(outcome)] });
        }
        // A renewal whose request was dropped or failed is given up after the Redis timeout.
        if lease.renewing_until > now {
            return LeaseStep::OneToken;
        }
        lease.renewing_until = renewal_deadline;
        LeaseStep::Renew
    }

    /// Keeps newly leased tokens. Tokens left from a lease of the same window are added to them;
    /// a lease of an earlier window is replaced.
    fn store_lease(&self, key: &str, tokens: u64, shared_remaining: u64, expires: u64, now: u64) {
        let mut leases = self.leases.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let lease = Lease { tokens, shared_remaining, expires, renewing_until: 0 };
        if let Some(existing) = leases.get_mut(key) {
            let carried = if existing.expires == expires && now < expires { existing.tokens } else { 0 };
            *existing = Lease { tokens: tokens + carried, ..lease };
        } else if leases.len() < LEASE_CAPACITY {
            leases.insert(key.to_owned(), lease);
        }
    }

    /// Rejects locally when a counter of the request is known to be empty.
    fn check_blocked(&self, checks: &[Check], now: u64) -> Option<BatchOutcome> {
        let blocked = self.blocked.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let outcomes: Vec<Option<Outcome>> = checks
            .iter()
            .map(|check| {
                let until = *blocked.get(&check.key)?;
                (until > now).then(|| Outcome { has_capacity: false, remaining: 0, reset_millis: until - now })
            })
            .collect();
        outcomes.iter().any(Option::is_some).then_some(BatchOutcome { allowed: false, outcomes })
    }

    fn remember_blocked(&self, key: &str, until: u64, now: u64) {
        let mut blocked = self.blocked.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if blocked.len() >= BLOCKED_CACHE_CAPACITY {
            blocked.retain(|_, until| *until > now);
        }
        if blocked.len() < BLOCKED_CACHE_CAPACITY {
            blocked.insert(key.to_owned(), until);
        }
    }

    /// Decides a check that did not call Redis, by the failure mode.
    fn skip(&self, checks: &[Check], now: u64) -> Result<BatchOutcome, StoreUnavailable> {
        self.link.skipped();
        self.decide_without_store(checks, now)
    }

    fn decide_without_store(&self, checks: &[Check], now: u64) -> Result<BatchOutcome, StoreUnavailable> {
        match self.failure_mode {
            FailureMode::Open => Ok(self.fallback.check(checks, now)),
            FailureMode::Closed => Err(StoreUnavailable),
        }
    }
}
