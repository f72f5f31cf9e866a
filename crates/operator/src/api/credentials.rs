//! Custodial paying: `POST /v1/accounts/{id}/credentials`. The agent sends the 402's
//! `WWW-Authenticate` value(s); the service picks the `solana`/`charge` challenge for its
//! network, checks the on-chain balance and the policy (recording the transfer, its daily
//! count, outbox job, audit entry and any event in one transaction), signs with the account's
//! sealed key through the client crate's charge builder, and returns the `Authorization` value.
//! The key never leaves this function.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use mpp::{Challenge, ClientMethod, format_authorization, parse_www_authenticate_fields};
use mppsol_client::charge::{charge_quote, supports_charge};
use mppsol_client::session::supports_session;
use mppsol_client::{PolicyWallet, SolanaChargeClient};
use mppsol_solana::charge::payload::{ChargePayload, decode_transaction};
use mppsol_store::operator::{Account, CustodyMode, NewTransfer, TransferKind};
use serde::Deserialize;
use solana_address::Address;
use solana_keypair::Keypair;

use super::accounts::visible_account;
use super::transfers::{outcome_response, request_hash};
use super::{AmountIn, dry_run, session_credentials};
use super::{json, parse_body};
use crate::AppState;
use crate::auth::Caller;
use crate::crypto::account_key_context;
use crate::error::ApiError;
use crate::policy::decide;
use crate::policy_wallet;

/// Most `WWW-Authenticate` values one request may carry.
const MAX_FIELDS: usize = 16;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialRequest {
    /// The 402's `WWW-Authenticate` field values.
    www_authenticate: Vec<String>,
    /// The URL that answered 402 (recorded as the memo when none is given).
    request_url: Option<String>,
    /// Memo for the policy and the record.
    memo: Option<String>,
    /// Category for the policy.
    category: Option<String>,
    /// Session challenges: close the channel instead of paying a request.
    #[serde(default)]
    close: bool,
    /// Session challenges: the deposit of a channel opened now.
    deposit: Option<AmountIn>,
}

/// The challenge this service pays on its network: a charge, else (when sessions are
/// enabled) a session; a close asks for the session.
fn payable<'c>(
    state: &AppState,
    challenges: &'c [Challenge],
    close: bool,
) -> Result<&'c Challenge, ApiError> {
    let session = || {
        challenges
            .iter()
            .find(|c| state.session_store().is_some() && supports_session(c, state.network()))
    };
    let found = if close {
        session()
    } else {
        challenges
            .iter()
            .find(|c| supports_charge(c, state.network()))
            .or_else(session)
    };
    found.ok_or_else(|| {
        ApiError::Unpayable(format!(
            "none of the {} challenge(s) is a solana charge{} on {}",
            challenges.len(),
            if state.session_store().is_some() {
                " or session"
            } else {
                ""
            },
            state.network().as_str()
        ))
    })
}

/// Refuses before anything is recorded when the account cannot cover `amount`.
async fn check_balance(state: &AppState, account: &Account, amount: u64) -> Result<(), ApiError> {
    let unexpected = |e: mppsol_ledger::LedgerError| ApiError::Unexpected(Box::new(e));
    let held = match &account.token_account {
        None => {
            let owner: Address = account
                .address
                .parse()
                .map_err(|_| ApiError::Unexpected("stored address does not parse".into()))?;
            state.ledger().balance(&owner).await.map_err(unexpected)?
        }
        Some(ata) => {
            let ata: Address = ata
                .parse()
                .map_err(|_| ApiError::Unexpected("stored token account does not parse".into()))?;
            state
                .ledger()
                .token_balance(&ata)
                .await
                .map_err(unexpected)?
                .map_or(0, |t| t.amount)
        }
    };
    if held < amount {
        return Err(ApiError::InsufficientBalance(format!(
            "account {} holds {held} {}, the payment asks {amount}",
            account.id, account.currency
        )));
    }
    Ok(())
}

