//! Verifying a `solana`/`charge` credential against the live price, then settling it.
//!
//! Order matters for money: every pure check runs before anything is signed; the signature is
//! consumed in the store (atomically, across instances) before the transaction is sent; it is
//! released only when the transaction certainly never landed.

use mpp::{Credential, MethodError, ProblemType, Receipt, VerifyContext};
use mppsol_ledger::{Commitment, LandedTransaction, LedgerError};
use mppsol_solana::VerifyError;
use mppsol_solana::charge::payload::{ChargePayload, decode_signature, decode_transaction};
use mppsol_solana::charge::request::{ChargeRequest, Currency};
use mppsol_solana::charge::verify::policy::{
    ReceiptPrograms, calls_program, check_policy_pull_transaction, check_receipt_payment,
};
use mppsol_solana::charge::verify::settled::{BalanceChange, check_settled};
use mppsol_solana::charge::verify::{
    ChargeTerms, CheckedPayment, check_pull_transaction, check_push_transaction, cosign,
};
use mppsol_solana::policy::{
    PaymentsErrorCode, PolicyErrorCode, challenge_hash, find_receipt_address,
};
use mppsol_store::ConsumeOutcome;
use solana_address::Address;
use solana_signature::Signature;
use solana_transaction::versioned::VersionedTransaction;

use super::{PushBinding, SolanaCharge, ledger_error};

fn refused(e: VerifyError) -> MethodError {
    MethodError::new(e.problem_type(), e.to_string())
}

pub(super) async fn verify(
    m: &SolanaCharge,
    credential: &Credential,
    ctx: &VerifyContext,
) -> Result<Receipt, MethodError> {
    let challenge = &credential.challenge;
    let request = ChargeRequest::from_json(challenge.request_value())
        .map_err(|e| MethodError::new(ProblemType::InvalidChallenge, e.to_string()))?;
    check_pinned(m, &request, ctx)?;
    let payload = ChargePayload::from_json(&credential.payload).map_err(refused)?;
    let (token_program, transfer_fee) = match request.currency().map_err(|e| refused(e.into()))? {
        Currency::Sol => (None, Default::default()),
        Currency::Mint(mint) => {
            let info = m.mint_info(mint).await?;
            (Some(info.program), info.transfer_fee)
        }
    };
    let terms = ChargeTerms {
        request: &request,
        token_program,
        transfer_fee,
        server_fee_payer: m.fee_payer(),
    };
    let signature = match payload {
        ChargePayload::Transaction { transaction } => {
            pull(m, &challenge.id, &terms, &transaction).await?
        }
        ChargePayload::Signature { signature } => {
            push(m, &challenge.id, &terms, &signature).await?
        }
    };
    Ok(
        Receipt::success(m.method.clone(), ctx.now, signature.to_string())
            .with_field("challengeId", challenge.id.clone()),
    )
}

/// The echoed request must ask for what this route costs now: the HMAC proves we issued it, this
/// proves it was issued for this price (a challenge bought elsewhere, or before a price change,
/// does not pay for this).
fn check_pinned(
    m: &SolanaCharge,
    request: &ChargeRequest,
    ctx: &VerifyContext,
) -> Result<(), MethodError> {
    let price = &ctx.price;
    let recipient = match &price.recipient {
        Some(r) => mppsol_solana::charge::request::parse_address(r),
        None => Some(m.cfg.recipient),
    };
    let same_currency = request.currency.eq_ignore_ascii_case(&price.currency);
    let mismatch = |what: &str| {
        MethodError::new(
            ProblemType::VerificationFailed,
            format!("challenge {what} does not match this route's price"),
        )
    };
    if request.amount != price.amount {
        return Err(mismatch("amount"));
    }
    if !same_currency {
        return Err(mismatch("currency"));
    }
    if Some(request.recipient) != recipient {
        return Err(mismatch("recipient"));
    }
    if request.network() != m.cfg.network {
        return Err(mismatch("network"));
    }
    if request.sponsor() != m.fee_payer() {
        return Err(mismatch("fee payer"));
    }
    Ok(())
}

