//! `topUp` (3): the payer adds to the escrow while the channel is `Open`.
//! Data: `amount u64`. Accounts: payer (s,w), channel (w), payerTokenAccount (w),
//! channelTokenAccount (w), mint, tokenProgram.

use pinocchio::{AccountView, Address, ProgramResult, error::ProgramError};

use crate::error::{ChannelError, fail};
use crate::state::{Channel, status};
use crate::token::{self, PayerSide};
use crate::{exact_accounts, require_writable};

#[inline(always)]
pub fn process(program_id: &Address, accounts: &[AccountView], rest: &[u8]) -> ProgramResult {
    exact_accounts(accounts, 6)?;
    if rest.len() != 8 {
        return fail(ChannelError::InvalidInstructionData);
    }
    let mut b = [0u8; 8];
    b.copy_from_slice(rest);
    let amount = u64::from_le_bytes(b);
    let payer = &accounts[0];
    let channel = &accounts[1];
    let payer_ata = &accounts[2];
    let escrow = &accounts[3];
    let mint = &accounts[4];
    let token_program = &accounts[5];
    require_writable(payer_ata)?;
    require_writable(escrow)?;
    let mut ch = Channel::empty();
    super::payer_channel(program_id, payer, channel, status::OPEN, &mut ch)?;
    if amount == 0 {
        return fail(ChannelError::DepositMustBeNonZero);
    }
    let deposit = ch
        .deposit
        .checked_add(amount)
        .ok_or_else(|| ProgramError::from(ChannelError::TopUpDepositOverflow))?;
    let ctx = PayerSide {
        channel,
        escrow,
        payer_ata,
        mint,
        token_program,
    }
    .check(&ch.mint, &ch.payer)?;
    token::transfer(&ctx, payer_ata, escrow, payer, amount, &[])?;
    ch.deposit = deposit;
    ch.store(channel)
}
