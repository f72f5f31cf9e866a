//! Spec §Close (Cooperative): `settleAndSeal` (with the highest voucher) and `distribute` in one
//! transaction, so payout, refund, dust sweep and escrow closure land together. Shared with the
//! watchtower (forced and idle closes).

use mpp::{MethodError, ProblemType, Settlement, VerifyContext};
use mppsol_solana::channel::ix::{self, DistributeAccounts};
use mppsol_solana::channel::{
    ChannelState, ChannelStatus, DistributionSplit, ed25519_voucher_instruction,
};
use mppsol_solana::session::{CloseAction, DistributionEntry, SignedVoucher};
use mppsol_solana::token::TokenProgram;
use mppsol_store::{ChannelRecord, CloseStart, SessionStatus};
use solana_address::Address;
use solana_instruction::Instruction;
use solana_signature::Signature;
use spl_associated_token_account_interface::instruction::create_associated_token_account_idempotent;
use tracing::{info, warn};

use super::chain::{channel_state, operator_tx, send_and_confirm};
use super::{SolanaSession, receipt, store_error};
use crate::solana_charge::ledger_error;

/// A settled close.
#[derive(Debug, Clone, Copy)]
pub struct Closed {
    /// The closing transaction (default when the channel was already gone).
    pub signature: Signature,
    /// Settled to the merchant side.
    pub settled: u64,
    /// Refunded to the payer.
    pub refunded: u64,
}

fn addr(s: &str, what: &str) -> Result<Address, MethodError> {
    s.parse()
        .map_err(|_| MethodError::verification(format!("stored {what} is unreadable")))
}

/// The highest usable voucher among the stored one and `extra`.
fn best_voucher(rec: &ChannelRecord, extra: Option<&SignedVoucher>) -> Option<SignedVoucher> {
    let stored = rec
        .highest_voucher
        .as_deref()
        .and_then(|j| serde_json::from_str::<SignedVoucher>(j).ok());
    [stored, extra.cloned()]
        .into_iter()
        .flatten()
        .filter(|v| v.verify().is_ok() && v.signer.to_string() == rec.authorized_signer)
        .max_by_key(|v| v.voucher.cumulative_amount)
}

/// Builds, lands and records the closing transaction for a channel already marked closing.
pub(crate) async fn close_channel(
    m: &SolanaSession,
    rec: &ChannelRecord,
    extra: Option<&SignedVoucher>,
) -> Result<Closed, MethodError> {
    let channel = addr(&rec.channel_id, "channel")?;
    let Some(state) = channel_state(m, &channel).await? else {
        // Already distributed and deallocated by someone: nothing left to do on chain.
        m.store
            .finish_close(&rec.channel_id, "", rec.settled_on_chain, 0)
            .await
            .map_err(store_error)?;
        return Ok(Closed {
            signature: Signature::default(),
            settled: rec.settled_on_chain,
            refunded: 0,
        });
    };
    if state.status == ChannelStatus::Distributed {
        let refunded = state.deposit - state.settled;
        m.store
            .finish_close(&rec.channel_id, "", state.settled, refunded)
            .await
            .map_err(store_error)?;
        return Ok(Closed {
            signature: Signature::default(),
            settled: state.settled,
            refunded,
        });
    }
    let ixs = closing_instructions(m, rec, &state, extra)?;
    let blockhash = m.ledger.latest_blockhash().await.map_err(ledger_error)?;
    let tx = operator_tx(
        m,
        &ixs.instructions,
        blockhash.blockhash,
        &[m.cfg.payee.as_ref()],
    )?;
    let signature = send_and_confirm(m, &tx).await?;
    let settled = ixs.settled;
    let refunded = state.deposit - settled;
    m.store
        .finish_close(&rec.channel_id, &signature.to_string(), settled, refunded)
        .await
        .map_err(store_error)?;
    info!(channel = %rec.channel_id, %signature, settled, refunded, "session channel closed");
    Ok(Closed {
        signature,
        settled,
        refunded,
    })
}

struct Closing {
    instructions: Vec<Instruction>,
    settled: u64,
}

