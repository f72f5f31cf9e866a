//! # mppsol-example-vault-program
//!
//! An example consumer of `mppsol-cpi`: a vault that pays an oracle for a quote from its own
//! PDA. Not a product; the program tests use it to show another program paying through the
//! CPI primitive.
//!
//! | disc | instruction | data | accounts |
//! |---|---|---|---|
//! | 1 | buyQuote | `amount u64 \|\| challenge_hash [32]` | owner (s), rentPayer (s,w), vaultAuthority, vault (w), oracleTokenAccount (w), mint, receipt (w), tokenProgram, systemProgram, paymentsProgram |
//! | 2 | buyQuoteViaPolicy | `amount u64 \|\| nonce u64 \|\| category u8 \|\| memo` | owner (s), agentAuthority, walletOwner, wallet (w), walletVault (w), oracle, oracleTokenAccount (w), mint, tokenProgram, memoProgram, policyProgram |
//! | 3 | buyQuoteViaPolicyWithReceipt | `amount u64 \|\| nonce u64 \|\| category u8 \|\| challenge_hash [32] \|\| memo` | as 2, then paymentsProgram, receipt (w), systemProgram; the agent PDA (holding lamports) funds the receipt |
//!
//! | 4 | topUpViaPolicy | `nonce u64 \|\| amount u64` | agent (s), walletOwner, wallet (w), channelProgram, channel (w), walletVault (w), escrow (w), mint, tokenProgram, policyProgram — a keypair agent's signature forwarded, no PDA |
//!
//! `vaultAuthority = PDA(["vault", owner, paymentsProgram])` owns `vault`; binding the payments
//! program into the seeds means the PDA only ever signs for the program it was funded for.
//! `agentAuthority = PDA(["agent", owner, policyProgram])` is the agent of a policy wallet.
#![no_std]

use mppsol_cpi::payments::PayCharge;
use mppsol_cpi::policy::{PayViaPolicy, ReceiptAccounts, TopUpChannelViaPolicy};
use mppsol_cpi::util::{le_u64, pda_bump};
use pinocchio::{
    AccountView, Address, ProgramResult,
    cpi::{Seed, Signer},
};

#[cfg(target_arch = "bpf")]
mod entry {
    pinocchio::program_entrypoint!(crate::process_instruction);
    pinocchio::no_allocator!();
    pinocchio::nostd_panic_handler!();
}

/// Seed of the vault authority PDA.
pub const VAULT_SEED: &[u8] = b"vault";
/// Seed of the policy-agent PDA.
pub const AGENT_SEED: &[u8] = b"agent";

/// Errors (8000s, clear of the other mppsol programs).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VaultError {
    /// Unknown discriminator or malformed data.
    InvalidInstructionData = 8000,
    /// Wrong number of accounts.
    WrongAccountCount = 8001,
    /// The owner did not sign.
    MissingRequiredSignature = 8002,
    /// The authority account is not the PDA of (owner, program).
    AuthorityMismatch = 8003,
}

mppsol_cpi::program_error!(VaultError);

/// The dispatcher.
#[inline(always)]
pub fn process_instruction(
    program_id: &Address,
    accounts: &[AccountView],
    data: &[u8],
) -> ProgramResult {
    match data.first() {
        Some(&1) => buy_quote(program_id, accounts, data),
        Some(&2) => buy_quote_via_policy(program_id, accounts, data, false),
        Some(&3) => buy_quote_via_policy(program_id, accounts, data, true),
        Some(&4) => top_up_via_policy(accounts, data),
        _ => fail(VaultError::InvalidInstructionData),
    }
}

