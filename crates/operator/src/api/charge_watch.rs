//! What the settlement worker needs to see a custodial charge land by itself (a
//! `confirm_charge` job): the transaction as the account signed it, the account's own signature
//! in it, and the address whose history will show it — the challenge's reference key, which
//! our charge client puts in the transfer (else the paying address).

use mpp::Challenge;
use mppsol_solana::charge::payload::{ChargePayload, decode_transaction};
use mppsol_solana::charge::request::ChargeRequest;
use mppsol_store::operator::{Account, SignedAttempt};
use solana_address::Address;
use solana_signature::Signature;

use crate::AppState;
use crate::auth::Caller;

/// Records the watch on the charge's job. A failure is logged, not returned: the credential is
/// signed already, and the agent's receipt still settles the charge.
pub(super) async fn record_charge_watch(
    state: &AppState,
    caller: &Caller,
    account: &Account,
    transfer_id: &str,
    challenge: &Challenge,
    payload: &serde_json::Map<String, serde_json::Value>,
) {
    // A pushed payment (`signature`) is already on the transfer as its landed id.
    let Ok(ChargePayload::Transaction { transaction }) = ChargePayload::from_json(payload) else {
        return;
    };
    let Ok(tx) = decode_transaction(&transaction) else {
        tracing::warn!(transfer = %transfer_id, "the signed charge does not decode");
        return;
    };
    let payer: Option<Address> = account.address.parse().ok();
    let keys = tx.message.static_account_keys();
    // The account's slot; else the first signature present (the fee payer's is empty when
    // sponsored).
    let own = keys
        .iter()
        .position(|k| Some(*k) == payer)
        .and_then(|i| tx.signatures.get(i))
        .or_else(|| tx.signatures.iter().find(|s| **s != Signature::default()))
        .copied();
    let Some(own) = own.filter(|s| *s != Signature::default()) else {
        tracing::warn!(transfer = %transfer_id, "the signed charge carries no signature");
        return;
    };
    let reference = ChargeRequest::from_json(challenge.request_value())
        .ok()
        .and_then(|r| r.method_details.reference);
    let watch = reference.map_or_else(|| account.address.clone(), |r| r.to_string());
    let (Ok(signed_tx), Ok(latest)) = (
        bincode::serialize(&tx),
        state.ledger().latest_blockhash().await,
    ) else {
        tracing::warn!(transfer = %transfer_id, "could not record the charge's watch");
        return;
    };
    let attempt = SignedAttempt {
        signed_tx,
        signature: own.to_string(),
        blockhash: tx.message.recent_blockhash().to_string(),
        // An upper bound: the charge's blockhash is at most as fresh as the latest one.
        last_valid_block_height: latest.last_valid_block_height,
    };
    match state
        .store()
        .store_job_transaction(
            &caller.actor,
            transfer_id,
            &attempt,
            Some(&watch),
            state.now(),
        )
        .await
    {
        Ok(true) => {}
        Ok(false) => tracing::warn!(transfer = %transfer_id, "the charge's job took no watch"),
        Err(e) => {
            tracing::warn!(transfer = %transfer_id, error = %e, "recording the charge's watch")
        }
    }
}
