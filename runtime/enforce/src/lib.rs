//! Authentication, consumers, rate limits and quotas for the gatectl runtime.
//!
//! Build an [`Enforcer`] once per spec version, then per request call
//! [`Enforcer::authenticate`] and, when it succeeds, [`Enforcer::check_limits`]:
//!
//! - authentication evaluates the route's `security` requirements (OR across entries, AND
//!   inside one) with JWTs ([`jwt`] lists the validation rules) and API keys stored as
//!   SHA-256 hashes, and resolves the consumer;
//! - limits count the request in token buckets refilled per window (the algorithm and its edge
//!   behaviour are described in `limits/bucket.rs`) and in daily or monthly quotas, in memory
//!   or in Redis, and return the `RateLimit` headers;
//! - every rejection is a [`Rejection`] with a status, a `WWW-Authenticate` challenge where
//!   relevant and an RFC 9457 problem+json body.
//!
//! Time comes from a [`Clock`], so tests can control it.

mod auth;
mod clock;
mod credentials;
mod enforcer;
pub mod jwt;
mod limits;
mod problem;
mod quota;
mod setup;
mod store;

pub use auth::{ConsumerIdentity, Identity, TokenSubject};
pub use clock::{Clock, ManualClock, SystemClock};
pub use enforcer::{Enforcer, EnforcerOptions};
pub use limits::{LimitDecision, QuotaUsage};
pub use problem::{AuthRejection, PROBLEM_JSON, ProblemKind, Rejection};
pub use quota::QuotaNotification;
pub use setup::BuildError;
pub use store::{RedisLink, RedisStatus};
