//! `distribute` (7): permissionless payout of the cumulative floor deltas between
//! `payoutWatermark` and `settled` to the split recipients and the payee (implicit remainder).
//! From `Sealed` it also refunds the payer, sweeps the rest of the escrow to the treasury,
//! closes the escrow ATA (rent to `rentPayer`) and deallocates the channel when the open
//! window has passed, else marks it `Distributed`. An unusable beneficiary ATA forfeits its
//! share to the treasury (`PayoutRedirected`).
//!
//! Data: splits preimage. Accounts: channel (w), payer (w), rentPayer (w),
//! channelTokenAccount (w), payerTokenAccount (w), payeeTokenAccount (w),
//! treasuryTokenAccount (w), mint, tokenProgram, eventAuthority, selfProgram,
//! recipient ATAs (w) in preimage order.

use pinocchio::{
    AccountView, Address, ProgramResult,
    cpi::Signer,
    error::ProgramError,
};

use crate::error::{ChannelError, fail};
use crate::events::{EventAccounts, Redirected, beneficiary};
use crate::ix::reclaim::deallocate;
use crate::splits::{self, BPS, Splits};
use crate::state::{Channel, SeedBytes, check_channel_address, status};
use crate::token::{self, RoleErrors, Standing, TokenCtx};
use crate::{Now, OPEN_SLOT_WINDOW, TREASURY_OWNER, now, require_writable, stamp};

const FIXED_ACCOUNTS: usize = 11;

/// Everything a payout needs besides its destination.
struct Payer<'a, 'b> {
    program_id: &'a Address,
    channel: &'a AccountView,
    escrow: &'a AccountView,
    token: TokenCtx<'a>,
    signers: &'b [Signer<'b, 'b>],
    events: EventAccounts<'a>,
}

/// One beneficiary leg.
struct Leg<'a> {
    dest: &'a AccountView,
    owner: &'a [u8],
    amount: u64,
    beneficiary: u8,
    malformed: ChannelError,
}

impl Payer<'_, '_> {
    /// Pays `leg`, or redirects it (returns the amount owed to the treasury) when the
    /// destination is unusable.
    #[inline(always)]
    fn pay(&self, leg: &Leg) -> Result<u64, ProgramError> {
        if leg.amount == 0 {
            return Ok(0);
        }
        match token::standing(leg.dest, self.token.mint.address(), leg.owner, self.token.program.address()) {
            Ok(Standing::Usable) => {
                token::transfer(&self.token, self.escrow, leg.dest, self.channel, leg.amount, self.signers)?;
                Ok(0)
            }
            Ok(Standing::Unusable(reason)) => {
                let mut ev = [0u8; 90];
                Redirected {
                    channel: self.channel.address(),
                    owner: leg.owner,
                    amount: leg.amount,
                    beneficiary: leg.beneficiary,
                    reason: reason as u8,
                }
                .encode(&mut ev);
                self.events.emit(self.program_id, &ev)?;
                Ok(leg.amount)
            }
            Err(()) => fail(leg.malformed),
        }
    }
}

#[inline(always)]
fn addr(bytes: &[u8]) -> Address {
    let mut a = [0u8; 32];
    a.copy_from_slice(bytes);
    Address::new_from_array(a)
}

