//! Transfers of non-custodial accounts: the transfer's view carries the `unsigned_transaction`
//! its agent must sign while it waits for one, and `POST /v1/transfers/{id}/signed` takes the
//! signed version back (only exactly that transfer, signed by the account) for the worker to
//! send (`crate::settlement::agent_signed`).

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use mppsol_store::operator::{Account, CustodyMode, Transfer, TransferKind, TransferStatus};
use serde::Deserialize;
use solana_address::Address;

use super::accounts::visible_account;
use super::{json, parse_body};
use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::settlement::agent_signed::{AgentTxError, check_agent_transaction, unsigned_transfer};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignedBody {
    /// The agent-signed wire transaction, base64.
    transaction: String,
}

fn payer_of(account: &Account) -> Result<Address, ApiError> {
    account
        .address
        .parse()
        .map_err(|_| ApiError::Unexpected("stored address does not parse".into()))
}

/// Whether the transfer waits for its agent's signed transaction.
async fn awaits_signature(
    state: &AppState,
    account: &Account,
    transfer: &Transfer,
) -> Result<bool, ApiError> {
    if account.custody_mode != CustodyMode::NonCustodial
        || transfer.kind != TransferKind::Transfer
        || transfer.status != TransferStatus::Pending
    {
        return Ok(false);
    }
    let job = state.store().outbox_job(&transfer.id).await?;
    Ok(job.is_some_and(|j| j.tx_signature.is_none()))
}

/// The transfer (of `account`) as JSON, with `unsigned_transaction` while its agent's
/// signature is awaited.
pub(super) async fn transfer_view(
    state: &AppState,
    account: &Account,
    transfer: Transfer,
) -> Result<serde_json::Value, ApiError> {
    let unsigned = if awaits_signature(state, account, &transfer).await? {
        Some(
            unsigned_transfer(state.ledger().as_ref(), &transfer, &payer_of(account)?)
                .await
                .map_err(|e| ApiError::Unexpected(Box::new(e)))?,
        )
    } else {
        None
    };
    let mut view =
        serde_json::to_value(&transfer).map_err(|e| ApiError::Unexpected(Box::new(e)))?;
    if let (Some(unsigned), Some(map)) = (unsigned, view.as_object_mut()) {
        map.insert("unsigned_transaction".into(), unsigned.into());
    }
    Ok(view)
}

/// `POST /v1/transfers/{id}/signed {transaction}`.
pub(super) async fn submit(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let transfer = super::transfers::visible_transfer(&state, &caller, &id).await?;
    let body: SignedBody = parse_body(&body)?;
    let account = visible_account(&state, &caller, &transfer.account_id).await?;
    if account.custody_mode != CustodyMode::NonCustodial {
        return Err(ApiError::Conflict(format!(
            "transfer {id} belongs to a custodial account: the service signs it"
        )));
    }
    if !awaits_signature(&state, &account, &transfer).await? {
        return Err(ApiError::Conflict(format!(
            "transfer {id} is {} and does not wait for a signed transaction",
            transfer.status
        )));
    }
    let attempt = check_agent_transaction(
        state.ledger().as_ref(),
        &transfer,
        &payer_of(&account)?,
        &body.transaction,
    )
    .await
    .map_err(|e| match e {
        AgentTxError::Settle(inner) => ApiError::Unexpected(Box::new(inner)),
        refused => ApiError::invalid("transaction", refused.to_string()),
    })?;
    if !state
        .store()
        .store_job_transaction(&caller.actor, &id, &attempt, None, state.now())
        .await?
    {
        // Another submission (or a state change) won the race.
        return Err(ApiError::Conflict(format!(
            "transfer {id} no longer waits for a signed transaction"
        )));
    }
    let recorded = super::transfers::visible_transfer(&state, &caller, &id).await?;
    Ok(json(
        StatusCode::ACCEPTED,
        serde_json::json!({"transfer": recorded, "signature": attempt.signature}),
    ))
}
