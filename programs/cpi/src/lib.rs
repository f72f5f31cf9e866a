//! # mppsol-cpi
//!
//! A `no_std` crate (Pinocchio only) that another on-chain program links to pay for MPP
//! services by CPI:
//!
//! | helper | calls | signer |
//! |---|---|---|
//! | [`payments::PayCharge`] | payments `pay` (transfer + receipt PDA) | the source token account's authority, e.g. the caller's PDA |
//! | [`policy::PayViaPolicy`] | policy `pay` / `payWithReceipt` | the wallet's agent, e.g. the caller's PDA |
//! | [`policy::ChannelViaPolicy`] | policy `fundChannel` / `topUpChannel` | the wallet's agent |
//! | [`channel::OpenChannel`] / [`channel::TopUpChannel`] | channel `open` / `topUp` | the payer, e.g. the caller's PDA |
//!
//! Every helper takes the callee program as an account and **checks its address** against the
//! id the caller expects (`invoke_signed(expected_program, signers)`): a caller that forwarded
//! whatever program the transaction named would hand its PDA signature to that program.
//!
//! The byte layouts are documented in `programs/cpi/README.md`; the constants here are the
//! single source the programs themselves use, and the host encoders in
//! `crates/solana/src/policy/` are checked against them by the program tests.
#![no_std]

pub mod channel;
pub mod payments;
pub mod policy;
pub mod util;

use pinocchio::Address;

/// SPL Token.
pub const TOKEN_PROGRAM_ID: Address =
    Address::from_str_const("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA");
/// Token-2022.
pub const TOKEN_2022_PROGRAM_ID: Address =
    Address::from_str_const("TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb");
/// Associated Token Account program.
pub const ATA_PROGRAM_ID: Address =
    Address::from_str_const("ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL");
/// System program.
pub const SYSTEM_PROGRAM_ID: Address = Address::from_str_const("11111111111111111111111111111111");
/// SPL Memo (v2).
pub const MEMO_PROGRAM_ID: Address =
    Address::from_str_const("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr");

/// Implements `From<$error> for ProgramError` (as `Custom(code)`) for a `#[repr(u32)]` error
/// enum and defines `fail`, the `Err(..)` shorthand, next to it.
#[macro_export]
macro_rules! program_error {
    ($error:ty) => {
        impl From<$error> for pinocchio::error::ProgramError {
            fn from(e: $error) -> Self {
                pinocchio::error::ProgramError::Custom(e as u32)
            }
        }

        /// `Err(ProgramError::Custom(code))`.
        #[inline(always)]
        pub fn fail<T>(e: $error) -> Result<T, pinocchio::error::ProgramError> {
            Err(e.into())
        }
    };
}
