//! Accounts: list and search, create, and one account's detail with its balances (read from
//! the ledger), today's spend, recent payments, its policy form and pause/unpause. Creating
//! and policy edits go through the API's own validation; a refused form comes back with the
//! error and what was typed.

use std::collections::HashMap;
use std::str::FromStr;

use askama::Template;
use axum::Extension;
use axum::extract::{Form, Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use mppsol_store::operator::{Account, AccountStatus, CustodyMode, Page, Policy, TransferSearch};
use serde::Deserialize;
use solana_address::Address;

use super::auth::Viewer;
use super::transfers::{TransferRow, rows};
use super::view::{
    Nav, PageError, PageResult, Unit, Units, When, parse_units, render, render_with,
};
use crate::AppState;
use crate::api::accounts::{CreateAccount, PolicyBody, create_account};
use crate::api::{AmountIn, next_cursor, page as parse_page};
use crate::error::ApiError;

/// Rows per page.
const PER_PAGE: u32 = 50;

/// What the create form holds (echoed back when refused).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct NewAccountForm {
    #[serde(default)]
    handle: String,
    #[serde(default)]
    custody_mode: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    currency: String,
}

struct AccountRow {
    id: String,
    handle: String,
    address: String,
    currency: String,
    custody: &'static str,
    status: &'static str,
    created: When,
}

#[derive(Template)]
#[template(path = "dashboard/accounts.html")]
struct ListPage {
    nav: Nav,
    q: String,
    rows: Vec<AccountRow>,
    next: Option<String>,
    form: NewAccountForm,
    error: Option<String>,
}

async fn list_page(
    state: &AppState,
    viewer: &Viewer,
    q: &HashMap<String, String>,
    form: NewAccountForm,
    error: Option<String>,
) -> Result<ListPage, PageError> {
    let mut q = q.clone();
    q.insert("limit".into(), PER_PAGE.to_string());
    let page = parse_page(&q)?;
    let search = q.get("q").map(|s| s.trim().to_owned()).unwrap_or_default();
    let found = state
        .store()
        .search_accounts(&viewer.actor, &search, &page)
        .await?;
    let mut units = Units::new(state);
    let mut rows = Vec::with_capacity(found.len());
    for a in &found {
        rows.push(AccountRow {
            id: a.id.clone(),
            handle: a.handle.clone(),
            address: a.address.clone(),
            currency: units.of(&a.currency).await.symbol,
            custody: a.custody_mode.as_str(),
            status: a.status.as_str(),
            created: When::at(a.created_at),
        });
    }
    let query = if search.is_empty() {
        String::new()
    } else {
        serde_urlencoded::to_string([("q", &search)]).unwrap_or_default() + "&"
    };
    Ok(ListPage {
        nav: viewer.nav("accounts"),
        next: next_cursor(&found, &page, |a| (a.created_at, a.id.as_str()))
            .map(|c| format!("?{query}cursor={c}")),
        q: search,
        rows,
        form,
        error,
    })
}

pub(crate) async fn list(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    let page = list_page(&state, &viewer, &q, NewAccountForm::default(), None).await?;
    Ok(render(&page))
}

pub(crate) async fn create(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    Form(form): Form<NewAccountForm>,
) -> PageResult {
    let custody_mode = match form.custody_mode.as_str() {
        "non_custodial" => CustodyMode::NonCustodial,
        _ => CustodyMode::Custodial,
    };
    let some = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
    let body = CreateAccount {
        handle: form.handle.trim().to_owned(),
        custody_mode,
        address: some(&form.address),
        currency: some(&form.currency),
        policy: None,
    };
    match create_account(&state, &viewer.actor, body).await {
        Ok((account, _, _)) => Ok(Redirect::to(&format!(
            "/dashboard/accounts/{}?created=1",
            account.id
        ))
        .into_response()),
        Err(e) if is_callers(&e) => {
            let status = e.status();
            let page =
                list_page(&state, &viewer, &HashMap::new(), form, Some(e.to_string())).await?;
            Ok(render_with(status, &page))
        }
        Err(e) => Err(e.into()),
    }
}

