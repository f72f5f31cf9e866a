//! Webhooks: the operator's endpoints, each endpoint's delivery log, and redelivery (the
//! delivery is due again at once; the sender's next pass posts it).

use askama::Template;
use axum::Extension;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect};

use super::auth::Viewer;
use super::view::{Nav, PageResult, When, render};
use crate::AppState;
use crate::error::ApiError;

struct EndpointRow {
    id: String,
    url: String,
    events: String,
    status: String,
    created: When,
}

#[derive(Template)]
#[template(path = "dashboard/webhooks.html")]
struct EndpointsPage {
    nav: Nav,
    rows: Vec<EndpointRow>,
}

pub(crate) async fn list(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
) -> PageResult {
    let rows = state
        .store()
        .list_webhooks(&viewer.actor)
        .await?
        .into_iter()
        .map(|e| EndpointRow {
            events: e
                .event_types
                .map_or_else(|| "all events".to_owned(), |t| t.join(", ")),
            created: When::at(e.created_at),
            id: e.id,
            url: e.url,
            status: e.status,
        })
        .collect();
    Ok(render(&EndpointsPage {
        nav: viewer.nav("webhooks"),
        rows,
    }))
}

struct DeliveryRow {
    id: i64,
    event_id: String,
    status: String,
    attempts: i64,
    code: String,
    error: String,
    when: When,
}

#[derive(Template)]
#[template(path = "dashboard/deliveries.html")]
struct DeliveriesPage {
    nav: Nav,
    endpoint_id: String,
    url: String,
    rows: Vec<DeliveryRow>,
    notice: bool,
}

pub(crate) async fn deliveries(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    Path(id): Path<String>,
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> PageResult {
    let endpoint = state
        .store()
        .list_webhooks(&viewer.actor)
        .await?
        .into_iter()
        .find(|e| e.id == id)
        .ok_or_else(|| ApiError::NotFound(format!("webhook {id}")))?;
    // Newest first: the log's interesting end.
    let rows = state
        .store()
        .webhook_deliveries(&viewer.actor, &id)
        .await?
        .into_iter()
        .rev()
        .map(|d| DeliveryRow {
            when: When::at(d.delivered_at.unwrap_or(d.next_attempt_at)),
            id: d.id,
            event_id: d.event_id,
            status: d.status,
            attempts: d.attempts,
            code: d
                .last_status_code
                .map(|c| c.to_string())
                .unwrap_or_default(),
            error: d.last_error.unwrap_or_default(),
        })
        .collect();
    Ok(render(&DeliveriesPage {
        nav: viewer.nav("webhooks"),
        endpoint_id: endpoint.id,
        url: endpoint.url,
        rows,
        notice: q.contains_key("redelivered"),
    }))
}

pub(crate) async fn redeliver(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    Path(id): Path<String>,
) -> PageResult {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::NotFound(format!("delivery {id}")))?;
    let endpoint = state
        .store()
        .redeliver_webhook(&viewer.actor, id, state.now())
        .await?;
    Ok(Redirect::to(&format!("/dashboard/webhooks/{endpoint}?redelivered=1")).into_response())
}
