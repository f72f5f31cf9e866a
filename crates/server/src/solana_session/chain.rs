//! Sending the operator's session transactions and reading channel accounts.

use mpp::MethodError;
use mppsol_ledger::LedgerError;
use mppsol_solana::channel::{ChannelState, ChannelStatus};
use solana_address::Address;
use solana_hash::Hash;
use solana_instruction::Instruction;
use solana_keypair::Keypair;
use solana_message::{Message, VersionedMessage};
use solana_signature::Signature;
use solana_signer::Signer;
use solana_transaction::versioned::VersionedTransaction;

use super::SolanaSession;
use crate::solana_charge::ledger_error;

/// Sends a fully signed transaction and waits for the configured commitment. `Ok(sig)` only if
/// it landed without error.
pub(crate) async fn send_and_confirm(
    m: &SolanaSession,
    tx: &VersionedTransaction,
) -> Result<Signature, MethodError> {
    let sig = tx.signatures.first().copied().unwrap_or_default();
    // Simulate first: a transaction that would fail costs the operator nothing and the error
    // names the program's reason.
    let sim = m.ledger.simulate(tx).await.map_err(ledger_error)?;
    if let Some(err) = sim.err {
        let tail: Vec<&str> = sim.logs.iter().rev().take(3).map(String::as_str).collect();
        tracing::debug!(logs = ?sim.logs, "session transaction simulation failed");
        return Err(MethodError::verification(format!(
            "the transaction would fail: {} [{}]",
            explain(&err),
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        )));
    }
    match m.ledger.send(tx).await {
        Ok(_) | Err(LedgerError::AlreadyProcessed) => {}
        Err(LedgerError::TransactionFailed { err, .. }) => {
            return Err(MethodError::verification(format!(
                "the transaction failed: {}",
                explain(&err)
            )));
        }
        Err(LedgerError::BlockhashExpired) => {
            return Err(MethodError::verification(
                "the transaction's blockhash expired; use a fresh challenge",
            ));
        }
        Err(e) => return Err(ledger_error(e)),
    }
    match m
        .ledger
        .confirm(&sig, m.cfg.commitment, m.cfg.confirm_timeout)
        .await
        .map_err(ledger_error)?
    {
        Some(status) if status.err.is_none() => Ok(sig),
        Some(status) => Err(MethodError::verification(format!(
            "the transaction failed on chain: {}",
            explain(status.err.as_deref().unwrap_or_default())
        ))),
        None => {
            Err(MethodError::verification("the transaction did not confirm in time").retryable())
        }
    }
}

/// Appends the channel program's error name to a `Custom(n)` error text.
pub(crate) fn explain(err: &str) -> String {
    let code = err
        .split("Custom(")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .and_then(|n| n.trim().parse::<u32>().ok());
    if let Some(c) = code.and_then(mppsol_solana::channel::ChannelErrorCode::from_code) {
        return format!("{err} ({})", c.name());
    }
    // Opened or topped up through a policy wallet: the wallet's rules refused.
    match mppsol_solana::policy::PolicyErrorCode::from_error_text(err) {
        Some(c) => format!("{err}; {}", mppsol_solana::VerifyError::PolicyRefused(c)),
        None => err.to_owned(),
    }
}

/// Builds and signs an operator transaction (fee payer = operator; `extra` signers, e.g. the
/// payee).
pub(crate) fn operator_tx(
    m: &SolanaSession,
    ixs: &[Instruction],
    blockhash: Hash,
    extra: &[&Keypair],
) -> Result<VersionedTransaction, MethodError> {
    let operator = m.cfg.operator.as_ref();
    let msg = Message::new_with_blockhash(ixs, Some(&operator.pubkey()), &blockhash);
    let mut signers: Vec<&Keypair> = vec![operator];
    for k in extra {
        if k.pubkey() != operator.pubkey() {
            signers.push(k);
        }
    }
    VersionedTransaction::try_new(VersionedMessage::Legacy(msg), &signers)
        .map_err(|e| MethodError::verification(format!("cannot sign: {e}")))
}

/// The channel account as the program stores it; `None` if it does not exist (closed).
pub(crate) async fn channel_state(
    m: &SolanaSession,
    channel: &Address,
) -> Result<Option<ChannelState>, MethodError> {
    let Some(acc) = m.ledger.get_account(channel).await.map_err(ledger_error)? else {
        return Ok(None);
    };
    if acc.owner != m.cfg.channel_program {
        return Err(MethodError::verification(
            "the channel account is not owned by the channel program",
        ));
    }
    ChannelState::decode(&acc.data)
        .map(Some)
        .map_err(|e| MethodError::verification(format!("unreadable channel account: {e}")))
}

/// Whether a decoded channel is still metering.
pub(crate) fn is_open(s: &ChannelState) -> bool {
    s.status == ChannelStatus::Open && s.closure_started_at == 0
}
