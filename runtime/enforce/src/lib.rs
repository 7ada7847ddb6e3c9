//! Authentication, consumers, rate limits and quotas for the gatectl runtime.
