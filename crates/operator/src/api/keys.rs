//! API keys: list, create, rotate (an agent may rotate its own), revoke. Secrets appear once,
//! in the response that creates them.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use mppsol_store::operator::KeyRole;
use serde::Deserialize;

use super::{json, parse_body};
use crate::AppState;
use crate::auth::Caller;
use crate::bootstrap::{IssuedKey, issue_key, new_secret};
use crate::error::ApiError;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateKey {
    role: KeyRole,
    account_id: Option<String>,
}

fn issued(k: &IssuedKey) -> serde_json::Value {
    serde_json::json!({ "key": k.key, "secret": k.secret })
}

pub(super) async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    caller.require_operator()?;
    let keys = state.store().list_api_keys(&caller.actor).await?;
    Ok(json(StatusCode::OK, serde_json::json!({ "data": keys })))
}

pub(super) async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, ApiError> {
    caller.require_operator()?;
    let body: CreateKey = parse_body(&body)?;
    match (body.role, &body.account_id) {
        (KeyRole::Agent, None) => {
            return Err(ApiError::invalid("account_id", "required for agent keys"));
        }
        (KeyRole::Operator, Some(_)) => {
            return Err(ApiError::invalid(
                "account_id",
                "operator keys are not bound to an account",
            ));
        }
        _ => {}
    }
    let key = issue_key(&state, &caller.actor, body.role, body.account_id).await?;
    Ok(json(StatusCode::CREATED, issued(&key)))
}

pub(super) async fn rotate(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if caller.actor.key_id != id {
        caller.require_operator()?;
    }
    let (secret, sealed) = new_secret(&state);
    let key = state
        .store()
        .rotate_api_key(&caller.actor, &id, &sealed, state.now())
        .await?;
    Ok(json(
        StatusCode::CREATED,
        issued(&IssuedKey { key, secret }),
    ))
}

pub(super) async fn revoke(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    _body: Bytes,
) -> Result<Response, ApiError> {
    caller.require_operator()?;
    let key = state
        .store()
        .revoke_api_key(&caller.actor, &id, state.now())
        .await?;
    Ok(json(StatusCode::OK, key))
}