async fn pull(
    m: &SolanaCharge,
    challenge_id: &str,
    terms: &ChargeTerms<'_>,
    b64: &str,
) -> Result<Signature, MethodError> {
    let mut tx = decode_transaction(b64).map_err(refused)?;
    let checked = match &m.cfg.receipt_programs {
        Some(
            programs @ ReceiptPrograms {
                policy: Some(p), ..
            },
        ) if calls_program(&tx, p) => {
            check_policy_pull_transaction(&tx, terms, &m.cfg.policy, programs, challenge_id)
        }
        _ => check_pull_transaction(&tx, terms, &m.cfg.policy),
    }
    .map_err(refused)?;
    if terms.request.sponsor().is_some() {
        let Some(key) = &m.cfg.fee_payer else {
            return Err(refused(VerifyError::PushNotAllowedWhenSponsored));
        };
        cosign(&mut tx, key.as_ref()).map_err(refused)?;
    }
    let signature = tx.signatures[0];
    let resumed = consume(m, &signature, challenge_id).await?;
    if !resumed {
        // `Ledger::send` simulates first (preflight: signatures verified, the transaction
        // executed against the current state) and refuses a failing transaction before it lands
        // or spends the sponsor's fee. That is the spec's simulation before broadcast, without
        // a second round trip and a second execution of the same bytes.
        match m.ledger.send(&tx).await {
            Ok(_) | Err(LedgerError::AlreadyProcessed) => {}
            Err(e @ (LedgerError::TransactionFailed { .. } | LedgerError::BlockhashExpired)) => {
                // Refused by the cluster before landing.
                release(m, &signature, challenge_id).await;
                return Err(match e {
                    LedgerError::TransactionFailed { err, .. } => refused(on_chain_refusal(err)),
                    _ => MethodError::new(
                        ProblemType::VerificationFailed,
                        "the transaction's blockhash expired; pay a fresh challenge",
                    ),
                });
            }
            // Unknown whether it reached the cluster: keep the signature consumed so a retry of
            // this credential resumes instead of paying twice.
            Err(e) => return Err(ledger_error(e)),
        }
    }
    settle(m, &tx_signature_or(&tx, signature), &checked, terms).await?;
    Ok(signature)
}

/// A failed simulation or send; a spending-policy denial is named as such (the agent's
/// wallet refused, not our checks).
fn on_chain_refusal(err: String) -> VerifyError {
    if let Some(code) = PolicyErrorCode::from_error_text(&err) {
        return VerifyError::PolicyRefused(code);
    }
    // The payments program's reason, named (e.g. ReceiptAlreadyExists: this challenge is paid).
    match mppsol_solana::custom_code(&err).and_then(PaymentsErrorCode::from_code) {
        Some(code) => VerifyError::SimulationFailed(format!("{err} ({code})")),
        None => VerifyError::SimulationFailed(err),
    }
}

fn tx_signature_or(tx: &VersionedTransaction, fallback: Signature) -> Signature {
    tx.signatures.first().copied().unwrap_or(fallback)
}

async fn push(
    m: &SolanaCharge,
    challenge_id: &str,
    terms: &ChargeTerms<'_>,
    b58: &str,
) -> Result<Signature, MethodError> {
    if terms.request.sponsor().is_some() {
        return Err(refused(VerifyError::PushNotAllowedWhenSponsored));
    }
    let signature = decode_signature(b58).map_err(refused)?;
    consume(m, &signature, challenge_id).await?;
    let landed = match wait_landed(m, &signature).await {
        Ok(Some(l)) => l,
        Ok(None) => {
            release(m, &signature, challenge_id).await;
            return Err(refused(VerifyError::NotFound));
        }
        Err(e) => return Err(e),
    };
    let receipt = match receipt_of(m, &landed, challenge_id).await {
        Ok(r) => r,
        Err(e) => {
            release(m, &signature, challenge_id).await;
            return Err(e);
        }
    };
    let result = (|| {
        if let Some(err) = &landed.err {
            return Err(VerifyError::FailedOnChain(err.clone()));
        }
        if let (Some(programs), Some((owner, data))) = (&m.cfg.receipt_programs, &receipt) {
            let checked = check_receipt_payment(
                &landed.transaction,
                terms,
                programs,
                challenge_id,
                owner,
                data,
            )?;
            return check_settled(&checked.legs, &balance_changes(&landed, terms.request));
        }
        let checked = check_push_transaction(&landed.transaction, terms)?;
        if m.cfg.push_binding == PushBinding::Reference && !checked.bound_to_reference {
            return Err(VerifyError::ReferenceMissing);
        }
        check_settled(&checked.legs, &balance_changes(&landed, terms.request))?;
        Ok(())
    })();
    if let Err(e) = result {
        // The transfer does not pay this challenge; it may still pay the one it was made for.
        release(m, &signature, challenge_id).await;
        return Err(refused(e));
    }
    Ok(signature)
}

