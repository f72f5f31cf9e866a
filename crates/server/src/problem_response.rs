//! 402 (and 400/503) responses: RFC 9457 body, one `WWW-Authenticate` field per challenge,
//! `Cache-Control: no-store` so no cache replays a challenge.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use mpp::{Challenge, PROBLEM_CONTENT_TYPE, Problem, format_www_authenticate};
use tracing::warn;

/// Builds a problem response carrying `challenges`.
pub fn problem_response(
    mut problem: Problem,
    challenges: &[Challenge],
    retry_after: Option<HeaderValue>,
) -> Response {
    if problem.challenge_id.is_none()
        && let Some(first) = challenges.first()
    {
        problem.challenge_id = Some(first.id.clone());
    }
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::PAYMENT_REQUIRED);
    let mut resp = Response::new(Body::from(problem.to_json()));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    for c in challenges {
        match format_www_authenticate(c).map(HeaderValue::try_from) {
            Ok(Ok(v)) => {
                h.append(header::WWW_AUTHENTICATE, v);
            }
            _ => warn!(challenge_id = %c.id, "challenge cannot be written as a header"),
        }
    }
    if let Some(r) = retry_after {
        h.insert(header::RETRY_AFTER, r);
    }
    resp
}
