//! Prices: fixed per route, or computed from the request.

use std::sync::Arc;

use axum::http::request::Parts;
use mpp::{PriceTag, ServerMethod};

/// Computes a price from the request head; `None` means this request is free.
pub type PriceFn = Arc<dyn Fn(&Parts) -> Option<PriceTag> + Send + Sync>;

/// How a route is priced for one payment method.
#[derive(Clone)]
pub enum Price {
    /// The same for every request.
    Fixed(PriceTag),
    /// Depends on the request (path, query, headers).
    Dynamic(PriceFn),
}

impl Price {
    /// The price of this request, if any.
    pub fn for_request(&self, parts: &Parts) -> Option<PriceTag> {
        match self {
            Price::Fixed(p) => Some(p.clone()),
            Price::Dynamic(f) => f(parts),
        }
    }

    /// The fixed amount, for discovery (`None` for dynamic prices, as the spec writes `null`).
    pub fn fixed(&self) -> Option<&PriceTag> {
        match self {
            Price::Fixed(p) => Some(p),
            Price::Dynamic(_) => None,
        }
    }
}

/// One way to pay for a route: a method (and intent) at a price.
#[derive(Clone)]
pub struct Offer {
    /// The payment method that verifies credentials for this offer.
    pub method: Arc<dyn ServerMethod>,
    /// The price.
    pub price: Price,
}

impl Offer {
    /// An offer at a fixed price.
    pub fn fixed(method: Arc<dyn ServerMethod>, price: PriceTag) -> Self {
        Self {
            method,
            price: Price::Fixed(price),
        }
    }

    /// An offer priced per request.
    pub fn dynamic(
        method: Arc<dyn ServerMethod>,
        f: impl Fn(&Parts) -> Option<PriceTag> + Send + Sync + 'static,
    ) -> Self {
        Self {
            method,
            price: Price::Dynamic(Arc::new(f)),
        }
    }
}