fn closing_instructions(
    m: &SolanaSession,
    rec: &ChannelRecord,
    state: &ChannelState,
    extra: Option<&SignedVoucher>,
) -> Result<Closing, MethodError> {
    let program = m.cfg.channel_program;
    let channel = addr(&rec.channel_id, "channel")?;
    let mint = addr(&rec.mint, "mint")?;
    let payer = addr(&rec.payer, "payer")?;
    let tp = TokenProgram::from_id(&addr(&rec.token_program, "token program")?)
        .ok_or_else(|| MethodError::verification("stored token program is unknown"))?;
    let entries: Vec<DistributionEntry> = serde_json::from_str(&rec.splits)
        .map_err(|_| MethodError::verification("stored splits are unreadable"))?;
    let splits: Vec<DistributionSplit> = entries
        .iter()
        .map(|e| DistributionSplit {
            recipient: e.recipient,
            share_bps: e.share_bps,
        })
        .collect();
    let operator = m.operator();
    let payee = m.payee();
    let mut ixs = Vec::new();
    // Every token account `distribute` pays must exist, or that share is forfeited to the
    // treasury: create them (idempotently) in the same transaction.
    let mut owners = vec![payee, m.cfg.treasury_owner, payer];
    owners.extend(splits.iter().map(|s| s.recipient));
    for owner in owners {
        ixs.push(create_associated_token_account_idempotent(
            &operator,
            &owner,
            &mint,
            &tp.id(),
        ));
    }
    let mut settled = state.settled;
    if state.status != ChannelStatus::Sealed {
        let voucher = best_voucher(rec, extra)
            .filter(|v| v.voucher.cumulative_amount > state.settled)
            .filter(|v| v.voucher.cumulative_amount <= state.deposit);
        match voucher {
            Some(v) => {
                let sig = v
                    .signature()
                    .map_err(|e| MethodError::verification(e.to_string()))?;
                let onchain = mppsol_solana::channel::Voucher {
                    channel_id: channel,
                    cumulative_amount: v.voucher.cumulative_amount,
                    expires_at: v.voucher.expires_at.unwrap_or(0),
                };
                ixs.push(ed25519_voucher_instruction(&v.signer, &sig, &onchain));
                ixs.push(ix::settle_and_seal(&program, &payee, &channel, true));
                settled = v.voucher.cumulative_amount;
            }
            None => ixs.push(ix::settle_and_seal(&program, &payee, &channel, false)),
        }
    }
    ixs.push(ix::distribute(
        &program,
        &DistributeAccounts {
            channel,
            payer,
            payee,
            rent_payer: state.rent_payer,
            mint,
            token_program: tp,
            treasury_owner: m.cfg.treasury_owner,
        },
        &splits,
    ));
    Ok(Closing {
        instructions: ixs,
        settled,
    })
}

/// `close`: authenticate, stop metering, settle and distribute.
pub(super) async fn cooperative(
    m: &SolanaSession,
    c: &CloseAction,
    challenge_id: &str,
    ctx: &VerifyContext,
) -> Result<Settlement, MethodError> {
    let id = c.channel_id.to_string();
    let rec = m
        .store
        .channel(&id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| {
            MethodError::new(ProblemType::SessionChannelNotFound, "channel not found")
        })?;
    // Authenticate before touching state.
    match rec.voucher_signer.as_str() {
        "operator" => {
            let proof = c
                .authentication
                .as_ref()
                .ok_or_else(|| MethodError::verification("close needs the session proof"))?;
            if rec.proof_challenge_id.as_deref() != Some(proof.challenge_id.as_str())
                || proof.payer.to_string() != rec.payer
            {
                return Err(MethodError::new(
                    ProblemType::SessionInvalidSignature,
                    "the session proof is not the one bound to this channel",
                ));
            }
            proof.verify(&c.channel_id).map_err(|e| {
                MethodError::new(ProblemType::SessionInvalidSignature, e.to_string())
            })?;
        }
        _ => {
            let v = c
                .voucher
                .as_ref()
                .ok_or_else(|| MethodError::verification("close needs a voucher"))?;
            if v.voucher.channel_id != c.channel_id {
                return Err(MethodError::verification(
                    "the voucher is for another channel",
                ));
            }
            v.verify().map_err(|e| {
                MethodError::new(ProblemType::SessionInvalidSignature, e.to_string())
            })?;
            if v.signer.to_string() != rec.authorized_signer {
                return Err(MethodError::new(
                    ProblemType::SessionSignerMismatch,
                    "the voucher signer is not the channel's authorized signer",
                ));
            }
            if v.voucher.cumulative_amount > rec.escrowed {
                return Err(MethodError::new(
                    ProblemType::SessionAmountExceedsDeposit,
                    "the voucher exceeds the deposit",
                ));
            }
        }
    }
    let rec = match m.store.begin_close(&id).await.map_err(store_error)? {
        CloseStart::Started(r) => *r,
        CloseStart::NotOpen(Some(r)) if r.status == SessionStatus::Closed => {
            // Already closed: answer again with the settlement.
            let mut out = receipt(m, ctx, challenge_id, &r, r.accepted_cumulative, r.spent);
            if let Some(sig) = r.close_signature.clone().filter(|s| !s.is_empty()) {
                out = out.with_field("txHash", sig);
            }
            return Ok(Settlement::Control(
                out.with_field("refunded", r.refunded.unwrap_or(0).to_string())
                    .with_field("final", true),
            ));
        }
        CloseStart::NotOpen(_) => {
            return Err(
                MethodError::verification("a close of this channel is in progress").retryable(),
            );
        }
    };
    let extra = c.voucher.as_ref();
    match close_channel(m, &rec, extra).await {
        Ok(closed) => Ok(Settlement::Control(
            receipt(
                m,
                ctx,
                challenge_id,
                &rec,
                rec.accepted_cumulative,
                closed.settled,
            )
            .with_field("txHash", closed.signature.to_string())
            .with_field("refunded", closed.refunded.to_string())
            .with_field("final", true),
        )),
        Err(e) => {
            // The close did not land: metering may resume (a forced close stays closing).
            if !e.retryable
                && let Err(se) = m.store.abort_close(&id).await
            {
                warn!(error = %se, "could not reopen a channel after a failed close");
            }
            Err(e)
        }
    }
}
