//! One module per instruction family; `authorize` holds the rules every payment passes.

pub mod admin;
pub mod channel;
pub mod pay;

use mppsol_cpi::policy::{DAY_SECONDS, WALLET_SEED, flags};
use mppsol_cpi::util::{Now, now};
use pinocchio::{AccountView, Address, ProgramResult};

use crate::error::{PolicyError, fail};
use crate::state::Wallet;

/// What an outgoing payment asks for.
pub struct Spend<'a> {
    pub amount: u64,
    pub nonce: u64,
    pub counterparty: &'a Address,
    /// `pay` only: the provider's category.
    pub category: Option<u8>,
    /// `pay` only: the memo's length.
    pub memo_len: Option<usize>,
}

/// Loads the wallet and checks the agent signed for it and `owner` is its owner.
#[inline(always)]
pub fn load_for_agent(
    program_id: &Address,
    wallet_acct: &AccountView,
    agent: &AccountView,
    owner: &AccountView,
    w: &mut Wallet,
) -> ProgramResult {
    if !agent.is_signer() {
        return fail(PolicyError::MissingRequiredSignature);
    }
    Wallet::load(wallet_acct, program_id, w)?;
    if agent.address().as_array() != &w.agent {
        return fail(PolicyError::NotAgent);
    }
    if owner.address().as_array() != &w.owner {
        return fail(PolicyError::NotOwner);
    }
    Ok(())
}

/// Loads the wallet and checks `owner` signed and owns it.
#[inline(always)]
pub fn load_for_owner(
    program_id: &Address,
    wallet_acct: &AccountView,
    owner: &AccountView,
    w: &mut Wallet,
) -> ProgramResult {
    if !owner.is_signer() {
        return fail(PolicyError::MissingRequiredSignature);
    }
    Wallet::load(wallet_acct, program_id, w)?;
    if owner.address().as_array() != &w.owner {
        return fail(PolicyError::NotOwner);
    }
    Ok(())
}

/// The policy rules, in the documented order; on success the wallet's nonce and day spend are
/// updated in `w` (the caller stores it).
#[inline(always)]
pub fn authorize(w: &mut Wallet, owner: &AccountView, s: &Spend) -> ProgramResult {
    let p = &w.policy;
    if w.paused {
        return fail(PolicyError::Paused);
    }
    if s.nonce <= w.last_nonce {
        return fail(PolicyError::NonceReplayed);
    }
    if s.amount == 0 {
        return fail(PolicyError::ZeroAmount);
    }
    if s.amount > p.max_single {
        return fail(PolicyError::OverSingleLimit);
    }
    let mut clock = Now::default();
    now(&mut clock)?;
    let day = if clock.unix < 0 {
        0
    } else {
        (clock.unix / DAY_SECONDS) as u64
    };
    let spent = if day == w.day_index { w.spent_today } else { 0 };
    match spent.checked_add(s.amount) {
        Some(total) if total <= p.max_daily => {
            w.day_index = day;
            w.spent_today = total;
        }
        _ => return fail(PolicyError::OverDailyLimit),
    }
    if !p.counterparty_allowed(s.counterparty) {
        return fail(PolicyError::CounterpartyNotAllowed);
    }
    if let Some(c) = s.category
        && !p.category_allowed(c)
    {
        return fail(PolicyError::CategoryNotAllowed);
    }
    if s.memo_len == Some(0) && p.flags & flags::REQUIRE_MEMO != 0 {
        return fail(PolicyError::MemoRequired);
    }
    if s.amount > p.escalation_threshold && !owner.is_signer() {
        return fail(PolicyError::EscalationRequired);
    }
    w.last_nonce = s.nonce;
    Ok(())
}

/// The wallet PDA's signer seeds: `["wallet", owner, agent, bump]`.
#[inline(always)]
pub fn wallet_seeds<'a>(w: &'a Wallet, bump: &'a [u8; 1]) -> [pinocchio::cpi::Seed<'a>; 4] {
    [
        pinocchio::cpi::Seed::from(WALLET_SEED),
        pinocchio::cpi::Seed::from(&w.owner),
        pinocchio::cpi::Seed::from(&w.agent),
        pinocchio::cpi::Seed::from(bump),
    ]
}
