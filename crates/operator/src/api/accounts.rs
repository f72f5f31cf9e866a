//! Accounts and their policies.

use std::collections::HashMap;
use std::str::FromStr;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use mppsol_solana::token::{TokenProgram, associated_token_address};
use mppsol_store::operator::{
    Account, AccountStatus, Actor, CustodyMode, NewAccount, Policy, PolicyWalletRecord,
};
use serde::Deserialize;
use solana_address::Address;
use solana_keypair::Keypair;
use solana_signer::Signer;

use super::{AmountIn, json, list_response, page, parse_body};
use crate::AppState;
use crate::auth::Caller;
use crate::crypto::account_key_context;
use crate::error::ApiError;
use crate::policy_wallet;

/// Most entries in a policy list.
const MAX_LIST: usize = 1000;

/// An account to create, as the API (and the dashboard's form) takes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateAccount {
    pub(crate) handle: String,
    pub(crate) custody_mode: CustodyMode,
    /// Required for non-custodial accounts (the agent's own address); custodial ones get a
    /// key generated here.
    pub(crate) address: Option<String>,
    /// `sol` (default) or a mint address.
    pub(crate) currency: Option<String>,
    pub(crate) policy: Option<PolicyBody>,
}

/// A policy as the API takes it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PolicyBody {
    pub(crate) max_single_transfer: Option<AmountIn>,
    pub(crate) max_daily_spend: Option<AmountIn>,
    pub(crate) allowed_counterparties: Option<Vec<String>>,
    pub(crate) categories: Option<Vec<String>>,
    #[serde(default)]
    pub(crate) require_memo: bool,
    pub(crate) escalation_threshold: Option<AmountIn>,
    #[serde(default)]
    pub(crate) paused: bool,
}

fn storable(field: &str, amount: Option<AmountIn>) -> Result<Option<u64>, ApiError> {
    match amount {
        Some(AmountIn(a)) if i64::try_from(a).is_err() => Err(ApiError::invalid(
            field,
            "exceeds the largest storable amount",
        )),
        other => Ok(other.map(|a| a.0)),
    }
}

impl PolicyBody {
    /// Checks every field and their consistency.
    pub(crate) fn validate(self) -> Result<Policy, ApiError> {
        let max_single_transfer = storable("max_single_transfer", self.max_single_transfer)?;
        let max_daily_spend = storable("max_daily_spend", self.max_daily_spend)?;
        let escalation_threshold = storable("escalation_threshold", self.escalation_threshold)?;
        if let (Some(single), Some(daily)) = (max_single_transfer, max_daily_spend)
            && single > daily
        {
            return Err(ApiError::invalid(
                "max_single_transfer",
                "is above max_daily_spend, so it could never be reached",
            ));
        }
        if let (Some(threshold), Some(single)) = (escalation_threshold, max_single_transfer)
            && threshold >= single
        {
            return Err(ApiError::invalid(
                "escalation_threshold",
                "must be below max_single_transfer, or nothing would ever escalate",
            ));
        }
        let allowed_counterparties = self
            .allowed_counterparties
            .map(|list| {
                check_list("allowed_counterparties", list, |c| {
                    Address::from_str(c).is_ok()
                })
            })
            .transpose()?;
        let categories = self
            .categories
            .map(|list| {
                check_list("categories", list, |c| {
                    (1..=64).contains(&c.len())
                        && c.bytes().all(|b| {
                            b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b)
                        })
                })
            })
            .transpose()?;
        Ok(Policy {
            max_single_transfer,
            max_daily_spend,
            allowed_counterparties,
            categories,
            require_memo: self.require_memo,
            escalation_threshold,
            paused: self.paused,
        })
    }
}

fn check_list(
    field: &str,
    mut list: Vec<String>,
    valid: impl Fn(&str) -> bool,
) -> Result<Vec<String>, ApiError> {
    if list.len() > MAX_LIST {
        return Err(ApiError::invalid(
            field,
            format!("at most {MAX_LIST} entries"),
        ));
    }
    if let Some(bad) = list.iter().find(|c| !valid(c)) {
        return Err(ApiError::invalid(
            field,
            format!("{bad:?} is not acceptable"),
        ));
    }
    list.sort();
    list.dedup();
    Ok(list)
}

fn check_handle(handle: &str) -> Result<(), ApiError> {
    let ok = (1..=64).contains(&handle.len())
        && handle
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "handle",
            "1 to 64 characters: letters, digits, '_', '.', '-'",
        ))
    }
}

/// `sol`, or a mint that exists on chain with its token program; the owner's token account
/// for it; the mint and its program.
async fn currency_of(
    state: &AppState,
    currency: Option<String>,
    owner: &Address,
) -> Result<(String, Option<String>, Option<(Address, TokenProgram)>), ApiError> {
    let currency = currency.unwrap_or_else(|| "sol".into());
    if currency.eq_ignore_ascii_case("sol") {
        return Ok(("sol".into(), None, None));
    }
    let mint = Address::from_str(&currency)
        .map_err(|_| ApiError::invalid("currency", "`sol` or a mint address"))?;
    let account = state
        .ledger()
        .get_account(&mint)
        .await
        .map_err(|e| ApiError::Unexpected(Box::new(e)))?
        .ok_or_else(|| ApiError::invalid("currency", "no such mint on this cluster"))?;
    let program = TokenProgram::from_id(&account.owner)
        .ok_or_else(|| ApiError::invalid("currency", "not a token mint"))?;
    let ata = associated_token_address(owner, &mint, program);
    Ok((
        mint.to_string(),
        Some(ata.to_string()),
        Some((mint, program)),
    ))
}

