//! `GET /quotas/{consumer}`: a consumer's quota use in each period of its tier.

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Response, StatusCode};
use percent_encoding::percent_decode_str;

use crate::config::ConfigStore;
use crate::error::problem_response;
use crate::proxy::body::{ProxyBody, full_body};

/// Serves `GET /quotas/{consumer}`: the consumer's id, tier and quota use as JSON. Returns 404
/// for a consumer the active spec does not define and 503 when the counter store is unreachable.
pub async fn handle(store: &ConfigStore, raw_consumer: &str, request_id: &str) -> Response<ProxyBody> {
    let consumer = percent_decode_str(raw_consumer).decode_utf8_lossy();
    let config = store.current();
    let Some(enforcement) = &config.enforcement else {
        return problem_response(StatusCode::NOT_FOUND, "no spec is active, so no consumer is defined", request_id);
    };
    let Some(tier) = enforcement.consumer_tiers.get(consumer.as_ref()) else {
        let detail = format!("consumer `{consumer}` is not defined in the active spec; check the id under consumers");
        return problem_response(StatusCode::NOT_FOUND, &detail, request_id);
    };
    let Some(usage) = enforcement.enforcer.quota_usage(&consumer, tier.as_deref()).await else {
        tracing::warn!(consumer = %consumer, "reading quota use failed because the counter store is unreachable");
        return problem_response(StatusCode::SERVICE_UNAVAILABLE, "the counter store is unreachable; retry later", request_id);
    };

    let quotas: Vec<serde_json::Value> = usage
        .iter()
        .map(|quota| {
            serde_json::json!({
                "period": quota.period,
                "window": quota.window,
                "used": quota.used,
                "limit": quota.limit,
                "remaining": quota.limit.saturating_sub(quota.used),
                "resetsInSeconds": quota.resets_in_seconds,
            })
        })
        .collect();
    let body = serde_json::json!({ "consumer": consumer, "tier": tier, "quotas": quotas });
    let mut response = Response::new(full_body(Bytes::from(body.to_string())));
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
