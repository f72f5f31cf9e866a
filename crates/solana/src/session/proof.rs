//! The session bearer proof (operator-signed vouchers): a payer signature over a JCS object
//! binding the channel to the session challenge. It authorises access, never payment.

use serde::{Deserialize, Serialize};
use serde_json::json;
use solana_address::Address;
use solana_keypair::Keypair;
use solana_signature::Signature;
use solana_signer::Signer;

use super::SessionError;

/// The proof's domain separator.
pub const BEARER_PROOF_DOMAIN: &str = "mpp-session-auth-v1";

/// The `authentication` object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BearerProof {
    /// `"proof"`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The session challenge signed as `sessionChallengeId`.
    pub challenge_id: String,
    /// The payer that signed.
    #[serde(with = "crate::serde_b58::address")]
    pub payer: Address,
    /// Base58 Ed25519 signature.
    pub signature: String,
}

/// The signed bytes: UTF-8 of the JCS object.
fn message(channel_id: &Address, payer: &Address, challenge_id: &str) -> Vec<u8> {
    let v = json!({
        "channelId": channel_id.to_string(),
        "domain": BEARER_PROOF_DOMAIN,
        "payer": payer.to_string(),
        "sessionChallengeId": challenge_id,
    });
    // Every value is a string, so JCS cannot fail; an empty message would never verify.
    mpp::jcs(&v).map(String::into_bytes).unwrap_or_default()
}

impl BearerProof {
    /// Signs a proof for `channel_id` under `challenge_id` with the payer's key.
    pub fn sign(payer: &Keypair, channel_id: &Address, challenge_id: &str) -> Self {
        let sig = payer.sign_message(&message(channel_id, &payer.pubkey(), challenge_id));
        Self {
            kind: "proof".into(),
            challenge_id: challenge_id.into(),
            payer: payer.pubkey(),
            signature: sig.to_string(),
        }
    }

    /// Verifies the proof for `channel_id`.
    pub fn verify(&self, channel_id: &Address) -> Result<(), SessionError> {
        if self.kind != "proof" {
            return Err(SessionError::Invalid("authentication type (must be proof)"));
        }
        let bytes = bs58::decode(&self.signature)
            .into_vec()
            .map_err(|_| SessionError::Invalid("proof signature"))?;
        let arr: [u8; 64] = bytes
            .try_into()
            .map_err(|_| SessionError::Invalid("proof signature"))?;
        let ok = Signature::from(arr).verify(
            self.payer.as_ref(),
            &message(channel_id, &self.payer, &self.challenge_id),
        );
        if ok {
            Ok(())
        } else {
            Err(SessionError::BadSignature("session proof"))
        }
    }
}
