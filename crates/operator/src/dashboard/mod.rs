//! The operator dashboard: server-rendered HTML pages under `/dashboard`, served by the same
//! router as the API. Templates are compiled and auto-escaped (askama, `templates/dashboard/`);
//! one small CSS and JS file are embedded in the binary; the spend chart is inline SVG.
//!
//! ```text
//! browser ─▶ assets (no session) ─▶ sign-in (API key id + secret) ─▶ cookie session
//!        ─▶ auth::require_session (cookie → Viewer; POST: CSRF field) ─▶ page handler
//!        ─▶ the same store operations and validation as the /v1 handlers (audited)
//! ```
//!
//! | file | pages |
//! |---|---|
//! | `auth.rs` | sign-in, sign-out, the session and CSRF middleware |
//! | `overview.rs` | spend today and over 30 days, rates, queues, RPC health |
//! | `accounts.rs` | list, search, create, detail, policy edit, pause/unpause |
//! | `transfers.rs` | filtered keyset list, detail, CSV export |
//! | `approvals.rs` | escalated transfers: approve, reject with a reason |
//! | `sessions.rs` | agent sessions, close |
//! | `webhooks.rs` | endpoints, delivery log, redeliver |
//! | `view.rs` | rendering, errors, amounts and times for people |
//! | `chart.rs` | the 30-day bar chart's geometry (pure) |
//! | `assets.rs` | the embedded CSS and JS |

mod accounts;
mod approvals;
mod assets;
mod auth;
pub mod chart;
mod overview;
mod sessions;
mod transfers;
pub mod view;
mod webhooks;

use std::time::Instant;

use axum::Router;
use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::{Redirect, Response};
use axum::routing::{get, post};

use crate::AppState;

pub use auth::{COOKIE_NAME, SESSION_SECS};

/// How the dashboard is served.
#[derive(Debug, Clone, Copy, Default)]
pub struct DashboardOptions {
    /// The service is reached over TLS: the session cookie gets `Secure`.
    pub secure_cookie: bool,
}

/// The dashboard's routes (`/` redirects to it).
pub fn router(state: AppState, options: DashboardOptions) -> Router<AppState> {
    let pages = Router::new()
        .route("/dashboard", get(overview::page))
        .route(
            "/dashboard/accounts",
            get(accounts::list).post(accounts::create),
        )
        .route("/dashboard/accounts/{id}", get(accounts::detail))
        .route("/dashboard/accounts/{id}/policy", post(accounts::policy))
        .route("/dashboard/accounts/{id}/status", post(accounts::status))
        .route("/dashboard/transfers", get(transfers::list))
        .route("/dashboard/transfers.csv", get(transfers::csv))
        .route("/dashboard/transfers/{id}", get(transfers::detail))
        .route(
            "/dashboard/transfers/{id}/approve",
            post(approvals::approve),
        )
        .route("/dashboard/transfers/{id}/reject", post(approvals::reject))
        .route("/dashboard/approvals", get(approvals::list))
        .route("/dashboard/sessions", get(sessions::list))
        .route("/dashboard/sessions/{id}/close", post(sessions::close))
        .route("/dashboard/webhooks", get(webhooks::list))
        .route("/dashboard/webhooks/{id}", get(webhooks::deliveries))
        .route(
            "/dashboard/deliveries/{id}/redeliver",
            post(webhooks::redeliver),
        )
        .route("/dashboard/sign-out", post(auth::sign_out))
        .route_layer(from_fn_with_state(state, auth::require_session));
    Router::new()
        .route("/", get(|| async { Redirect::to("/dashboard") }))
        .route(
            "/dashboard/sign-in",
            get(auth::sign_in_page).post(auth::sign_in),
        )
        .route("/dashboard/assets/{name}", get(assets::serve))
        .merge(pages)
        .layer(axum::Extension(options))
        .layer(from_fn(server_timing))
}

/// `Server-Timing: app;dur=<ms>`: the time the dashboard spent on a request (what the
/// benchmark reads).
async fn server_timing(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let mut response = next.run(request).await;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    if let Ok(v) = HeaderValue::from_str(&format!("app;dur={ms:.2}")) {
        response.headers_mut().insert("server-timing", v);
    }
    response
}
