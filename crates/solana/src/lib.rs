//! # mppsol-solana: the Solana payment method of MPP
//!
//! Pure values and rules; the chain, HTTP and SQL sit in other crates.
//!
//! | module | holds |
//! |---|---|
//! | [`charge::request`] | the `solana`/`charge` request, validated (splits, fee payer, token fields) |
//! | [`charge::payload`] | pull (`transaction`) and push (`signature`) payloads |
//! | [`charge::build`] | the client's transfer transaction, partial signing |
//! | [`charge::verify`] | the server's checks: allowlist, fee-payer safety, legs, balances, co-signing |
//! | [`token`] | program ids, ATA derivation, Token-2022 transfer-fee arithmetic |
//! | [`channel`] | the payment-channel program's interface: vouchers, PDAs, splits, state, instructions |
//! | [`policy`] | the spending-policy, payments (receipt) and example-vault programs' interface: PDAs, state, instructions, error codes |
//! | [`network`] | `mainnet` / `devnet` / `localnet` |

pub mod channel;
pub mod charge;
pub mod error;
pub mod network;
pub mod policy;
mod program_error;
mod serde_b58;
pub mod session;
pub mod token;

pub use error::{BuildError, RequestError, VerifyError};
pub use network::Network;
pub use program_error::custom_code;

/// The method identifier.
pub const METHOD: &str = "solana";
