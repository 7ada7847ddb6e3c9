//! References to secrets kept outside the spec.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Where a secret's value is read from at run time. Specs hold only these references, never the
/// value, so a spec can be committed, diffed and printed without leaking anything.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SecretRef {
    /// `env:NAME`: the value of an environment variable of the process that reads it.
    Env(String),
    /// `file:PATH`: the contents of a file, relative paths resolved from the working directory.
    File(String),
}

/// Why a secret reference is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid secret reference: write `env:NAME` or `file:PATH`, never the secret itself")]
pub struct SecretRefError;

impl SecretRef {
    /// Reads the secret's value.
    pub fn resolve(&self) -> std::io::Result<Vec<u8>> {
        match self {
            Self::Env(name) => std::env::var_os(name)
                .map(|value| value.into_encoded_bytes())
                .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, format!("environment variable {name} is not set"))),
            Self::File(path) => std::fs::read(path),
        }
    }
}

impl FromStr for SecretRef {
    type Err = SecretRefError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if let Some(name) = text.strip_prefix("env:") {
            let valid = !name.is_empty() && name.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'_');
            return if valid { Ok(Self::Env(name.to_owned())) } else { Err(SecretRefError) };
        }
        if let Some(path) = text.strip_prefix("file:") {
            return if path.is_empty() { Err(SecretRefError) } else { Ok(Self::File(path.to_owned())) };
        }
        Err(SecretRefError)
    }
}

impl fmt::Display for SecretRef {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Env(name) => write!(formatter, "env:{name}"),
            Self::File(path) => write!(formatter, "file:{path}"),
        }
    }
}

impl Serialize for SecretRef {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SecretRef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Pattern that the JSON Schema uses for secret references.
pub const SECRET_REF_PATTERN: &str = r"^(env:[A-Za-z0-9_]+|file:.+)$";

impl JsonSchema for SecretRef {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "SecretRef".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": SECRET_REF_PATTERN,
            "description": "A reference to a secret: `env:NAME` reads an environment variable, `file:PATH` reads a file. Secrets are never written inline.",
            "examples": ["env:JWT_SECRET", "file:/etc/gatectl/tls/api.key"]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_forms() {
        assert_eq!("env:API_SECRET".parse::<SecretRef>().unwrap(), SecretRef::Env("API_SECRET".into()));
        assert_eq!("file:/a/b".parse::<SecretRef>().unwrap(), SecretRef::File("/a/b".into()));
    }

    #[test]
    fn rejects_inline_values() {
        for text in ["hunter2", "env:", "env:A-B", "file:", "vault:x"] {
            assert!(text.parse::<SecretRef>().is_err(), "{text} should be invalid");
        }
    }
}
