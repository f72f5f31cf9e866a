//! Request authentication: every `/v1` request (except the OpenAPI document) carries an API key
//! id, a timestamp, a nonce and an HMAC signature over them, the method, path, query,
//! `Idempotency-Key` and body
//! (see `mppsol_client::operator` for the exact bytes).
//!
//! Refused with 401: a missing or malformed header, a timestamp more than
//! [`MAX_SKEW_SECS`] from the server clock, an unknown or revoked key, a signature that does
//! not match (compared in constant time), and a nonce seen before with this key (recorded
//! durably for the whole window in which its timestamp would be accepted, so a restart does
//! not reopen it). A replayed request repeats its signed nonce, so it is refused.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mppsol_client::operator::{
    IDEMPOTENCY_HEADER, KEY_HEADER, NONCE_HEADER, SIGNATURE_HEADER, SignedParts, TIMESTAMP_HEADER,
    canonical_request, request_mac,
};
use mppsol_store::operator::{Actor, KeyRole, KeyStatus, NonceOutcome};
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::crypto::API_KEY_CONTEXT;
use crate::error::ApiError;

/// Largest accepted distance between a request's timestamp and the server clock.
pub const MAX_SKEW_SECS: i64 = 300;

/// Largest request body (bodies are hashed before anything else is read).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// The authenticated caller, put in the request's extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Operator and key, for isolation and audit.
    pub actor: Actor,
    /// What the key may do.
    pub role: KeyRole,
    /// An agent key's one account.
    pub account_id: Option<String>,
}

impl Caller {
    /// Operator keys only.
    pub fn require_operator(&self) -> Result<(), ApiError> {
        match self.role {
            KeyRole::Operator => Ok(()),
            KeyRole::Agent => Err(ApiError::Forbidden(
                "this needs an operator key; agent keys cannot do it".into(),
            )),
        }
    }

    /// The account filter of a list: an agent's own account whatever it asked (asking for
    /// another is not found); an operator's choice as it is.
    pub fn scoped_account(&self, asked: Option<String>) -> Result<Option<String>, ApiError> {
        match &self.account_id {
            Some(own) => {
                if let Some(asked) = &asked {
                    self.require_account(asked)?;
                }
                Ok(Some(own.clone()))
            }
            None => Ok(asked),
        }
    }

    /// Whether this caller may use `account_id` (an agent only its own; another account is
    /// reported as not found, like another operator's).
    pub fn require_account(&self, account_id: &str) -> Result<(), ApiError> {
        match (&self.role, &self.account_id) {
            (KeyRole::Agent, Some(own)) if own != account_id => {
                Err(ApiError::NotFound(format!("account {account_id}")))
            }
            _ => Ok(()),
        }
    }
}

/// The middleware: buffers the body, verifies the signature, adds [`Caller`], passes on.
pub async fn authenticate(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let bytes = match to_bytes(body, MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            return ApiError::BadRequest(format!(
                "the body is unreadable or larger than {MAX_BODY_BYTES} bytes"
            ))
            .into_response();
        }
    };
    match verify(&state, &parts, &bytes).await {
        Ok(caller) => {
            parts.extensions.insert(caller);
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(e) => e.into_response(),
    }
}

fn header<'a>(parts: &'a Parts, name: &str) -> Result<&'a str, ApiError> {
    parts
        .headers
        .get(name)
        .ok_or_else(|| ApiError::Unauthenticated(format!("missing {name} header")))?
        .to_str()
        .map_err(|_| ApiError::Unauthenticated(format!("{name} is not ASCII")))
}

async fn verify(state: &AppState, parts: &Parts, body: &[u8]) -> Result<Caller, ApiError> {
    let key_id = header(parts, KEY_HEADER)?;
    let timestamp: i64 = header(parts, TIMESTAMP_HEADER)?.parse().map_err(|_| {
        ApiError::Unauthenticated(format!("{TIMESTAMP_HEADER} is not Unix seconds"))
    })?;
    let nonce = header(parts, NONCE_HEADER)?;
    if !(16..=64).contains(&nonce.len())
        || !nonce
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(ApiError::Unauthenticated(format!(
            "{NONCE_HEADER} must be 16 to 64 URL-safe characters"
        )));
    }
    let signature = URL_SAFE_NO_PAD
        .decode(header(parts, SIGNATURE_HEADER)?)
        .ok()
        .filter(|s| s.len() == 32)
        .ok_or_else(|| {
            ApiError::Unauthenticated(format!("{SIGNATURE_HEADER} is not base64url of 32 bytes"))
        })?;
    let now = state.now();
    if timestamp.abs_diff(now) > MAX_SKEW_SECS.unsigned_abs() {
        return Err(ApiError::Unauthenticated(format!(
            "stale request: the timestamp is more than {MAX_SKEW_SECS} s from the server clock"
        )));
    }
    let unusable = || ApiError::Unauthenticated("unknown or revoked API key".into());
    let (key, sealed) = state
        .store()
        .api_key_for_auth(key_id)
        .await?
        .ok_or_else(unusable)?;
    if key.status != KeyStatus::Active {
        return Err(unusable());
    }
    let signing_key: [u8; 32] = state
        .master_key()
        .open(&sealed, API_KEY_CONTEXT)
        .map_err(|e| ApiError::Unexpected(Box::new(e)))?
        .try_into()
        .map_err(|_| ApiError::Unexpected("sealed verifier is not 32 bytes".into()))?;
    let path = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path(), |p| p.as_str());
    let idempotency_key = match parts.headers.get(IDEMPOTENCY_HEADER) {
        Some(v) => Some(v.to_str().map_err(|_| {
            ApiError::Unauthenticated(format!("{IDEMPOTENCY_HEADER} is not ASCII"))
        })?),
        None => None,
    };
    let expected = request_mac(
        &signing_key,
        &canonical_request(&SignedParts {
            method: parts.method.as_str(),
            path_and_query: path,
            timestamp,
            nonce,
            idempotency_key,
            body,
        }),
    );
    if !bool::from(expected.as_slice().ct_eq(&signature)) {
        return Err(ApiError::Unauthenticated(
            "the request signature does not match".into(),
        ));
    }
    // Only a validly signed nonce is recorded, so nobody can fill the table without the key.
    let outcome = state
        .store()
        .record_nonce(key_id, nonce, timestamp + MAX_SKEW_SECS + 1, now)
        .await?;
    if outcome == NonceOutcome::Replayed {
        return Err(ApiError::Unauthenticated(
            "replayed request: this nonce was already used with this key".into(),
        ));
    }
    Ok(Caller {
        actor: Actor {
            operator_id: key.operator_id,
            key_id: key.id,
        },
        role: key.role,
        account_id: key.account_id,
    })
}
