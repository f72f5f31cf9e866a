//! # mppsol-server: HTTP 402 for tower and axum
//!
//! ```text
//! request ─▶ PaymentLayer ─▶ price (Offer: method + Price) ─┬─ unpaid ─▶ 402 + challenges
//!                                                            └─ credential ─▶ pipeline:
//!   HMAC + expiry + route + body ─▶ reserve challenge (Store) ─▶ ServerMethod::verify
//!   (e.g. SolanaCharge: rules, co-sign, send, confirm, consume signature) ─▶ receipt ─▶ handler
//! ```
//!
//! | module | holds |
//! |---|---|
//! | [`config`] | realm, secrets, challenge lifetime, store, clock, receipt signer |
//! | [`price`] | fixed or per-request prices, offers |
//! | [`layer`] | the tower `Layer`/`Service` |
//! | [`pipeline`] | one paid request, start to finish |
//! | [`extract`] | the `Paid` axum extractor |
//! | [`discovery`] | `PaidApi`: layers per route and `GET /openapi.json` |
//! | [`solana_charge`] | the `solana`/`charge` method (pull and push) |
//! | [`solana_session`] | the `solana`/`session` method (channels, vouchers) and its watchtower |

pub mod config;
pub mod discovery;
pub mod extract;
pub mod layer;
pub mod pipeline;
pub mod price;
pub mod problem_response;
pub mod solana_charge;
pub mod solana_session;

pub use config::PaymentConfig;
pub use discovery::PaidApi;
pub use extract::Paid;
pub use layer::{PaymentLayer, PaymentService};
pub use pipeline::PaidRequest;
pub use price::{Offer, Price};
pub use solana_charge::{PushBinding, SolanaCharge, SolanaChargeConfig};
pub use solana_session::{SolanaSession, SolanaSessionConfig};
