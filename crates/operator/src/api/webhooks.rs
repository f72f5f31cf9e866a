//! Webhook endpoints: register (the signing secret appears once, in the response), list, and
//! read an endpoint's delivery log. Operator keys only.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use mppsol_store::operator::{EventType, NewWebhook, new_id};
use serde::Deserialize;

use super::{json, parse_body};
use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::webhooks::{new_secret, secret_context};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateWebhook {
    url: String,
    event_types: Option<Vec<String>>,
}

pub(super) async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, ApiError> {
    caller.require_operator()?;
    let body: CreateWebhook = parse_body(&body)?;
    let url = reqwest::Url::parse(&body.url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .ok_or_else(|| ApiError::invalid("url", "an http(s) URL"))?;
    if let Some(bad) = body
        .event_types
        .iter()
        .flatten()
        .find(|t| EventType::parse(t).is_err())
    {
        return Err(ApiError::invalid(
            "event_types",
            format!("unknown event type {bad:?}"),
        ));
    }
    let id = new_id("whk");
    let secret = new_secret();
    let hook = NewWebhook {
        sealed_secret: state
            .master_key()
            .seal(secret.as_bytes(), &secret_context(&id)),
        id,
        url: url.to_string(),
        event_types: body.event_types,
    };
    let endpoint = state
        .store()
        .create_webhook(&caller.actor, &hook, state.now())
        .await?;
    Ok(json(
        StatusCode::CREATED,
        serde_json::json!({ "webhook": endpoint, "secret": secret }),
    ))
}

pub(super) async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    caller.require_operator()?;
    let hooks = state.store().list_webhooks(&caller.actor).await?;
    Ok(json(StatusCode::OK, serde_json::json!({ "data": hooks })))
}

pub(super) async fn deliveries(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require_operator()?;
    let log = state.store().webhook_deliveries(&caller.actor, &id).await?;
    Ok(json(StatusCode::OK, serde_json::json!({ "data": log })))
}
