//! Anchor-compatible events, emitted by self-CPI into `emitEvent` (228) signed by the
//! event-authority PDA: `EVENT_IX_TAG_LE (8) || sha256("event:<Name>")[..8] || Borsh payload`.

use pinocchio::{
    AccountView, Address, ProgramResult,
    cpi::{Seed, Signer, invoke_signed},
    instruction::{InstructionAccount, InstructionView},
};

use crate::error::{ChannelError, fail};

/// Seed of the event-authority PDA.
pub const EVENT_AUTHORITY_SEED: &[u8] = b"event_authority";
/// The seed as an opaque value: a seeds array made only of constants is promoted to a static
/// holding a pointer, and sbpf-linker 0.1.9 leaves such data relocations at 0.
#[inline(always)]
fn event_seed() -> &'static [u8] {
    core::hint::black_box(EVENT_AUTHORITY_SEED)
}

/// Anchor's event-CPI tag, little-endian; its first byte (228) is the `emitEvent` discriminator.
pub const EVENT_IX_TAG_LE: [u8; 8] = [0xe4, 0x45, 0xa5, 0x2e, 0x51, 0xcb, 0x9a, 0x1d];
/// `sha256("event:Opened")[..8]`.
pub const OPENED_DISCRIMINATOR: [u8; 8] = [166, 172, 97, 9, 77, 76, 189, 109];
/// `sha256("event:PayoutRedirected")[..8]`.
pub const PAYOUT_REDIRECTED_DISCRIMINATOR: [u8; 8] = [209, 22, 185, 215, 84, 167, 84, 80];

/// Who lost a redirected payout (`PayoutRedirected.beneficiary`).
pub mod beneficiary {
    /// A split recipient.
    pub const RECIPIENT: u8 = 0;
    /// The payee.
    pub const PAYEE: u8 = 1;
    /// The payer (refund).
    pub const PAYER: u8 = 2;
}

/// The event-authority account and this program's own account, checked.
pub struct EventAccounts<'a> {
    pub authority: &'a AccountView,
    pub bump: u8,
}

impl<'a> EventAccounts<'a> {
    /// Checks `authority` is the event-authority PDA and `self_program` is this program.
    #[inline(always)]
    pub fn check(
        authority: &'a AccountView,
        self_program: &AccountView,
        program_id: &Address,
    ) -> Result<EventAccounts<'a>, pinocchio::error::ProgramError> {
        if self_program.address() != program_id {
            return fail(ChannelError::InvalidProgramAccount);
        }
        let mut pda = [0u8; 32];
        let bump = crate::pda::find(&[event_seed()], program_id, &mut pda);
        let Some(bump) = bump else {
            return fail(ChannelError::InvalidEventAuthority);
        };
        if authority.address().as_ref() != &pda[..] {
            return fail(ChannelError::InvalidEventAuthority);
        }
        Ok(EventAccounts { authority, bump })
    }

    /// Emits `data` (tag, discriminator and payload) by self-CPI.
    #[inline(always)]
    pub fn emit(&self, program_id: &Address, data: &[u8]) -> ProgramResult {
        let bump = [self.bump];
        let seeds = [Seed::from(EVENT_AUTHORITY_SEED), Seed::from(&bump)];
        let signer = Signer::from(&seeds);
        let metas = [InstructionAccount::readonly_signer(self.authority.address())];
        let ix = InstructionView {
            program_id,
            accounts: &metas,
            data,
        };
        invoke_signed(&ix, &[self.authority], &[signer])
    }
}

/// `Opened { channel }`.
#[inline(always)]
pub fn opened(channel: &Address, out: &mut [u8; 48]) {
    out[0..8].copy_from_slice(&EVENT_IX_TAG_LE);
    out[8..16].copy_from_slice(&OPENED_DISCRIMINATOR);
    out[16..48].copy_from_slice(channel.as_ref());
}

/// `PayoutRedirected { channel, owner, amount, beneficiary, reason }`.
pub struct Redirected<'a> {
    pub channel: &'a Address,
    pub owner: &'a [u8],
    pub amount: u64,
    pub beneficiary: u8,
    pub reason: u8,
}

impl Redirected<'_> {
    /// The event bytes.
    #[inline(always)]
    pub fn encode(&self, out: &mut [u8; 90]) {
        out[0..8].copy_from_slice(&EVENT_IX_TAG_LE);
        out[8..16].copy_from_slice(&PAYOUT_REDIRECTED_DISCRIMINATOR);
        out[16..48].copy_from_slice(self.channel.as_ref());
        out[48..80].copy_from_slice(self.owner);
        out[80..88].copy_from_slice(&self.amount.to_le_bytes());
        out[88] = self.beneficiary;
        out[89] = self.reason;
    }
}

/// `emitEvent`: only the event authority may call it; it does nothing else (the data is the
/// record).
#[inline(always)]
pub fn process_emit(program_id: &Address, accounts: &[AccountView]) -> ProgramResult {
    let [authority] = accounts else {
        return fail(ChannelError::NotEnoughAccountKeys);
    };
    if !crate::pda::is_found(authority.address(), &[event_seed()], program_id)
        || !authority.is_signer()
    {
        return fail(ChannelError::InvalidEventAuthority);
    }
    Ok(())
}
