//! Transfers: filters (status, account, counterparty, UTC date range) over keyset pages, one
//! transfer's detail with its on-chain signature and receipt, and the CSV export of the
//! filtered set, streamed page by page.

use std::collections::HashMap;

use askama::Template;
use axum::Extension;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use futures::StreamExt as _;
use mppsol_store::operator::{Account, MAX_PAGE, Page, Transfer, TransferSearch, TransferStatus};

use super::auth::Viewer;
use super::view::{Nav, PageError, PageResult, Units, When, render, short};
use crate::AppState;
use crate::api::{next_cursor, page as parse_page};
use crate::error::ApiError;

/// Rows per page.
const PER_PAGE: u32 = 50;

/// A transfer as a table row.
pub(crate) struct TransferRow {
    pub(crate) id: String,
    pub(crate) when: When,
    pub(crate) account_id: String,
    pub(crate) account: String,
    pub(crate) amount: String,
    pub(crate) counterparty: String,
    pub(crate) counterparty_short: String,
    pub(crate) kind: &'static str,
    pub(crate) status: &'static str,
    pub(crate) memo: String,
    pub(crate) reason: String,
}

/// Handles of the viewer's accounts (for rows and the account filter). The first pages are
/// enough for the filter list; rows of other accounts show their id.
pub(crate) async fn handles(
    state: &AppState,
    viewer: &Viewer,
) -> Result<(Vec<Account>, HashMap<String, String>), PageError> {
    let accounts = state
        .store()
        .list_accounts(
            &viewer.actor,
            &Page {
                after: None,
                limit: MAX_PAGE,
            },
        )
        .await?;
    let map = accounts
        .iter()
        .map(|a| (a.id.clone(), a.handle.clone()))
        .collect();
    Ok((accounts, map))
}

/// Table rows of `transfers`.
pub(crate) async fn rows(
    units: &mut Units<'_>,
    handles: &HashMap<String, String>,
    transfers: &[Transfer],
) -> Vec<TransferRow> {
    let mut out = Vec::with_capacity(transfers.len());
    for t in transfers {
        out.push(TransferRow {
            id: t.id.clone(),
            when: When::at(t.created_at),
            account_id: t.account_id.clone(),
            account: handles
                .get(&t.account_id)
                .cloned()
                .unwrap_or_else(|| t.account_id.clone()),
            amount: units.show(t.amount, &t.currency).await,
            counterparty: t.counterparty.clone(),
            counterparty_short: short(&t.counterparty),
            kind: t.kind.as_str(),
            status: t.status.as_str(),
            memo: t.memo.clone().unwrap_or_default(),
            reason: t.rejection_reason.clone().unwrap_or_default(),
        });
    }
    out
}

/// The filters as typed (echoed back into the form) and as a search.
#[derive(Default)]
struct Filters {
    status: String,
    account: String,
    counterparty: String,
    from: String,
    to: String,
}

/// `YYYY-MM-DD` → Unix seconds at its UTC midnight.
fn day_start(field: &str, text: &str) -> Result<i64, ApiError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(text, format)
        .map(|d| d.midnight().assume_utc().unix_timestamp())
        .map_err(|_| ApiError::invalid(field, "a date as YYYY-MM-DD"))
}

impl Filters {
    fn read(q: &HashMap<String, String>) -> Self {
        let get = |k: &str| q.get(k).map(|v| v.trim().to_owned()).unwrap_or_default();
        Self {
            status: get("status"),
            account: get("account"),
            counterparty: get("counterparty"),
            from: get("from"),
            to: get("to"),
        }
    }

    fn search(&self) -> Result<TransferSearch, ApiError> {
        let some = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        let status = some(&self.status)
            .map(|s| {
                TransferStatus::parse(&s).map_err(|_| ApiError::invalid("status", "not a status"))
            })
            .transpose()?;
        Ok(TransferSearch {
            account_id: some(&self.account),
            status,
            counterparty: some(&self.counterparty),
            from: some(&self.from)
                .map(|d| day_start("from", &d))
                .transpose()?,
            // The "to" day is included: up to its end.
            until: some(&self.to)
                .map(|d| day_start("to", &d).map(|t| t + 86_400))
                .transpose()?,
        })
    }

