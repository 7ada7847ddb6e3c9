use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::duration::Duration;

/// A rule that matches requests and sends them to one upstream or splits them across several.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Route {
    /// Stable name: `diff` matches routes by it, metrics and logs report it.
    #[schemars(regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"), length(min = 1, max = 128))]
    pub name: String,
    /// What a request must look like to take this route.
    #[serde(rename = "match")]
    pub matcher: RouteMatch,
    /// The upstream that receives all matched traffic. Give this or `split`, not both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
    /// A weighted split across upstreams, for canaries. Give this or `upstream`, not both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<TrafficSplit>,
    /// Credentials required, as in OpenAPI: the request must satisfy one entry of the list (OR),
    /// and every provider inside that entry (AND). Each provider maps to the scopes it must grant.
    /// An empty list makes the route public.
    #[serde(default)]
    pub security: Vec<SecurityRequirement>,
    /// Accept JWTs that carry no `exp` claim on this route. Off by default.
    #[serde(default)]
    pub allow_tokens_without_expiry: bool,
    /// Names of the rate-limit policies enforced on this route; all of them apply.
    #[serde(default)]
    pub rate_limits: Vec<String>,
    /// Changes to the request before it goes upstream.
    #[serde(default)]
    pub request_headers: HeaderChanges,
    /// Changes to the response before it goes back to the client.
    #[serde(default)]
    pub response_headers: HeaderChanges,
    /// Largest accepted request body in bytes; the global limit when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_body_bytes: Option<u64>,
    /// Read a request body of unknown length (chunked, or HTTP/2 without `content-length`) in
    /// full, up to the body limit, before the upstream is contacted, so that an oversized body
    /// gets 413 without reaching it. On by default. Turn it off for clients that stream their
    /// request bodies; gRPC requests over HTTP/2 are always streamed.
    #[serde(default = "crate::model::default_true", skip_serializing_if = "is_true")]
    pub request_buffering: bool,
    /// Timeouts for this route, replacing the upstream's where given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeouts: Option<RouteTimeouts>,
    /// Remove the matched prefix (for `prefix` paths) before forwarding.
    #[serde(default)]
    pub strip_prefix: bool,
    /// Host header sent upstream instead of the client's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_rewrite: Option<String>,
    /// Deprecation notice sent in `Deprecation`, `Sunset` and `Link` response headers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecation: Option<Deprecation>,
    /// Labels for ownership and filtering (`gatectl diff --scope`).
    #[serde(default)]
    pub tags: Vec<String>,
    /// Free-form notes, for example the OpenAPI operation a route was imported from.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

/// One alternative of a route's `security` list: provider name to required scopes.
pub type SecurityRequirement = BTreeMap<String, Vec<String>>;

/// Conditions a request must meet; all given conditions must hold.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RouteMatch {
    /// Host names, exact (`api.example.com`) or with a leading wildcard label (`*.example.com`).
    /// Compared without case and without port. Any host when empty.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// The request path.
    pub path: PathMatch,
    /// Accepted methods; any method when empty.
    #[serde(default)]
    pub methods: Vec<Method>,
    /// Request headers that must be present or have a value.
    #[serde(default)]
    pub headers: Vec<HeaderMatch>,
    /// API version this route serves, selected by URL prefix or version header as
    /// `settings.versioning` says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// How the path is compared. Paths are compared case-sensitively after normalisation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum PathMatch {
    /// The whole path equals this value.
    Exact(#[schemars(regex(pattern = r"^/"))] String),
    /// The path starts with this value at a segment boundary: `/api` matches `/api` and
    /// `/api/x`, not `/apix`.
    Prefix(#[schemars(regex(pattern = r"^/"))] String),
    /// An OpenAPI-style template such as `/users/{id}`: each `{name}` matches one non-empty
    /// segment.
    Template(#[schemars(regex(pattern = r"^/"))] String),
}

impl PathMatch {
    pub fn value(&self) -> &str {
        match self {
            Self::Exact(path) | Self::Prefix(path) | Self::Template(path) => path,
        }
    }
}

/// An HTTP method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
    Options,
    Trace,
}

impl Method {
    pub const ALL: [Method; 8] =
        [Method::Get, Method::Head, Method::Post, Method::Put, Method::Patch, Method::Delete, Method::Options, Method::Trace];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Head => "HEAD",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
            Self::Options => "OPTIONS",
            Self::Trace => "TRACE",
        }
    }

    /// Parses an upper- or lower-case method name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|method| method.as_str().eq_ignore_ascii_case(name))
    }
}

/// A condition on one request header. Header names are compared without case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HeaderMatch {
    /// Header name.
    #[schemars(regex(pattern = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"))]
    pub name: String,
    /// The value the header must have, compared exactly; any value when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Match when the header is absent (and, with `value`, when it differs).
    #[serde(default)]
    pub invert: bool,
}

/// A weighted split of a route's traffic across upstreams.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TrafficSplit {
    /// Upstreams and their shares.
    #[schemars(length(min = 1))]
    pub backends: Vec<WeightedBackend>,
    /// Keep each consumer on one backend while the weights do not change.
    #[serde(default)]
    pub sticky: bool,
}

/// One upstream in a traffic split.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WeightedBackend {
    pub upstream: String,
    /// Relative share, for example 95 and 5.
    #[schemars(range(max = 10000))]
    pub weight: u32,
}

/// Header changes, applied in the order remove, set, add.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HeaderChanges {
    /// Headers removed.
    #[serde(default)]
    pub remove: Vec<String>,
    /// Headers set, replacing any existing value.
    #[serde(default)]
    pub set: BTreeMap<String, String>,
    /// Headers appended, keeping existing values.
    #[serde(default)]
    pub add: BTreeMap<String, String>,
}

impl HeaderChanges {
    pub fn is_empty(&self) -> bool {
        self.remove.is_empty() && self.set.is_empty() && self.add.is_empty()
    }
}

/// Per-route timeouts; each replaces the upstream's value when given.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RouteTimeouts {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<Duration>,
}

/// Deprecation of a route (RFC 9745 `Deprecation`, RFC 8594 `Sunset`).
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Deprecation {
    /// When the route was deprecated; sent as `Deprecation: @<unix seconds>`. When absent the
    /// header is still sent, dated at the Unix epoch, which clients read as "deprecated".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
    /// When the route will stop working; sent as `Sunset` (an HTTP date).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sunset: Option<DateTime<Utc>>,
    /// A page explaining the deprecation; sent as `Link: <url>; rel="deprecation"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

#[expect(clippy::trivially_copy_pass_by_ref, reason = "serde passes the field by reference")]
fn is_true(value: &bool) -> bool {
    *value
}
