//! The `/v1` router and what the handlers share: JSON bodies, amounts, keyset paging.
//!
//! | file | routes |
//! |---|---|
//! | `accounts.rs` | `/v1/accounts`, `/v1/accounts/{id}`, `/v1/accounts/{id}/policy` |
//! | `transfers.rs` | `/v1/accounts/{id}/transfers`, `/v1/transfers…` (approve, reject) |
//! | `agent_signed.rs` | `/v1/transfers/{id}/signed` (non-custodial transfers) |
//! | `activity.rs` | `/v1/accounts/{id}/receipts`, `/v1/sessions`, `/v1/events` |
//! | `session_reports.rs` | session receipts reported to `/v1/accounts/{id}/receipts` |
//! | `credentials.rs` | `/v1/accounts/{id}/credentials` (custodial signing) |
//! | `session_credentials.rs` | custodial sessions through `/v1/accounts/{id}/credentials` |
//! | `keys.rs` | `/v1/api-keys…` |
//! | `webhooks.rs` | `/v1/webhooks`, `/v1/webhooks/{id}/deliveries` |
//! | `openapi.rs` | `/v1/openapi.json` |

pub(crate) mod accounts;
mod activity;
mod agent_signed;
mod charge_watch;
mod credentials;
mod dry_run;
mod keys;
pub mod openapi;
mod session_credentials;
mod session_reports;
pub(crate) mod transfers;
mod webhooks;

use std::collections::HashMap;

use axum::Router;
use axum::http::StatusCode;
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mppsol_store::operator::Page;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use crate::AppState;
use crate::auth::authenticate;
use crate::dashboard::DashboardOptions;
use crate::error::ApiError;

/// The service's HTTP routes, with authentication on everything but the OpenAPI document, and
/// the dashboard with default options (no `Secure` cookie: plain HTTP).
pub fn router(state: AppState) -> Router {
    router_with(state, DashboardOptions::default())
}

/// [`router`] with the dashboard's options (`Secure` cookies behind TLS).
pub fn router_with(state: AppState, dashboard: DashboardOptions) -> Router {
    Router::new()
        .route("/v1/accounts", post(accounts::create).get(accounts::list))
        .route(
            "/v1/accounts/{id}",
            get(accounts::get_one).patch(accounts::update),
        )
        .route(
            "/v1/accounts/{id}/policy",
            get(accounts::get_policy).put(accounts::put_policy),
        )
        .route("/v1/accounts/{id}/transfers", post(transfers::create))
        .route("/v1/accounts/{id}/receipts", post(activity::ingest_receipt))
        .route("/v1/accounts/{id}/credentials", post(credentials::sign))
        .route("/v1/transfers", get(transfers::list))
        .route("/v1/transfers/{id}", get(transfers::get_one))
        .route("/v1/transfers/{id}/approve", post(transfers::approve))
        .route("/v1/transfers/{id}/reject", post(transfers::reject))
        .route("/v1/transfers/{id}/signed", post(agent_signed::submit))
        .route("/v1/sessions", get(activity::list_sessions))
        .route("/v1/events", get(activity::list_events))
        .route("/v1/api-keys", get(keys::list).post(keys::create))
        .route("/v1/api-keys/{id}", delete(keys::revoke))
        .route("/v1/api-keys/{id}/rotate", post(keys::rotate))
        .route("/v1/webhooks", get(webhooks::list).post(webhooks::create))
        .route("/v1/webhooks/{id}/deliveries", get(webhooks::deliveries))
        .route_layer(from_fn_with_state(state.clone(), authenticate))
        .route("/v1/openapi.json", get(openapi::document))
        .merge(crate::dashboard::router(state.clone(), dashboard))
        .fallback(|| async { ApiError::NotFound("route".into()) })
        .with_state(state)
}

/// A JSON response with a status.
pub(crate) fn json(status: StatusCode, value: impl serde::Serialize) -> Response {
    (status, axum::Json(value)).into_response()
}

/// Reads a JSON body; unknown fields are refused by the body types themselves.
pub(crate) fn parse_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let body = if bytes.is_empty() {
        b"{}".as_slice()
    } else {
        bytes
    };
    serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(format!("body: {e}")))
}

/// An amount in a request: base units as a string of digits (or a JSON integer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AmountIn(pub(crate) u64);

impl<'de> Deserialize<'de> for AmountIn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Number(u64),
        }
        let bad = || serde::de::Error::custom("amounts are base units: a string of digits");
        match Raw::deserialize(d).map_err(|_| bad())? {
            Raw::Number(n) => Ok(AmountIn(n)),
            Raw::Text(t) if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) => {
                t.parse().map(AmountIn).map_err(|_| bad())
            }
            Raw::Text(_) => Err(bad()),
        }
    }
}

/// Refuses amounts the database cannot hold (and zero, which moves nothing).
pub(crate) fn check_amount(field: &str, amount: u64) -> Result<u64, ApiError> {
    if amount == 0 {
        return Err(ApiError::invalid(field, "must be above zero"));
    }
    if i64::try_from(amount).is_err() {
        return Err(ApiError::invalid(
            field,
            "exceeds the largest storable amount",
        ));
    }
    Ok(amount)
}

/// Refuses an optional text field longer than `max` bytes.
pub(crate) fn check_len(field: &str, value: Option<&str>, max: usize) -> Result<(), ApiError> {
    match value {
        Some(v) if v.len() > max => Err(ApiError::invalid(field, format!("at most {max} bytes"))),
        _ => Ok(()),
    }
}

/// `?limit=&cursor=` → a [`Page`].
pub(crate) fn page(query: &HashMap<String, String>) -> Result<Page, ApiError> {
    let limit = match query.get("limit") {
        Some(l) => l
            .parse::<u32>()
            .ok()
            .filter(|l| (1..=mppsol_store::operator::MAX_PAGE).contains(l))
            .ok_or_else(|| {
                ApiError::invalid(
                    "limit",
                    format!("between 1 and {}", mppsol_store::operator::MAX_PAGE),
                )
            })?,
        None => 50,
    };
    let after = query.get("cursor").map(|c| decode_cursor(c)).transpose()?;
    Ok(Page { after, limit })
}

/// The cursor of the page after `rows`, when the page was full.
pub(crate) fn next_cursor<T>(
    rows: &[T],
    page: &Page,
    key: impl Fn(&T) -> (i64, &str),
) -> Option<String> {
    if rows.len() < page.limit as usize {
        return None;
    }
    rows.last().map(|last| {
        let (at, id) = key(last);
        URL_SAFE_NO_PAD.encode(format!("{at}:{id}"))
    })
}

fn decode_cursor(cursor: &str) -> Result<(i64, String), ApiError> {
    let bad = || ApiError::invalid("cursor", "not a cursor this API returned");
    let text = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(text).map_err(|_| bad())?;
    let (at, id) = text.split_once(':').ok_or_else(bad)?;
    Ok((at.parse().map_err(|_| bad())?, id.to_owned()))
}

/// A list response.
pub(crate) fn list_response<T: serde::Serialize>(
    rows: &[T],
    page: &Page,
    key: impl Fn(&T) -> (i64, &str),
) -> Response {
    let next = next_cursor(rows, page, key);
    json(
        StatusCode::OK,
        serde_json::json!({ "data": rows, "next_cursor": next }),
    )
}
