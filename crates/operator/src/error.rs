//! `ApiError`: the caller's fault (4xx with a clear detail) or `Unexpected` (500, cause logged,
//! nothing internal in the body). Every error is an RFC 9457 `application/problem+json` body
//! whose `type` is `urn:mppsol:problem:<code>`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mpp::{Problem, ProblemType};
use mppsol_store::StoreError;
use mppsol_store::operator::Violation;

/// The prefix of every problem type this API emits.
pub const PROBLEM_PREFIX: &str = "urn:mppsol:problem:";

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// Missing, malformed, stale, replayed or wrong request signature, or an unusable key.
    #[error("{0}")]
    Unauthenticated(String),
    /// The key's role may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// No such object for this caller (another operator's objects are not found either).
    #[error("{0} not found")]
    NotFound(String),
    /// The request is malformed (body, headers, query).
    #[error("{0}")]
    BadRequest(String),
    /// A field's value is not acceptable.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field.
        field: String,
        /// Why.
        reason: String,
    },
    /// The account's policy refused.
    #[error("policy violation ({}): {}", .violation.rule, .violation.reason)]
    PolicyViolation {
        /// The rule and reason.
        violation: Violation,
        /// The rejected transfer, when one was recorded.
        transfer_id: Option<String>,
    },
    /// The request conflicts with existing state (idempotency key reuse, duplicate handle…).
    #[error("{0}")]
    Conflict(String),
    /// The account cannot cover the payment on chain.
    #[error("insufficient balance: {0}")]
    InsufficientBalance(String),
    /// The payment could not be built or signed (the challenge is not payable here).
    #[error("{0}")]
    Unpayable(String),
    /// The chain refused or did not answer an operator-side transaction (policy wallets);
    /// nothing changed in the database.
    #[error("{0}")]
    Chain(String),
    /// Our fault; the body says nothing more.
    #[error("unexpected: {0}")]
    Unexpected(Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    /// An invalid field.
    pub fn invalid(field: &str, reason: impl Into<String>) -> Self {
        ApiError::Invalid {
            field: field.to_owned(),
            reason: reason.into(),
        }
    }

    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        self.parts().0
    }

    fn parts(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not-found"),
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad-request"),
            ApiError::Invalid { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid-field"),
            ApiError::PolicyViolation { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "policy-violation")
            }
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::InsufficientBalance(_) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "insufficient-balance")
            }
            ApiError::Unpayable(_) => (StatusCode::UNPROCESSABLE_ENTITY, "unpayable-challenge"),
            ApiError::Chain(_) => (StatusCode::SERVICE_UNAVAILABLE, "chain-unavailable"),
            ApiError::Unexpected(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => ApiError::NotFound(what),
            StoreError::Conflict(why) => ApiError::Conflict(why),
            StoreError::AmountTooLarge(a) => {
                ApiError::invalid("amount", format!("{a} exceeds the largest storable amount"))
            }
            other => ApiError::Unexpected(Box::new(other)),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.parts();
        let mut problem = Problem::new(ProblemType::Other(format!("{PROBLEM_PREFIX}{code}")));
        problem.status = status.as_u16();
        problem.title = status.canonical_reason().unwrap_or("Error").to_owned();
        match &self {
            ApiError::Unexpected(cause) => {
                // The chain goes to the log; the caller learns only that it was our fault.
                let mut chain = cause.to_string();
                let mut source = cause.source();
                while let Some(s) = source {
                    chain.push_str(": ");
                    chain.push_str(&s.to_string());
                    source = s.source();
                }
                tracing::error!(error = %chain, "operator API request failed");
                problem.detail = Some("internal error".into());
            }
            ApiError::PolicyViolation {
                violation,
                transfer_id,
            } => {
                problem.detail = Some(self.to_string());
                problem = problem.with_extension("rule", violation.rule.clone());
                if let Some(id) = transfer_id {
                    problem = problem.with_extension("transfer_id", id.clone());
                }
            }
            ApiError::Invalid { field, .. } => {
                problem.detail = Some(self.to_string());
                problem = problem.with_extension("field", field.clone());
            }
            _ => problem.detail = Some(self.to_string()),
        }
        let mut response = (status, problem.to_json()).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(mpp::problem::PROBLEM_CONTENT_TYPE),
        );
        response
    }
}