#[inline(always)]
fn buy_quote(program_id: &Address, accounts: &[AccountView], data: &[u8]) -> ProgramResult {
    if accounts.len() != 10 {
        return fail(VaultError::WrongAccountCount);
    }
    if data.len() != 41 {
        return fail(VaultError::InvalidInstructionData);
    }
    let owner = &accounts[0];
    let authority = &accounts[2];
    let payments_program = &accounts[9];
    if !owner.is_signer() {
        return fail(VaultError::MissingRequiredSignature);
    }
    let seeds_in = [
        VAULT_SEED,
        owner.address().as_ref(),
        payments_program.address().as_ref(),
    ];
    let Some(bump) = pda_bump(authority.address(), &seeds_in, program_id) else {
        return fail(VaultError::AuthorityMismatch);
    };
    let mut hash = [0u8; 32];
    hash.copy_from_slice(&data[9..41]);
    let bump = [bump];
    let seeds = [
        Seed::from(VAULT_SEED),
        Seed::from(owner.address().as_ref()),
        Seed::from(payments_program.address().as_ref()),
        Seed::from(&bump),
    ];
    PayCharge {
        authority,
        rent_payer: &accounts[1],
        source: &accounts[3],
        destination: &accounts[4],
        mint: &accounts[5],
        receipt: &accounts[6],
        token_program: &accounts[7],
        system_program: &accounts[8],
        payments_program,
        amount: le_u64(data, 1),
        challenge_hash: &hash,
    }
    .invoke_signed(payments_program.address(), &[Signer::from(&seeds)])
}

#[inline(always)]
fn buy_quote_via_policy(
    program_id: &Address,
    accounts: &[AccountView],
    data: &[u8],
    with_receipt: bool,
) -> ProgramResult {
    if accounts.len() != if with_receipt { 14 } else { 11 } {
        return fail(VaultError::WrongAccountCount);
    }
    let memo_at = if with_receipt { 50 } else { 18 };
    if data.len() < memo_at {
        return fail(VaultError::InvalidInstructionData);
    }
    let mut hash = [0u8; 32];
    let receipt = if with_receipt {
        hash.copy_from_slice(&data[18..50]);
        Some(ReceiptAccounts {
            payments_program: &accounts[11],
            receipt: &accounts[12],
            system_program: &accounts[13],
            challenge_hash: &hash,
        })
    } else {
        None
    };
    let owner = &accounts[0];
    let agent = &accounts[1];
    let policy_program = &accounts[10];
    if !owner.is_signer() {
        return fail(VaultError::MissingRequiredSignature);
    }
    let seeds_in = [
        AGENT_SEED,
        owner.address().as_ref(),
        policy_program.address().as_ref(),
    ];
    let Some(bump) = pda_bump(agent.address(), &seeds_in, program_id) else {
        return fail(VaultError::AuthorityMismatch);
    };
    let bump = [bump];
    let seeds = [
        Seed::from(AGENT_SEED),
        Seed::from(owner.address().as_ref()),
        Seed::from(policy_program.address().as_ref()),
        Seed::from(&bump),
    ];
    PayViaPolicy {
        agent,
        owner: &accounts[2],
        wallet: &accounts[3],
        vault: &accounts[4],
        recipient: &accounts[5],
        recipient_token_account: &accounts[6],
        mint: &accounts[7],
        token_program: &accounts[8],
        memo_program: &accounts[9],
        policy_program,
        receipt,
        amount: le_u64(data, 1),
        nonce: le_u64(data, 9),
        category: data[17],
        memo: &data[memo_at..],
    }
    .invoke_signed(policy_program.address(), &[Signer::from(&seeds)])
}

/// Forwards the (keypair) agent's signature to the policy's `topUpChannel`: a program composing
/// a wallet-funded channel top-up into its own instruction.
#[inline(always)]
fn top_up_via_policy(accounts: &[AccountView], data: &[u8]) -> ProgramResult {
    if accounts.len() != 10 {
        return fail(VaultError::WrongAccountCount);
    }
    if data.len() != 17 {
        return fail(VaultError::InvalidInstructionData);
    }
    let policy_program = &accounts[9];
    TopUpChannelViaPolicy {
        agent: &accounts[0],
        owner: &accounts[1],
        wallet: &accounts[2],
        channel_program: &accounts[3],
        channel: &accounts[4],
        vault: &accounts[5],
        escrow: &accounts[6],
        mint: &accounts[7],
        token_program: &accounts[8],
        policy_program,
        nonce: le_u64(data, 1),
        amount: le_u64(data, 9),
    }
    .invoke_signed(policy_program.address(), &[])
}
