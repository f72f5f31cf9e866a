//! # mppsol-channel-program
//!
//! The payment-channel (settlement) program of `draft-solana-session-00`, written for
//! Pinocchio 0.10 and built with upstream rustc + sbpf-linker (see `scripts/build-programs.sh`).
//!
//! Instruction discriminators (1 byte) and account orders match the reference program
//! (solana-foundation/payment-channels); where the reference and the spec differ, the spec
//! wins: SHA-256 splits hash, `OPEN_SLOT_WINDOW = 1500`, `VoucherBadMagic = 238`.
//!
//! | disc | instruction |
//! |---|---|
//! | 1 | open |
//! | 2 | settle |
//! | 3 | topUp |
//! | 4 | settleAndSeal |
//! | 5 | requestClose |
//! | 6 | seal |
//! | 7 | distribute |
//! | 8 | withdrawPayer |
//! | 9 | reclaim |
//! | 228 | emitEvent (self-CPI only) |
#![no_std]

pub mod error;
mod pda;
pub mod events;
mod ix;
pub mod splits;
pub mod state;
pub mod token;
pub mod voucher;

use pinocchio::{AccountView, Address, ProgramResult, sysvars::clock::CLOCK_ID, sysvars::get_sysvar};

use crate::error::{ChannelError, fail};

#[cfg(target_arch = "bpf")]
mod entry {
    pinocchio::program_entrypoint!(crate::process_instruction);
    pinocchio::no_allocator!();
    pinocchio::nostd_panic_handler!();
}

/// Slots after `openSlot` during which `open` may land and the address stays occupied.
/// Consensus-critical: may only ever decrease (spec "Reincarnation Replay").
pub const OPEN_SLOT_WINDOW: u64 = 1500;

/// Owner of the treasury ATAs that receive redirected payouts and final dust. This is the dev
/// key under `programs/keys/treasury-owner-dev.json`; a production deployment rebuilds the
/// program with its own treasury owner.
pub const TREASURY_OWNER: Address =
    Address::from_str_const("G9hYsRio2N9Fhgm1R6mBNGcQcNCLdLjSmmVYF9Mf5y6R");

/// Instruction discriminators.
pub mod disc {
    pub const OPEN: u8 = 1;
    pub const SETTLE: u8 = 2;
    pub const TOP_UP: u8 = 3;
    pub const SETTLE_AND_SEAL: u8 = 4;
    pub const REQUEST_CLOSE: u8 = 5;
    pub const SEAL: u8 = 6;
    pub const DISTRIBUTE: u8 = 7;
    pub const WITHDRAW_PAYER: u8 = 8;
    pub const RECLAIM: u8 = 9;
    pub const EMIT_EVENT: u8 = 228;
}

/// The program entrypoint's dispatcher (inlined into the entrypoint: the upstream BPF backend
/// allows at most five register arguments).
#[inline(always)]
pub fn process_instruction(program_id: &Address, accounts: &[AccountView], data: &[u8]) -> ProgramResult {
    let Some((d, rest)) = data.split_first() else {
        return fail(ChannelError::InvalidInstructionData);
    };
    match *d {
        disc::OPEN => ix::open::process(program_id, accounts, rest),
        disc::SETTLE => ix::settle::process(program_id, accounts, rest),
        disc::TOP_UP => ix::top_up::process(program_id, accounts, rest),
        disc::SETTLE_AND_SEAL => ix::settle_and_seal::process(program_id, accounts, rest),
        disc::REQUEST_CLOSE => ix::request_close::process(program_id, accounts, rest),
        disc::SEAL => ix::seal::process(program_id, accounts, rest),
        disc::DISTRIBUTE => ix::distribute::process(program_id, accounts, rest),
        disc::WITHDRAW_PAYER => ix::withdraw_payer::process(program_id, accounts, rest),
        disc::RECLAIM => ix::reclaim::process(program_id, accounts, rest),
        disc::EMIT_EVENT => events::process_emit(program_id, accounts),
        _ => fail(ChannelError::InvalidInstructionData),
    }
}

/// Exactly `n` accounts: fewer or more is refused.
#[inline(always)]
pub(crate) fn exact_accounts(accounts: &[AccountView], n: usize) -> ProgramResult {
    if accounts.len() < n {
        return fail(ChannelError::NotEnoughAccountKeys);
    }
    if accounts.len() > n {
        return fail(ChannelError::TooManyAccountKeys);
    }
    Ok(())
}

/// Refuses unless `a` signed.
#[inline(always)]
pub(crate) fn require_signer(a: &AccountView) -> ProgramResult {
    if !a.is_signer() {
        return fail(ChannelError::MissingRequiredSignature);
    }
    Ok(())
}

/// Refuses unless `a` is writable.
#[inline(always)]
pub(crate) fn require_writable(a: &AccountView) -> ProgramResult {
    if !a.is_writable() {
        return fail(ChannelError::AccountNotWritable);
    }
    Ok(())
}

/// Refuses unless the instruction data after the discriminator is empty.
#[inline(always)]
pub(crate) fn no_args(rest: &[u8]) -> ProgramResult {
    if !rest.is_empty() {
        return fail(ChannelError::InvalidInstructionData);
    }
    Ok(())
}

/// The Clock sysvar's slot and unix timestamp. Read through `sol_get_sysvar` because
/// pinocchio's `Clock::get` compiles to a zeroing stub on `bpfel-unknown-none`.
#[derive(Clone, Copy)]
pub(crate) struct Now {
    pub slot: u64,
    pub unix: i64,
}

#[inline(always)]
pub(crate) fn now(out: &mut Now) -> ProgramResult {
    let mut buf = [0u8; 40];
    get_sysvar(&mut buf, &CLOCK_ID, 0)?;
    let mut b = [0u8; 8];
    b.copy_from_slice(&buf[0..8]);
    out.slot = u64::from_le_bytes(b);
    b.copy_from_slice(&buf[32..40]);
    out.unix = i64::from_le_bytes(b);
    Ok(())
}

/// A timestamp to record "it happened": never 0, which the state reserves for "not yet".
#[inline(always)]
pub(crate) fn stamp(unix: i64) -> i64 {
    if unix < 1 { 1 } else { unix }
}
