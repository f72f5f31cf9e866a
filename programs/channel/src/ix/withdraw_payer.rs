//! `withdrawPayer` (8): the payer's one-shot refund of `deposit - settled` from a `Sealed`
//! channel; does not close anything. No data. Accounts: payer (s), channel (w),
//! channelTokenAccount (w), payerTokenAccount (w), mint, tokenProgram.

use pinocchio::{AccountView, Address, ProgramResult, cpi::Signer, error::ProgramError};

use crate::error::{ChannelError, fail};
use crate::state::{Channel, SeedBytes, check_channel_address, status};
use crate::token::{self, PayerSide};
use crate::{Now, exact_accounts, no_args, now, require_writable, stamp};

#[inline(always)]
pub fn process(program_id: &Address, accounts: &[AccountView], rest: &[u8]) -> ProgramResult {
    exact_accounts(accounts, 6)?;
    no_args(rest)?;
    let payer = &accounts[0];
    let channel = &accounts[1];
    let escrow = &accounts[2];
    let payer_ata = &accounts[3];
    let mint = &accounts[4];
    let token_program = &accounts[5];
    require_writable(escrow)?;
    require_writable(payer_ata)?;
    let mut ch = Channel::empty();
    super::payer_channel(program_id, payer, channel, status::SEALED, &mut ch)?;
    if ch.payer_withdrawn_at != 0 {
        return fail(ChannelError::PayerAlreadyWithdrawn);
    }
    let refund = ch
        .deposit
        .checked_sub(ch.settled)
        .ok_or_else(|| ProgramError::from(ChannelError::RefundCalculationOverflow))?;
    let ctx = PayerSide {
        channel,
        escrow,
        payer_ata,
        mint,
        token_program,
    }
    .check(&ch.mint, &ch.payer)?;
    let mut clock = Now { slot: 0, unix: 0 };
    now(&mut clock)?;
    ch.payer_withdrawn_at = stamp(clock.unix);
    ch.store(channel)?;

    if refund > 0 {
        let mut sb = SeedBytes::empty();
        SeedBytes::of(&ch, &mut sb);
        check_channel_address(channel.address(), &sb, program_id)?;
        let seeds = sb.seeds();
        let signers = [Signer::from(&seeds)];
        token::transfer(&ctx, escrow, payer_ata, channel, refund, &signers)?;
    }
    Ok(())
}
