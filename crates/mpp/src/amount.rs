//! Strict decimal amount strings: base units as a `u64`, never a float.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::AmountError;

/// An amount in the currency's smallest unit, as the spec writes it: ASCII digits, no sign, dot,
/// exponent or leading zeros (`"0"` alone is allowed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Amount(u64);

impl Amount {
    /// Zero base units.
    pub const ZERO: Amount = Amount(0);

    /// Wraps a number of base units.
    pub const fn new(base_units: u64) -> Self {
        Self(base_units)
    }

    /// The number of base units.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// Adds, refusing overflow.
    pub fn checked_add(self, other: Amount) -> Option<Amount> {
        self.0.checked_add(other.0).map(Amount)
    }

    /// Subtracts, refusing underflow.
    pub fn checked_sub(self, other: Amount) -> Option<Amount> {
        self.0.checked_sub(other.0).map(Amount)
    }
}

/// Parses a strict amount string.
pub fn parse_amount(s: &str) -> Result<Amount, AmountError> {
    let bytes = s.as_bytes();
    match bytes {
        [] => return Err(AmountError::Empty),
        _ if !bytes.iter().all(u8::is_ascii_digit) => return Err(AmountError::NotDigits),
        [b'0', _, ..] => return Err(AmountError::LeadingZero),
        _ => {}
    }
    // Only digits remain, so the one way `parse` can fail is overflow.
    s.parse::<u64>()
        .map(Amount)
        .map_err(|_| AmountError::Overflow)
}

impl FromStr for Amount {
    type Err = AmountError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_amount(s)
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl From<u64> for Amount {
    fn from(v: u64) -> Self {
        Amount(v)
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        parse_amount(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_digits_and_zero() {
        assert_eq!(parse_amount("0"), Ok(Amount(0)));
        assert_eq!(parse_amount("1000"), Ok(Amount(1000)));
        assert_eq!(parse_amount("18446744073709551615"), Ok(Amount(u64::MAX)));
    }

    #[test]
    fn refuses_everything_that_is_not_strict() {
        assert_eq!(parse_amount(""), Err(AmountError::Empty));
        assert_eq!(parse_amount("01"), Err(AmountError::LeadingZero));
        assert_eq!(parse_amount("00"), Err(AmountError::LeadingZero));
        for s in ["+1", "-1", "1.0", "1e3", " 1", "1 ", "0x10", "１"] {
            assert_eq!(parse_amount(s), Err(AmountError::NotDigits), "{s:?}");
        }
        assert_eq!(
            parse_amount("18446744073709551616"),
            Err(AmountError::Overflow)
        );
    }

    #[test]
    fn serde_uses_strings_and_refuses_numbers() {
        assert_eq!(serde_json::to_string(&Amount(5)).unwrap(), "\"5\"");
        assert_eq!(
            serde_json::from_str::<Amount>("\"42\"").unwrap(),
            Amount(42)
        );
        assert!(serde_json::from_str::<Amount>("42").is_err());
        assert!(serde_json::from_str::<Amount>("\"4.2\"").is_err());
    }
}
