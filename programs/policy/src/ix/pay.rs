//! `pay` (3) and `payWithReceipt` (4): the agent pays `amount` from the wallet's vault to the
//! recipient's ATA after the policy checks; SPL Memo carries the memo. With a receipt the
//! transfer goes through the payments program, which records the challenge it pays for.
//!
//! Data: `disc || amount u64 || nonce u64 || category u8 || [challenge_hash 32, receipt only]
//! || memo`. Accounts: agent (s; w with receipt), owner (s above threshold), wallet (w),
//! vault (w), recipient, recipientTokenAccount (w), mint, tokenProgram, memoProgram,
//! [paymentsProgram, receipt (w), systemProgram].

use mppsol_cpi::MEMO_PROGRAM_ID;
use mppsol_cpi::payments::PayCharge;
use mppsol_cpi::policy::MAX_MEMO_LEN;
use mppsol_cpi::util::{self, TokenCtx, is_ata, is_token_program, le_u64, mint_decimals};
use pinocchio::{
    AccountView, Address, ProgramResult,
    cpi::{Signer, invoke_signed},
    instruction::InstructionView,
};

use super::{Spend, authorize, load_for_agent, wallet_seeds};
use crate::error::{PolicyError, fail};
use crate::state::Wallet;
use crate::{exact_accounts, writable};

#[inline(always)]
pub fn process(
    program_id: &Address,
    accounts: &[AccountView],
    data: &[u8],
    receipt: bool,
) -> ProgramResult {
    exact_accounts(accounts, if receipt { 12 } else { 9 })?;
    let head = if receipt { 50 } else { 18 };
    if data.len() < head {
        return fail(PolicyError::InvalidInstructionData);
    }
    let memo = &data[head..];
    if memo.len() > MAX_MEMO_LEN {
        return fail(PolicyError::MemoTooLong);
    }
    let agent = &accounts[0];
    let owner = &accounts[1];
    let wallet = &accounts[2];
    let vault = &accounts[3];
    let recipient = &accounts[4];
    let recipient_ata = &accounts[5];
    let mint = &accounts[6];
    let token_program = &accounts[7];
    let memo_program = &accounts[8];
    writable(&[wallet, vault, recipient_ata])?;

    let mut w = Wallet::empty();
    load_for_agent(program_id, wallet, agent, owner, &mut w)?;
    authorize(
        &mut w,
        owner,
        &Spend {
            amount: le_u64(data, 1),
            nonce: le_u64(data, 9),
            counterparty: recipient.address(),
            category: Some(data[17]),
            memo_len: Some(memo.len()),
        },
    )?;
    let amount = le_u64(data, 1);

    let tp = token_program.address();
    if !is_token_program(tp) || memo_program.address() != &MEMO_PROGRAM_ID {
        return fail(PolicyError::InvalidProgramAccount);
    }
    let Some(decimals) = mint_decimals(mint, tp) else {
        return fail(PolicyError::InvalidMint);
    };
    if !is_ata(vault.address(), wallet.address(), mint.address(), tp) {
        return fail(PolicyError::VaultMismatch);
    }
    if !is_ata(
        recipient_ata.address(),
        recipient.address(),
        mint.address(),
        tp,
    ) {
        return fail(PolicyError::RecipientAccountMismatch);
    }
    w.store(wallet)?;

    let bump = [w.bump];
    let seeds = wallet_seeds(&w, &bump);
    let signers = [Signer::from(&seeds)];
    if receipt {
        let payments_program = &accounts[9];
        if w.policy.payments_program == [0u8; 32]
            || payments_program.address().as_array() != &w.policy.payments_program
        {
            return fail(PolicyError::PaymentsProgramNotAllowed);
        }
        let mut hash = [0u8; 32];
        hash.copy_from_slice(&data[18..50]);
        PayCharge {
            authority: wallet,
            rent_payer: agent,
            source: vault,
            destination: recipient_ata,
            mint,
            receipt: &accounts[10],
            token_program,
            system_program: &accounts[11],
            payments_program,
            amount,
            challenge_hash: &hash,
        }
        .invoke_signed(payments_program.address(), &signers)?;
    } else {
        let ctx = TokenCtx {
            program: token_program,
            mint,
            decimals,
        };
        util::transfer_checked(&ctx, vault, recipient_ata, wallet, amount, &signers)?;
    }
    if !memo.is_empty() {
        let ix = InstructionView {
            program_id: &MEMO_PROGRAM_ID,
            accounts: &[],
            data: memo,
        };
        invoke_signed::<0>(&ix, &[], &[])?;
    }
    Ok(())
}
