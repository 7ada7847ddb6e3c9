//! Authentication, rate limits and quotas on the request path, through `gatectl-enforce`.
//!
//! [`admit`] runs after routing and before upstream selection. A rejected request gets its
//! problem response here and never reaches an upstream. An admitted request carries its [`Identity`], whose
//! header changes [`apply_identity`] makes before forwarding.

use std::borrow::Cow;
use std::net::IpAddr;

use bytes::Bytes;
use gatectl_enforce::{Enforcer, Identity, Rejection};
use http::{HeaderMap, Response, Uri};
use percent_encoding::percent_decode_str;

use super::RequestFacts;
use crate::proxy::body::{ProxyBody, full_body};

/// Authenticates a request for `route` and counts it against the route's rate limits and the
/// consumer's quotas. Records the consumer and the rate-limit headers in `facts` either way, so
/// the access log, metrics and the response carry them. Returns the rejection response when
/// the request must not be forwarded.
pub(super) async fn admit(
    enforcer: &Enforcer,
    route: &str,
    headers: &HeaderMap,
    uri: &Uri,
    client_ip: IpAddr,
    request_id: &str,
    facts: &mut RequestFacts,
) -> Result<Identity, Response<ProxyBody>> {
    let identity = match enforcer.authenticate(route, headers, uri).await {
        Ok(identity) => identity,
        Err(rejection) => {
            tracing::debug!(route, status = rejection.status().as_u16(), kind = ?rejection.kind, "authentication rejected the request");
            return Err(rejection_response(&rejection, request_id));
        }
    };
    if let Some(consumer) = &identity.consumer {
        facts.consumer.clone_from(&consumer.id);
    }

    let decision = enforcer.check_limits(route, &identity, client_ip).await;
    facts.limit_headers = decision.headers;
    if let Some(rejection) = decision.rejection {
        tracing::debug!(route, consumer = %facts.consumer, status = rejection.status().as_u16(), kind = ?rejection.kind, "limits rejected the request");
        return Err(rejection_response(&rejection, request_id));
    }
    Ok(identity)
}

/// Builds the problem+json response of a rejection, in the body shape of every other problem
/// the gateway sends: `type`, `title`, `status`, `detail` and `requestId`.
fn rejection_response(rejection: &Rejection, request_id: &str) -> Response<ProxyBody> {
    let status = rejection.status();
    let body = serde_json::json!({
        "type": rejection.kind.type_uri(),
        "title": rejection.kind.title(),
        "status": status.as_u16(),
        "detail": rejection.kind.detail(),
        "requestId": request_id,
    });
    let mut response = Response::new(full_body(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    *response.headers_mut() = rejection.response_headers();
    response
}

/// Removes client-sent copies of the identity headers, then adds the ones the gateway vouches
/// for: consumer id and tier, and forwarded claims.
pub(super) fn apply_identity(headers: &mut HeaderMap, identity: &Identity) {
    for name in identity.strip_headers.iter() {
        headers.remove(name);
    }
    for (name, value) in &identity.upstream_headers {
        headers.append(name.clone(), value.clone());
    }
}

/// Returns `query` without the pairs whose percent-decoded name is `name`, the way
/// `gatectl-enforce` reads an API key from the query. Returns `None` when nothing is left.
pub(super) fn remove_query_parameter<'a>(query: &'a str, name: &str) -> Option<Cow<'a, str>> {
    let is_named = |pair: &str| {
        let raw_name = pair.split_once('=').map_or(pair, |(raw_name, _)| raw_name);
        percent_decode_str(raw_name).decode_utf8_lossy() == name
    };
    if !query.split('&').any(is_named) {
        return Some(Cow::Borrowed(query));
    }
    let kept: Vec<&str> = query.split('&').filter(|pair| !is_named(pair)).collect();
    if kept.is_empty() {
        return None;
    }
    Some(Cow::Owned(kept.join("&")))
}

#[cfg(test)]
mod tests {
    use super::remove_query_parameter;

    #[test]
    fn query_parameter_removed_everywhere() {
        assert_eq!(remove_query_parameter("api_key=s3cret&page=2", "api_key").as_deref(), Some("page=2"));
        assert_eq!(remove_query_parameter("page=2&api%5Fkey=s3cret", "api_key").as_deref(), Some("page=2"));
        assert_eq!(remove_query_parameter("api_key=s3cret", "api_key"), None);
        assert_eq!(remove_query_parameter("a=1&api_key&b=2", "api_key").as_deref(), Some("a=1&b=2"));
    }

    #[test]
    fn query_without_parameter_unchanged() {
        assert_eq!(remove_query_parameter("page=2&api_keys=x", "api_key").as_deref(), Some("page=2&api_keys=x"));
    }
}
