//! `settle` (2): raise `settled` to the voucher carried by the preceding Ed25519 precompile
//! instruction. Permissionless. No data. Accounts: channel (w), instructionsSysvar.

use pinocchio::{AccountView, Address, ProgramResult};

use crate::error::{ChannelError, fail};
use crate::state::{Channel, status};
use crate::voucher::apply_voucher;
use crate::{Now, exact_accounts, no_args, now};

#[inline(always)]
pub fn process(program_id: &Address, accounts: &[AccountView], rest: &[u8]) -> ProgramResult {
    exact_accounts(accounts, 2)?;
    no_args(rest)?;
    let channel = &accounts[0];
    let mut ch = Channel::empty();
    Channel::load(channel, program_id, &mut ch)?;
    let mut clock = Now { slot: 0, unix: 0 };
    now(&mut clock)?;
    match ch.status {
        status::OPEN => {}
        // The payee may still settle during a forced close's grace period.
        status::CLOSING => super::settle_and_seal::require_within_grace(&ch, clock.unix)?,
        _ => return fail(ChannelError::InvalidChannelStatus),
    }
    apply_voucher(&accounts[1], channel.address(), &mut ch, clock.unix)?;
    ch.store(channel)
}
