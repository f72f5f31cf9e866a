//! The axum extractor handlers use to see the payment that unlocked them.

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;

use crate::pipeline::PaidRequest;

/// The verified payment of this request. Extracting it on a route that is not behind a
/// [`crate::PaymentLayer`] is a server bug and answers 500.
#[derive(Debug, Clone)]
pub struct Paid(pub PaidRequest);

impl<S: Send + Sync> FromRequestParts<S> for Paid {
    type Rejection = (StatusCode, &'static str);

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Paid>().cloned().ok_or((
            StatusCode::INTERNAL_SERVER_ERROR,
            "route is not behind the payment layer",
        ))
    }
}
