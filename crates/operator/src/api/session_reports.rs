//! Session receipts (`intent="session"`) reported to `POST /v1/accounts/{id}/receipts`: the
//! receipt names the channel (its `reference`), the accepted cumulative amount and, on a
//! close, the closing transaction; the body names the provider, the deposit (the session's
//! cap) and the channel program. Each report moves the session's running total to the
//! accepted amount (`OperatorStore::report_session`).

use std::str::FromStr;

use mpp::Receipt;
use mppsol_store::operator::{Account, Session, SessionReport};
use solana_address::Address;

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;

/// Whether a receipt is a session receipt.
pub(super) fn is_session(receipt: &Receipt) -> bool {
    receipt.extra.get("intent").and_then(|v| v.as_str()) == Some("session")
}

/// What the body says about the session besides the receipt.
pub(super) struct SessionFields<'a> {
    pub provider_endpoint: &'a str,
    pub deposit: u64,
    pub channel_program: Option<&'a str>,
    pub payee: &'a str,
}

fn address(field: &str, text: &str) -> Result<(), ApiError> {
    Address::from_str(text)
        .map(|_| ())
        .map_err(|_| ApiError::invalid(field, "not a Solana address"))
}

/// The report a session receipt stands for.
pub(super) fn report_of(
    receipt: &Receipt,
    account: &Account,
    f: &SessionFields<'_>,
) -> Result<SessionReport, ApiError> {
    address("receipt", &receipt.reference)?;
    address("counterparty", f.payee)?;
    let program = f.channel_program.ok_or_else(|| {
        ApiError::invalid("session.channel_program", "required for session receipts")
    })?;
    address("session.channel_program", program)?;
    let accepted = receipt
        .extra
        .get("acceptedCumulative")
        .and_then(|v| v.as_str())
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| {
            ApiError::invalid("receipt", "a session receipt without acceptedCumulative")
        })?;
    let deposit = receipt
        .extra
        .get("deposit")
        .and_then(|v| v.as_str())
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(f.deposit)
        .max(f.deposit);
    let closed = receipt.extra.get("final").and_then(|v| v.as_bool()) == Some(true);
    Ok(SessionReport {
        channel_id: receipt.reference.clone(),
        channel_program: program.to_owned(),
        provider_endpoint: f.provider_endpoint.to_owned(),
        payee: f.payee.to_owned(),
        currency: account.currency.clone(),
        deposit,
        accepted_cumulative: accepted,
        closed,
        // A final receipt without a signature (the channel was closed earlier) still ends
        // the session; the reconciler finds the transaction later.
        close_signature: receipt
            .extra
            .get("txHash")
            .and_then(|v| v.as_str())
            .filter(|_| closed)
            .map(str::to_owned),
    })
}

/// Records the report.
pub(super) async fn record(
    state: &AppState,
    caller: &Caller,
    account: &Account,
    report: &SessionReport,
) -> Result<Session, ApiError> {
    Ok(state
        .store()
        .report_session(&caller.actor, &account.id, report, state.now())
        .await?)
}
