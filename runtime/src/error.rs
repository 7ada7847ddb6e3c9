//! Request failures and their single mapping to HTTP statuses and RFC 9457 problem+json bodies.

use bytes::Bytes;
use http::header::{ALLOW, CONTENT_TYPE, HeaderValue};
use http::{Response, StatusCode};

use crate::proxy::body::{ProxyBody, full_body};

/// Origin of a failure, for logs and metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Client,
    Upstream,
    Gateway,
}

/// Failures that stop a request from being proxied, or that end proxying.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("no route matches this request")]
    NoRoute,
    #[error("the route does not accept this method")]
    MethodNotAllowed { allow: String },
    #[error("invalid request: {0}")]
    BadRequest(&'static str),
    #[error("the request head is larger than {limit} bytes")]
    HeadersTooLarge { limit: u64 },
    #[error("the request body is larger than {limit} bytes")]
    BodyTooLarge { limit: u64 },
    #[error("the request body was not received in time")]
    BodyTimeout,
    #[error("the transfer coding is not supported; send `Transfer-Encoding: chunked` or a Content-Length")]
    UnsupportedTransferCoding,
    #[error("no healthy target is available for upstream `{upstream}`")]
    NoHealthyTarget { upstream: String },
    #[error("connecting to the upstream failed")]
    UpstreamConnect,
    #[error("the upstream did not answer in time")]
    UpstreamTimeout,
    #[error("the upstream did not send a valid response")]
    UpstreamFailure,
}

impl ProxyError {
    /// Returns the HTTP status for this failure; the only place that decides it.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NoRoute => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::HeadersTooLarge { .. } => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::UnsupportedTransferCoding => StatusCode::NOT_IMPLEMENTED,
            Self::NoHealthyTarget { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::UpstreamConnect | Self::UpstreamFailure => StatusCode::BAD_GATEWAY,
            Self::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    /// Returns the problem `type` URI, in the `urn:gatectl:problem:` family that
    /// authentication and rate-limit rejections use too.
    pub fn type_uri(&self) -> &'static str {
        match self {
            Self::NoRoute => "urn:gatectl:problem:no-route",
            Self::MethodNotAllowed { .. } => "urn:gatectl:problem:method-not-allowed",
            Self::BadRequest(_) => "urn:gatectl:problem:bad-request",
            Self::HeadersTooLarge { .. } => "urn:gatectl:problem:headers-too-large",
            Self::BodyTooLarge { .. } => "urn:gatectl:problem:body-too-large",
            Self::BodyTimeout => "urn:gatectl:problem:request-timeout",
            Self::UnsupportedTransferCoding => "urn:gatectl:problem:unsupported-transfer-coding",
            Self::NoHealthyTarget { .. } => "urn:gatectl:problem:no-healthy-target",
            Self::UpstreamConnect => "urn:gatectl:problem:upstream-unreachable",
            Self::UpstreamTimeout => "urn:gatectl:problem:upstream-timeout",
            Self::UpstreamFailure => "urn:gatectl:problem:upstream-failure",
        }
    }

    pub fn side(&self) -> Side {
        match self {
            Self::NoRoute
            | Self::MethodNotAllowed { .. }
            | Self::BadRequest(_)
            | Self::HeadersTooLarge { .. }
            | Self::BodyTooLarge { .. }
            | Self::BodyTimeout
            | Self::UnsupportedTransferCoding => Side::Client,
            Self::NoHealthyTarget { .. } => Side::Gateway,
            Self::UpstreamConnect | Self::UpstreamTimeout | Self::UpstreamFailure => Side::Upstream,
        }
    }

    /// Builds the problem+json response. The detail is this error's message, which never
    /// contains internal state such as addresses or library errors.
    pub fn to_response(&self, request_id: &str) -> Response<ProxyBody> {
        let mut response = typed_problem_response(self.type_uri(), self.status(), &self.to_string(), request_id);
        if let Self::MethodNotAllowed { allow } = self
            && let Ok(value) = HeaderValue::from_str(allow)
        {
            response.headers_mut().insert(ALLOW, value);
        }
        response
    }
}

/// Builds an `application/problem+json` response with the one body shape the gateway uses, and
/// the `about:blank` type, which means the status alone explains the problem.
pub fn problem_response(status: StatusCode, detail: &str, request_id: &str) -> Response<ProxyBody> {
    typed_problem_response("about:blank", status, detail, request_id)
}

/// Builds an `application/problem+json` response with the given problem `type`.
pub fn typed_problem_response(type_uri: &str, status: StatusCode, detail: &str, request_id: &str) -> Response<ProxyBody> {
    let body = serde_json::json!({
        "type": type_uri,
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "detail": detail,
        "requestId": request_id,
    });
    let mut response = Response::new(full_body(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
    response
}
