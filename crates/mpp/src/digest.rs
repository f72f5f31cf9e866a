//! RFC 9530 content digests (`sha-256=:…:`), used to bind a challenge to a request body.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest as _, Sha256, Sha512};
use subtle::ConstantTimeEq;

/// A digest algorithm we compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestAlgorithm {
    /// `sha-256`
    Sha256,
    /// `sha-512`
    Sha512,
}

impl DigestAlgorithm {
    fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "sha-256",
            Self::Sha512 => "sha-512",
        }
    }

    fn from_name(s: &str) -> Option<Self> {
        match s {
            "sha-256" => Some(Self::Sha256),
            "sha-512" => Some(Self::Sha512),
            _ => None,
        }
    }

    fn hash(self, body: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha256 => Sha256::digest(body).to_vec(),
            Self::Sha512 => Sha512::digest(body).to_vec(),
        }
    }
}

/// A parsed `Content-Digest` value: the entries whose algorithm we know (others are ignored, as
/// RFC 9530 §2 asks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentDigest {
    entries: Vec<(DigestAlgorithm, Vec<u8>)>,
}

/// The digest value is malformed or names no algorithm we compute.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid or unsupported content digest")]
pub struct DigestError;

impl ContentDigest {
    /// The SHA-256 digest of `body`.
    pub fn sha256(body: &[u8]) -> Self {
        Self {
            entries: vec![(DigestAlgorithm::Sha256, DigestAlgorithm::Sha256.hash(body))],
        }
    }

    /// Parses an RFC 8941 dictionary of byte sequences, e.g. `sha-256=:X48E9q…=:`.
    pub fn parse(s: &str) -> Result<Self, DigestError> {
        let mut entries = Vec::new();
        for member in s.split(',') {
            let member = member.trim_matches([' ', '\t']);
            let (key, val) = member.split_once('=').ok_or(DigestError)?;
            let inner = val
                .strip_prefix(':')
                .and_then(|v| v.strip_suffix(':'))
                .ok_or(DigestError)?;
            let bytes = STANDARD.decode(inner).map_err(|_| DigestError)?;
            if let Some(alg) = DigestAlgorithm::from_name(key) {
                entries.push((alg, bytes));
            }
        }
        if entries.is_empty() {
            return Err(DigestError);
        }
        Ok(Self { entries })
    }

    /// Whether every known entry matches `body`.
    pub fn matches(&self, body: &[u8]) -> bool {
        !self.entries.is_empty()
            && self
                .entries
                .iter()
                .all(|(alg, want)| bool::from(alg.hash(body).ct_eq(want)))
    }
}

impl fmt::Display for ContentDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (alg, bytes)) in self.entries.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}=:{}:", alg.name(), STANDARD.encode(bytes))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc9530_example() {
        // RFC 9530 §B.1: the body {"hello": "world"} followed by a newline.
        let body = b"{\"hello\": \"world\"}\n";
        let d = ContentDigest::sha256(body);
        assert_eq!(
            d.to_string(),
            "sha-256=:RK/0qy18MlBSVnWgjwz6lZEWjP/lF5HF9bvEF8FabDg=:"
        );
        assert!(ContentDigest::parse(&d.to_string()).unwrap().matches(body));
    }

    #[test]
    fn unknown_algorithms_are_ignored_but_one_must_be_known() {
        let d = ContentDigest::sha256(b"x").to_string();
        let mixed = format!("md5=:AAAA:, {d}");
        assert!(ContentDigest::parse(&mixed).unwrap().matches(b"x"));
        assert_eq!(ContentDigest::parse("md5=:AAAA:"), Err(DigestError));
        assert_eq!(ContentDigest::parse("sha-256=abc"), Err(DigestError));
    }

    #[test]
    fn mismatching_body_fails() {
        let d = ContentDigest::parse(&ContentDigest::sha256(b"a").to_string()).unwrap();
        assert!(!d.matches(b"b"));
    }
}
