//! What every signer of `solana`/`session` challenges shares (the agent's own
//! [`crate::SolanaSessionClient`] and the custodial [`crate::OperatorSigner`]): which
//! challenges are sessions, what a request costs, which steps need a follow-up request, and
//! a voucher's idempotency key.

use mpp::{Challenge, Credential, MethodError, MethodName, Quote};
use mppsol_solana::network::Network;
use mppsol_solana::session::{SessionPayload, SessionRequest};
use serde_json::Value;

/// The challenge's session request.
pub(crate) fn request(challenge: &Challenge) -> Result<SessionRequest, MethodError> {
    SessionRequest::from_json(challenge.request_value())
        .map_err(|e| MethodError::verification(format!("unusable session request: {e}")))
}

/// Whether `challenge` is a `solana`/`session` challenge on `network` (shared by every signer
/// that answers session challenges).
pub fn supports_session(challenge: &Challenge, network: Network) -> bool {
    challenge.method == MethodName::solana()
        && challenge.intent.as_str() == "session"
        && request(challenge).is_ok_and(|r| r.method_details.network == network)
}

/// An open or a top-up answers with a receipt only: the request is sent again for the content.
pub fn session_needs_followup(credential: &Credential) -> bool {
    matches!(
        credential.payload.get("action").and_then(Value::as_str),
        Some("open" | "topUp")
    )
}

/// A voucher's idempotency key: its channel and cumulative amount.
pub fn session_idempotency_key(credential: &Credential) -> Option<String> {
    match SessionPayload::from_json(&Value::Object(credential.payload.clone())).ok()? {
        SessionPayload::Voucher(v) => Some(format!(
            "{}:{}",
            v.channel_id, v.voucher.voucher.cumulative_amount
        )),
        _ => None,
    }
}

/// What one request of a `solana`/`session` challenge costs, read without signing.
pub fn session_quote(challenge: &Challenge) -> Result<Quote, MethodError> {
    let req = request(challenge)?;
    Ok(Quote {
        amount: req.amount,
        currency: req.currency.clone(),
        recipient: Some(req.recipient.to_string()),
        network: Some(req.method_details.network.as_str().to_owned()),
    })
}
