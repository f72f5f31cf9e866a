//! Signing in with an operator API key, the session cookie, and the middleware that guards
//! every page: no valid session → a GET is sent to the sign-in page, anything else is refused
//! (401); a POST whose `csrf` field is not the session's token → 403.
//!
//! The key is checked the way the API checks request signatures: the stored verifier (the
//! signing key derived from the secret, sealed with the master key) is opened and compared in
//! constant time with the one derived from the typed secret. Only operator keys may sign in.
//! The cookie holds 32 random bytes; the database keeps their SHA-256 only.

use askama::Template;
use axum::Extension;
use axum::body::{Body, to_bytes};
use axum::extract::{Form, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mppsol_client::operator::signing_key;
use mppsol_store::operator::{Actor, KeyRole, KeyStatus, NewDashboardSession};
use rand::RngCore;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::DashboardOptions;
use super::view::{Nav, PageError, render_with};
use crate::AppState;
use crate::crypto::API_KEY_CONTEXT;
use crate::error::ApiError;

/// The session cookie.
pub const COOKIE_NAME: &str = "mppsol_dashboard";

/// How long a sign-in lasts.
pub const SESSION_SECS: i64 = 12 * 3600;

/// Largest form body a page accepts.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// The signed-in operator, put in the request's extensions by [`require_session`].
#[derive(Debug, Clone)]
pub(crate) struct Viewer {
    /// Operator and key: every read and write is confined to, and audited as, them.
    pub(crate) actor: Actor,
    /// The session's CSRF token.
    pub(crate) csrf: String,
    /// The operator's display name.
    pub(crate) operator: String,
}

impl Viewer {
    /// The navigation bar of a page in `section`.
    pub(crate) fn nav(&self, section: &'static str) -> Nav {
        Nav {
            active: section,
            csrf: self.csrf.clone(),
            operator: self.operator.clone(),
        }
    }
}

#[derive(Template)]
#[template(path = "dashboard/sign_in.html")]
struct SignInPage {
    key_id: String,
    error: Option<String>,
}

/// The form a page posts; only the CSRF field is read here.
#[derive(Deserialize)]
struct CsrfField {
    csrf: Option<String>,
}

/// 32 random bytes, base64url.
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// What the database keeps of a cookie token.
fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The session token in the request's cookies.
fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value.to_owned())
}

fn cookie(value: &str, max_age: i64, options: DashboardOptions) -> HeaderValue {
    let secure = if options.secure_cookie {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{COOKIE_NAME}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("invalid=1"))
}

pub(crate) async fn sign_in_page() -> Response {
    render_with(
        StatusCode::OK,
        &SignInPage {
            key_id: String::new(),
            error: None,
        },
    )
}

#[derive(Deserialize)]
pub(crate) struct SignInForm {
    key_id: String,
    secret: String,
}

/// Why a key may not sign in (the page says only that it was refused).
enum Refused {
    Credentials,
    AgentKey,
}

async fn check_key(
    state: &AppState,
    key_id: &str,
    secret: &str,
) -> Result<Actor, Result<Refused, ApiError>> {
    let (key, sealed) = state
        .store()
        .api_key_for_auth(key_id.trim())
        .await
        .map_err(|e| Err(e.into()))?
        .ok_or(Ok(Refused::Credentials))?;
    if key.status != KeyStatus::Active {
        return Err(Ok(Refused::Credentials));
    }
    let stored: [u8; 32] = state
        .master_key()
        .open(&sealed, API_KEY_CONTEXT)
        .map_err(|e| Err(ApiError::Unexpected(Box::new(e))))?
        .try_into()
        .map_err(|_| {
            Err(ApiError::Unexpected(
                "sealed verifier is not 32 bytes".into(),
            ))
        })?;
    let typed = signing_key(secret.trim());
    if !bool::from(stored.ct_eq(&typed)) {
        return Err(Ok(Refused::Credentials));
    }
    if key.role != KeyRole::Operator {
        return Err(Ok(Refused::AgentKey));
    }
    Ok(Actor {
        operator_id: key.operator_id,
        key_id: key.id,
    })
}