    /// The filters as a query string (for the next page and the CSV link).
    fn query(&self) -> String {
        let pairs = [
            ("status", &self.status),
            ("account", &self.account),
            ("counterparty", &self.counterparty),
            ("from", &self.from),
            ("to", &self.to),
        ];
        serde_urlencoded::to_string(
            pairs
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .collect::<Vec<_>>(),
        )
        .unwrap_or_default()
    }

    fn any(&self) -> bool {
        !self.query().is_empty()
    }
}

/// A `<select>` option.
pub(crate) struct Opt {
    pub(crate) value: String,
    pub(crate) label: String,
    pub(crate) selected: bool,
}

#[derive(Template)]
#[template(path = "dashboard/transfers.html")]
struct ListPage {
    nav: Nav,
    filters: Filters,
    statuses: Vec<Opt>,
    accounts: Vec<Opt>,
    rows: Vec<TransferRow>,
    next: Option<String>,
    csv: String,
    error: Option<String>,
}

pub(crate) async fn list(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    Query(mut q): Query<HashMap<String, String>>,
) -> PageResult {
    q.insert("limit".into(), PER_PAGE.to_string());
    let page = parse_page(&q)?;
    let filters = Filters::read(&q);
    let (accounts, handles) = handles(&state, &viewer).await?;
    let (found, error) = match filters.search() {
        Ok(search) => (
            state
                .store()
                .search_transfers(&viewer.actor, &search, &page)
                .await?,
            None,
        ),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    let query = filters.query();
    let sep = if query.is_empty() { "" } else { "&" };
    let next = next_cursor(&found, &page, |t| (t.created_at, t.id.as_str()))
        .map(|c| format!("?{query}{sep}cursor={c}"));
    let mut units = Units::new(&state);
    Ok(render(&ListPage {
        nav: viewer.nav("transfers"),
        rows: rows(&mut units, &handles, &found).await,
        csv: format!("/dashboard/transfers.csv?{query}"),
        statuses: [
            "pending_approval",
            "pending",
            "settled",
            "rejected",
            "failed",
        ]
        .into_iter()
        .map(|v| Opt {
            value: v.into(),
            label: v.replace('_', " "),
            selected: filters.status == v,
        })
        .collect(),
        accounts: accounts
            .into_iter()
            .map(|a| Opt {
                selected: filters.account == a.id,
                value: a.id,
                label: a.handle,
            })
            .collect(),
        filters,
        next,
        error,
    }))
}

#[derive(Template)]
#[template(path = "dashboard/transfer.html")]
struct DetailPage {
    nav: Nav,
    row: TransferRow,
    t: Transfer,
    updated: When,
    settled: Option<When>,
    category: String,
    session: String,
    signatures: Vec<String>,
    job: Option<String>,
    receipt: String,
    pending_approval: bool,
}

pub(crate) async fn detail(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    Path(id): Path<String>,
) -> PageResult {
    let t = state
        .store()
        .get_transfer(&viewer.actor, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("transfer {id}")))?;
    let (_, handles) = handles(&state, &viewer).await?;
    let mut units = Units::new(&state);
    let row = rows(&mut units, &handles, std::slice::from_ref(&t))
        .await
        .pop()
        .ok_or_else(|| ApiError::NotFound(format!("transfer {id}")))?;
    let signatures = state.store().settlement_signatures(&t.id).await?;
    let job = state
        .store()
        .outbox_job(&t.id)
        .await?
        .map(|j| format!("{} · {} · {} attempt(s)", j.kind, j.status, j.attempts));
    // The receipt: the record as the API returns it (amounts as base-unit strings).
    let receipt = serde_json::to_string_pretty(&t).unwrap_or_default();
    Ok(render(&DetailPage {
        nav: viewer.nav("transfers"),
        row,
        updated: When::at(t.updated_at),
        settled: t.settled_at.map(When::at),
        category: t.category.clone().unwrap_or_default(),
        session: t.session_id.clone().unwrap_or_default(),
        signatures,
        job,
        receipt,
        pending_approval: t.status == TransferStatus::PendingApproval,
        t,
    }))
}

