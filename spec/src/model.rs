//! The declarative gateway spec.
//!
//! One [`Spec`] is what users keep in git, what `gatectl import` writes, what `validate` checks,
//! what `diff` compares and what a bundle carries to the runtime. Every field that may be left
//! out has its default written here (and so in the JSON Schema), which makes a spec and its
//! normalised form equal: see [`crate::normalize`].

mod auth;
mod consumer;
mod policy;
mod route;
mod settings;
mod upstream;

pub use auth::*;
pub use consumer::*;
pub use policy::*;
pub use route::*;
pub use settings::*;
pub use upstream::*;

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The only `apiVersion` this build reads.
pub const API_VERSION: &str = "gatectl.dev/v1";
/// The `kind` of a gateway spec document.
pub const KIND: &str = "Gateway";

/// A gateway spec: upstreams, routes, consumers, auth providers, rate-limit policies, tiers and
/// global settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(title = "gatectl gateway spec")]
pub struct Spec {
    /// Format version of this document. This build reads `gatectl.dev/v1`.
    pub api_version: ApiVersion,
    /// Document kind; always `Gateway`.
    pub kind: Kind,
    /// Name and labels of the gateway.
    #[serde(default)]
    pub metadata: Metadata,
    /// Listeners, trusted proxies, request IDs, access log and request limits.
    #[serde(default)]
    pub settings: Settings,
    /// Backend services that routes send traffic to.
    #[serde(default)]
    pub upstreams: Vec<Upstream>,
    /// Rules that match requests and send them to upstreams.
    #[serde(default)]
    pub routes: Vec<Route>,
    /// Credential checks that routes can require.
    #[serde(default)]
    pub auth_providers: Vec<AuthProvider>,
    /// Known API clients and their credentials.
    #[serde(default)]
    pub consumers: Vec<Consumer>,
    /// Rate-limit policies that routes refer to by name.
    #[serde(default)]
    pub rate_limit_policies: Vec<RateLimitPolicy>,
    /// Consumer tiers: each selects limits inside policies and carries quotas.
    #[serde(default)]
    pub tiers: Vec<Tier>,
}

/// The `apiVersion` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ApiVersion {
    #[serde(rename = "gatectl.dev/v1")]
    V1,
}

/// The `kind` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Kind {
    Gateway,
}

/// Name and labels of a gateway.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Metadata {
    /// A name for this gateway, shown in plans and status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Free-form labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

impl Spec {
    /// An empty spec with every default set.
    pub fn empty() -> Self {
        Self {
            api_version: ApiVersion::V1,
            kind: Kind::Gateway,
            metadata: Metadata::default(),
            settings: Settings::default(),
            upstreams: Vec::new(),
            routes: Vec::new(),
            auth_providers: Vec::new(),
            consumers: Vec::new(),
            rate_limit_policies: Vec::new(),
            tiers: Vec::new(),
        }
    }

    pub fn upstream(&self, name: &str) -> Option<&Upstream> {
        self.upstreams.iter().find(|upstream| upstream.name == name)
    }

    pub fn auth_provider(&self, name: &str) -> Option<&AuthProvider> {
        self.auth_providers.iter().find(|provider| provider.name == name)
    }

    pub fn rate_limit_policy(&self, name: &str) -> Option<&RateLimitPolicy> {
        self.rate_limit_policies.iter().find(|policy| policy.name == name)
    }

    pub fn tier(&self, name: &str) -> Option<&Tier> {
        self.tiers.iter().find(|tier| tier.name == name)
    }
}

pub(crate) fn default_true() -> bool {
    true
}
