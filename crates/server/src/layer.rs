//! The tower middleware: `PaymentLayer` builds `PaymentService<S>`, which answers unpaid
//! requests itself and passes paid ones to `S` with the receipt attached.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::http::{HeaderValue, Request, header};
use axum::response::Response;
use bytes::Bytes;
use http_body_util::BodyExt;
use mpp::{Problem, ProblemType};
use tower::{Layer, Service};

use crate::config::PaymentConfig;
use crate::pipeline::{Outcome, run};
use crate::price::Offer;
use crate::problem_response::problem_response;

/// Puts a price on the routes it wraps.
#[derive(Clone)]
pub struct PaymentLayer {
    shared: Arc<Shared>,
}

struct Shared {
    config: PaymentConfig,
    offers: Vec<Offer>,
}

impl PaymentLayer {
    /// A layer charging one of `offers` (one challenge per offer in each 402).
    pub fn new(config: PaymentConfig, offers: Vec<Offer>) -> Self {
        Self {
            shared: Arc::new(Shared { config, offers }),
        }
    }
}

impl<S> Layer<S> for PaymentLayer {
    type Service = PaymentService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        PaymentService {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// The service [`PaymentLayer`] builds.
#[derive(Clone)]
pub struct PaymentService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> Service<Request<Body>> for PaymentService<S>
where
    S: Service<Request<Body>, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        // The clone that was driven to readiness handles this request (tower's usual swap).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let shared = self.shared.clone();
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let limit = shared.config.max_body_bytes;
            let bytes = match read_body(body, limit).await {
                Ok(b) => b,
                Err(resp) => return Ok(resp),
            };
            match run(&shared.config, &shared.offers, &parts, &bytes).await {
                Outcome::Free => {
                    inner
                        .call(Request::from_parts(parts, Body::from(bytes)))
                        .await
                }
                Outcome::Refused(resp) => Ok(resp),
                Outcome::Paid(paid) => {
                    let header_value = HeaderValue::try_from(paid.receipt_header.as_str());
                    let mut req = Request::from_parts(parts, Body::from(bytes));
                    req.extensions_mut().insert(crate::Paid(*paid));
                    let mut resp = inner.call(req).await?;
                    // Receipts go only on success (core §Payment-Receipt); the client can retry
                    // the same credential without paying again if the handler failed.
                    if resp.status().is_success()
                        && let Ok(v) = header_value
                    {
                        let h = resp.headers_mut();
                        h.insert(mpp::field::PAYMENT_RECEIPT, v);
                        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private"));
                    }
                    Ok(resp)
                }
            }
        })
    }
}

async fn read_body(body: Body, limit: usize) -> Result<Bytes, Response> {
    let limited = http_body_util::Limited::new(body, limit);
    match limited.collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(_) => {
            let mut p = Problem::new(ProblemType::BadRequest)
                .with_detail(format!("request body larger than {limit} bytes"));
            p.status = 413;
            p.title = "Content Too Large".into();
            Err(problem_response(p, &[], None))
        }
    }
}