/// One CSV line (RFC 4180 quoting; a leading `=+-@` is defused so spreadsheets do not run it).
fn csv_line(fields: &[&str]) -> String {
    let mut line = String::new();
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        let f = if f.starts_with(['=', '+', '-', '@']) {
            format!("'{f}")
        } else {
            (*f).to_owned()
        };
        if f.contains([',', '"', '\n', '\r']) {
            line.push('"');
            line.push_str(&f.replace('"', "\"\""));
            line.push('"');
        } else {
            line.push_str(&f);
        }
    }
    line.push_str("\r\n");
    line
}

const CSV_HEADER: [&str; 13] = [
    "id",
    "created_at",
    "account_id",
    "kind",
    "amount",
    "currency",
    "counterparty",
    "status",
    "signature",
    "memo",
    "category",
    "rejection_reason",
    "settled_at",
];

fn csv_row(t: &Transfer) -> String {
    let amount = t.amount.to_string();
    let created = When::at(t.created_at).iso;
    let settled = t.settled_at.map(|s| When::at(s).iso).unwrap_or_default();
    csv_line(&[
        &t.id,
        &created,
        &t.account_id,
        t.kind.as_str(),
        &amount,
        &t.currency,
        &t.counterparty,
        t.status.as_str(),
        t.signature.as_deref().unwrap_or(""),
        t.memo.as_deref().unwrap_or(""),
        t.category.as_deref().unwrap_or(""),
        t.rejection_reason.as_deref().unwrap_or(""),
        &settled,
    ])
}

/// The filtered transfers as CSV (amounts in base units), streamed a page at a time.
pub(crate) async fn csv(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    let search = Filters::read(&q).search()?;
    let first = Page {
        after: None,
        limit: MAX_PAGE,
    };
    let header_line = csv_line(&CSV_HEADER);
    // State: the next page to read, or None when done.
    let pages = futures::stream::unfold(Some(first), move |next| {
        let (state, actor, search) = (state.clone(), viewer.actor.clone(), search.clone());
        async move {
            let page = next?;
            match state.store().search_transfers(&actor, &search, &page).await {
                Ok(found) => {
                    let chunk: String = found.iter().map(csv_row).collect();
                    let after = (found.len() == MAX_PAGE as usize)
                        .then(|| found.last().map(|t| (t.created_at, t.id.clone())))
                        .flatten()
                        .map(|after| Page {
                            after: Some(after),
                            limit: MAX_PAGE,
                        });
                    Some((Ok::<_, std::io::Error>(chunk), after))
                }
                Err(e) => Some((Err(std::io::Error::other(e)), None)),
            }
        }
    });
    let body = futures::stream::once(async move { Ok(header_line) }).chain(pages);
    let mut response = Body::from_stream(body).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"transfers.csv\""),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(csv_line(&["a", "b"]), "a,b\r\n");
        assert_eq!(
            csv_line(&["x,y", "say \"hi\""]),
            "\"x,y\",\"say \"\"hi\"\"\"\r\n"
        );
        assert_eq!(csv_line(&["=1+1", "@x"]), "'=1+1,'@x\r\n");
        assert_eq!(csv_line(&["line\nbreak"]), "\"line\nbreak\"\r\n");
    }

    #[test]
    fn date_filters_cover_whole_utc_days() {
        let f = Filters {
            from: "2026-11-20".into(),
            to: "2026-11-21".into(),
            status: "settled".into(),
            ..Filters::default()
        };
        let s = f.search().map_err(|e| e.to_string());
        let s = s.as_ref().map(|s| (s.from, s.until, s.status));
        assert_eq!(
            s,
            Ok((
                Some(1_795_132_800),
                Some(1_795_305_600),
                Some(TransferStatus::Settled)
            ))
        );
        assert_eq!(f.query(), "status=settled&from=2026-11-20&to=2026-11-21");
        let bad = Filters {
            from: "yesterday".into(),
            ..Filters::default()
        };
        assert_eq!(
            bad.search().map(|_| ()).map_err(|e| e.to_string()),
            Err("from: a date as YYYY-MM-DD".to_owned())
        );
    }
}
