//! The wallet account: `WALLET_LEN` bytes at the offsets in `mppsol_cpi::policy::wallet`.
//! Loaded into a copy, changed, stored back, so no borrow is held across a CPI.

use mppsol_cpi::policy::{
    MAX_COUNTERPARTIES, POLICY_HEADER_LEN, WALLET_DISCRIMINATOR, WALLET_LEN, WALLET_VERSION, flags,
    wallet as off,
};
use mppsol_cpi::util::le_u64;
use pinocchio::{AccountView, Address, ProgramResult, error::ProgramError};

use crate::error::{PolicyError, fail};

/// The owner-set rules.
#[derive(Clone, Copy)]
pub struct Policy {
    pub max_single: u64,
    pub max_daily: u64,
    pub escalation_threshold: u64,
    pub flags: u8,
    pub categories: [u8; 32],
    pub channel_program: [u8; 32],
    pub payments_program: [u8; 32],
    pub counterparty_count: u8,
    pub counterparties: [[u8; 32]; MAX_COUNTERPARTIES],
}

/// Decoded wallet state.
#[derive(Clone, Copy)]
pub struct Wallet {
    pub bump: u8,
    pub paused: bool,
    pub owner: [u8; 32],
    pub agent: [u8; 32],
    pub day_index: u64,
    pub spent_today: u64,
    pub last_nonce: u64,
    pub policy: Policy,
}

impl Policy {
    /// Parses the policy blob of `createWallet` / `setPolicy`.
    #[inline(always)]
    pub fn parse(d: &[u8], out: &mut Policy) -> ProgramResult {
        if d.len() < POLICY_HEADER_LEN {
            return fail(PolicyError::InvalidPolicy);
        }
        let n = d[25] as usize;
        if n > MAX_COUNTERPARTIES
            || d.len() != POLICY_HEADER_LEN + 32 * n
            || d[24] & !flags::ALL != 0
        {
            return fail(PolicyError::InvalidPolicy);
        }
        out.max_single = le_u64(d, 0);
        out.max_daily = le_u64(d, 8);
        out.escalation_threshold = le_u64(d, 16);
        out.flags = d[24];
        out.counterparty_count = n as u8;
        out.categories.copy_from_slice(&d[26..58]);
        out.channel_program.copy_from_slice(&d[58..90]);
        out.payments_program.copy_from_slice(&d[90..122]);
        out.counterparties = [[0u8; 32]; MAX_COUNTERPARTIES];
        for i in 0..n {
            let o = POLICY_HEADER_LEN + 32 * i;
            out.counterparties[i].copy_from_slice(&d[o..o + 32]);
        }
        Ok(())
    }

    /// An all-zero policy (everything refused), to parse into.
    #[inline(always)]
    pub fn empty() -> Policy {
        Policy {
            max_single: 0,
            max_daily: 0,
            escalation_threshold: 0,
            flags: 0,
            categories: [0; 32],
            channel_program: [0; 32],
            payments_program: [0; 32],
            counterparty_count: 0,
            counterparties: [[0; 32]; MAX_COUNTERPARTIES],
        }
    }

    /// Whether `who` may be paid.
    #[inline(always)]
    pub fn counterparty_allowed(&self, who: &Address) -> bool {
        if self.flags & flags::RESTRICT_COUNTERPARTIES == 0 {
            return true;
        }
        self.counterparties[..self.counterparty_count as usize]
            .iter()
            .any(|c| c == who.as_array())
    }

    /// Whether category `c` is allowed.
    #[inline(always)]
    pub fn category_allowed(&self, c: u8) -> bool {
        self.categories[(c / 8) as usize] & (1 << (c % 8)) != 0
    }
}

