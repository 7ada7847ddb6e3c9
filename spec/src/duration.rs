//! Durations written as text (`250ms`, `30s`, `5m`, `1h30m`, `1d`).

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration in the spec. Serialised in its canonical form: the largest units that divide it
/// exactly, so `90s` is written `1m30s` and `3600s` is written `1h`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(pub std::time::Duration);

const UNITS: [(&str, u128); 5] = [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)];

/// Why a duration string is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration `{text}`: write a whole number followed by ms, s, m, h or d, for example `30s` or `1m30s`")]
pub struct DurationError {
    pub text: String,
}

impl Duration {
    pub const fn from_secs(seconds: u64) -> Self {
        Self(std::time::Duration::from_secs(seconds))
    }

    pub const fn from_millis(milliseconds: u64) -> Self {
        Self(std::time::Duration::from_millis(milliseconds))
    }

    pub fn as_std(self) -> std::time::Duration {
        self.0
    }

    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }
}

impl FromStr for Duration {
    type Err = DurationError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = || DurationError { text: text.to_owned() };
        let mut rest = text.trim();
        if rest.is_empty() {
            return Err(error());
        }
        let mut total: u128 = 0;
        let mut last_unit = usize::MAX;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 || digits > 12 {
                return Err(error());
            }
            let amount: u128 = rest[..digits].parse().map_err(|_| error())?;
            rest = &rest[digits..];
            let unit = UNITS
                .iter()
                .enumerate()
                .filter(|(_, (suffix, _))| rest.starts_with(suffix))
                .max_by_key(|(_, (suffix, _))| suffix.len())
                .ok_or_else(error)?;
            // Units must go from large to small, each at most once: `1h30m`, never `30m1h`.
            if last_unit != usize::MAX && unit.0 <= last_unit {
                return Err(error());
            }
            last_unit = unit.0;
            total += amount * unit.1.1;
            rest = &rest[unit.1.0.len()..];
        }
        let millis = u64::try_from(total).map_err(|_| error())?;
        Ok(Self(std::time::Duration::from_millis(millis)))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut millis = self.0.as_millis();
        if millis == 0 {
            return formatter.write_str("0s");
        }
        for (suffix, size) in UNITS {
            if millis >= size {
                write!(formatter, "{}{suffix}", millis / size)?;
                millis %= size;
            }
        }
        Ok(())
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Pattern that the JSON Schema uses for durations.
pub const DURATION_PATTERN: &str = r"^([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?([0-9]+ms)?$";

impl JsonSchema for Duration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": DURATION_PATTERN,
            "minLength": 2,
            "maxLength": 64,
            "description": "A duration: whole numbers with the units d, h, m, s and ms, largest first, for example `250ms`, `30s` or `1h30m`.",
            "examples": ["250ms", "30s", "1h30m"]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_compound_durations() {
        assert_eq!("1h30m".parse::<Duration>().unwrap(), Duration::from_secs(5400));
        assert_eq!("250ms".parse::<Duration>().unwrap(), Duration::from_millis(250));
        assert_eq!("2d".parse::<Duration>().unwrap(), Duration::from_secs(172_800));
    }

    #[test]
    fn rejects_malformed_durations() {
        for text in ["", "5", "s", "1x", "30m1h", "1.5s", "-1s", "1s1s"] {
            assert!(text.parse::<Duration>().is_err(), "{text} should be invalid");
        }
    }

    #[test]
    fn display_is_canonical() {
        assert_eq!("90s".parse::<Duration>().unwrap().to_string(), "1m30s");
        assert_eq!("3600s".parse::<Duration>().unwrap().to_string(), "1h");
        assert_eq!("1500ms".parse::<Duration>().unwrap().to_string(), "1s500ms");
        assert_eq!(Duration::default().to_string(), "0s");
    }
}
