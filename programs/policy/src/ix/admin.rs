//! Owner instructions.
//!
//! - `createWallet` (1): data `1 || policy`; accounts owner (s,w; pays rent), agent,
//!   wallet (w), systemProgram.
//! - `setPolicy` (2): data `2 || policy`; accounts owner (s), wallet (w). Keeps the nonce and
//!   the day's spend.
//! - `setPaused` (7): data `7 || paused u8 (0/1)`; accounts owner (s), wallet (w).
//! - `withdraw` (8): data `8 || amount u64`; accounts owner (s), wallet, vault (w),
//!   destination (w), mint, tokenProgram. Not subject to the policy: the owner's money.
//! - `closeWallet` (9): data `9`; accounts owner (s,w), wallet (w), vault (w), tokenProgram.
//!   The vault must be empty (its rent goes to the owner) or absent; the wallet's rent goes to
//!   the owner.
//!
//! `policy` = `max_single u64 || max_daily u64 || escalation_threshold u64 || flags u8 ||
//! counterparty_count u8 || categories [32] || channel_program [32] || payments_program [32]
//! || counterparty_count × [32]`.

use mppsol_cpi::SYSTEM_PROGRAM_ID;
use mppsol_cpi::policy::{WALLET_LEN, WALLET_SEED};
use mppsol_cpi::util::{
    self, TokenAccount, TokenCtx, create_pda, is_token_program, le_u64, mint_decimals,
};
use pinocchio::{
    AccountView, Address, ProgramResult,
    cpi::{Seed, Signer},
};

use super::{load_for_owner, wallet_seeds};
use crate::error::{PolicyError, fail};
use crate::state::{Policy, Wallet};
use crate::{exact_accounts, writable};

#[inline(always)]
pub fn create_wallet(program_id: &Address, accounts: &[AccountView], data: &[u8]) -> ProgramResult {
    exact_accounts(accounts, 4)?;
    let owner = &accounts[0];
    let agent = &accounts[1];
    let wallet = &accounts[2];
    if !owner.is_signer() {
        return fail(PolicyError::MissingRequiredSignature);
    }
    writable(&[owner, wallet])?;
    if accounts[3].address() != &SYSTEM_PROGRAM_ID {
        return fail(PolicyError::InvalidProgramAccount);
    }
    let mut w = Wallet::empty();
    Policy::parse(&data[1..], &mut w.policy)?;
    let Some(bump) = util::pda_bump(
        wallet.address(),
        &[
            WALLET_SEED,
            owner.address().as_ref(),
            agent.address().as_ref(),
        ],
        program_id,
    ) else {
        return fail(PolicyError::WalletAddressMismatch);
    };
    if wallet.owned_by(program_id) {
        return fail(PolicyError::WalletAlreadyExists);
    }
    let bump_seed = [bump];
    let seeds = [
        Seed::from(WALLET_SEED),
        Seed::from(owner.address().as_ref()),
        Seed::from(agent.address().as_ref()),
        Seed::from(&bump_seed),
    ];
    if create_pda(
        owner,
        wallet,
        WALLET_LEN as u64,
        program_id,
        &[Signer::from(&seeds)],
    )
    .is_err()
    {
        return fail(PolicyError::WalletAlreadyExists);
    }
    w.bump = bump;
    w.owner.copy_from_slice(owner.address().as_ref());
    w.agent.copy_from_slice(agent.address().as_ref());
    w.store(wallet)
}

#[inline(always)]
pub fn set_policy(program_id: &Address, accounts: &[AccountView], data: &[u8]) -> ProgramResult {
    exact_accounts(accounts, 2)?;
    writable(&[&accounts[1]])?;
    let mut w = Wallet::empty();
    load_for_owner(program_id, &accounts[1], &accounts[0], &mut w)?;
    Policy::parse(&data[1..], &mut w.policy)?;
    w.store(&accounts[1])
}

#[inline(always)]
pub fn set_paused(program_id: &Address, accounts: &[AccountView], data: &[u8]) -> ProgramResult {
    exact_accounts(accounts, 2)?;
    if data.len() != 2 || data[1] > 1 {
        return fail(PolicyError::InvalidInstructionData);
    }
    writable(&[&accounts[1]])?;
    let mut w = Wallet::empty();
    load_for_owner(program_id, &accounts[1], &accounts[0], &mut w)?;
    w.paused = data[1] == 1;
    w.store(&accounts[1])
}

#[inline(always)]
pub fn withdraw(program_id: &Address, accounts: &[AccountView], data: &[u8]) -> ProgramResult {
    exact_accounts(accounts, 6)?;
    if data.len() != 9 {
        return fail(PolicyError::InvalidInstructionData);
    }
    let wallet = &accounts[1];
    let mint = &accounts[4];
    let token_program = &accounts[5];
    writable(&[&accounts[2], &accounts[3]])?;
    let mut w = Wallet::empty();
    load_for_owner(program_id, wallet, &accounts[0], &mut w)?;
    let tp = token_program.address();
    if !is_token_program(tp) {
        return fail(PolicyError::InvalidProgramAccount);
    }
    let Some(decimals) = mint_decimals(mint, tp) else {
        return fail(PolicyError::InvalidMint);
    };
    let bump = [w.bump];
    let seeds = wallet_seeds(&w, &bump);
    let ctx = TokenCtx {
        program: token_program,
        mint,
        decimals,
    };
    util::transfer_checked(
        &ctx,
        &accounts[2],
        &accounts[3],
        wallet,
        le_u64(data, 1),
        &[Signer::from(&seeds)],
    )
}

#[inline(always)]
pub fn close_wallet(program_id: &Address, accounts: &[AccountView], data: &[u8]) -> ProgramResult {
    exact_accounts(accounts, 4)?;
    if data.len() != 1 {
        return fail(PolicyError::InvalidInstructionData);
    }
    let owner = &accounts[0];
    let wallet = &accounts[1];
    let vault = &accounts[2];
    let token_program = &accounts[3];
    writable(&[owner, wallet, vault])?;
    let mut w = Wallet::empty();
    load_for_owner(program_id, wallet, owner, &mut w)?;
    let tp = token_program.address();
    if !is_token_program(tp) {
        return fail(PolicyError::InvalidProgramAccount);
    }
    let mut t = TokenAccount::default();
    if util::token_account(vault, tp, &mut t) {
        if &t.owner != wallet.address().as_array() {
            return fail(PolicyError::VaultMismatch);
        }
        if t.amount != 0 {
            return fail(PolicyError::VaultNotEmpty);
        }
        let bump = [w.bump];
        let seeds = wallet_seeds(&w, &bump);
        util::close_token_account(token_program, vault, owner, wallet, &[Signer::from(&seeds)])?;
    } else if !vault.owned_by(&SYSTEM_PROGRAM_ID) || !vault.is_data_empty() {
        return fail(PolicyError::VaultMismatch);
    }
    let total = owner.lamports().saturating_add(wallet.lamports());
    wallet.set_lamports(0);
    owner.set_lamports(total);
    wallet.close()
}
