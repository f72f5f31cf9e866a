//! Payment method and intent identifiers, validated once.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! ident_type {
    ($(#[$doc:meta])* $name:ident, $check:expr, $err:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Validates and wraps an identifier.
            pub fn new(s: impl Into<String>) -> Option<Self> {
                let s = s.into();
                let check: fn(&str) -> bool = $check;
                check(&s).then_some(Self(s))
            }

            /// The identifier text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::new(s).ok_or_else(|| serde::de::Error::custom($err))
            }
        }
    };
}

ident_type!(
    /// A payment method identifier: `1*LOWERALPHA` (`solana`, `tempo`).
    MethodName,
    |s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase()),
    "payment method must be lowercase ASCII letters"
);

ident_type!(
    /// A payment intent identifier: `1*( ALPHA / DIGIT / "-" )` (`charge`, `session`).
    IntentName,
    |s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'),
    "payment intent must be letters, digits or '-'"
);

impl MethodName {
    /// `solana`.
    pub fn solana() -> Self {
        Self("solana".into())
    }
}

impl IntentName {
    /// `charge`.
    pub fn charge() -> Self {
        Self("charge".into())
    }
    /// `session`.
    pub fn session() -> Self {
        Self("session".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_is_lowercase_letters_only() {
        assert!(MethodName::new("solana").is_some());
        for bad in ["", "Solana", "sol-ana", "sol2", "sol ana"] {
            assert!(MethodName::new(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn intent_allows_digits_and_dashes() {
        assert!(IntentName::new("charge-v2").is_some());
        assert!(IntentName::new("Charge").is_some());
        assert!(IntentName::new("").is_none());
        assert!(IntentName::new("a_b").is_none());
    }
}
