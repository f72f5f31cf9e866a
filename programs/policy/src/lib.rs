//! # mppsol-policy-program
//!
//! The on-chain spending policy of an agent wallet. A wallet PDA `["wallet", owner, agent]`
//! owns the agent's token vaults (its ATAs); every outgoing payment is checked against the
//! owner's policy before the program signs for the vault.
//!
//! | disc | instruction | signer |
//! |---|---|---|
//! | 1 | createWallet | owner |
//! | 2 | setPolicy | owner |
//! | 3 | pay | agent (+ owner above the escalation threshold) |
//! | 4 | payWithReceipt | agent (+ owner above the threshold) |
//! | 5 | fundChannel | agent (+ owner above the threshold) |
//! | 6 | topUpChannel | agent (+ owner above the threshold) |
//! | 7 | setPaused | owner |
//! | 8 | withdraw | owner |
//! | 9 | closeWallet | owner |
//!
//! Rules, checked in this order on every outgoing payment (pay, fund, top-up): agent signed,
//! owner account is the wallet's owner, not paused, nonce > last nonce, amount > 0,
//! amount ≤ max single, day's spend + amount ≤ max daily (day = `unix_timestamp / 86_400`,
//! reset when the index changes), counterparty allowed, category allowed (pay), memo present
//! if required (pay), owner co-signed if amount > escalation threshold.
//!
//! Layouts: `mppsol_cpi::policy` and `docs/003-policy-program.md`.
#![no_std]

pub mod error;
mod ix;
pub mod state;

use mppsol_cpi::policy::disc;
use pinocchio::{AccountView, Address, ProgramResult, error::ProgramError};

use crate::error::{PolicyError, fail};

#[cfg(target_arch = "bpf")]
mod entry {
    pinocchio::program_entrypoint!(crate::process_instruction);
    pinocchio::no_allocator!();
    pinocchio::nostd_panic_handler!();
}

/// The dispatcher (inlined into the entrypoint: at most five register arguments).
#[inline(always)]
pub fn process_instruction(
    program_id: &Address,
    accounts: &[AccountView],
    data: &[u8],
) -> ProgramResult {
    let rc = match data.first() {
        Some(&disc::CREATE_WALLET) => framed::create_wallet(program_id, accounts, data),
        Some(&disc::SET_POLICY) => framed::set_policy(program_id, accounts, data),
        Some(&disc::PAY) => framed::pay(program_id, accounts, data),
        Some(&disc::PAY_WITH_RECEIPT) => framed::pay_with_receipt(program_id, accounts, data),
        Some(&disc::FUND_CHANNEL) => framed::fund_channel(program_id, accounts, data),
        Some(&disc::TOP_UP_CHANNEL) => framed::top_up_channel(program_id, accounts, data),
        Some(&disc::SET_PAUSED) => framed::set_paused(program_id, accounts, data),
        Some(&disc::WITHDRAW) => framed::withdraw(program_id, accounts, data),
        Some(&disc::CLOSE_WALLET) => framed::close_wallet(program_id, accounts, data),
        _ => return fail(PolicyError::InvalidInstructionData),
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(ProgramError::from(rc))
    }
}

/// Each instruction in its own stack frame (one frame cannot hold every handler's wallet copy
/// and CPI buffers). The upstream BPF backend only returns scalars from a non-inlined call, so
/// the result travels as the runtime's u64 error encoding (0 = success).
mod framed {
    use pinocchio::{AccountView, Address};

    macro_rules! framed {
        ($($name:ident => $body:expr;)*) => {$(
            #[inline(never)]
            pub fn $name(program_id: &Address, accounts: &[AccountView], data: &[u8]) -> u64 {
                let f: fn(&Address, &[AccountView], &[u8]) -> pinocchio::ProgramResult = $body;
                match f(program_id, accounts, data) {
                    Ok(()) => 0,
                    Err(e) => u64::from(e),
                }
            }
        )*};
    }

    framed! {
        create_wallet => crate::ix::admin::create_wallet;
        set_policy => crate::ix::admin::set_policy;
        pay => |p, a, d| crate::ix::pay::process(p, a, d, false);
        pay_with_receipt => |p, a, d| crate::ix::pay::process(p, a, d, true);
        fund_channel => crate::ix::channel::fund;
        top_up_channel => crate::ix::channel::top_up;
        set_paused => crate::ix::admin::set_paused;
        withdraw => crate::ix::admin::withdraw;
        close_wallet => crate::ix::admin::close_wallet;
    }
}

/// Exactly `n` accounts.
#[inline(always)]
pub(crate) fn exact_accounts(accounts: &[AccountView], n: usize) -> ProgramResult {
    if accounts.len() != n {
        return fail(PolicyError::WrongAccountCount);
    }
    Ok(())
}

/// Refuses unless every account in `accs` is writable.
#[inline(always)]
pub(crate) fn writable(accs: &[&AccountView]) -> ProgramResult {
    if accs.iter().any(|a| !a.is_writable()) {
        return fail(PolicyError::AccountNotWritable);
    }
    Ok(())
}
