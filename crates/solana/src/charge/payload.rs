//! The credential payload of `solana`/`charge`: a signed transaction (pull) or the signature of
//! a landed one (push).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use solana_signature::Signature;
use solana_transaction::versioned::VersionedTransaction;

use crate::error::VerifyError;

/// The largest serialized transaction Solana accepts.
pub const MAX_TRANSACTION_BYTES: usize = 1232;

/// `payload` of a charge credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ChargePayload {
    /// Pull: the client-signed transaction, standard base64; the server broadcasts it.
    Transaction {
        /// Base64 of the serialized transaction.
        transaction: String,
    },
    /// Push: the client broadcast it; base58 signature.
    Signature {
        /// Base58 transaction signature.
        signature: String,
    },
}

impl ChargePayload {
    /// A pull payload for `tx`.
    pub fn from_transaction(tx: &VersionedTransaction) -> Result<Self, VerifyError> {
        let bytes = bincode::serialize(tx).map_err(|_| VerifyError::MalformedTransaction)?;
        Ok(ChargePayload::Transaction {
            transaction: STANDARD.encode(bytes),
        })
    }

    /// A push payload for a landed signature.
    pub fn from_signature(sig: &Signature) -> Self {
        ChargePayload::Signature {
            signature: sig.to_string(),
        }
    }

    /// Reads a payload object; an unknown `type` (e.g. `bundle`) is refused.
    pub fn from_json(v: &serde_json::Map<String, serde_json::Value>) -> Result<Self, VerifyError> {
        serde_json::from_value(serde_json::Value::Object(v.clone()))
            .map_err(|e| VerifyError::MalformedPayload(e.to_string()))
    }

    /// The payload as a JSON object.
    pub fn to_json(&self) -> serde_json::Map<String, serde_json::Value> {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        }
    }
}

/// Decodes a pull payload's transaction, refusing oversize or trailing bytes.
pub fn decode_transaction(b64: &str) -> Result<VersionedTransaction, VerifyError> {
    // 1232 bytes of transaction are at most 1644 base64 characters.
    if b64.len() > MAX_TRANSACTION_BYTES.div_ceil(3) * 4 {
        return Err(VerifyError::TransactionTooLarge);
    }
    let bytes = STANDARD
        .decode(b64)
        .map_err(|_| VerifyError::MalformedTransaction)?;
    if bytes.len() > MAX_TRANSACTION_BYTES {
        return Err(VerifyError::TransactionTooLarge);
    }
    let tx: VersionedTransaction =
        bincode::deserialize(&bytes).map_err(|_| VerifyError::MalformedTransaction)?;
    // bincode ignores trailing bytes; a second encoding must reproduce the input exactly.
    if bincode::serialize(&tx).ok().as_deref() != Some(&bytes[..]) {
        return Err(VerifyError::MalformedTransaction);
    }
    Ok(tx)
}

/// Decodes a push payload's signature.
pub fn decode_signature(b58: &str) -> Result<Signature, VerifyError> {
    let bytes: [u8; 64] = bs58::decode(b58)
        .into_vec()
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or(VerifyError::MalformedSignature)?;
    Ok(Signature::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn payload_types_follow_the_spec() {
        let p = ChargePayload::from_json(
            json!({"type": "signature", "signature": "abc"})
                .as_object()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            p,
            ChargePayload::Signature {
                signature: "abc".into()
            }
        );
        assert!(matches!(
            ChargePayload::from_json(
                json!({"type": "bundle", "transactions": []})
                    .as_object()
                    .unwrap()
            ),
            Err(VerifyError::MalformedPayload(_))
        ));
    }

    #[test]
    fn garbage_transactions_are_refused_not_panicked_on() {
        assert_eq!(
            decode_transaction("!!"),
            Err(VerifyError::MalformedTransaction)
        );
        assert_eq!(
            decode_transaction("AAAA"),
            Err(VerifyError::MalformedTransaction)
        );
        let big = STANDARD.encode(vec![1u8; 1300]);
        assert_eq!(
            decode_transaction(&big),
            Err(VerifyError::TransactionTooLarge)
        );
        assert_eq!(
            decode_signature("xyz"),
            Err(VerifyError::MalformedSignature)
        );
    }
}
