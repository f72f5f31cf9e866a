//! Transfers: request (idempotent, policy-checked), list, get, approve and reject.

use std::collections::HashMap;
use std::str::FromStr;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use mppsol_store::operator::{
    Actor, ApprovalOutcome, NewTransfer, RejectOutcome, Transfer, TransferFilter, TransferKind,
    TransferOutcome, TransferStatus, Violation,
};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use solana_address::Address;

use super::accounts::visible_account;
use super::{AmountIn, check_amount, check_len, json, list_response, page, parse_body};
use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::policy::decide;

use mppsol_client::operator::IDEMPOTENCY_HEADER;

/// Longest memo (the SPL Memo program's practical limit in one transaction).
pub(crate) const MAX_MEMO_BYTES: usize = 566;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateTransfer {
    amount: AmountIn,
    counterparty: String,
    memo: Option<String>,
    category: Option<String>,
    session_id: Option<String>,
}

/// SHA-256 over length-prefixed fields: what "the same request" means for an idempotency key.
pub(crate) fn request_hash(fields: &[Option<&str>]) -> [u8; 32] {
    let mut h = Sha256::new();
    for f in fields {
        match f {
            Some(text) => {
                h.update([1]);
                h.update((text.len() as u64).to_be_bytes());
                h.update(text.as_bytes());
            }
            None => h.update([0]),
        }
    }
    h.finalize().into()
}

/// A rejected transfer's violation, as recorded.
fn violation_of(t: &Transfer) -> Violation {
    Violation {
        rule: t.rejection_rule.clone().unwrap_or_default(),
        reason: t.rejection_reason.clone().unwrap_or_default(),
    }
}

/// The status and body for a transfer request's outcome (shared with custodial credentials).
pub(crate) fn outcome_response(
    outcome: TransferOutcome,
) -> Result<(StatusCode, Transfer), ApiError> {
    let (fresh, transfer) = match outcome {
        TransferOutcome::Created(t) => (true, t),
        TransferOutcome::Replayed(t) => (false, t),
        TransferOutcome::KeyConflict(t) => {
            return Err(ApiError::Conflict(format!(
                "this idempotency key was used for a different request (transfer {})",
                t.id
            )));
        }
    };
    match transfer.status {
        TransferStatus::Rejected => Err(ApiError::PolicyViolation {
            violation: violation_of(&transfer),
            transfer_id: Some(transfer.id),
        }),
        TransferStatus::PendingApproval => Ok((StatusCode::ACCEPTED, transfer)),
        _ if fresh => Ok((StatusCode::CREATED, transfer)),
        _ => Ok((StatusCode::OK, transfer)),
    }
}

pub(super) async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(account_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let account = visible_account(&state, &caller, &account_id).await?;
    let key = headers
        .get(IDEMPOTENCY_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|k| (1..=255).contains(&k.len()))
        .ok_or_else(|| {
            ApiError::BadRequest(
                "an Idempotency-Key header (1 to 255 characters) is required".into(),
            )
        })?
        .to_owned();
    let body: CreateTransfer = parse_body(&body)?;
    let amount = check_amount("amount", body.amount.0)?;
    Address::from_str(&body.counterparty)
        .map_err(|_| ApiError::invalid("counterparty", "not a Solana address"))?;
    check_len("memo", body.memo.as_deref(), MAX_MEMO_BYTES)?;
    check_len("category", body.category.as_deref(), 64)?;
    let amount_text = amount.to_string();
    let hash = request_hash(&[
        Some(&amount_text),
        Some(&body.counterparty),
        body.memo.as_deref(),
        body.category.as_deref(),
        body.session_id.as_deref(),
    ]);
    let outcome = state
        .store()
        .request_transfer(
            &caller.actor,
            &NewTransfer {
                account_id: account.id.clone(),
                kind: TransferKind::Transfer,
                amount,
                currency: account.currency.clone(),
                counterparty: body.counterparty,
                memo: body.memo,
                category: body.category,
                session_id: body.session_id,
                idempotency_key: key,
                request_hash: hash,
                signature: None,
            },
            decide,
            state.now(),
        )
        .await?;
    let (status, transfer) = outcome_response(outcome)?;
    // A non-custodial account's transfer carries the transaction its agent signs.
    Ok(json(
        status,
        super::agent_signed::transfer_view(&state, &account, transfer).await?,
    ))
}

