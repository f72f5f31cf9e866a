//! The on-chain programs (policy, payments, example vault, with the channel program) as built
//! SBF ELFs from `programs/bin/`, run in LiteSVM with the real SPL Token, ATA and Memo programs.

// Test support: a failed setup step is a failed test.
#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

mod compute_units;
mod example_vault;
mod harness;
mod payments;
mod policy_channel;
mod policy_owner;
mod policy_rules;
