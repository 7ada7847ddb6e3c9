use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A known API client.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Consumer {
    /// Stable id, sent upstream in the consumer header and used as the rate-limit key.
    #[schemars(regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9._@-]*$"), length(min = 1, max = 128))]
    pub id: String,
    /// Tier that selects the consumer's limits and quotas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    /// Credentials that identify this consumer.
    #[serde(default)]
    pub credentials: Credentials,
    /// Labels for ownership and filtering.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Free-form information about the consumer.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

/// A consumer's credentials.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Credentials {
    /// API keys, stored only as hashes. Several may be active at once, for rotation.
    #[serde(default)]
    pub api_keys: Vec<ApiKeyCredential>,
    /// JWT identities: a token from `provider` whose consumer claim equals `subject` belongs to
    /// this consumer.
    #[serde(default)]
    pub jwt: Vec<JwtIdentity>,
}

/// One API key of a consumer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApiKeyCredential {
    /// `sha256:` followed by the lowercase hex SHA-256 of the key. `gatectl keys create` makes a
    /// key and prints this value.
    #[schemars(regex(pattern = r"^sha256:[0-9a-f]+$"), length(min = 71, max = 71))]
    pub hash: String,
    /// When the key stops working; never when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// A label to tell keys apart, for example `ci-2026-11`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// A JWT identity of a consumer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JwtIdentity {
    /// The JWT provider that issues the consumer's tokens.
    pub provider: String,
    /// Value of the provider's consumer claim (`sub` or `client_id`) in the consumer's tokens.
    pub subject: String,
}
