//! Verifiable receipts: the server signs the canonical receipt with Ed25519 and carries the
//! signature in one extension field, `serverSignature`, that other SDKs ignore. Anyone holding
//! the server's public key (published in its discovery document) can check a receipt offline.
//!
//! Signed message: `"mppsol-receipt-v1\n"` followed by the JCS form of the receipt object
//! without `serverSignature`. JCS makes the signature independent of field order and of which
//! SDK re-serialised the receipt; the prefix keeps the key from signing anything else usefully.

use std::fmt;

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::encoding::{b64url_decode, b64url_encode, jcs};
use crate::receipt::Receipt;

/// The receipt field that carries the signature.
pub const SIGNATURE_FIELD: &str = "serverSignature";
/// Domain separation for the signed bytes.
const DOMAIN: &[u8] = b"mppsol-receipt-v1\n";

/// The signature object inside a receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerSignature {
    /// Always `ed25519`.
    pub alg: String,
    /// The signer's public key, base58 (a Solana address).
    pub key: String,
    /// The 64-byte signature, base64url.
    pub sig: String,
}

/// Why a receipt signature does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReceiptSignatureError {
    /// The receipt carries no `serverSignature`.
    #[error("receipt is not signed")]
    Unsigned,
    /// The field is not a well-formed signature object.
    #[error("malformed receipt signature")]
    Malformed,
    /// Signed by a key other than the one expected.
    #[error("receipt signed by an unexpected key")]
    WrongKey,
    /// The signature does not match the receipt.
    #[error("receipt signature is invalid")]
    Invalid,
}

/// A server's receipt-signing key. `Debug` shows only the public key.
#[derive(Clone)]
pub struct ReceiptSigner(SigningKey);

impl ReceiptSigner {
    /// Wraps a 32-byte Ed25519 seed.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self(SigningKey::from_bytes(&seed))
    }

    /// The public key, base58.
    pub fn public_key(&self) -> ReceiptKey {
        ReceiptKey(self.0.verifying_key())
    }

    /// Adds (or replaces) the receipt's signature.
    pub fn sign(&self, receipt: &mut Receipt) {
        receipt.extra.remove(SIGNATURE_FIELD);
        let sig = self.0.sign(&message(receipt));
        let field = ServerSignature {
            alg: "ed25519".into(),
            key: self.public_key().to_string(),
            sig: b64url_encode(sig.to_bytes()),
        };
        receipt.extra.insert(
            SIGNATURE_FIELD.into(),
            serde_json::to_value(field).unwrap_or(Value::Null),
        );
    }
}

impl fmt::Debug for ReceiptSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReceiptSigner({})", self.public_key())
    }
}

/// A receipt-verifying public key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiptKey(VerifyingKey);

impl ReceiptKey {
    /// Parses a base58 Ed25519 public key.
    pub fn parse(s: &str) -> Option<Self> {
        let bytes: [u8; 32] = bs58::decode(s).into_vec().ok()?.try_into().ok()?;
        VerifyingKey::from_bytes(&bytes).ok().map(Self)
    }

    /// The raw 32 bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// Checks that `receipt` was signed by this key.
    pub fn verify(&self, receipt: &Receipt) -> Result<(), ReceiptSignatureError> {
        let field = receipt
            .extra
            .get(SIGNATURE_FIELD)
            .ok_or(ReceiptSignatureError::Unsigned)?;
        let s: ServerSignature =
            serde_json::from_value(field.clone()).map_err(|_| ReceiptSignatureError::Malformed)?;
        if s.alg != "ed25519" {
            return Err(ReceiptSignatureError::Malformed);
        }
        if ReceiptKey::parse(&s.key) != Some(*self) {
            return Err(ReceiptSignatureError::WrongKey);
        }
        let raw: [u8; 64] = b64url_decode(&s.sig)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(ReceiptSignatureError::Malformed)?;
        let mut unsigned = receipt.clone();
        unsigned.extra.remove(SIGNATURE_FIELD);
        self.0
            .verify_strict(&message(&unsigned), &Signature::from_bytes(&raw))
            .map_err(|_| ReceiptSignatureError::Invalid)
    }
}

impl fmt::Display for ReceiptKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&bs58::encode(self.0.to_bytes()).into_string())
    }
}

fn message(receipt: &Receipt) -> Vec<u8> {
    let mut m = DOMAIN.to_vec();
    // A receipt holds only JSON values that came from JSON, so JCS cannot fail; an empty body
    // would simply never verify.
    m.extend_from_slice(jcs(&receipt.to_json()).unwrap_or_default().as_bytes());
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Timestamp;
    use crate::header::payment_receipt::{format_payment_receipt, parse_payment_receipt};
    use crate::names::MethodName;

    fn receipt() -> Receipt {
        Receipt::success(
            MethodName::solana(),
            Timestamp::parse("2025-01-15T12:00:00Z").unwrap(),
            "5j7s…sig",
        )
        .with_field("challengeId", "abc")
    }

    #[test]
    fn signed_receipt_verifies_after_a_round_trip() {
        let signer = ReceiptSigner::from_seed([9; 32]);
        let mut r = receipt();
        signer.sign(&mut r);
        let wire = format_payment_receipt(&r);
        let back = parse_payment_receipt(&wire).unwrap();
        assert_eq!(signer.public_key().verify(&back), Ok(()));
        let key = ReceiptKey::parse(&signer.public_key().to_string()).unwrap();
        assert_eq!(key.verify(&back), Ok(()));
    }

    #[test]
    fn any_change_breaks_the_signature() {
        let signer = ReceiptSigner::from_seed([9; 32]);
        let mut r = receipt();
        signer.sign(&mut r);
        let mut changed = r.clone();
        changed.reference = "other".into();
        assert_eq!(
            signer.public_key().verify(&changed),
            Err(ReceiptSignatureError::Invalid)
        );
        let mut extra = r.clone();
        extra.extra.insert("amount".into(), "1".into());
        assert_eq!(
            signer.public_key().verify(&extra),
            Err(ReceiptSignatureError::Invalid)
        );
    }

    #[test]
    fn wrong_key_and_unsigned_are_distinct_errors() {
        let mut r = receipt();
        assert_eq!(
            ReceiptSigner::from_seed([1; 32]).public_key().verify(&r),
            Err(ReceiptSignatureError::Unsigned)
        );
        ReceiptSigner::from_seed([9; 32]).sign(&mut r);
        assert_eq!(
            ReceiptSigner::from_seed([1; 32]).public_key().verify(&r),
            Err(ReceiptSignatureError::WrongKey)
        );
    }

    #[test]
    fn debug_hides_the_secret() {
        let s = ReceiptSigner::from_seed([9; 32]);
        assert_eq!(
            format!("{s:?}"),
            format!("ReceiptSigner({})", s.public_key())
        );
    }
}
