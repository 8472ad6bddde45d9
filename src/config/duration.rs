//! Durations in `ferroftp.toml`: whole seconds (`idle_timeout = 300`, the SPEC's form) or a
//! number with a unit (`"90s"`, `"5m"`, `"2h"`, `"1d"`), as operators write them elsewhere.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};

/// What the error says is expected.
pub const EXPECTED: &str =
    "a whole number of seconds or a duration such as \"90s\", \"5m\", \"2h\"";

/// A duration key's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seconds(pub u64);

impl Seconds {
    pub fn duration(self) -> Duration {
        Duration::from_secs(self.0)
    }
}

/// `"300"`, `"90s"`, `"5m"`, `"2h"`, `"1d"` (spaces allowed before the unit).
pub fn parse(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let scale = match unit.trim() {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    number.checked_mul(scale).filter(|&secs| secs <= MAX_SECS)
}

/// Ten years: longer is a typo, and would overflow the clock arithmetic of blocks and timers.
pub const MAX_SECS: u64 = 10 * 365 * 86_400;

impl<'de> serde::Deserialize<'de> for Seconds {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Seconds, D::Error> {
        struct SecondsVisitor;
        impl Visitor<'_> for SecondsVisitor {
            type Value = Seconds;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(EXPECTED)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Seconds, E> {
                if v > MAX_SECS {
                    return Err(E::invalid_value(de::Unexpected::Unsigned(v), &self));
                }
                Ok(Seconds(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Seconds, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::invalid_value(de::Unexpected::Signed(v), &self)),
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Seconds, E> {
                parse(v)
                    .map(Seconds)
                    .ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &self))
            }
        }
        d.deserialize_any(SecondsVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_and_units() {
        for (text, secs) in [
            ("300", 300),
            ("90s", 90),
            ("5m", 300),
            ("2h", 7200),
            ("1d", 86_400),
            (" 3 m ", 180),
        ] {
            assert_eq!(parse(text), Some(secs), "{text:?}");
        }
        for bad in [
            "",
            "m",
            "5x",
            "-5m",
            "1.5h",
            "99999999999999999999d",
            "106751991167300d",
            "3651d",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }
}
