//! Spec §Debit Processing, §Voucher Update, §TopUp: one paid request per call, persisted before
//! the response.

use std::sync::Arc;

use mpp::{
    MethodError, ProblemType, Receipt, Settlement, VerifyContext, format_payment_receipt,
    parse_payment_receipt,
};
use mppsol_solana::charge::payload::decode_transaction;
use mppsol_solana::charge::verify::cosign;
use mppsol_solana::session::verify::check_top_up_transaction;
use mppsol_solana::session::{SignedVoucher, TopUpAction, UseAction, VoucherAction, VoucherData};
use mppsol_store::{ChannelRecord, Debit, DebitOutcome, SessionStatus};
use solana_address::Address;

use super::chain::{channel_state, is_open, send_and_confirm};
use super::{SolanaSession, receipt, store_error};

/// Clock skew tolerated on voucher expiry, seconds.
const EXPIRY_SKEW: i64 = 30;

/// A refusal carrying the channel's amounts, so a client can resynchronise.
fn with_state(e: MethodError, ch: &ChannelRecord) -> MethodError {
    e.with_extension("reference", ch.channel_id.clone())
        .with_extension("acceptedCumulative", ch.accepted_cumulative.to_string())
        .with_extension("spent", ch.spent.to_string())
        .with_extension("deposit", ch.escrowed.to_string())
}

/// The channel, which must exist and be metering.
pub(crate) async fn load_open(
    m: &SolanaSession,
    channel: &Address,
) -> Result<ChannelRecord, MethodError> {
    let rec = m
        .store
        .channel(&channel.to_string())
        .await
        .map_err(store_error)?
        .ok_or_else(|| {
            MethodError::new(ProblemType::SessionChannelNotFound, "channel not found")
        })?;
    if rec.status != SessionStatus::Open {
        return Err(with_state(
            MethodError::new(
                ProblemType::SessionChannelFinalized,
                "the channel is closing or closed; open a new one",
            ),
            &rec,
        ));
    }
    Ok(rec)
}

/// A stored receipt returned to an idempotent retry. The retry changes nothing and delivers no
/// additional service (spec §Concurrency and Idempotency): it is answered as a control step,
/// marked `replayed`, so a client knows to pay the next unit for the content.
fn replayed(stored: &str) -> Result<Settlement, MethodError> {
    parse_payment_receipt(stored)
        .map(|r| Settlement::Control(r.with_field("replayed", true)))
        .map_err(|_| MethodError::verification("stored receipt is unreadable"))
}

async fn replay_if_known(
    m: &SolanaSession,
    channel_id: &str,
    ctx: &VerifyContext,
) -> Result<Option<Settlement>, MethodError> {
    let Some(key) = ctx.idempotency_key.as_deref() else {
        return Ok(None);
    };
    match m
        .store
        .idempotent_receipt(channel_id, key)
        .await
        .map_err(store_error)?
    {
        Some(r) => replayed(&r).map(Some),
        None => Ok(None),
    }
}

/// Applies a debit; a lost race or a closed channel is a refusal with the current state.
async fn apply(
    m: &SolanaSession,
    rec: &ChannelRecord,
    debit: Debit<'_>,
    receipt: Receipt,
) -> Result<Settlement, MethodError> {
    let (new_accepted, new_spent) = (debit.new_accepted, debit.new_spent);
    match m.store.debit(&debit).await.map_err(store_error)? {
        DebitOutcome::Applied => {
            let mut next = rec.clone();
            next.accepted_cumulative = new_accepted;
            next.spent = new_spent;
            m.channels.put(Arc::new(next));
            Ok(Settlement::Serve(receipt))
        }
        DebitOutcome::Replayed { receipt } => replayed(&receipt),
        DebitOutcome::Stale(cur) => {
            m.channels.forget(&rec.channel_id);
            let cur = cur.map(|c| *c).unwrap_or_else(|| rec.clone());
            let e = if cur.status == SessionStatus::Open {
                MethodError::verification(
                    "another request on this channel was accounted first; sign the next voucher \
                     from acceptedCumulative",
                )
            } else {
                MethodError::new(
                    ProblemType::SessionChannelFinalized,
                    "the channel is closing or closed; open a new one",
                )
            };
            Err(with_state(e, &cur))
        }
    }
}

