//! The approvals queue: transfers above their account's escalation threshold, oldest waiting
//! at the bottom of a newest-first list; approve (the rules run again), or reject with a
//! reason. The same operations as `POST /v1/transfers/{id}/approve|reject`.

use std::collections::HashMap;

use askama::Template;
use axum::Extension;
use axum::extract::{Form, Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use mppsol_store::operator::{TransferSearch, TransferStatus};
use serde::Deserialize;

use super::auth::Viewer;
use super::transfers::{TransferRow, handles, rows};
use super::view::{Nav, PageResult, Units, render, render_with};
use crate::AppState;
use crate::api::transfers::{approve_transfer, reject_transfer};
use crate::api::{next_cursor, page as parse_page};
use crate::error::ApiError;

#[derive(Template)]
#[template(path = "dashboard/approvals.html")]
struct ApprovalsPage {
    nav: Nav,
    rows: Vec<TransferRow>,
    next: Option<String>,
    error: Option<String>,
    notice: Option<String>,
}

async fn queue(
    state: &AppState,
    viewer: &Viewer,
    q: &HashMap<String, String>,
    error: Option<String>,
) -> Result<ApprovalsPage, super::view::PageError> {
    let mut q = q.clone();
    q.insert("limit".into(), "50".into());
    let page = parse_page(&q)?;
    let found = state
        .store()
        .search_transfers(
            &viewer.actor,
            &TransferSearch {
                status: Some(TransferStatus::PendingApproval),
                ..TransferSearch::default()
            },
            &page,
        )
        .await?;
    let (_, handles) = handles(state, viewer).await?;
    let mut units = Units::new(state);
    let notice = match q.get("done").map(String::as_str) {
        Some("approved") => Some("Approved: the transfer is queued for settlement.".to_owned()),
        Some("rejected") => Some("Rejected: no money moved.".to_owned()),
        _ => None,
    };
    Ok(ApprovalsPage {
        nav: viewer.nav("approvals"),
        next: next_cursor(&found, &page, |t| (t.created_at, t.id.as_str()))
            .map(|c| format!("?cursor={c}")),
        rows: rows(&mut units, &handles, &found).await,
        error,
        notice,
    })
}

pub(crate) async fn list(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    Ok(render(&queue(&state, &viewer, &q, None).await?))
}

/// A refused action: the queue again, with why.
async fn refused(state: &AppState, viewer: &Viewer, e: ApiError) -> PageResult {
    let status = e.status();
    if matches!(e, ApiError::Unexpected(_) | ApiError::NotFound(_)) {
        return Err(e.into());
    }
    let page = queue(state, viewer, &HashMap::new(), Some(e.to_string())).await?;
    Ok(render_with(status, &page))
}

pub(crate) async fn approve(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    Path(id): Path<String>,
) -> PageResult {
    match approve_transfer(&state, &viewer.actor, &id).await {
        Ok(_) => Ok(Redirect::to("/dashboard/approvals?done=approved").into_response()),
        Err(e) => refused(&state, &viewer, e).await,
    }
}

#[derive(Deserialize)]
pub(crate) struct RejectForm {
    reason: String,
}

pub(crate) async fn reject(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    Path(id): Path<String>,
    Form(form): Form<RejectForm>,
) -> PageResult {
    match reject_transfer(&state, &viewer.actor, &id, form.reason.trim()).await {
        Ok(_) => Ok(Redirect::to("/dashboard/approvals?done=rejected").into_response()),
        Err(e) => refused(&state, &viewer, e).await,
    }
}