pub(crate) async fn sign_in(
    State(state): State<AppState>,
    Extension(options): Extension<DashboardOptions>,
    Form(form): Form<SignInForm>,
) -> Response {
    let actor = match check_key(&state, &form.key_id, &form.secret).await {
        Ok(actor) => actor,
        Err(Err(e)) => return PageError(e).into_response(),
        Err(Ok(why)) => {
            let error = match why {
                Refused::Credentials => "That key id and secret do not match an active key.",
                Refused::AgentKey => "Agent keys cannot sign in: use an operator key.",
            };
            return render_with(
                StatusCode::UNAUTHORIZED,
                &SignInPage {
                    key_id: form.key_id,
                    error: Some(error.into()),
                },
            );
        }
    };
    let token = random_token();
    let now = state.now();
    let stored = state
        .store()
        .create_dashboard_session(
            &actor,
            &NewDashboardSession {
                token_hash: token_hash(&token),
                csrf_token: random_token(),
                expires_at: now + SESSION_SECS,
            },
            now,
        )
        .await;
    if let Err(e) = stored {
        return PageError::from(e).into_response();
    }
    let mut response = Redirect::to("/dashboard").into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, cookie(&token, SESSION_SECS, options));
    response
}

pub(crate) async fn sign_out(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    Extension(options): Extension<DashboardOptions>,
    headers: HeaderMap,
) -> Response {
    if let Some(token) = cookie_token(&headers)
        && let Err(e) = state
            .store()
            .delete_dashboard_session(&viewer.actor, &token_hash(&token), state.now())
            .await
    {
        return PageError::from(e).into_response();
    }
    let mut response = Redirect::to("/dashboard/sign-in").into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, cookie("", 0, options));
    response
}

fn refuse(status: StatusCode, why: &str) -> Response {
    let e = match status {
        StatusCode::FORBIDDEN => ApiError::Forbidden(why.into()),
        _ => ApiError::Unauthenticated(why.into()),
    };
    PageError(e).into_response()
}

/// The middleware of every page but sign-in and the assets.
pub(crate) async fn require_session(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let safe = parts.method == Method::GET || parts.method == Method::HEAD;
    let found = match cookie_token(&parts.headers) {
        Some(token) => state
            .store()
            .dashboard_session(&token_hash(&token), state.now())
            .await
            .map_err(PageError::from),
        None => Ok(None),
    };
    let session = match found {
        Ok(Some(s)) => s,
        Ok(None) if safe => return Redirect::to("/dashboard/sign-in").into_response(),
        Ok(None) => return refuse(StatusCode::UNAUTHORIZED, "sign in first"),
        Err(e) => return e.into_response(),
    };
    let body = if safe {
        body
    } else {
        let Ok(bytes) = to_bytes(body, MAX_FORM_BYTES).await else {
            return PageError(ApiError::BadRequest("the form is too large".into())).into_response();
        };
        let sent = serde_urlencoded::from_bytes::<CsrfField>(&bytes)
            .ok()
            .and_then(|f| f.csrf)
            .unwrap_or_default();
        if !bool::from(sent.as_bytes().ct_eq(session.csrf_token.as_bytes())) {
            return refuse(
                StatusCode::FORBIDDEN,
                "this form is missing its security token; reload the page and try again",
            );
        }
        Body::from(bytes)
    };
    let operator = match state.store().get_operator(&session.operator_id).await {
        Ok(op) => op.map(|o| o.name).unwrap_or_default(),
        Err(e) => return PageError::from(e).into_response(),
    };
    parts.extensions.insert(Viewer {
        actor: Actor {
            operator_id: session.operator_id,
            key_id: session.key_id,
        },
        csrf: session.csrf_token,
        operator,
    });
    next.run(Request::from_parts(parts, body)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_read_among_others_and_set_strictly() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; mppsol_dashboard=tok; b=2"),
        );
        assert_eq!(cookie_token(&h).as_deref(), Some("tok"));
        assert_eq!(cookie_token(&HeaderMap::new()), None);
        let plain = cookie("v", 60, DashboardOptions::default());
        assert_eq!(
            plain,
            "mppsol_dashboard=v; HttpOnly; SameSite=Strict; Path=/; Max-Age=60"
        );
        let tls = cookie(
            "v",
            60,
            DashboardOptions {
                secure_cookie: true,
            },
        );
        assert!(tls.to_str().unwrap_or_default().ends_with("; Secure"));
        assert_ne!(token_hash("a"), token_hash("b"));
        assert_eq!(token_hash("a").len(), 64);
    }
}