/// Charges this request's price on `rec`, accepting `voucher` as the new highest, atomically.
async fn debit(
    m: &SolanaSession,
    rec: &ChannelRecord,
    challenge_id: &str,
    ctx: &VerifyContext,
    new_accepted: u64,
    voucher: &SignedVoucher,
) -> Result<Settlement, MethodError> {
    let voucher_json = serde_json::to_string(voucher)
        .map_err(|e| MethodError::verification(format!("voucher: {e}")))?;
    let new_spent = rec.spent + ctx.price.amount.get();
    let r = receipt(m, ctx, challenge_id, rec, new_accepted, new_spent);
    // Kept only for a retry with the same key; without one nothing reads it.
    let stored = match ctx.idempotency_key {
        Some(_) => format_payment_receipt(&r),
        None => String::new(),
    };
    apply(
        m,
        rec,
        Debit {
            channel_id: &rec.channel_id,
            expected_accepted: rec.accepted_cumulative,
            expected_spent: rec.spent,
            new_accepted,
            new_spent,
            voucher: Some(&voucher_json),
            idempotency_key: ctx.idempotency_key.as_deref(),
            receipt: &stored,
            now: ctx.now.unix(),
        },
        r,
    )
    .await
}

/// `voucher`: client mode. The increment must equal this request's price.
///
/// The channel's last known state comes from this instance's cache when it has one; a refusal
/// reached from it is decided again on the stored state, so a stale cache costs a read, never
/// a wrong answer.
pub(super) async fn voucher(
    m: &SolanaSession,
    v: &VoucherAction,
    challenge_id: &str,
    ctx: &VerifyContext,
) -> Result<Settlement, MethodError> {
    let id = v.channel_id.to_string();
    let cached = m.channels.get(&id);
    let rec = match &cached {
        Some(rec) => rec.clone(),
        None => Arc::new(load_open(m, &v.channel_id).await?),
    };
    let sv = &v.voucher;
    if sv.voucher.channel_id != v.channel_id {
        return Err(MethodError::verification(
            "the voucher is for another channel",
        ));
    }
    sv.verify()
        .map_err(|e| MethodError::new(ProblemType::SessionInvalidSignature, e.to_string()))?;
    // The authorized signer is fixed when the channel opens, so a cached record is exact here.
    if sv.signer.to_string() != rec.authorized_signer {
        return Err(MethodError::new(
            ProblemType::SessionSignerMismatch,
            "the voucher signer is not the channel's authorized signer",
        ));
    }
    if let Some(exp) = sv.voucher.expires_at.filter(|e| *e != 0)
        && ctx.now.unix() >= exp.saturating_add(EXPIRY_SKEW)
    {
        return Err(MethodError::verification("the voucher expired"));
    }
    if let Some(s) = replay_if_known(m, &rec.channel_id, ctx).await? {
        return Ok(s);
    }
    match charge_voucher(m, &rec, challenge_id, ctx, sv).await {
        Err(_) if cached.is_some() => {
            m.channels.forget(&id);
            let stored = load_open(m, &v.channel_id).await?;
            charge_voucher(m, &stored, challenge_id, ctx, sv).await
        }
        outcome => outcome,
    }
}