/// Errors a form shows next to itself (the rest are error pages).
fn is_callers(e: &ApiError) -> bool {
    matches!(
        e,
        ApiError::Invalid { .. } | ApiError::Conflict(_) | ApiError::BadRequest(_)
    )
}

/// The policy form's fields, in token units and one-per-line lists.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct PolicyForm {
    #[serde(default)]
    max_single_transfer: String,
    #[serde(default)]
    max_daily_spend: String,
    #[serde(default)]
    escalation_threshold: String,
    #[serde(default)]
    allowed_counterparties: String,
    #[serde(default)]
    categories: String,
    require_memo: Option<String>,
    paused: Option<String>,
}

impl PolicyForm {
    /// The form showing `policy`.
    fn of(policy: &Policy, unit: &Unit) -> Self {
        let amount = |a: Option<u64>| a.map(|a| unit.plain(a)).unwrap_or_default();
        Self {
            max_single_transfer: amount(policy.max_single_transfer),
            max_daily_spend: amount(policy.max_daily_spend),
            escalation_threshold: amount(policy.escalation_threshold),
            allowed_counterparties: policy
                .allowed_counterparties
                .as_ref()
                .map(|l| l.join("\n"))
                .unwrap_or_default(),
            categories: policy
                .categories
                .as_ref()
                .map(|l| l.join(", "))
                .unwrap_or_default(),
            require_memo: policy.require_memo.then(|| "on".into()),
            paused: policy.paused.then(|| "on".into()),
        }
    }

    /// The API's policy body: amounts read in the currency's units; empty means no limit.
    fn body(&self, unit: &Unit) -> Result<PolicyBody, ApiError> {
        let decimals = unit.decimals.unwrap_or(0);
        let amount = |field: &str, text: &str| -> Result<Option<AmountIn>, ApiError> {
            if text.trim().is_empty() {
                return Ok(None);
            }
            parse_units(text, decimals)
                .map(|a| Some(AmountIn(a)))
                .ok_or_else(|| {
                    ApiError::invalid(
                        field,
                        format!(
                            "{text:?} is not an amount of {} (at most {decimals} decimals)",
                            unit.symbol
                        ),
                    )
                })
        };
        let list = |text: &str, split: &[char]| -> Option<Vec<String>> {
            let items: Vec<String> = text
                .split(split)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            (!items.is_empty()).then_some(items)
        };
        Ok(PolicyBody {
            max_single_transfer: amount("max_single_transfer", &self.max_single_transfer)?,
            max_daily_spend: amount("max_daily_spend", &self.max_daily_spend)?,
            escalation_threshold: amount("escalation_threshold", &self.escalation_threshold)?,
            allowed_counterparties: list(&self.allowed_counterparties, &['\n', ',', ' ', '\r']),
            categories: list(&self.categories, &[',', '\n', ' ', '\r']),
            require_memo: self.require_memo.is_some(),
            paused: self.paused.is_some(),
        })
    }
}

#[derive(Template)]
#[template(path = "dashboard/account.html")]
struct DetailPage {
    nav: Nav,
    account: Account,
    created: When,
    unit: Unit,
    balances: Vec<(String, String)>,
    spent_today: String,
    recent: Vec<TransferRow>,
    form: PolicyForm,
    error: Option<String>,
    notice: Option<&'static str>,
}

async fn visible(state: &AppState, viewer: &Viewer, id: &str) -> Result<Account, PageError> {
    state
        .store()
        .get_account(&viewer.actor, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("account {id}")).into())
}

