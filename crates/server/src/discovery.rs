//! `GET /openapi.json`: every priced route with its offers (`x-payment-info`), plus the keys
//! receipts are signed with.

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use mpp::{DiscoveryDocument, PaymentOffer};

use crate::config::PaymentConfig;
use crate::layer::PaymentLayer;
use crate::price::Offer;

/// A registered route: HTTP method, path, offers.
type Route = (String, String, Vec<Offer>);

/// Builds payment layers for routes and remembers them for discovery.
#[derive(Clone)]
pub struct PaidApi {
    config: PaymentConfig,
    title: String,
    routes: Arc<Mutex<Vec<Route>>>,
}

impl PaidApi {
    /// A paid API named `title`.
    pub fn new(title: impl Into<String>, config: PaymentConfig) -> Self {
        Self {
            config,
            title: title.into(),
            routes: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// The layer for `http_method path`, priced by `offers`.
    pub fn layer(&self, http_method: &str, path: &str, offers: Vec<Offer>) -> PaymentLayer {
        if let Ok(mut r) = self.routes.lock() {
            r.push((http_method.to_owned(), path.to_owned(), offers.clone()));
        }
        PaymentLayer::new(self.config.clone(), offers)
    }

    /// The discovery document for the routes registered so far.
    pub fn document(&self) -> DiscoveryDocument {
        let mut doc = DiscoveryDocument::new(self.title.clone(), env!("CARGO_PKG_VERSION"));
        if let Some(s) = &self.config.receipt_signer {
            doc = doc.with_receipt_key(s.public_key());
        }
        let routes = self.routes.lock().map(|r| r.clone()).unwrap_or_default();
        for (m, path, offers) in routes {
            let offers = offers
                .iter()
                .map(|o| PaymentOffer {
                    intent: o.method.intent().clone(),
                    method: o.method.method().clone(),
                    amount: o.price.fixed().map(|p| p.amount),
                    currency: o.price.fixed().map(|p| p.currency.clone()),
                    description: o.price.fixed().and_then(|p| p.description.clone()),
                })
                .collect();
            doc = doc.with_priced_operation(path, &m, None, offers);
        }
        doc
    }

    /// An axum handler serving the document (cache for 5 minutes, as the draft recommends).
    pub fn handler(&self) -> impl Fn() -> std::future::Ready<Response> + Clone + Send + 'static {
        let api = self.clone();
        move || {
            let mut resp = Json(api.document()).into_response();
            resp.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("max-age=300"),
            );
            std::future::ready(resp)
        }
    }
}