/// The amount rules of a voucher against the channel state `rec`, then the debit.
async fn charge_voucher(
    m: &SolanaSession,
    rec: &ChannelRecord,
    challenge_id: &str,
    ctx: &VerifyContext,
    sv: &SignedVoucher,
) -> Result<Settlement, MethodError> {
    let cost = ctx.price.amount.get();
    let cum = sv.voucher.cumulative_amount;
    if cum > rec.escrowed {
        return Err(with_state(
            MethodError::new(
                ProblemType::SessionAmountExceedsDeposit,
                "the voucher exceeds the deposit; top up",
            ),
            rec,
        ));
    }
    let Some(expected) = rec.accepted_cumulative.checked_add(cost) else {
        return Err(MethodError::verification("amount overflow"));
    };
    if cum != expected {
        let e = if cum <= rec.accepted_cumulative {
            MethodError::new(
                ProblemType::SessionDeltaTooSmall,
                "the voucher does not advance the accepted amount",
            )
        } else {
            MethodError::verification(format!(
                "the voucher must authorize exactly the price: cumulativeAmount {expected}"
            ))
        };
        return Err(with_state(
            e.with_extension("required", expected.to_string()),
            rec,
        ));
    }
    debit(m, rec, challenge_id, ctx, cum, sv).await
}

/// `use`: operator mode. The bearer proof authenticates; the operator signs the voucher.
pub(super) async fn use_proof(
    m: &SolanaSession,
    u: &UseAction,
    challenge_id: &str,
    ctx: &VerifyContext,
) -> Result<Settlement, MethodError> {
    let rec = load_open(m, &u.channel_id).await?;
    let proof = &u.authentication;
    if rec.proof_challenge_id.as_deref() != Some(proof.challenge_id.as_str())
        || proof.payer.to_string() != rec.payer
    {
        return Err(MethodError::new(
            ProblemType::SessionInvalidSignature,
            "the session proof is not the one bound to this channel",
        ));
    }
    proof
        .verify(&u.channel_id)
        .map_err(|e| MethodError::new(ProblemType::SessionInvalidSignature, e.to_string()))?;
    if let Some(s) = replay_if_known(m, &rec.channel_id, ctx).await? {
        return Ok(s);
    }
    let cost = ctx.price.amount.get();
    let next = rec.accepted_cumulative.saturating_add(cost);
    if next > rec.escrowed {
        return Err(with_state(
            MethodError::new(
                ProblemType::SessionInsufficientBalance,
                "the channel's deposit does not cover this request; top up",
            ),
            &rec,
        ));
    }
    let signed = VoucherData {
        channel_id: u.channel_id,
        cumulative_amount: next,
        expires_at: None,
    }
    .sign(m.cfg.operator.as_ref());
    debit(m, &rec, challenge_id, ctx, next, &signed).await
}

/// `topUp`: co-sign, land, then raise the metered deposit to what the chain holds.
pub(super) async fn top_up(
    m: &SolanaSession,
    t: &TopUpAction,
    challenge_id: &str,
    ctx: &VerifyContext,
) -> Result<Settlement, MethodError> {
    let rec = load_open(m, &t.channel_id).await?;
    let payer = rec
        .payer
        .parse::<Address>()
        .map_err(|_| MethodError::verification("stored payer is unreadable"))?;
    let mut tx = decode_transaction(&t.transaction)
        .map_err(|e| MethodError::new(ProblemType::MalformedCredential, e.to_string()))?;
    check_top_up_transaction(
        &tx,
        t,
        &payer,
        &m.operator(),
        &m.cfg.channel_program,
        m.cfg.policy_program.as_ref(),
    )
    .map_err(|e| MethodError::verification(e.to_string()))?;
    cosign(&mut tx, m.cfg.operator.as_ref())
        .map_err(|e| MethodError::verification(e.to_string()))?;
    let sig = send_and_confirm(m, &tx).await?;
    let state = channel_state(m, &t.channel_id)
        .await?
        .filter(is_open)
        .ok_or_else(|| MethodError::verification("the channel is not open on chain"))?;
    m.channels.forget(&rec.channel_id);
    m.store
        .set_escrowed(&rec.channel_id, state.deposit, ctx.now.unix())
        .await
        .map_err(store_error)?;
    let mut rec = rec;
    rec.escrowed = state.deposit;
    let (a, s) = (rec.accepted_cumulative, rec.spent);
    Ok(Settlement::Control(
        receipt(m, ctx, challenge_id, &rec, a, s)
            .with_field("txHash", sig.to_string())
            .with_field("deposit", state.deposit.to_string()),
    ))
}