/// The challenge's receipt account (owner, data) when the landed transaction lists it: then
/// the payment was made through the payments program (by any program) and the receipt is
/// what proves it.
async fn receipt_of(
    m: &SolanaCharge,
    landed: &LandedTransaction,
    challenge_id: &str,
) -> Result<Option<(Address, Vec<u8>)>, MethodError> {
    let Some(programs) = &m.cfg.receipt_programs else {
        return Ok(None);
    };
    let address = find_receipt_address(&programs.payments, &challenge_hash(challenge_id)).0;
    if !landed
        .transaction
        .message
        .static_account_keys()
        .contains(&address)
    {
        return Ok(None);
    }
    let account = m.ledger.get_account(&address).await.map_err(ledger_error)?;
    Ok(Some(account.map_or_else(
        || (Address::default(), Vec::new()),
        |a| (a.owner, a.data),
    )))
}

/// Consumes the signature for this challenge. `Ok(true)` means this challenge had already
/// consumed it (a retry resuming an earlier attempt).
async fn consume(
    m: &SolanaCharge,
    sig: &Signature,
    challenge_id: &str,
) -> Result<bool, MethodError> {
    match m.store.consume_proof(&sig.to_string(), challenge_id).await {
        Ok(ConsumeOutcome::Fresh) => Ok(false),
        Ok(ConsumeOutcome::AlreadyConsumed { challenge_id: by }) if by == challenge_id => Ok(true),
        Ok(ConsumeOutcome::AlreadyConsumed { .. }) => Err(refused(VerifyError::AlreadyConsumed)),
        Err(e) => Err(MethodError::verification("payment state unavailable")
            .retryable()
            .with_source(e)),
    }
}

async fn release(m: &SolanaCharge, sig: &Signature, challenge_id: &str) {
    if let Err(e) = m.store.release_proof(&sig.to_string(), challenge_id).await {
        tracing::warn!(error = %e, "could not release a payment proof");
    }
}

async fn wait_landed(
    m: &SolanaCharge,
    sig: &Signature,
) -> Result<Option<LandedTransaction>, MethodError> {
    // `get_transaction` answers only at `confirmed` or above, so when that is all we need, one
    // fetch settles a transaction that has already landed (a pushed one, or any on a ledger
    // that lands on send, such as the embedded one) without a status poll first.
    if m.cfg.commitment <= Commitment::Confirmed
        && let Some(landed) = m.ledger.get_transaction(sig).await.map_err(ledger_error)?
    {
        return Ok(Some(landed));
    }
    let status = m
        .ledger
        .confirm(sig, m.cfg.commitment, m.cfg.confirm_timeout)
        .await
        .map_err(ledger_error)?;
    if status.is_none() {
        return Ok(None);
    }
    m.ledger.get_transaction(sig).await.map_err(ledger_error)
}

/// Waits for the sent transaction and checks what actually moved.
async fn settle(
    m: &SolanaCharge,
    sig: &Signature,
    checked: &CheckedPayment,
    terms: &ChargeTerms<'_>,
) -> Result<(), MethodError> {
    let landed = match wait_landed(m, sig).await? {
        Some(l) => l,
        None => {
            return Err(MethodError::verification(
                "transaction not confirmed in time; retry this credential",
            )
            .retryable());
        }
    };
    if let Some(err) = &landed.err {
        return Err(refused(VerifyError::FailedOnChain(err.clone())));
    }
    check_settled(&checked.legs, &balance_changes(&landed, terms.request)).map_err(refused)
}

/// Balance changes of the landed transaction in the payment's asset.
fn balance_changes(landed: &LandedTransaction, request: &ChargeRequest) -> Vec<BalanceChange> {
    let keys = landed.transaction.message.static_account_keys();
    match request.currency() {
        Ok(Currency::Mint(mint)) => landed
            .post_token_balances
            .iter()
            .filter(|b| b.mint == mint)
            .filter_map(|post| {
                let account = *keys.get(usize::from(post.account_index))?;
                let pre = landed
                    .pre_token_balances
                    .iter()
                    .find(|p| p.account_index == post.account_index)
                    .map_or(0, |p| p.amount);
                Some(BalanceChange {
                    account,
                    pre,
                    post: post.amount,
                })
            })
            .collect(),
        _ => keys
            .iter()
            .enumerate()
            .filter_map(|(i, k)| {
                Some(BalanceChange {
                    account: *k,
                    pre: *landed.pre_balances.get(i)?,
                    post: *landed.post_balances.get(i)?,
                })
            })
            .collect(),
    }
}
