//! `reclaim` (9): permissionless; deallocates a `Distributed` channel once
//! `clock.slot > openSlot + OPEN_SLOT_WINDOW`, every lamport to `rentPayer`.
//! No data. Accounts: channel (w), rentPayer (w).

use pinocchio::{AccountView, Address, ProgramResult};

use crate::error::{ChannelError, fail};
use crate::state::{Channel, status};
use crate::{Now, OPEN_SLOT_WINDOW, exact_accounts, no_args, now, require_writable};

/// Moves every lamport of `channel` to `to` and closes it (data length 0, system owner).
#[inline(always)]
pub fn deallocate(channel: &AccountView, to: &AccountView) -> ProgramResult {
    let total = to
        .lamports()
        .checked_add(channel.lamports())
        .ok_or_else(|| pinocchio::error::ProgramError::from(ChannelError::DistributePayerBalanceOverflow))?;
    to.set_lamports(total);
    channel.set_lamports(0);
    channel.close()
}

#[inline(always)]
pub fn process(program_id: &Address, accounts: &[AccountView], rest: &[u8]) -> ProgramResult {
    exact_accounts(accounts, 2)?;
    no_args(rest)?;
    let channel = &accounts[0];
    let rent_payer = &accounts[1];
    require_writable(rent_payer)?;
    let mut ch = Channel::empty();
    Channel::load(channel, program_id, &mut ch)?;
    if ch.status != status::DISTRIBUTED {
        return fail(ChannelError::InvalidChannelStatus);
    }
    if rent_payer.address() != &ch.rent_payer {
        return fail(ChannelError::InvalidRentPayer);
    }
    let mut clock = Now { slot: 0, unix: 0 };
    now(&mut clock)?;
    if clock.slot <= ch.open_slot.saturating_add(OPEN_SLOT_WINDOW) {
        return fail(ChannelError::ChannelCloseTooEarly);
    }
    deallocate(channel, rent_payer)
}
