//! `fundChannel` (5) and `topUpChannel` (6): the wallet is the payer of a payment channel of
//! the channel program its policy names; the vault funds the escrow. The deposit or top-up
//! counts as a payment to the channel's payee (same rules as `pay`, without category or memo).
//!
//! fundChannel data: `5 || nonce u64 || channel open data (1 || salt || deposit || ...)`.
//! Accounts: agent (s,w; pays the channel's rent), owner, wallet (w), channelProgram, payee,
//! mint, authorizedSigner (must be the agent), channel (w), vault (w), escrow (w),
//! tokenProgram, systemProgram, rent, associatedTokenProgram, eventAuthority.
//!
//! topUpChannel data: `6 || nonce u64 || 3 || amount u64`. Accounts: agent (s), owner,
//! wallet (w), channelProgram, channel (w), vault (w), escrow (w), mint, tokenProgram.

use mppsol_cpi::channel::{
    CHANNEL_LEN, CHANNEL_PAYEE_OFFSET, OPEN, OPEN_DEPOSIT_OFFSET, OPEN_HEADER_LEN, OpenChannel,
    TOP_UP, TopUpChannel,
};
use mppsol_cpi::util::le_u64;
use pinocchio::{AccountView, Address, ProgramResult, cpi::Signer};

use super::{Spend, authorize, load_for_agent, wallet_seeds};
use crate::error::{PolicyError, fail};
use crate::state::Wallet;
use crate::{exact_accounts, writable};

/// Refuses a channel program other than the one the policy names (the wallet signs for it).
#[inline(always)]
fn channel_program_allowed(w: &Wallet, program: &AccountView) -> ProgramResult {
    if w.policy.channel_program == [0u8; 32]
        || program.address().as_array() != &w.policy.channel_program
    {
        return fail(PolicyError::ChannelProgramNotAllowed);
    }
    Ok(())
}

#[inline(always)]
pub fn fund(program_id: &Address, accounts: &[AccountView], data: &[u8]) -> ProgramResult {
    exact_accounts(accounts, 15)?;
    if data.len() < 9 + OPEN_HEADER_LEN + 4 || data[9] != OPEN {
        return fail(PolicyError::InvalidInstructionData);
    }
    let agent = &accounts[0];
    let owner = &accounts[1];
    let wallet = &accounts[2];
    let channel_program = &accounts[3];
    let payee = &accounts[4];
    let signer = &accounts[6];
    writable(&[agent, wallet])?;
    let mut w = Wallet::empty();
    load_for_agent(program_id, wallet, agent, owner, &mut w)?;
    channel_program_allowed(&w, channel_program)?;
    if signer.address().as_array() != &w.agent {
        return fail(PolicyError::AuthorizedSignerNotAgent);
    }
    let open = &data[9..];
    authorize(
        &mut w,
        owner,
        &Spend {
            amount: le_u64(open, OPEN_DEPOSIT_OFFSET),
            nonce: le_u64(data, 1),
            counterparty: payee.address(),
            category: None,
            memo_len: None,
        },
    )?;
    w.store(wallet)?;
    let bump = [w.bump];
    let seeds = wallet_seeds(&w, &bump);
    OpenChannel {
        payer: wallet,
        rent_payer: agent,
        payee,
        mint: &accounts[5],
        authorized_signer: signer,
        channel: &accounts[7],
        payer_token_account: &accounts[8],
        channel_token_account: &accounts[9],
        token_program: &accounts[10],
        system_program: &accounts[11],
        rent: &accounts[12],
        ata_program: &accounts[13],
        event_authority: &accounts[14],
        channel_program,
        data: open,
    }
    .invoke_signed(channel_program.address(), &[Signer::from(&seeds)])
}

#[inline(always)]
pub fn top_up(program_id: &Address, accounts: &[AccountView], data: &[u8]) -> ProgramResult {
    exact_accounts(accounts, 9)?;
    if data.len() != 18 || data[9] != TOP_UP {
        return fail(PolicyError::InvalidInstructionData);
    }
    let agent = &accounts[0];
    let owner = &accounts[1];
    let wallet = &accounts[2];
    let channel_program = &accounts[3];
    let channel = &accounts[4];
    writable(&[wallet])?;
    let mut w = Wallet::empty();
    load_for_agent(program_id, wallet, agent, owner, &mut w)?;
    channel_program_allowed(&w, channel_program)?;
    // The payee is the counterparty: read it from the channel the named program owns.
    let mut payee = [0u8; 32];
    {
        if !channel.owned_by(channel_program.address()) {
            return fail(PolicyError::InvalidChannelAccount);
        }
        let d = channel.try_borrow()?;
        if d.len() != CHANNEL_LEN {
            return fail(PolicyError::InvalidChannelAccount);
        }
        payee.copy_from_slice(&d[CHANNEL_PAYEE_OFFSET..CHANNEL_PAYEE_OFFSET + 32]);
    }
    let payee = Address::new_from_array(payee);
    let amount = le_u64(data, 10);
    authorize(
        &mut w,
        owner,
        &Spend {
            amount,
            nonce: le_u64(data, 1),
            counterparty: &payee,
            category: None,
            memo_len: None,
        },
    )?;
    w.store(wallet)?;
    let bump = [w.bump];
    let seeds = wallet_seeds(&w, &bump);
    TopUpChannel {
        payer: wallet,
        channel,
        payer_token_account: &accounts[5],
        channel_token_account: &accounts[6],
        mint: &accounts[7],
        token_program: &accounts[8],
        channel_program,
        amount,
    }
    .invoke_signed(channel_program.address(), &[Signer::from(&seeds)])
}