#[inline(always)]
pub fn process(program_id: &Address, accounts: &[AccountView], rest: &[u8]) -> ProgramResult {
    if accounts.len() < FIXED_ACCOUNTS {
        return fail(ChannelError::NotEnoughAccountKeys);
    }
    let channel = &accounts[0];
    let payer = &accounts[1];
    let rent_payer = &accounts[2];
    let escrow = &accounts[3];
    let payer_ata = &accounts[4];
    let payee_ata = &accounts[5];
    let treasury = &accounts[6];
    let mint = &accounts[7];
    let token_program = &accounts[8];
    let recipients = &accounts[FIXED_ACCOUNTS..];

    let splits = Splits::parse(rest)?;
    let mut ch = Channel::empty();
    Channel::load(channel, program_id, &mut ch)?;
    let sealed = match ch.status {
        status::OPEN => false,
        status::SEALED => true,
        _ => return fail(ChannelError::ChannelNotDistributable),
    };
    if payer.address() != &ch.payer {
        return fail(ChannelError::InvalidChannelPayer);
    }
    if rent_payer.address() != &ch.rent_payer {
        return fail(ChannelError::InvalidRentPayer);
    }
    if mint.address() != &ch.mint {
        return fail(ChannelError::InvalidChannelMint);
    }
    for a in [payer, rent_payer, escrow, payer_ata, payee_ata, treasury] {
        require_writable(a)?;
    }
    if recipients.len() != splits.count {
        return fail(ChannelError::RecipientAccountCountMismatch);
    }
    let mut hash = [0u8; 32];
    splits.hash(&mut hash);
    if hash != ch.distribution_hash {
        return fail(ChannelError::InvalidDistributionHash);
    }
    if !sealed && ch.settled == ch.payout_watermark {
        return fail(ChannelError::NothingToDistribute);
    }
    if ch.payout_watermark > ch.settled {
        return fail(ChannelError::DistributePoolOverflow);
    }

    token::check_token_program(token_program)?;
    let decimals = token::check_mint(mint, token_program)?;
    let events = EventAccounts::check(&accounts[9], &accounts[10], program_id)?;
    let tp = token_program.address();
    let channel_addr = channel.address();
    if !token::is_ata(escrow.address(), channel_addr, &ch.mint, tp) {
        return fail(ChannelError::InvalidChannelTokenAccount);
    }
    token::require_usable(
        escrow,
        &ch.mint,
        channel_addr,
        tp,
        &token::ESCROW_ERRORS,
    )?;
    if !token::is_ata(payer_ata.address(), &ch.payer, &ch.mint, tp) {
        return fail(ChannelError::PayerAccountMismatch);
    }
    if !token::is_ata(payee_ata.address(), &ch.payee, &ch.mint, tp) {
        return fail(ChannelError::PayeeAccountMismatch);
    }
    if !token::is_ata(treasury.address(), &TREASURY_OWNER, &ch.mint, tp) {
        return fail(ChannelError::TreasuryAccountMismatch);
    }
    let mut recipient_bps = 0u64;
    for (i, acct) in recipients.iter().enumerate() {
        require_writable(acct)?;
        if !token::is_ata(acct.address(), &addr(splits.recipient(i)), &ch.mint, tp) {
            return fail(ChannelError::RecipientAccountMismatch);
        }
        recipient_bps += splits.bps(i);
    }
    if recipient_bps > BPS {
        return fail(ChannelError::InvalidSplitConfig);
    }
    let payee_bps = BPS - recipient_bps;

    let mut sb = SeedBytes::empty();
    SeedBytes::of(&ch, &mut sb);
    check_channel_address(channel_addr, &sb, program_id)?;

    let settled = ch.settled;
    let watermark = ch.payout_watermark;
    let refund_due = sealed && ch.payer_withdrawn_at == 0;
    let refund = if refund_due {
        ch.deposit
            .checked_sub(ch.settled)
            .ok_or_else(|| ProgramError::from(ChannelError::RefundCalculationOverflow))?
    } else {
        0
    };
    let mut clock = Now { slot: 0, unix: 0 };
    now(&mut clock)?;
    let fast_path = sealed && clock.slot > ch.open_slot.saturating_add(OPEN_SLOT_WINDOW);

    // State first: the CPIs below need the channel account unborrowed.
    ch.payout_watermark = settled;
    if refund_due {
        ch.payer_withdrawn_at = stamp(clock.unix);
    }
    if sealed {
        ch.status = status::DISTRIBUTED;
    }
    ch.store(channel)?;

    let seeds = sb.seeds();
    let signers = [Signer::from(&seeds)];
    let payer_ctx = Payer {
        program_id,
        channel,
        escrow,
        token: TokenCtx {
            program: token_program,
            mint,
            decimals,
        },
        signers: &signers,
        events,
    };

    let mut to_treasury = 0u64;
    for (i, acct) in recipients.iter().enumerate() {
        to_treasury += payer_ctx.pay(&Leg {
            dest: acct,
            owner: splits.recipient(i),
            amount: splits::delta(settled, watermark, splits.bps(i)),
            beneficiary: beneficiary::RECIPIENT,
            malformed: ChannelError::InvalidRecipientTokenAccount,
        })?;
    }
    to_treasury += payer_ctx.pay(&Leg {
        dest: payee_ata,
        owner: sb.payee.as_ref(),
        amount: splits::delta(settled, watermark, payee_bps),
        beneficiary: beneficiary::PAYEE,
        malformed: ChannelError::InvalidPayeeTokenAccount,
    })?;
    if refund > 0 {
        to_treasury += payer_ctx.pay(&Leg {
            dest: payer_ata,
            owner: sb.payer.as_ref(),
            amount: refund,
            beneficiary: beneficiary::PAYER,
            malformed: ChannelError::InvalidPayerTokenAccount,
        })?;
    }
    if sealed {
        // Everything left — redirected shares, flooring dust, prefunded surplus — goes to the
        // treasury before the escrow closes.
        to_treasury = token::amount_of(escrow)?;
    }
    if to_treasury > 0 {
        token::require_usable(
            treasury,
            &ch.mint,
            &TREASURY_OWNER,
            tp,
            &RoleErrors {
                invalid: ChannelError::InvalidTreasuryTokenAccount,
                extensions: ChannelError::InvalidTreasuryTokenExtensions,
            },
        )?;
        token::transfer(&payer_ctx.token, escrow, treasury, channel, to_treasury, &signers)?;
    }
    if !sealed {
        return Ok(());
    }
    token::close_account(token_program, escrow, rent_payer, channel, &signers)?;
    if fast_path {
        deallocate(channel, rent_payer)?;
    }
    Ok(())
}