pub(super) async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, ApiError> {
    caller.require_operator()?;
    let (account, policy, wallet) =
        create_account(&state, &caller.actor, parse_body(&body)?).await?;
    Ok(json(
        StatusCode::CREATED,
        serde_json::json!({ "account": account, "policy": policy, "policy_wallet": wallet }),
    ))
}

/// Validates and creates an account of the actor's operator (the API and the dashboard).
pub(crate) async fn create_account(
    state: &AppState,
    actor: &Actor,
    body: CreateAccount,
) -> Result<(Account, Policy, Option<PolicyWalletRecord>), ApiError> {
    check_handle(&body.handle)?;
    let policy = body.policy.unwrap_or_default().validate()?;
    let (address, sealed_key) = match body.custody_mode {
        CustodyMode::Custodial => {
            if body.address.is_some() {
                return Err(ApiError::invalid(
                    "address",
                    "custodial accounts get a key generated by the service; omit it",
                ));
            }
            let keypair = Keypair::new();
            let address = keypair.pubkey();
            let sealed = state.master_key().seal(
                &keypair.to_bytes(),
                &account_key_context(&address.to_string()),
            );
            (address, Some(sealed))
        }
        CustodyMode::NonCustodial => {
            let text = body.address.ok_or_else(|| {
                ApiError::invalid("address", "required for non-custodial accounts")
            })?;
            let address = Address::from_str(&text)
                .map_err(|_| ApiError::invalid("address", "not a Solana address"))?;
            (address, None)
        }
    };
    let (currency, mut token_account, mint) = currency_of(state, body.currency, &address).await?;
    // A custodial token account pays through the policy program when this cluster has it:
    // the wallet (with the policy's rules) exists on chain before the account does, so no
    // payment can ever leave it outside those rules. A SOL account has no vault to pay from.
    let wallet = match (&body.custody_mode, state.policy_programs(), mint) {
        (CustodyMode::Custodial, Some(programs), Some((mint, program))) => {
            let owner = policy_wallet::owner_key(state, &actor.operator_id).await?;
            let record = policy_wallet::create(
                state,
                &programs,
                &owner,
                &address,
                (&mint, program),
                &policy_wallet::onchain_policy(&policy, &programs)?,
                policy.paused,
            )
            .await?;
            let wallet = Address::from_str(&record.wallet)
                .map_err(|_| ApiError::Unexpected("wallet does not parse".into()))?;
            token_account = Some(associated_token_address(&wallet, &mint, program).to_string());
            Some(record)
        }
        _ => None,
    };
    let account = state
        .store()
        .create_account(
            actor,
            &NewAccount {
                operator_id: actor.operator_id.clone(),
                handle: body.handle,
                address: address.to_string(),
                currency,
                token_account,
                sealed_key,
            },
            &policy,
            state.now(),
        )
        .await?;
    if let Some(record) = &wallet {
        state
            .store()
            .set_account_policy_wallet(&account.id, record, state.now())
            .await?;
    }
    Ok((account, policy, wallet))
}

pub(super) async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let page = page(&query)?;
    let rows = match &caller.account_id {
        // An agent sees its own account only.
        Some(own) => state
            .store()
            .get_account(&caller.actor, own)
            .await?
            .into_iter()
            .collect(),
        None => state.store().list_accounts(&caller.actor, &page).await?,
    };
    Ok(list_response(&rows, &page, |a: &Account| {
        (a.created_at, a.id.as_str())
    }))
}

/// The caller's view of one account, or not found.
pub(crate) async fn visible_account(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<Account, ApiError> {
    caller.require_account(id)?;
    state
        .store()
        .get_account(&caller.actor, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("account {id}")))
}

pub(super) async fn get_one(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let account = visible_account(&state, &caller, &id).await?;
    Ok(json(StatusCode::OK, account))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateAccount {
    status: AccountStatus,
}

pub(super) async fn update(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    caller.require_operator()?;
    let body: UpdateAccount = parse_body(&body)?;
    // The wallet's pause first: a pause the chain did not take is not recorded either.
    let current = visible_account(&state, &caller, &id).await?;
    let policy = state.store().get_policy(&caller.actor, &id).await?;
    policy_wallet::mirror_policy(&state, &current, &policy, body.status).await?;
    let account = state
        .store()
        .set_account_status(&caller.actor, &id, body.status, state.now())
        .await?;
    Ok(json(StatusCode::OK, account))
}

pub(super) async fn get_policy(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require_account(&id)?;
    let policy = state.store().get_policy(&caller.actor, &id).await?;
    Ok(json(StatusCode::OK, policy))
}

pub(super) async fn put_policy(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    caller.require_operator()?;
    let policy = parse_body::<PolicyBody>(&body)?.validate()?;
    // The chain first: a policy the wallet did not take is not recorded either.
    let account = visible_account(&state, &caller, &id).await?;
    policy_wallet::mirror_policy(&state, &account, &policy, account.status).await?;
    let stored = state
        .store()
        .put_policy(&caller.actor, &id, &policy, state.now())
        .await?;
    Ok(json(StatusCode::OK, stored))
}
