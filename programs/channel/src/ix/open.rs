//! `open` (1): create the channel PDA and its escrow ATA (rent from `rentPayer`), move the
//! deposit from the payer's ATA, commit the splits hash, emit `Opened`.
//!
//! Data: `salt u64 || deposit u64 || grace_period u32 || open_slot u64 || splits preimage`.
//! Accounts: payer (s,w), rentPayer (s,w), payee, mint, authorizedSigner, channel (w),
//! payerTokenAccount (w), channelTokenAccount (w), tokenProgram, systemProgram, rent,
//! associatedTokenProgram, eventAuthority, selfProgram.

use pinocchio::{
    AccountView, Address, ProgramResult,
    cpi::{Seed, Signer},
    error::ProgramError,
    sysvars::rent::RENT_ID,
};
use pinocchio_system::instructions::{Allocate, Assign, Transfer};

use crate::error::{ChannelError, fail};
use crate::events::{self, EventAccounts};
use crate::splits::Splits;
use crate::state::{CHANNEL_LEN, CHANNEL_SEED, Channel, status};
use crate::token::{self, ATA_PROGRAM_ID, CreateAta, SYSTEM_PROGRAM_ID, TokenCtx};
use crate::{
    Now, OPEN_SLOT_WINDOW, exact_accounts, now, require_signer, require_writable,
};

const HEADER_LEN: usize = 28;
/// Bytes of account metadata the runtime charges rent for besides the data.
const ACCOUNT_STORAGE_OVERHEAD: u64 = 128;

struct Args<'a> {
    salt: u64,
    deposit: u64,
    grace_period: u32,
    open_slot: u64,
    splits: Splits<'a>,
}

#[inline(always)]
fn le_u64(d: &[u8], o: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[o..o + 8]);
    u64::from_le_bytes(b)
}

#[inline(always)]
fn parse(rest: &[u8]) -> Result<Args<'_>, ProgramError> {
    if rest.len() < HEADER_LEN + 4 {
        return fail(ChannelError::InvalidInstructionData);
    }
    Ok(Args {
        salt: le_u64(rest, 0),
        deposit: le_u64(rest, 8),
        grace_period: u32::from_le_bytes([rest[16], rest[17], rest[18], rest[19]]),
        open_slot: le_u64(rest, 20),
        splits: Splits::parse(&rest[HEADER_LEN..])?,
    })
}

/// Rent-exempt minimum from the Rent sysvar account, in u64 (thresholds 1.0 and 2.0 only; the
/// upstream BPF backend has no floating point).
#[inline(always)]
fn rent_minimum(rent: &AccountView, len: u64) -> Result<u64, ProgramError> {
    if rent.address() != &RENT_ID {
        return fail(ChannelError::InvalidProgramAccount);
    }
    let d = rent.try_borrow()?;
    if d.len() < 16 {
        return fail(ChannelError::InvalidProgramAccount);
    }
    let per_byte = le_u64(&d, 0);
    let threshold = le_u64(&d, 8);
    let years = if threshold == 2.0f64.to_bits() {
        2
    } else if threshold == 1.0f64.to_bits() {
        1
    } else {
        return fail(ChannelError::InvalidProgramAccount);
    };
    // Bounded so the wrapping products cannot wrap (checked_mul lowers to a 128-bit multiply).
    if per_byte > u32::MAX as u64 || len > u16::MAX as u64 {
        return fail(ChannelError::InvalidProgramAccount);
    }
    Ok((ACCOUNT_STORAGE_OVERHEAD + len).wrapping_mul(per_byte).wrapping_mul(years))
}

