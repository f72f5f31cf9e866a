//! A dry run of a policy-wallet payment before its credential leaves the service: the same
//! instructions, paid and signed by the account key alone (a sponsored transaction lacks the
//! payee's fee-payer signature, which a simulation checks), simulated on the chain. The
//! wallet's on-chain rules then refuse what they would refuse when the payee sends it, and the
//! charge fails here with the program's rule instead of costing the agent a request.

use mppsol_solana::charge::payload::{ChargePayload, decode_transaction};
use mppsol_solana::policy::PolicyErrorCode;
use solana_instruction::{AccountMeta, Instruction};
use solana_keypair::Keypair;
use solana_message::{Message, VersionedMessage};
use solana_signer::Signer;
use solana_transaction::versioned::VersionedTransaction;

use crate::AppState;
use crate::error::ApiError;
use crate::policy_wallet::refusal;

/// The instructions of a legacy message, with their signer and writable flags.
fn instructions(message: &solana_message::legacy::Message) -> Vec<Instruction> {
    let h = message.header;
    let keys = &message.account_keys;
    let signers = usize::from(h.num_required_signatures);
    let writable = |i: usize| {
        if i < signers {
            i < signers.saturating_sub(usize::from(h.num_readonly_signed_accounts))
        } else {
            i < keys
                .len()
                .saturating_sub(usize::from(h.num_readonly_unsigned_accounts))
        }
    };
    message
        .instructions
        .iter()
        .filter_map(|ix| {
            Some(Instruction {
                program_id: *keys.get(usize::from(ix.program_id_index))?,
                accounts: ix
                    .accounts
                    .iter()
                    .map(|&a| {
                        let i = usize::from(a);
                        Some(AccountMeta {
                            pubkey: *keys.get(i)?,
                            is_signer: i < signers,
                            is_writable: writable(i),
                        })
                    })
                    .collect::<Option<Vec<_>>>()?,
                data: ix.data.clone(),
            })
        })
        .collect()
}

/// Simulates the credential's payment paid and signed by `agent` (the account key); a policy denial becomes a
/// [`ApiError::PolicyViolation`] naming the program's rule. Other outcomes are left to the
/// payee (the dry run is advice, not the payment).
pub(super) async fn check(
    state: &AppState,
    agent: &Keypair,
    payload: &serde_json::Map<String, serde_json::Value>,
) -> Result<(), ApiError> {
    let Ok(ChargePayload::Transaction { transaction }) = ChargePayload::from_json(payload) else {
        return Ok(());
    };
    let tx = decode_transaction(&transaction)
        .map_err(|e| ApiError::Unexpected(format!("own transaction: {e}").into()))?;
    let VersionedMessage::Legacy(message) = &tx.message else {
        return Ok(());
    };
    let probe = Message::new_with_blockhash(
        &instructions(message),
        Some(&agent.pubkey()),
        &message.recent_blockhash,
    );
    let probe = VersionedTransaction::try_new(VersionedMessage::Legacy(probe), &[agent])
        .map_err(|e| ApiError::Unexpected(Box::new(e)))?;
    let simulated = state
        .ledger()
        .simulate(&probe)
        .await
        .map_err(|e| ApiError::Chain(format!("the chain did not answer: {e}")))?;
    match simulated
        .err
        .as_deref()
        .and_then(PolicyErrorCode::from_error_text)
    {
        Some(code) if code.is_denial() => Err(ApiError::PolicyViolation {
            violation: refusal(code),
            transfer_id: None,
        }),
        _ => Ok(()),
    }
}
