//! Spec §Open: check the client's open transaction against the challenge, co-sign it as fee and
//! rent payer, land it, check the channel on chain, and start metering it.

use mpp::{MethodError, ProblemType, Settlement, VerifyContext};
use mppsol_solana::channel::splits::distribution_hash;
use mppsol_solana::channel::{ChannelStatus, DistributionSplit};
use mppsol_solana::charge::payload::decode_transaction;
use mppsol_solana::charge::verify::cosign;
use mppsol_solana::session::verify::{OpenTerms, Route, check_open_transaction};
use mppsol_solana::session::{OpenAction, SessionRequest, VoucherSigner};
use mppsol_store::{ChannelRecord, SessionStatus};
use tracing::info;

use super::chain::{channel_state, send_and_confirm};
use super::{SolanaSession, receipt, store_error};
use crate::solana_charge::ledger_error;

fn refused(e: impl std::fmt::Display) -> MethodError {
    MethodError::verification(e.to_string())
}

/// The idle timeout the open commits to (spec §Server-Initiated Idle Close).
fn idle_timeout(m: &SolanaSession, open: &OpenAction) -> Result<u32, MethodError> {
    match (&m.cfg.idle_timeout_options, open.idle_timeout_seconds) {
        (Some(opts), Some(t)) if opts.contains(&t) => Ok(t),
        (_, Some(_)) => Err(MethodError::verification(
            "the requested idle timeout was not one of the advertised options",
        )),
        (Some(opts), None) => Ok(opts.iter().copied().max().unwrap_or(m.cfg.idle_timeout)),
        (None, None) => Ok(m.cfg.idle_timeout),
    }
}

pub(super) async fn open(
    m: &SolanaSession,
    req: &SessionRequest,
    open: &OpenAction,
    challenge_id: &str,
    ctx: &VerifyContext,
) -> Result<Settlement, MethodError> {
    let channel_id = open.channel_id.to_string();
    // A retry of an open that already landed: the channel is ours; answer again.
    if let Some(existing) = m.store.channel(&channel_id).await.map_err(store_error)? {
        if existing.payer == open.payer.to_string() && existing.status == SessionStatus::Open {
            let (a, s) = (existing.accepted_cumulative, existing.spent);
            return Ok(Settlement::Control(receipt(
                m,
                ctx,
                challenge_id,
                &existing,
                a,
                s,
            )));
        }
        return Err(MethodError::new(
            ProblemType::SessionChannelFinalized,
            "this channel already exists and is not open",
        ));
    }
    let idle = idle_timeout(m, open)?;
    let mint = req.mint().map_err(refused)?;
    let info = m.mint_info(mint).await?;
    let mut tx = decode_transaction(&open.transaction)
        .map_err(|e| MethodError::new(ProblemType::MalformedCredential, e.to_string()))?;
    let current_slot = m.ledger.slot().await.map_err(ledger_error)?;
    let operator = m.operator();
    let checked = check_open_transaction(
        &tx,
        open,
        &OpenTerms {
            request: req,
            operator: &operator,
            program: &m.cfg.channel_program,
            token_program: info.program,
            current_slot,
            policy_program: m.cfg.policy_program.as_ref(),
        },
    )
    .map_err(refused)?;
    if req.voucher_signer() == VoucherSigner::Operator {
        let proof = open
            .authentication
            .as_ref()
            .ok_or_else(|| refused("operator vouchers need the session proof"))?;
        if proof.challenge_id != challenge_id || proof.payer != open.payer {
            return Err(refused(
                "the session proof is not bound to this challenge and payer",
            ));
        }
        proof.verify(&open.channel_id).map_err(refused)?;
    }
    cosign(&mut tx, m.cfg.operator.as_ref()).map_err(refused)?;
    let signature = send_and_confirm(m, &tx).await?;

    // §Open step 14: the chain must hold exactly the channel we checked.
    let state = channel_state(m, &open.channel_id)
        .await?
        .ok_or_else(|| refused("the open transaction landed but the channel is missing"))?;
    let splits: Vec<DistributionSplit> = checked.args.splits.clone();
    let rent_payer = match checked.route {
        Route::Direct => operator,
        Route::PolicyWallet { agent, .. } => agent,
    };
    let ok = state.payer == open.payer
        && state.payee == req.recipient
        && state.mint == mint
        && state.deposit == checked.args.deposit
        && state.grace_period == open.grace_period_seconds
        && state.open_slot == open.open_slot
        && state.authorized_signer == open.authorized_signer
        && state.distribution_hash == distribution_hash(&splits)
        && state.rent_payer == rent_payer
        && state.status == ChannelStatus::Open
        && state.closure_started_at == 0;
    if !ok {
        return Err(refused(
            "the channel on chain does not match the open request",
        ));
    }
    let now = ctx.now.unix();
    let record = ChannelRecord {
        channel_id: channel_id.clone(),
        network: m.cfg.network.as_str().to_owned(),
        channel_program: m.cfg.channel_program.to_string(),
        payer: open.payer.to_string(),
        payee: req.recipient.to_string(),
        mint: mint.to_string(),
        token_program: info.program.id().to_string(),
        authorized_signer: open.authorized_signer.to_string(),
        salt: open.salt,
        open_slot: open.open_slot,
        grace_period: open.grace_period_seconds,
        voucher_signer: match req.voucher_signer() {
            VoucherSigner::Client => "client".into(),
            VoucherSigner::Operator => "operator".into(),
        },
        proof_challenge_id: open.authentication.as_ref().map(|p| p.challenge_id.clone()),
        splits: serde_json::to_string(&req.method_details.distribution_splits)
            .unwrap_or_else(|_| "[]".into()),
        escrowed: state.deposit,
        accepted_cumulative: 0,
        spent: 0,
        settled_on_chain: state.settled,
        highest_voucher: None,
        status: SessionStatus::Open,
        closure_started_at: 0,
        idle_timeout: idle,
        last_activity_at: now,
        created_at: now,
        close_signature: None,
        refunded: None,
    };
    // Another instance may have landed the same transaction and recorded it first: same row.
    m.store.insert_channel(&record).await.map_err(store_error)?;
    info!(channel = %channel_id, %signature, deposit = state.deposit, "session channel opened");
    Ok(Settlement::Control(
        receipt(m, ctx, challenge_id, &record, 0, 0).with_field("txHash", signature.to_string()),
    ))
}