pub(super) async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let page = page(&query)?;
    let account_id = caller.scoped_account(query.get("account_id").cloned())?;
    let status = query
        .get("status")
        .map(|s| {
            TransferStatus::parse(s).map_err(|_| {
                ApiError::invalid(
                    "status",
                    "one of pending_approval, pending, settled, rejected, failed",
                )
            })
        })
        .transpose()?;
    let filter = TransferFilter {
        account_id,
        status,
        session_id: query.get("session_id").cloned(),
    };
    let rows = state
        .store()
        .list_transfers(&caller.actor, &filter, &page)
        .await?;
    Ok(list_response(&rows, &page, |t: &Transfer| {
        (t.created_at, t.id.as_str())
    }))
}

/// The caller's view of one transfer, or not found.
pub(super) async fn visible_transfer(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<Transfer, ApiError> {
    let transfer = state
        .store()
        .get_transfer(&caller.actor, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("transfer {id}")))?;
    caller
        .require_account(&transfer.account_id)
        .map_err(|_| ApiError::NotFound(format!("transfer {id}")))?;
    Ok(transfer)
}

pub(super) async fn get_one(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let transfer = visible_transfer(&state, &caller, &id).await?;
    let account = visible_account(&state, &caller, &transfer.account_id).await?;
    Ok(json(
        StatusCode::OK,
        super::agent_signed::transfer_view(&state, &account, transfer).await?,
    ))
}

pub(super) async fn approve(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require_operator()?;
    let t = approve_transfer(&state, &caller.actor, &id).await?;
    // A non-custodial transfer comes back with the transaction its agent must sign.
    let account = visible_account(&state, &caller, &t.account_id).await?;
    Ok(json(
        StatusCode::OK,
        super::agent_signed::transfer_view(&state, &account, t).await?,
    ))
}

/// Approves an escalated transfer of the actor's operator (the API and the dashboard).
pub(crate) async fn approve_transfer(
    state: &AppState,
    actor: &Actor,
    id: &str,
) -> Result<Transfer, ApiError> {
    match state
        .store()
        .approve_transfer(actor, id, decide, state.now())
        .await?
    {
        ApprovalOutcome::Approved(t) => Ok(t),
        ApprovalOutcome::NotPending(t) => Err(ApiError::Conflict(format!(
            "transfer {} is {}, not pending_approval",
            t.id, t.status
        ))),
        ApprovalOutcome::Refused(t, violation) => Err(ApiError::PolicyViolation {
            violation,
            transfer_id: Some(t.id),
        }),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RejectBody {
    reason: String,
}

pub(super) async fn reject(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    caller.require_operator()?;
    let body: RejectBody = parse_body(&body)?;
    Ok(json(
        StatusCode::OK,
        reject_transfer(&state, &caller.actor, &id, &body.reason).await?,
    ))
}

/// Rejects an escalated transfer of the actor's operator with a reason (the API and the
/// dashboard).
pub(crate) async fn reject_transfer(
    state: &AppState,
    actor: &Actor,
    id: &str,
    reason: &str,
) -> Result<Transfer, ApiError> {
    if !(1..=500).contains(&reason.len()) {
        return Err(ApiError::invalid("reason", "1 to 500 bytes"));
    }
    match state
        .store()
        .reject_transfer(actor, id, reason, state.now())
        .await?
    {
        RejectOutcome::Rejected(t) => Ok(t),
        RejectOutcome::NotPending(t) => Err(ApiError::Conflict(format!(
            "transfer {} is {}, not pending_approval",
            t.id, t.status
        ))),
    }
}