impl Wallet {
    /// Loads a wallet owned by `program_id`, refusing anything else.
    #[inline(always)]
    pub fn load(acct: &AccountView, program_id: &Address, out: &mut Wallet) -> ProgramResult {
        if !acct.owned_by(program_id) {
            return fail(PolicyError::InvalidWalletAccount);
        }
        let d = acct.try_borrow()?;
        if d.len() != WALLET_LEN || d[0] != WALLET_DISCRIMINATOR || d[1] != WALLET_VERSION {
            return fail(PolicyError::InvalidWalletAccount);
        }
        out.bump = d[2];
        out.paused = d[off::PAUSED] != 0;
        out.owner.copy_from_slice(&d[off::OWNER..off::OWNER + 32]);
        out.agent.copy_from_slice(&d[off::AGENT..off::AGENT + 32]);
        out.day_index = le_u64(&d, off::DAY_INDEX);
        out.spent_today = le_u64(&d, off::SPENT_TODAY);
        out.last_nonce = le_u64(&d, off::LAST_NONCE);
        let p = &mut out.policy;
        p.flags = d[off::FLAGS];
        p.counterparty_count = d[off::COUNTERPARTY_COUNT].min(MAX_COUNTERPARTIES as u8);
        p.max_single = le_u64(&d, off::MAX_SINGLE);
        p.max_daily = le_u64(&d, off::MAX_DAILY);
        p.escalation_threshold = le_u64(&d, off::ESCALATION_THRESHOLD);
        p.categories
            .copy_from_slice(&d[off::CATEGORIES..off::CATEGORIES + 32]);
        p.channel_program
            .copy_from_slice(&d[off::CHANNEL_PROGRAM..off::CHANNEL_PROGRAM + 32]);
        p.payments_program
            .copy_from_slice(&d[off::PAYMENTS_PROGRAM..off::PAYMENTS_PROGRAM + 32]);
        for i in 0..MAX_COUNTERPARTIES {
            let o = off::COUNTERPARTIES + 32 * i;
            p.counterparties[i].copy_from_slice(&d[o..o + 32]);
        }
        Ok(())
    }

    /// An empty wallet to load into.
    #[inline(always)]
    pub fn empty() -> Wallet {
        Wallet {
            bump: 0,
            paused: false,
            owner: [0; 32],
            agent: [0; 32],
            day_index: 0,
            spent_today: 0,
            last_nonce: 0,
            policy: Policy::empty(),
        }
    }

    /// Writes the whole account.
    #[inline(always)]
    pub fn store(&self, acct: &AccountView) -> ProgramResult {
        let mut d = acct.try_borrow_mut()?;
        if d.len() != WALLET_LEN {
            return Err(ProgramError::AccountDataTooSmall);
        }
        let p = &self.policy;
        d[0] = WALLET_DISCRIMINATOR;
        d[1] = WALLET_VERSION;
        d[2] = self.bump;
        d[off::PAUSED] = self.paused as u8;
        d[off::FLAGS] = p.flags;
        d[off::COUNTERPARTY_COUNT] = p.counterparty_count;
        d[6] = 0;
        d[7] = 0;
        d[off::OWNER..off::OWNER + 32].copy_from_slice(&self.owner);
        d[off::AGENT..off::AGENT + 32].copy_from_slice(&self.agent);
        d[off::MAX_SINGLE..off::MAX_SINGLE + 8].copy_from_slice(&p.max_single.to_le_bytes());
        d[off::MAX_DAILY..off::MAX_DAILY + 8].copy_from_slice(&p.max_daily.to_le_bytes());
        d[off::ESCALATION_THRESHOLD..off::ESCALATION_THRESHOLD + 8]
            .copy_from_slice(&p.escalation_threshold.to_le_bytes());
        d[off::DAY_INDEX..off::DAY_INDEX + 8].copy_from_slice(&self.day_index.to_le_bytes());
        d[off::SPENT_TODAY..off::SPENT_TODAY + 8].copy_from_slice(&self.spent_today.to_le_bytes());
        d[off::LAST_NONCE..off::LAST_NONCE + 8].copy_from_slice(&self.last_nonce.to_le_bytes());
        d[off::CATEGORIES..off::CATEGORIES + 32].copy_from_slice(&p.categories);
        d[off::CHANNEL_PROGRAM..off::CHANNEL_PROGRAM + 32].copy_from_slice(&p.channel_program);
        d[off::PAYMENTS_PROGRAM..off::PAYMENTS_PROGRAM + 32].copy_from_slice(&p.payments_program);
        for i in 0..MAX_COUNTERPARTIES {
            let o = off::COUNTERPARTIES + 32 * i;
            d[o..o + 32].copy_from_slice(&p.counterparties[i]);
        }
        Ok(())
    }
}
