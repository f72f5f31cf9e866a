//! What agents report and operators watch: receipts of payments agents made themselves,
//! sessions, and events.

use std::collections::HashMap;
use std::str::FromStr;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use mppsol_store::operator::{
    EventType, NewTransfer, ReceiptOutcome, Session, SessionRef, TransferKind,
};
use serde::Deserialize;
use solana_address::Address;

use super::accounts::visible_account;
use super::transfers::{MAX_MEMO_BYTES, request_hash};
use super::{AmountIn, check_amount, check_len, json, list_response, page, parse_body};
use super::{session_credentials, session_reports};
use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReceiptBody {
    /// The `Payment-Receipt` header value the provider returned.
    receipt: String,
    /// Required, except for session receipts (their accepted cumulative amount says it).
    amount: Option<AmountIn>,
    counterparty: String,
    memo: Option<String>,
    category: Option<String>,
    session: Option<SessionBody>,
    /// Session receipts of a custodial account: the `Authorization` value the receipt
    /// answered (the service moves its channel state with it).
    credential: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SessionBody {
    provider_endpoint: String,
    /// The session's cap: its deposit (a custodial session's is known here).
    cap: Option<AmountIn>,
    /// The channel program of a session receipt (its channel is the receipt's reference).
    channel_program: Option<String>,
}

pub(super) async fn ingest_receipt(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(account_id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let account = visible_account(&state, &caller, &account_id).await?;
    let body: ReceiptBody = parse_body(&body)?;
    let receipt = mpp::parse_payment_receipt(&body.receipt)
        .map_err(|e| ApiError::invalid("receipt", format!("not a Payment-Receipt value: {e}")))?;
    if receipt.status != mpp::receipt::STATUS_SUCCESS {
        return Err(ApiError::invalid(
            "receipt",
            "only successful payments are recorded",
        ));
    }
    if session_reports::is_session(&receipt) {
        let s = body
            .session
            .as_ref()
            .ok_or_else(|| ApiError::invalid("session", "required with a session receipt"))?;
        if !(1..=2048).contains(&s.provider_endpoint.len()) {
            return Err(ApiError::invalid(
                "session.provider_endpoint",
                "1 to 2048 bytes",
            ));
        }
        let custodial = match &body.credential {
            Some(text) => {
                let credential = mpp::parse_authorization(text).map_err(|e| {
                    ApiError::invalid("credential", format!("not an Authorization value: {e}"))
                })?;
                session_credentials::observe(&state, &caller, &account, &credential, &receipt)
                    .await?
            }
            None => None,
        };
        let deposit = match (&custodial, &s.cap) {
            (Some((deposit, _)), _) => *deposit,
            (None, Some(cap)) => check_amount("session.cap", cap.0)?,
            (None, None) => return Err(ApiError::invalid("session.cap", "required")),
        };
        let report = session_reports::report_of(
            &receipt,
            &account,
            &session_reports::SessionFields {
                provider_endpoint: &s.provider_endpoint,
                deposit,
                channel_program: custodial
                    .as_ref()
                    .map(|(_, p)| p.as_str())
                    .or(s.channel_program.as_deref()),
                payee: &body.counterparty,
            },
        )?;
        let session = session_reports::record(&state, &caller, &account, &report).await?;
        return Ok(json(
            StatusCode::OK,
            serde_json::json!({ "session": session }),
        ));
    }
    let amount = check_amount(
        "amount",
        body.amount
            .ok_or_else(|| ApiError::invalid("amount", "required"))?
            .0,
    )?;
    // The receipt of a charge this service signed settles that charge.
    if let Some(challenge_id) = receipt.extra.get("challengeId").and_then(|v| v.as_str())
        && let Some(settled) = state
            .store()
            .settle_charge(
                &caller.actor,
                &account.id,
                &format!("challenge:{challenge_id}"),
                &receipt.reference,
                state.now(),
            )
            .await?
    {
        if settled.amount != amount {
            return Err(ApiError::invalid(
                "amount",
                format!("the charge was for {}", settled.amount),
            ));
        }
        return Ok(json(StatusCode::OK, settled));
    }
    Address::from_str(&body.counterparty)
        .map_err(|_| ApiError::invalid("counterparty", "not a Solana address"))?;
    check_len("memo", body.memo.as_deref(), MAX_MEMO_BYTES)?;
    check_len("category", body.category.as_deref(), 64)?;
    let session = body
        .session
        .map(|s| {
            if !(1..=2048).contains(&s.provider_endpoint.len()) {
                return Err(ApiError::invalid(
                    "session.provider_endpoint",
                    "1 to 2048 bytes",
                ));
            }
            Ok(SessionRef {
                provider_endpoint: s.provider_endpoint,
                cap: check_amount(
                    "session.cap",
                    s.cap
                        .ok_or_else(|| ApiError::invalid("session.cap", "required"))?
                        .0,
                )?,
            })
        })
        .transpose()?;
    let amount_text = amount.to_string();
    let hash = request_hash(&[
        Some(&amount_text),
        Some(&body.counterparty),
        body.memo.as_deref(),
        body.category.as_deref(),
        session.as_ref().map(|s| s.provider_endpoint.as_str()),
    ]);
    let outcome = state
        .store()
        .ingest_receipt(
            &caller.actor,
            &NewTransfer {
                account_id: account.id.clone(),
                kind: TransferKind::Receipt,
                amount,
                currency: account.currency.clone(),
                counterparty: body.counterparty,
                memo: body.memo,
                category: body.category,
                session_id: None,
                idempotency_key: format!("receipt:{}", receipt.reference),
                request_hash: hash,
                signature: Some(receipt.reference),
            },
            session.as_ref(),
            state.now(),
        )
        .await?;
    match outcome {
        ReceiptOutcome::Recorded(t) => Ok(json(StatusCode::CREATED, t)),
        ReceiptOutcome::Duplicate(t) => Ok(json(StatusCode::OK, t)),
        ReceiptOutcome::OverSessionCap(s) => Err(ApiError::invalid(
            "amount",
            format!(
                "session {} has {} of its cap of {} used; this payment does not fit",
                s.id, s.running_total, s.cap
            ),
        )),
    }
}

pub(super) async fn list_sessions(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let page = page(&query)?;
    let account_id = caller.scoped_account(query.get("account_id").cloned())?;
    let rows = state
        .store()
        .list_sessions(&caller.actor, account_id.as_deref(), &page)
        .await?;
    Ok(list_response(&rows, &page, |s: &Session| {
        (s.created_at, s.id.as_str())
    }))
}

pub(super) async fn list_events(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    caller.require_operator()?;
    let event_type = query
        .get("type")
        .map(|t| EventType::parse(t).map_err(|_| ApiError::invalid("type", "not an event type")))
        .transpose()?;
    let events = state.store().list_events(&caller.actor, event_type).await?;
    Ok(json(StatusCode::OK, serde_json::json!({ "data": events })))
}