/// Balances from the ledger; a failed read says so instead of failing the page.
async fn balances(state: &AppState, account: &Account, unit: &Unit) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let sol = Unit {
        symbol: "SOL".into(),
        decimals: Some(9),
    };
    let unavailable = || "unavailable (RPC error)".to_owned();
    if let Ok(address) = Address::from_str(&account.address) {
        let v = state.ledger().balance(&address).await;
        out.push((
            "SOL".into(),
            v.map(|l| sol.show(l)).unwrap_or_else(|_| unavailable()),
        ));
    }
    if let Some(ta) = account
        .token_account
        .as_deref()
        .and_then(|t| Address::from_str(t).ok())
    {
        let v = state.ledger().token_balance(&ta).await;
        let text = match v {
            Ok(Some(t)) => Unit {
                symbol: unit.symbol.clone(),
                decimals: Some(t.decimals),
            }
            .show(t.amount),
            Ok(None) => format!("no token account yet (0 {})", unit.symbol),
            Err(_) => unavailable(),
        };
        out.push((unit.symbol.clone(), text));
    }
    out
}

async fn detail_page(
    state: &AppState,
    viewer: &Viewer,
    account: Account,
    form: Option<PolicyForm>,
    error: Option<String>,
    notice: Option<&'static str>,
) -> Result<DetailPage, PageError> {
    let mut units = Units::new(state);
    let unit = units.of(&account.currency).await;
    let form = match form {
        Some(f) => f,
        None => PolicyForm::of(
            &state.store().get_policy(&viewer.actor, &account.id).await?,
            &unit,
        ),
    };
    let spent = state
        .store()
        .spent_on_day(&viewer.actor, &account.id, state.now())
        .await?;
    let recent = state
        .store()
        .search_transfers(
            &viewer.actor,
            &TransferSearch {
                account_id: Some(account.id.clone()),
                ..TransferSearch::default()
            },
            &Page {
                after: None,
                limit: 10,
            },
        )
        .await?;
    let handles = HashMap::from([(account.id.clone(), account.handle.clone())]);
    Ok(DetailPage {
        nav: viewer.nav("accounts"),
        created: When::at(account.created_at),
        balances: balances(state, &account, &unit).await,
        spent_today: unit.show(spent),
        recent: rows(&mut units, &handles, &recent).await,
        unit,
        account,
        form,
        error,
        notice,
    })
}

pub(crate) async fn detail(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    let account = visible(&state, &viewer, &id).await?;
    let notice = if q.contains_key("created") {
        Some("Account created. Set its spending policy below.")
    } else if q.contains_key("saved") {
        Some("Policy saved.")
    } else {
        None
    };
    Ok(render(
        &detail_page(&state, &viewer, account, None, None, notice).await?,
    ))
}

pub(crate) async fn policy(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    Path(id): Path<String>,
    Form(form): Form<PolicyForm>,
) -> PageResult {
    let account = visible(&state, &viewer, &id).await?;
    let unit = Units::new(&state).of(&account.currency).await;
    let saved = match form.body(&unit).and_then(PolicyBody::validate) {
        Ok(policy) => state
            .store()
            .put_policy(&viewer.actor, &id, &policy, state.now())
            .await
            .map_err(ApiError::from),
        Err(e) => Err(e),
    };
    match saved {
        Ok(_) => Ok(Redirect::to(&format!("/dashboard/accounts/{id}?saved=1")).into_response()),
        Err(e) if is_callers(&e) => {
            let status = e.status();
            let page = detail_page(
                &state,
                &viewer,
                account,
                Some(form),
                Some(e.to_string()),
                None,
            )
            .await?;
            Ok(render_with(status, &page))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub(crate) struct StatusForm {
    status: String,
}

pub(crate) async fn status(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    Path(id): Path<String>,
    Form(form): Form<StatusForm>,
) -> Result<Response, PageError> {
    let status = match form.status.as_str() {
        "paused" => AccountStatus::Paused,
        "active" => AccountStatus::Active,
        _ => return Err(ApiError::invalid("status", "active or paused").into()),
    };
    state
        .store()
        .set_account_status(&viewer.actor, &id, status, state.now())
        .await?;
    Ok(Redirect::to(&format!("/dashboard/accounts/{id}")).into_response())
}