/// The account's keypair, opened from its sealed form.
pub(super) async fn custodial_key(
    state: &AppState,
    caller: &Caller,
    account: &Account,
) -> Result<Keypair, ApiError> {
    let sealed = state
        .store()
        .sealed_account_key(&caller.actor, &account.id)
        .await?
        .ok_or_else(|| ApiError::Unexpected("custodial account without a sealed key".into()))?;
    let bytes = state
        .master_key()
        .open(&sealed, &account_key_context(&account.address))
        .map_err(|e| ApiError::Unexpected(Box::new(e)))?;
    Keypair::try_from(bytes.as_slice())
        .map_err(|_| ApiError::Unexpected("sealed key is not a keypair".into()))
}

/// The signature the credential's transaction will land under, when it is known now: the
/// first signature is the fee payer's, so a sponsored transaction gets its id only when the
/// payee co-signs (the agent's receipt settles it then).
fn transaction_signature(payload: &serde_json::Map<String, serde_json::Value>) -> Option<String> {
    match ChargePayload::from_json(payload).ok()? {
        ChargePayload::Transaction { transaction } => decode_transaction(&transaction)
            .ok()?
            .signatures
            .first()
            .filter(|s| **s != solana_signature::Signature::default())
            .map(ToString::to_string),
        ChargePayload::Signature { signature } => Some(signature),
    }
}

/// Signs `challenge` with the account key: from its policy wallet (`payWithReceipt`, then a
/// dry run so an on-chain refusal is known before the agent spends a request on it) when it
/// has one, else from its own accounts.
async fn sign_charge(
    state: &AppState,
    account: &Account,
    keypair: Keypair,
    challenge: &Challenge,
) -> Result<mpp::Credential, ApiError> {
    let wallet = state.store().account_policy_wallet(&account.id).await?;
    let keypair = Arc::new(keypair);
    let mut client =
        SolanaChargeClient::new(keypair.clone(), state.ledger().clone(), state.network());
    if let Some(record) = &wallet {
        let programs = state.policy_programs().ok_or_else(|| {
            ApiError::Chain("the account pays through the policy program, which this service is not configured for".into())
        })?;
        let k = policy_wallet::wallet_keys(record, &account.address)?;
        client =
            client.with_policy_wallet(PolicyWallet::new(k.program, programs.payments, k.owner));
    }
    let credential = client
        .create_credential(challenge)
        .await
        .map_err(|e| ApiError::Unpayable(format!("could not build the payment: {}", e.detail)))?;
    if wallet.is_some() {
        dry_run::check(state, &keypair, &credential.payload).await?;
    }
    Ok(credential)
}

