//! Durations written as text (`250ms`, `30s`, `5m`, `1h30m`, `1d`).

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration in the spec. Serialised in its canonical form: the largest units that divide it
/// exactly, so `90s` is written `1m30s` and `3600s` is written `1h`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(pub std::time::Duration);

/// Each unit with its length in milliseconds and the most digits its number may have. The digit
/// limits keep nearly every sum within [`MAX_MILLIS`], and the parser rejects the rest.
/// [`DURATION_PATTERN`] states the same limits.
const UNITS: [(&str, u128, usize); 5] = [("d", 86_400_000, 9), ("h", 3_600_000, 10), ("m", 60_000, 11), ("s", 1_000, 12), ("ms", 1, 12)];

/// The maximum duration: just under a thousand million days. Its canonical form has at most
/// nine digits of days, so every duration that parses is written back in a form that parses.
const MAX_MILLIS: u128 = 999_999_999 * 86_400_000 + 86_399_999;

/// Why a duration string is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("invalid duration `{0}`: write a whole number followed by ms, s, m, h or d, for example `30s` or `1m30s`")]
    Syntax(String),
    #[error("invalid duration `{0}`: {TOO_LARGE}")]
    TooLarge(String),
}

/// What is wrong with a duration whose number has too many digits or whose sum is too large.
pub const TOO_LARGE: &str =
    "too large: at most 9 digits before d, 10 before h, 11 before m and 12 before s or ms, and under 1000000000d in all";

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
        let syntax = || DurationError::Syntax(text.to_owned());
        let too_large = || DurationError::TooLarge(text.to_owned());
        let mut rest = text.trim();
        if rest.is_empty() {
            return Err(syntax());
        }
        let mut total: u128 = 0;
        let mut last_unit = usize::MAX;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(syntax());
            }
            let number = &rest[..digits];
            rest = &rest[digits..];
            let (index, &(suffix, size, max_digits)) = UNITS
                .iter()
                .enumerate()
                .filter(|(_, (suffix, _, _))| rest.starts_with(suffix))
                .max_by_key(|(_, (suffix, _, _))| suffix.len())
                .ok_or_else(syntax)?;
            // Units must go from large to small, each at most once: `1h30m`, never `30m1h`.
            if last_unit != usize::MAX && index <= last_unit {
                return Err(syntax());
            }
            last_unit = index;
            if number.len() > max_digits {
                return Err(too_large());
            }
            let amount: u128 = number.parse().map_err(|_| too_large())?;
            total += amount * size;
            rest = &rest[suffix.len()..];
        }
        if total > MAX_MILLIS {
            return Err(too_large());
        }
        let millis = u64::try_from(total).map_err(|_| too_large())?;
        Ok(Self(std::time::Duration::from_millis(millis)))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut millis = self.0.as_millis();
        if millis == 0 {
            return formatter.write_str("0s");
        }
        for (suffix, size, _) in UNITS {
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

/// Pattern that the JSON Schema uses for durations, with the digit limits of [`UNITS`].
pub const DURATION_PATTERN: &str = r"^([0-9]{1,9}d)?([0-9]{1,10}h)?([0-9]{1,11}m)?([0-9]{1,12}s)?([0-9]{1,12}ms)?$";

impl JsonSchema for Duration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": DURATION_PATTERN,
            "minLength": 1,
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
    fn oversized_numbers_are_too_large() {
        for (suffix, _, max_digits) in UNITS {
            let longest = format!("{}{suffix}", "9".repeat(max_digits));
            assert!(longest.parse::<Duration>().is_ok(), "{longest}");
            let longer = format!("{}{suffix}", "9".repeat(max_digits + 1));
            assert_eq!(longer.parse::<Duration>(), Err(DurationError::TooLarge(longer.clone())));
        }
        let sum = "999999999d9999999999h".to_owned();
        assert_eq!(sum.parse::<Duration>(), Err(DurationError::TooLarge(sum.clone())));
    }

    #[test]
    fn longest_durations_round_trip() {
        for text in ["999999999d23h59m59s999ms", "999999999d", "9999999999h", "99999999999m", "999999999999s", "999999999999ms"] {
            let duration: Duration = text.parse().unwrap();
            assert_eq!(duration.to_string().parse::<Duration>(), Ok(duration), "{text}");
        }
        assert!("999999999d24h".parse::<Duration>().is_err());
    }

    #[test]
    fn display_is_canonical() {
        assert_eq!("90s".parse::<Duration>().unwrap().to_string(), "1m30s");
        assert_eq!("3600s".parse::<Duration>().unwrap().to_string(), "1h");
        assert_eq!("1500ms".parse::<Duration>().unwrap().to_string(), "1s500ms");
        assert_eq!(Duration::default().to_string(), "0s");
    }
}
