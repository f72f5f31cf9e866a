//! Agent sessions with providers: deposit (the cap), accepted and remaining, what settled,
//! status and idle time; an open session can be closed.

use std::collections::HashMap;

use askama::Template;
use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use mppsol_store::operator::SessionStatus;

use super::auth::Viewer;
use super::transfers::handles;
use super::view::{Nav, PageResult, Units, When, ago, render, short};
use crate::AppState;
use crate::api::{next_cursor, page as parse_page};

/// A session as a table row.
struct SessionRow {
    id: String,
    account_id: String,
    account: String,
    provider: String,
    deposit: String,
    accepted: String,
    remaining: String,
    settled: String,
    status: &'static str,
    open: bool,
    /// Open, but closed on chain by its agent (no close button).
    channel_open: bool,
    idle: String,
    opened: When,
    signature: String,
}

#[derive(Template)]
#[template(path = "dashboard/sessions.html")]
struct SessionsPage {
    nav: Nav,
    rows: Vec<SessionRow>,
    next: Option<String>,
}

pub(crate) async fn list(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    Query(mut q): Query<HashMap<String, String>>,
) -> PageResult {
    q.insert("limit".into(), "50".into());
    let page = parse_page(&q)?;
    let found = state
        .store()
        .list_sessions(&viewer.actor, None, &page)
        .await?;
    let (accounts, handles) = handles(&state, &viewer).await?;
    let currency: HashMap<&str, &str> = accounts
        .iter()
        .map(|a| (a.id.as_str(), a.currency.as_str()))
        .collect();
    let mut units = Units::new(&state);
    let now = state.now();
    let mut rows = Vec::with_capacity(found.len());
    for s in &found {
        let unit = units
            .of(currency
                .get(s.account_id.as_str())
                .copied()
                .unwrap_or("sol"))
            .await;
        let settled = s.status == SessionStatus::Settled;
        rows.push(SessionRow {
            id: s.id.clone(),
            account_id: s.account_id.clone(),
            account: handles
                .get(&s.account_id)
                .cloned()
                .unwrap_or_else(|| s.account_id.clone()),
            provider: s.provider_endpoint.clone(),
            deposit: unit.show(s.cap),
            accepted: unit.show(s.running_total),
            remaining: unit.show(s.cap.saturating_sub(s.running_total)),
            settled: if settled {
                unit.show(s.running_total)
            } else {
                "—".into()
            },
            status: s.status.as_str(),
            // A channel session closes on chain through its agent (the session's close
            // action); closing only the record would hide money still in escrow.
            open: !settled && s.channel_id.is_none(),
            channel_open: !settled && s.channel_id.is_some(),
            idle: if settled {
                "—".into()
            } else {
                ago(now - s.updated_at)
            },
            opened: When::at(s.created_at),
            signature: s
                .settlement_signature
                .as_deref()
                .map(short)
                .unwrap_or_default(),
        });
    }
    Ok(render(&SessionsPage {
        nav: viewer.nav("sessions"),
        next: next_cursor(&found, &page, |s| (s.created_at, s.id.as_str()))
            .map(|c| format!("?cursor={c}")),
        rows,
    }))
}

pub(crate) async fn close(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    Path(id): Path<String>,
) -> PageResult {
    state
        .store()
        .close_agent_session(&viewer.actor, &id, state.now())
        .await?;
    Ok(Redirect::to("/dashboard/sessions").into_response())
}
