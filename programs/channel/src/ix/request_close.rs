//! `requestClose` (5): the payer starts a forced close; the grace period begins.
//! No data. Accounts: payer (s), channel (w).

use pinocchio::{AccountView, Address, ProgramResult};

use crate::state::{Channel, status};
use crate::{Now, exact_accounts, no_args, now, stamp};

#[inline(always)]
pub fn process(program_id: &Address, accounts: &[AccountView], rest: &[u8]) -> ProgramResult {
    exact_accounts(accounts, 2)?;
    no_args(rest)?;
    let payer = &accounts[0];
    let channel = &accounts[1];
    let mut ch = Channel::empty();
    super::payer_channel(program_id, payer, channel, status::OPEN, &mut ch)?;
    let mut clock = Now { slot: 0, unix: 0 };
    now(&mut clock)?;
    ch.closure_started_at = stamp(clock.unix);
    ch.status = status::CLOSING;
    ch.store(channel)
}
