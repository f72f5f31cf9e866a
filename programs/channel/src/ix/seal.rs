//! `seal` (6): permissionless; `Closing -> Sealed` once the grace period has elapsed.
//! No data. Accounts: channel (w).

use pinocchio::{AccountView, Address, ProgramResult, error::ProgramError};

use crate::error::{ChannelError, fail};
use crate::state::{Channel, status};
use crate::{Now, exact_accounts, no_args, now};

#[inline(always)]
pub fn process(program_id: &Address, accounts: &[AccountView], rest: &[u8]) -> ProgramResult {
    exact_accounts(accounts, 1)?;
    no_args(rest)?;
    let channel = &accounts[0];
    let mut ch = Channel::empty();
    Channel::load(channel, program_id, &mut ch)?;
    if ch.status != status::CLOSING {
        return fail(ChannelError::InvalidChannelStatus);
    }
    let deadline = ch
        .closure_started_at
        .checked_add(ch.grace_period as i64)
        .ok_or_else(|| ProgramError::from(ChannelError::SealDeadlineOverflow))?;
    let mut clock = Now { slot: 0, unix: 0 };
    now(&mut clock)?;
    if clock.unix < deadline {
        return fail(ChannelError::GracePeriodNotElapsed);
    }
    ch.status = status::SEALED;
    ch.closure_started_at = 0;
    ch.store(channel)
}
