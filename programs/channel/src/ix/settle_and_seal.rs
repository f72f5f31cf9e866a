//! `settleAndSeal` (4): payee-signed cooperative close; optionally applies the voucher from the
//! preceding Ed25519 instruction, then seals. Data: `has_voucher u8`.
//! Accounts: payee (s), channel (w), instructionsSysvar.

use pinocchio::{AccountView, Address, ProgramResult};

use crate::error::{ChannelError, fail};
use crate::state::{Channel, status};
use crate::voucher::apply_voucher;
use crate::{Now, exact_accounts, now, require_signer};

/// Refuses once `now >= closureStartedAt + gracePeriod`.
#[inline(always)]
pub fn require_within_grace(ch: &Channel, unix: i64) -> ProgramResult {
    let deadline = ch
        .closure_started_at
        .checked_add(ch.grace_period as i64)
        .ok_or_else(|| pinocchio::error::ProgramError::from(ChannelError::SealDeadlineOverflow))?;
    if unix >= deadline {
        return fail(ChannelError::GracePeriodElapsed);
    }
    Ok(())
}

#[inline(always)]
pub fn process(program_id: &Address, accounts: &[AccountView], rest: &[u8]) -> ProgramResult {
    exact_accounts(accounts, 3)?;
    let [has_voucher] = rest else {
        return fail(ChannelError::InvalidInstructionData);
    };
    let payee = &accounts[0];
    let channel = &accounts[1];
    require_signer(payee)?;
    let mut ch = Channel::empty();
    Channel::load(channel, program_id, &mut ch)?;
    if payee.address() != &ch.payee {
        return fail(ChannelError::InvalidChannelPayee);
    }
    let mut clock = Now { slot: 0, unix: 0 };
    now(&mut clock)?;
    match ch.status {
        status::OPEN => {}
        status::CLOSING => require_within_grace(&ch, clock.unix)?,
        _ => return fail(ChannelError::InvalidChannelStatus),
    }
    if *has_voucher != 0 {
        apply_voucher(&accounts[2], channel.address(), &mut ch, clock.unix)?;
    } else if accounts[2].address() != &pinocchio::sysvars::instructions::INSTRUCTIONS_ID {
        return fail(ChannelError::InvalidProgramAccount);
    }
    ch.status = status::SEALED;
    ch.closure_started_at = 0;
    ch.store(channel)
}
