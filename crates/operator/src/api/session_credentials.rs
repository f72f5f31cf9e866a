//! Custodial sessions: a `solana`/`session` challenge sent to
//! `POST /v1/accounts/{id}/credentials`. The service pays it with the client crate's
//! `SolanaSessionClient` on the account key (from its policy wallet through `fundChannel` when
//! it has one): it opens the channel (deposit: the body's `deposit`, else the challenge's
//! suggested or minimum one), signs each next cumulative voucher, tops up when the deposit is
//! spent, and closes on `close: true`. Channel state lives in the client-channel store of the
//! same database; every voucher amount is stored before the voucher leaves, so a crash never
//! loses the highest one, and a voucher signed again for the same amount is the same bytes
//! (Ed25519 is deterministic). The agent reports each receipt with the credential it answered
//! (`observe`), which moves the channel's accepted amount and the account's session.

use std::sync::Arc;

use mpp::{Challenge, ClientMethod, Credential, Receipt, format_authorization};
use mppsol_client::{PolicyWallet, SolanaSessionClient};
use mppsol_solana::session::{SessionPayload, SessionRequest};
use mppsol_store::operator::{
    Account, CustodyMode, Decision, NewTransfer, PolicyContext, TransferKind,
};
use serde_json::Value;

use super::credentials::custodial_key;
use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::policy::decide;
use crate::policy_wallet;

/// What the agent asked besides the challenge.
pub(super) struct SessionOptions {
    /// Close the channel (cooperative close) instead of paying a request.
    pub close: bool,
    /// Deposit of a channel opened now.
    pub deposit: Option<u64>,
    /// For the policy.
    pub memo: Option<String>,
    /// For the policy.
    pub category: Option<String>,
}

fn request(challenge: &Challenge) -> Result<SessionRequest, ApiError> {
    SessionRequest::from_json(challenge.request_value())
        .map_err(|e| ApiError::Unpayable(format!("unusable session request: {e}")))
}

/// The account's session client (its key, its wallet when it has one).
async fn client(
    state: &AppState,
    caller: &Caller,
    account: &Account,
    deposit: u64,
) -> Result<SolanaSessionClient, ApiError> {
    let store = state.session_store().ok_or_else(|| {
        ApiError::Unpayable("this service is not configured to pay sessions".into())
    })?;
    let keypair = custodial_key(state, caller, account).await?;
    let mut client = SolanaSessionClient::new(
        Arc::new(keypair),
        state.ledger().clone(),
        store,
        state.network(),
        deposit,
    );
    if let Some(record) = state.store().account_policy_wallet(&account.id).await? {
        let programs = state.policy_programs().ok_or_else(|| {
            ApiError::Chain("the account pays through the policy program, which this service is not configured for".into())
        })?;
        let k = policy_wallet::wallet_keys(&record, &account.address)?;
        client =
            client.with_policy_wallet(PolicyWallet::new(k.program, programs.payments, k.owner));
        client.expected_programs = programs.channel.into_iter().collect();
    }
    Ok(client)
}

/// The spending rules on what a session credential moves now (escalation does not apply:
/// a session cannot wait for a person between requests).
async fn check_policy(
    state: &AppState,
    caller: &Caller,
    account: &Account,
    req: &SessionRequest,
    amount: u64,
    opts: &SessionOptions,
    realm: &str,
) -> Result<(), ApiError> {
    let policy = state.store().get_policy(&caller.actor, &account.id).await?;
    let spent_today = state
        .store()
        .spent_on_day(&caller.actor, &account.id, state.now())
        .await?;
    let transfer = NewTransfer {
        account_id: account.id.clone(),
        kind: TransferKind::Charge,
        amount,
        currency: req.currency.clone(),
        counterparty: req.recipient.to_string(),
        memo: opts.memo.clone().or_else(|| Some(realm.to_owned())),
        category: opts.category.clone(),
        session_id: None,
        idempotency_key: String::new(),
        request_hash: [0; 32],
        signature: None,
    };
    match decide(&PolicyContext {
        account,
        policy: &policy,
        spent_today,
        transfer: &transfer,
        approving: true,
    }) {
        Decision::Reject(violation) => {
            state
                .store()
                .record_violation(&caller.actor, &transfer, &violation, state.now())
                .await?;
            Err(ApiError::PolicyViolation {
                violation,
                transfer_id: None,
            })
        }
        Decision::Accept | Decision::Escalate => Ok(()),
    }
}

