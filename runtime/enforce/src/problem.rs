//! Rejections and their RFC 9457 problem+json bodies.
//!
//! Every rejection has the same body shape (`type`, `title`, `status`, `detail`). Details are
//! fixed sentences per kind: they never say which check a token failed or whether an API key
//! exists, so a client learns no more than the `WWW-Authenticate` challenge allows.

use http::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, StatusCode};

/// Media type of problem bodies.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Why a request was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProblemKind {
    /// No credential that the route accepts was sent.
    MissingCredentials,
    /// A credential was sent but is invalid, expired or unknown.
    InvalidCredentials,
    /// The credential is valid but lacks a scope the route requires.
    InsufficientScope,
    /// A rate limit is used up.
    RateLimited,
    /// The consumer's daily or monthly quota is used up.
    QuotaExceeded,
    /// The shared rate-limit store is unreachable and `failureMode` is `closed`.
    LimitStoreUnavailable,
    /// The caller asked about a route that the enforcer was not built with.
    UnknownRoute,
}

impl ProblemKind {
    pub fn status(self) -> StatusCode {
        match self {
            Self::MissingCredentials | Self::InvalidCredentials => StatusCode::UNAUTHORIZED,
            Self::InsufficientScope => StatusCode::FORBIDDEN,
            Self::RateLimited | Self::QuotaExceeded => StatusCode::TOO_MANY_REQUESTS,
            Self::LimitStoreUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::UnknownRoute => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The problem `type` URI.
    pub fn type_uri(self) -> &'static str {
        match self {
            Self::MissingCredentials => "urn:gatectl:problem:missing-credentials",
            Self::InvalidCredentials => "urn:gatectl:problem:invalid-credentials",
            Self::InsufficientScope => "urn:gatectl:problem:insufficient-scope",
            Self::RateLimited => "urn:gatectl:problem:rate-limited",
            Self::QuotaExceeded => "urn:gatectl:problem:quota-exceeded",
            Self::LimitStoreUnavailable => "urn:gatectl:problem:limit-store-unavailable",
            Self::UnknownRoute => "urn:gatectl:problem:internal-error",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Self::MissingCredentials => "Authentication required",
            Self::InvalidCredentials => "Invalid credentials",
            Self::InsufficientScope => "Insufficient scope",
            Self::RateLimited => "Too many requests",
            Self::QuotaExceeded => "Quota exceeded",
            Self::LimitStoreUnavailable => "Service unavailable",
            Self::UnknownRoute => "Internal error",
        }
    }

    pub fn detail(self) -> &'static str {
        match self {
            Self::MissingCredentials => "This resource requires credentials; send one the API accepts.",
            Self::InvalidCredentials => "The credentials sent are invalid or expired.",
            Self::InsufficientScope => "The credentials are valid but do not grant the scopes this resource requires.",
            Self::RateLimited => "The rate limit is used up; retry after the number of seconds in Retry-After.",
            Self::QuotaExceeded => "The quota for the current period is used up; retry after the number of seconds in Retry-After.",
            Self::LimitStoreUnavailable => "The request could not be checked against its rate limits; retry later.",
            Self::UnknownRoute => "The gateway could not process the request.",
        }
    }
}

/// A rejected request: status, challenge, extra headers and problem body.
#[derive(Clone, Debug)]
pub struct Rejection {
    pub kind: ProblemKind,
    /// Value of `WWW-Authenticate`, for 401 and 403.
    pub challenge: Option<String>,
    /// Headers to send besides `Content-Type` and `WWW-Authenticate`, for example rate-limit headers.
    pub headers: HeaderMap,
}

/// A rejected authentication.
pub type AuthRejection = Rejection;

impl Rejection {
    pub(crate) fn new(kind: ProblemKind) -> Self {
        Self { kind, challenge: None, headers: HeaderMap::new() }
    }

    pub(crate) fn with_challenge(kind: ProblemKind, challenge: String) -> Self {
        Self { kind, challenge: Some(challenge), headers: HeaderMap::new() }
    }

    pub fn status(&self) -> StatusCode {
        self.kind.status()
    }

    /// Returns the problem+json body.
    pub fn body(&self) -> String {
        serde_json::json!({
            "type": self.kind.type_uri(),
            "title": self.kind.title(),
            "status": self.status().as_u16(),
            "detail": self.kind.detail(),
        })
        .to_string()
    }

    /// Returns every response header: `Content-Type`, `WWW-Authenticate` when set, and the rest.
    pub fn response_headers(&self) -> HeaderMap {
        let mut headers = self.headers.clone();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(challenge) = &self.challenge
            && let Ok(value) = HeaderValue::from_str(challenge)
        {
            headers.insert(WWW_AUTHENTICATE, value);
        }
        headers
    }
}
