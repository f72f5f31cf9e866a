//! End-to-end: the real client pays the real server over loopback HTTP, settling on the
//! embedded ledger with the real SPL programs, on SQLite and on PostgreSQL.

// Test code: a failed expectation is the test failing.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod charge;
mod interop_solana_mpp;
mod interop_solana_pay_kit;
mod policy_wallet;
mod refusals;
mod refusals_fee_payer;
mod session;
