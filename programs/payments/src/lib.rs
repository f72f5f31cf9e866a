//! # mppsol-payments-program
//!
//! Settlement `pay` with an on-chain receipt. `pay` (disc 1) moves `amount` with
//! `TransferChecked` from `source` to `destination` and creates the receipt PDA
//! `["receipt", sha256(challenge id)]` recording payer, recipient, destination, mint, amount,
//! slot and time. The receipt address can hold only one receipt, so one on-chain payment
//! satisfies exactly one MPP challenge, and a server verifies a payment made by any program
//! (directly or by CPI) by reading that one account.
//!
//! Layouts: `mppsol_cpi::payments` (data, accounts, receipt offsets).
#![no_std]

pub mod error;

use mppsol_cpi::SYSTEM_PROGRAM_ID;
use mppsol_cpi::payments::{
    PAY, PAY_DATA_LEN, RECEIPT_DISCRIMINATOR, RECEIPT_LEN, RECEIPT_SEED, RECEIPT_VERSION, receipt,
};
use mppsol_cpi::util::{
    self, Now, TokenAccount, TokenCtx, create_pda, is_token_program, le_u64, mint_decimals, now,
};
use pinocchio::{
    AccountView, Address, ProgramResult,
    cpi::{Seed, Signer},
};

use crate::error::{PaymentsError, fail};

#[cfg(target_arch = "bpf")]
mod entry {
    pinocchio::program_entrypoint!(crate::process_instruction);
    pinocchio::no_allocator!();
    pinocchio::nostd_panic_handler!();
}

/// The dispatcher (inlined into the entrypoint).
#[inline(always)]
pub fn process_instruction(
    program_id: &Address,
    accounts: &[AccountView],
    data: &[u8],
) -> ProgramResult {
    match data.first() {
        Some(&PAY) => pay(program_id, accounts, data),
        _ => fail(PaymentsError::InvalidInstructionData),
    }
}

#[inline(always)]
fn pay(program_id: &Address, accounts: &[AccountView], data: &[u8]) -> ProgramResult {
    if accounts.len() != 8 {
        return fail(PaymentsError::WrongAccountCount);
    }
    if data.len() != PAY_DATA_LEN {
        return fail(PaymentsError::InvalidInstructionData);
    }
    let authority = &accounts[0];
    let rent_payer = &accounts[1];
    let source = &accounts[2];
    let destination = &accounts[3];
    let mint = &accounts[4];
    let receipt_acct = &accounts[5];
    let token_program = &accounts[6];
    let system_program = &accounts[7];
    let amount = le_u64(data, 1);
    let mut hash = [0u8; 32];
    hash.copy_from_slice(&data[9..41]);

    if !authority.is_signer() || !rent_payer.is_signer() {
        return fail(PaymentsError::MissingRequiredSignature);
    }
    if !rent_payer.is_writable()
        || !source.is_writable()
        || !destination.is_writable()
        || !receipt_acct.is_writable()
    {
        return fail(PaymentsError::AccountNotWritable);
    }
    if amount == 0 {
        return fail(PaymentsError::ZeroAmount);
    }
    let tp = token_program.address();
    if !is_token_program(tp) || system_program.address() != &SYSTEM_PROGRAM_ID {
        return fail(PaymentsError::InvalidProgramAccount);
    }
    let Some(decimals) = mint_decimals(mint, tp) else {
        return fail(PaymentsError::InvalidMint);
    };
    let mut dest = TokenAccount::default();
    if !util::token_account(destination, tp, &mut dest) || &dest.mint != mint.address().as_array() {
        return fail(PaymentsError::InvalidDestination);
    }
    let Some(bump) = util::pda_bump(receipt_acct.address(), &[RECEIPT_SEED, &hash], program_id)
    else {
        return fail(PaymentsError::ReceiptAddressMismatch);
    };
    if receipt_acct.owned_by(program_id) {
        return fail(PaymentsError::ReceiptAlreadyExists);
    }
    let bump_seed = [bump];
    let seeds = [
        Seed::from(RECEIPT_SEED),
        Seed::from(&hash),
        Seed::from(&bump_seed),
    ];
    let signers = [Signer::from(&seeds)];
    if create_pda(
        rent_payer,
        receipt_acct,
        RECEIPT_LEN as u64,
        program_id,
        &signers,
    )
    .is_err()
    {
        return fail(PaymentsError::ReceiptAlreadyExists);
    }

    let ctx = TokenCtx {
        program: token_program,
        mint,
        decimals,
    };
    util::transfer_checked(&ctx, source, destination, authority, amount, &[])?;

    let mut clock = Now::default();
    now(&mut clock)?;
    let mut d = receipt_acct.try_borrow_mut()?;
    d[receipt::DISCRIMINATOR] = RECEIPT_DISCRIMINATOR;
    d[1] = RECEIPT_VERSION;
    d[2] = bump;
    d[receipt::CHALLENGE_HASH..receipt::CHALLENGE_HASH + 32].copy_from_slice(&hash);
    d[receipt::PAYER..receipt::PAYER + 32].copy_from_slice(authority.address().as_ref());
    d[receipt::RECIPIENT..receipt::RECIPIENT + 32].copy_from_slice(&dest.owner);
    d[receipt::DESTINATION..receipt::DESTINATION + 32]
        .copy_from_slice(destination.address().as_ref());
    d[receipt::MINT..receipt::MINT + 32].copy_from_slice(mint.address().as_ref());
    d[receipt::AMOUNT..receipt::AMOUNT + 8].copy_from_slice(&amount.to_le_bytes());
    d[receipt::SLOT..receipt::SLOT + 8].copy_from_slice(&clock.slot.to_le_bytes());
    d[receipt::UNIX_TIMESTAMP..receipt::UNIX_TIMESTAMP + 8]
        .copy_from_slice(&clock.unix.to_le_bytes());
    Ok(())
}