#[inline(always)]
pub fn process(program_id: &Address, accounts: &[AccountView], rest: &[u8]) -> ProgramResult {
    exact_accounts(accounts, 14)?;
    let payer = &accounts[0];
    let rent_payer = &accounts[1];
    let payee = &accounts[2];
    let mint = &accounts[3];
    let signer = &accounts[4];
    let channel = &accounts[5];
    let payer_ata = &accounts[6];
    let escrow = &accounts[7];
    let token_program = &accounts[8];
    let system_program = &accounts[9];
    let rent = &accounts[10];
    let ata_program = &accounts[11];

    let args = parse(rest)?;

    require_signer(payer)?;
    require_signer(rent_payer)?;
    require_writable(payer)?;
    require_writable(rent_payer)?;
    require_writable(channel)?;
    require_writable(payer_ata)?;
    require_writable(escrow)?;
    if payer.address() == payee.address() {
        return fail(ChannelError::PayerPayeeMustDiffer);
    }
    if args.deposit == 0 {
        return fail(ChannelError::DepositMustBeNonZero);
    }
    if args.grace_period == 0 {
        return fail(ChannelError::GracePeriodMustBeNonZero);
    }
    if !signer.address().is_on_curve() {
        return fail(ChannelError::InvalidAuthorizedSigner);
    }
    let mut clock = Now { slot: 0, unix: 0 };
    now(&mut clock)?;
    if args.open_slot > clock.slot || clock.slot - args.open_slot > OPEN_SLOT_WINDOW {
        return fail(ChannelError::OpenSlotOutOfWindow);
    }
    if system_program.address() != &SYSTEM_PROGRAM_ID || ata_program.address() != &ATA_PROGRAM_ID {
        return fail(ChannelError::InvalidProgramAccount);
    }
    token::check_token_program(token_program)?;
    let decimals = token::check_mint(mint, token_program)?;
    let events = EventAccounts::check(&accounts[12], &accounts[13], program_id)?;

    let salt = args.salt.to_le_bytes();
    let open_slot = args.open_slot.to_le_bytes();
    let mut pda_bytes = [0u8; 32];
    let bump = crate::pda::find(
        &[
            CHANNEL_SEED,
            payer.address().as_ref(),
            payee.address().as_ref(),
            mint.address().as_ref(),
            signer.address().as_ref(),
            &salt,
            &open_slot,
        ],
        program_id,
        &mut pda_bytes,
    )
    .ok_or_else(|| ProgramError::from(ChannelError::ChannelAddressMismatch))?;
    let pda = Address::new_from_array(pda_bytes);
    if channel.address() != &pda {
        return fail(ChannelError::ChannelAddressMismatch);
    }
    args.splits.validate(&pda)?;

    // Prefund-tolerant: a system-owned, data-empty account (maybe holding donated lamports) is
    // accepted; anything else at the address is a live or foreign account.
    if channel.owned_by(program_id) {
        return fail(ChannelError::ChannelAlreadyInitialized);
    }
    if !channel.owned_by(&SYSTEM_PROGRAM_ID) || !channel.is_data_empty() {
        return fail(ChannelError::ChannelAlreadyInitialized);
    }

    let tp = token_program.address();
    if !token::is_ata(escrow.address(), &pda, mint.address(), tp) {
        return fail(ChannelError::InvalidChannelTokenAccount);
    }
    if !token::is_ata(payer_ata.address(), payer.address(), mint.address(), tp) {
        return fail(ChannelError::PayerAccountMismatch);
    }
    token::require_usable(
        payer_ata,
        mint.address(),
        payer.address(),
        tp,
        &token::PAYER_ERRORS,
    )?;

    let mut hash = [0u8; 32];
    args.splits.hash(&mut hash);

    // Channel PDA: top up the rent shortfall from rentPayer, then allocate and assign (signed).
    let minimum = rent_minimum(rent, CHANNEL_LEN as u64)?;
    let shortfall = minimum.saturating_sub(channel.lamports());
    if shortfall > 0 {
        Transfer {
            from: rent_payer,
            to: channel,
            lamports: shortfall,
        }
        .invoke()?;
    }
    let bump_seed = [bump];
    let seeds = [
        Seed::from(CHANNEL_SEED),
        Seed::from(payer.address().as_ref()),
        Seed::from(payee.address().as_ref()),
        Seed::from(mint.address().as_ref()),
        Seed::from(signer.address().as_ref()),
        Seed::from(&salt),
        Seed::from(&open_slot),
        Seed::from(&bump_seed),
    ];
    let signers = [Signer::from(&seeds)];
    Allocate {
        account: channel,
        space: CHANNEL_LEN as u64,
    }
    .invoke_signed(&signers)?;
    Assign {
        account: channel,
        owner: program_id,
    }
    .invoke_signed(&signers)?;

    CreateAta {
        funder: rent_payer,
        ata: escrow,
        wallet: channel,
        mint,
        system_program,
        token_program,
    }
    .invoke()?;
    token::require_usable(
        escrow,
        mint.address(),
        &pda,
        tp,
        &token::ESCROW_ERRORS,
    )?;

    let ctx = TokenCtx {
        program: token_program,
        mint,
        decimals,
    };
    token::transfer(&ctx, payer_ata, escrow, payer, args.deposit, &[])?;

    let ch = Channel {
        bump,
        status: status::OPEN,
        salt: args.salt,
        deposit: args.deposit,
        settled: 0,
        payout_watermark: 0,
        closure_started_at: 0,
        payer_withdrawn_at: 0,
        grace_period: args.grace_period,
        distribution_hash: hash,
        payer: *payer.address(),
        payee: *payee.address(),
        authorized_signer: *signer.address(),
        mint: *mint.address(),
        rent_payer: *rent_payer.address(),
        open_slot: args.open_slot,
    };
    ch.store(channel)?;

    let mut event = [0u8; 48];
    events::opened(&pda, &mut event);
    events.emit(program_id, &event)
}
