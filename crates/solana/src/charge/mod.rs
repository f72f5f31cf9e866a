//! `solana`/`charge`: request and payload types, client-side building, server-side rules.

pub mod build;
pub mod payload;
pub mod request;
pub mod verify;

pub use build::{BuildOptions, build_charge_transaction, sign_partial};
pub use payload::{ChargePayload, decode_signature, decode_transaction};
pub use request::{ChargeRequest, Currency, Leg, MethodDetails, Split};
pub use verify::{
    ChargeTerms, CheckedPayment, PullPolicy, check_pull_transaction, check_push_transaction, cosign,
};
