//! Transfers of non-custodial accounts: the service holds no key, so after the policy accepts a
//! transfer it offers the agent the exact transaction to sign ([`unsigned_transfer`]: the
//! account is fee payer and authority, the worker's own message on a fresh blockhash) and takes
//! back only that message, signed ([`check_agent_transaction`]). From then on the worker sends
//! and confirms it on the custodial path: stored before it is sent, looked up before it is
//! resent. When its blockhash expires and it never landed, the worker drops it and the transfer
//! waits for the agent to sign a fresh one (the service cannot rebuild it).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use mppsol_ledger::{Ledger, LedgerError};
use mppsol_solana::charge::payload::decode_transaction;
use mppsol_store::operator::{SettlementJob, SignedAttempt, Transfer};
use solana_address::Address;
use solana_message::VersionedMessage;
use solana_signature::Signature;
use solana_transaction::versioned::VersionedTransaction;

use super::build::transfer_message;
use super::{JobOutcome, SettleError, Settler};

/// Why an agent's transaction is refused.
#[derive(Debug, thiserror::Error)]
pub enum AgentTxError {
    /// Not a base64 wire transaction (or too large, or with trailing bytes).
    #[error("not a base64 wire transaction: {0}")]
    Unreadable(String),
    /// Its message is not exactly this transfer's (amount, accounts, memo, fee payer).
    #[error("the transaction is not this transfer: sign the unsigned_transaction as it is")]
    NotTheTransfer,
    /// The account's signature is missing or does not verify.
    #[error("the account's signature is missing or does not verify")]
    BadSignature,
    /// Its blockhash can no longer land.
    #[error("its blockhash has expired; sign a fresh unsigned_transaction")]
    BlockhashExpired,
    /// Building the expected message or asking the chain failed.
    #[error(transparent)]
    Settle(#[from] SettleError),
}

impl From<LedgerError> for AgentTxError {
    fn from(e: LedgerError) -> Self {
        AgentTxError::Settle(e.into())
    }
}

/// The transfer as an unsigned wire transaction (base64) on a fresh blockhash, for `payer` to
/// sign.
pub async fn unsigned_transfer(
    ledger: &dyn Ledger,
    transfer: &Transfer,
    payer: &Address,
) -> Result<String, SettleError> {
    let info = ledger.latest_blockhash().await?;
    let message = transfer_message(ledger, transfer, payer, info.blockhash, None).await?;
    let tx = VersionedTransaction {
        signatures: vec![Signature::default(); usize::from(message.header.num_required_signatures)],
        message: VersionedMessage::Legacy(message),
    };
    let bytes = bincode::serialize(&tx).map_err(|e| SettleError::Transaction(e.to_string()))?;
    Ok(STANDARD.encode(bytes))
}

/// Accepts `transaction` (base64) only if it is the transfer's message, on a blockhash that
/// can still land, signed by `payer`; returns what the job stores.
pub async fn check_agent_transaction(
    ledger: &dyn Ledger,
    transfer: &Transfer,
    payer: &Address,
    transaction: &str,
) -> Result<SignedAttempt, AgentTxError> {
    let tx =
        decode_transaction(transaction).map_err(|e| AgentTxError::Unreadable(e.to_string()))?;
    let blockhash = *tx.message.recent_blockhash();
    let expected = transfer_message(ledger, transfer, payer, blockhash, None).await?;
    if tx.message.serialize() != VersionedMessage::Legacy(expected).serialize() {
        return Err(AgentTxError::NotTheTransfer);
    }
    let required = usize::from(tx.message.header().num_required_signatures);
    if tx.signatures.len() != required || !tx.verify_with_results().iter().all(|ok| *ok) {
        return Err(AgentTxError::BadSignature);
    }
    if !ledger.is_blockhash_valid(&blockhash).await? {
        return Err(AgentTxError::BlockhashExpired);
    }
    let signature = tx.signatures.first().ok_or(AgentTxError::BadSignature)?;
    // An upper bound: the blockhash is at most as fresh as the latest one.
    let latest = ledger.latest_blockhash().await?;
    Ok(SignedAttempt {
        signed_tx: bincode::serialize(&tx).map_err(|e| SettleError::Transaction(e.to_string()))?,
        signature: signature.to_string(),
        blockhash: blockhash.to_string(),
        last_valid_block_height: latest.last_valid_block_height,
    })
}

impl Settler {
    /// The agent's transaction expired without landing: drop it so the agent can sign anew.
    pub(super) async fn await_new_signature(
        &self,
        job: &SettlementJob,
        signature: &str,
    ) -> Result<JobOutcome, SettleError> {
        let cleared = self
            .store
            .clear_settlement_attempt(
                job.job_id,
                &self.config.worker_id,
                signature,
                "the agent's transaction expired without landing; waiting for a new signature",
                self.now(),
            )
            .await?;
        Ok(if cleared {
            JobOutcome::AwaitingSignature
        } else {
            JobOutcome::LostLease
        })
    }
}
