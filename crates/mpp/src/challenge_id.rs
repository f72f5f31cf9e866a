//! The HMAC-SHA256 challenge id (core §5.1.3.1): seven positional slots joined by `|`.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::encoding::b64url_encode;
use crate::error::ChallengeError;

type HmacSha256 = Hmac<Sha256>;

/// The seven bound slots, as they appear on the wire. `description` is deliberately absent: it is
/// display text and the spec keeps it out of the binding.
#[derive(Debug, Clone, Copy)]
pub struct IdInput<'a> {
    /// Slot 0.
    pub realm: &'a str,
    /// Slot 1.
    pub method: &'a str,
    /// Slot 2.
    pub intent: &'a str,
    /// Slot 3: base64url(JCS(request)) exactly as sent.
    pub request: &'a str,
    /// Slot 4, empty when absent.
    pub expires: Option<&'a str>,
    /// Slot 5, empty when absent.
    pub digest: Option<&'a str>,
    /// Slot 6: base64url(JCS(opaque)) as sent, empty when absent.
    pub opaque: Option<&'a str>,
    /// The header the credential travels in, when it is not `Authorization` (newer peers bind
    /// it as an extra slot before `opaque`; absent or `Authorization` adds no slot, so ids of
    /// ordinary challenges are unchanged).
    pub header: Option<&'a str>,
}

/// Computes the id under any key. Conformance vectors use short keys, so this does not enforce a
/// length; servers hold a [`ChallengeSecret`], which does.
pub fn compute_challenge_id(key: &[u8], input: &IdInput<'_>) -> String {
    b64url_encode(mac(key, input))
}

fn mac(key: &[u8], input: &IdInput<'_>) -> [u8; 32] {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail.
    let Ok(mut m) = HmacSha256::new_from_slice(key) else {
        unreachable!("HMAC takes keys of any length")
    };
    let header = input
        .header
        .filter(|h| !h.eq_ignore_ascii_case("authorization"));
    let slots = [
        Some(input.realm),
        Some(input.method),
        Some(input.intent),
        Some(input.request),
        Some(input.expires.unwrap_or("")),
        Some(input.digest.unwrap_or("")),
        header,
        Some(input.opaque.unwrap_or("")),
    ];
    for (i, slot) in slots.iter().flatten().enumerate() {
        if i > 0 {
            m.update(b"|");
        }
        m.update(slot.as_bytes());
    }
    m.finalize().into_bytes().into()
}

/// The server's challenge-binding secret (≥ 32 bytes). `Debug` never shows it.
#[derive(Clone)]
pub struct ChallengeSecret(Vec<u8>);

impl ChallengeSecret {
    /// The shortest secret accepted: 256 bits, the HMAC-SHA256 output size.
    pub const MIN_LEN: usize = 32;

    /// Wraps a secret, refusing one shorter than 32 bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Self, ChallengeError> {
        let bytes = bytes.into();
        if bytes.len() < Self::MIN_LEN {
            return Err(ChallengeError::SecretTooShort(bytes.len()));
        }
        Ok(Self(bytes))
    }

    /// The id of a challenge with these slots.
    pub fn id_for(&self, input: &IdInput<'_>) -> String {
        compute_challenge_id(&self.0, input)
    }

    /// Constant-time check that `id` is this secret's id for `input`.
    pub fn matches(&self, id: &str, input: &IdInput<'_>) -> bool {
        let expected = self.id_for(input);
        // `ct_eq` on slices of different lengths is false without looking at the contents.
        bool::from(expected.as_bytes().ct_eq(id.as_bytes()))
    }
}

impl fmt::Debug for ChallengeSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ChallengeSecret(<redacted>)")
    }
}

/// The current secret plus earlier ones still honoured for challenges issued before a rotation
/// (the spec asks servers to keep verifying those until they expire).
#[derive(Debug, Clone)]
pub struct ChallengeKeyring {
    current: ChallengeSecret,
    previous: Vec<ChallengeSecret>,
}

impl ChallengeKeyring {
    /// A keyring with one secret.
    pub fn new(current: ChallengeSecret) -> Self {
        Self {
            current,
            previous: Vec::new(),
        }
    }

    /// Adds a retired secret that still verifies.
    pub fn with_previous(mut self, secret: ChallengeSecret) -> Self {
        self.previous.push(secret);
        self
    }

    /// The secret new challenges are issued under.
    pub fn current(&self) -> &ChallengeSecret {
        &self.current
    }

    /// Whether any secret in the ring produced `id` for `input`. Every secret is tried, so the
    /// time taken does not reveal which one matched.
    pub fn matches(&self, id: &str, input: &IdInput<'_>) -> bool {
        let mut ok = self.current.matches(id, input);
        for s in &self.previous {
            ok |= s.matches(id, input);
        }
        ok
    }
}

impl From<ChallengeSecret> for ChallengeKeyring {
    fn from(s: ChallengeSecret) -> Self {
        Self::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQ: &str =
        "eyJhbW91bnQiOiIxMDAwIiwiY3VycmVuY3kiOiJVU0QiLCJyZWNpcGllbnQiOiJhY2N0XzEyMyJ9";

    fn input<'a>(expires: Option<&'a str>, opaque: Option<&'a str>) -> IdInput<'a> {
        IdInput {
            realm: "api.example.com",
            method: "example",
            intent: "charge",
            request: REQ,
            expires,
            digest: None,
            opaque,
            header: None,
        }
    }

    #[test]
    fn derived_vector_with_expires() {
        let id = compute_challenge_id(b"my-secret", &input(Some("2025-01-15T12:05:00Z"), None));
        assert_eq!(id, "JNJWwZnCRjj7TkkgFHsbc-qHGfTlUmaA6ab8e0TEUMQ");
    }

    #[test]
    fn derived_vector_with_opaque() {
        let id = compute_challenge_id(b"my-secret", &input(None, Some("eyJwaSI6InBpXzNhYmMifQ")));
        assert_eq!(id, "5blc4AjMlfhIi-H6LzVYngL_yPboecSx1qVJthq94l8");
    }

    #[test]
    fn slots_are_positional() {
        let a = input(Some("x"), None);
        let b = IdInput {
            expires: None,
            digest: Some("x"),
            ..a
        };
        assert_ne!(
            compute_challenge_id(b"k", &a),
            compute_challenge_id(b"k", &b)
        );
    }

    #[test]
    fn short_secret_is_refused_and_debug_is_redacted() {
        assert_eq!(
            ChallengeSecret::new(vec![0; 31]).err(),
            Some(ChallengeError::SecretTooShort(31))
        );
        let s = ChallengeSecret::new(vec![7; 32]).unwrap();
        assert_eq!(format!("{s:?}"), "ChallengeSecret(<redacted>)");
    }

    #[test]
    fn keyring_honours_previous_secrets() {
        let old = ChallengeSecret::new(vec![1; 32]).unwrap();
        let new = ChallengeSecret::new(vec![2; 32]).unwrap();
        let i = input(None, None);
        let old_id = old.id_for(&i);
        assert!(!ChallengeKeyring::new(new.clone()).matches(&old_id, &i));
        assert!(
            ChallengeKeyring::new(new)
                .with_previous(old)
                .matches(&old_id, &i)
        );
    }
}