pub(super) async fn sign(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(account_id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let account = visible_account(&state, &caller, &account_id).await?;
    if account.custody_mode != CustodyMode::Custodial {
        return Err(ApiError::invalid(
            "account",
            "only custodial accounts can have payments signed by the service",
        ));
    }
    let body: CredentialRequest = parse_body(&body)?;
    if body.www_authenticate.is_empty() || body.www_authenticate.len() > MAX_FIELDS {
        return Err(ApiError::invalid(
            "www_authenticate",
            format!("1 to {MAX_FIELDS} header values"),
        ));
    }
    let challenges = parse_www_authenticate_fields(
        body.www_authenticate.iter().map(String::as_str),
    )
    .map_err(|e| ApiError::invalid("www_authenticate", format!("unreadable challenge: {e}")))?;
    if challenges.is_empty() {
        return Err(ApiError::invalid(
            "www_authenticate",
            "no Payment challenge in it",
        ));
    }
    let challenge = payable(&state, &challenges, body.close)?;
    if challenge
        .expires_at()
        .is_some_and(|at| at.unix() <= state.now())
    {
        return Err(ApiError::Unpayable(
            "the challenge has expired; ask the server for a new one".into(),
        ));
    }
    if challenge.intent.as_str() == "session" {
        let opts = session_credentials::SessionOptions {
            close: body.close,
            deposit: body.deposit.map(|d| d.0),
            memo: body.memo,
            category: body.category,
        };
        let signed = session_credentials::sign(&state, &caller, &account, challenge, &opts).await?;
        return Ok(json(StatusCode::OK, signed));
    }
    let quote = charge_quote(challenge).map_err(|e| ApiError::Unpayable(e.detail))?;
    let amount = quote.amount.get();
    // A currency mismatch is the policy's to refuse (with its event); the balance of another
    // asset means nothing.
    if quote.currency == account.currency {
        check_balance(&state, &account, amount).await?;
    }
    let asked = NewTransfer {
        account_id: account.id.clone(),
        kind: TransferKind::Charge,
        amount,
        currency: quote.currency.clone(),
        counterparty: quote.recipient.clone().unwrap_or_default(),
        memo: body.memo.or(body.request_url),
        category: body.category,
        session_id: None,
        idempotency_key: format!("challenge:{}", challenge.id),
        request_hash: request_hash(&[Some(&challenge.id), Some(challenge.request.encoded())]),
        signature: None,
    };
    let outcome = state
        .store()
        .request_transfer(&caller.actor, &asked, decide, state.now())
        .await?;
    let (status, transfer) = outcome_response(outcome)?;
    if status == StatusCode::ACCEPTED {
        // Waits for an operator; asking again with the same challenge after approval signs it.
        return Ok(json(
            StatusCode::ACCEPTED,
            serde_json::json!({ "transfer": transfer }),
        ));
    }
    // One signature per charge: a fresh one, or an approved one signed on the agent's retry.
    if !state
        .store()
        .claim_signing(&caller.actor, &transfer.id, state.now())
        .await?
    {
        return Err(ApiError::Conflict(format!(
            "this challenge was already answered (transfer {}); ask the server for a new one",
            transfer.id
        )));
    }
    let signed = match custodial_key(&state, &caller, &account).await {
        Ok(keypair) => sign_charge(&state, &account, keypair, challenge).await,
        Err(e) => Err(e),
    };
    let credential = match signed {
        Ok(c) => c,
        Err(e) => {
            // Nothing was signed: give the amount back and say so (transfer.failed).
            let reason = match &e {
                ApiError::Unexpected(_) => "internal error while signing".to_owned(),
                ApiError::PolicyViolation { violation, .. } => {
                    format!("{}: {}", violation.rule, violation.reason)
                }
                other => other.to_string(),
            };
            let e = match e {
                // The chain's rules refused what the database's allowed: say so (the event
                // names the on-chain rule).
                ApiError::PolicyViolation { violation, .. } => {
                    state
                        .store()
                        .record_violation(&caller.actor, &asked, &violation, state.now())
                        .await?;
                    ApiError::PolicyViolation {
                        violation,
                        transfer_id: Some(transfer.id.clone()),
                    }
                }
                other => other,
            };
            state
                .store()
                .fail_transfer(&caller.actor, &transfer.id, &reason, state.now())
                .await?;
            return Err(e);
        }
    };
    if let Some(signature) = transaction_signature(&credential.payload) {
        state
            .store()
            .set_transfer_signature(&caller.actor, &transfer.id, &signature, state.now())
            .await?;
    }
    // The worker settles the charge when it lands, receipt or not (`confirm_charge`).
    super::charge_watch::record_charge_watch(
        &state,
        &caller,
        &account,
        &transfer.id,
        challenge,
        &credential.payload,
    )
    .await;
    let recorded = state
        .store()
        .get_transfer(&caller.actor, &transfer.id)
        .await?
        .unwrap_or(transfer);
    Ok(json(
        StatusCode::OK,
        serde_json::json!({
            "authorization": format_authorization(&credential),
            "transfer": recorded,
        }),
    ))
}