/// Signs the next step of the account's session with `challenge`'s server.
pub(super) async fn sign(
    state: &AppState,
    caller: &Caller,
    account: &Account,
    challenge: &Challenge,
    opts: &SessionOptions,
) -> Result<Value, ApiError> {
    let req = request(challenge)?;
    let deposit = opts
        .deposit
        .or(req.suggested_deposit.map(|d| d.get()))
        .or(req.minimum_deposit.map(|d| d.get()))
        .unwrap_or_else(|| req.amount.get().saturating_mul(100));
    let client = client(state, caller, account, deposit).await?;
    let unpayable = |e: mpp::MethodError| {
        ApiError::Unpayable(format!("could not build the session step: {}", e.detail))
    };
    let credential = if opts.close {
        match client.close_credential(challenge) {
            Some(step) => step.await.map_err(unpayable)?,
            None => return Err(ApiError::Unpayable("nothing to close".into())),
        }
    } else {
        client
            .create_credential(challenge)
            .await
            .map_err(unpayable)?
    };
    let payload = SessionPayload::from_json(&Value::Object(credential.payload.clone()))
        .map_err(|e| ApiError::Unexpected(format!("own session payload: {e}").into()))?;
    // Signed but not yet released: a refusal here discards it (the channel record of an open
    // that never lands is found closed on the next load; a voucher's amount is only a mark).
    let moves = match &payload {
        SessionPayload::Open(o) => o.deposit_amount,
        SessionPayload::TopUp(t) => t.additional_amount,
        SessionPayload::Voucher(_) => req.amount.get(),
        _ => 0,
    };
    if moves > 0 {
        check_policy(state, caller, account, &req, moves, opts, &challenge.realm).await?;
    }
    Ok(serde_json::json!({
        "authorization": format_authorization(&credential),
        "action": payload.action(),
        "channel_id": payload.channel_id().to_string(),
    }))
}

/// Applies a session receipt the agent reports with the credential it answered to the
/// account's channel (accepted amount, deposit, status); returns the channel's deposit and
/// program. `None` when the account has no such channel here (a non-custodial report).
pub(super) async fn observe(
    state: &AppState,
    caller: &Caller,
    account: &Account,
    credential: &Credential,
    receipt: &Receipt,
) -> Result<Option<(u64, String)>, ApiError> {
    let Some(store) = state.session_store() else {
        return Ok(None);
    };
    if account.custody_mode != CustodyMode::Custodial {
        return Ok(None);
    }
    let payload = SessionPayload::from_json(&Value::Object(credential.payload.clone()))
        .map_err(|e| ApiError::invalid("credential", format!("not a session credential: {e}")))?;
    let channel_id = payload.channel_id().to_string();
    if channel_id != receipt.reference {
        return Err(ApiError::invalid(
            "credential",
            "answers another channel than the receipt",
        ));
    }
    let mine =
        |ch: &mppsol_store::ClientChannel| ch.scope.starts_with(&format!("{}|", account.address));
    let known = match store
        .client_channel(&channel_id)
        .await
        .map_err(|e| ApiError::Unexpected(Box::new(e)))?
    {
        Some(ch) if mine(&ch) => ch,
        _ => return Ok(None),
    };
    // With vouchers signed here (the account key is the channel's signer), the server cannot
    // have accepted more than was ever signed: a receipt that says so is not one, and would
    // make the next voucher overpay. (With the server's operator signing, the bearer proof
    // carries no amount.)
    let accepted = receipt
        .extra
        .get("acceptedCumulative")
        .and_then(|v| v.as_str())
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(0);
    if known.authorized_signer == account.address && accepted > known.signed_cumulative {
        return Err(ApiError::invalid(
            "receipt",
            format!(
                "accepts {accepted}, but only {} was ever signed for this channel",
                known.signed_cumulative
            ),
        ));
    }
    client(state, caller, account, 0)
        .await?
        .on_receipt(credential, receipt)
        .await;
    let ch = store
        .client_channel(&channel_id)
        .await
        .map_err(|e| ApiError::Unexpected(Box::new(e)))?
        .ok_or_else(|| ApiError::Unexpected("the channel record vanished".into()))?;
    Ok(Some((ch.deposit, ch.channel_program)))
}
