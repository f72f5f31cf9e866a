//! The `Channel` account: 256 bytes, fixed little-endian layout (the reference program's
//! Borsh layout, byte for byte).
//!
//! | off | len | field |
//! |---|---|---|
//! | 0 | 1 | discriminator (`1` = Channel) |
//! | 1 | 1 | version (`1`) |
//! | 2 | 1 | bump |
//! | 3 | 1 | status (Open 0, Sealed 1, Closing 2, Distributed 3) |
//! | 4 | 8 | salt |
//! | 12 | 8 | deposit |
//! | 20 | 8 | settled |
//! | 28 | 8 | payoutWatermark |
//! | 36 | 8 | closureStartedAt (i64) |
//! | 44 | 8 | payerWithdrawnAt (i64) |
//! | 52 | 4 | gracePeriod (u32) |
//! | 56 | 32 | distributionHash |
//! | 88 | 32 | payer |
//! | 120 | 32 | payee |
//! | 152 | 32 | authorizedSigner |
//! | 184 | 32 | mint |
//! | 216 | 32 | rentPayer |
//! | 248 | 8 | openSlot |

use pinocchio::{AccountView, Address, cpi::Seed, error::ProgramError};

use crate::error::{ChannelError, fail};

/// Size of the channel account data.
pub const CHANNEL_LEN: usize = 256;
/// Account-type tag of a channel (non-zero so zeroed data never parses).
pub const CHANNEL_DISCRIMINATOR: u8 = 1;
/// Current layout version.
pub const CHANNEL_VERSION: u8 = 1;
/// First PDA seed.
pub const CHANNEL_SEED: &[u8] = b"channel";

/// Channel status values.
pub mod status {
    /// Accepting vouchers, top-ups and distributions.
    pub const OPEN: u8 = 0;
    /// Settlement frozen; refund and final distribution pending.
    pub const SEALED: u8 = 1;
    /// Payer asked to close; the grace period runs.
    pub const CLOSING: u8 = 2;
    /// Fully drained; only `reclaim` applies.
    pub const DISTRIBUTED: u8 = 3;
}

/// Decoded channel state.
#[derive(Clone, Copy)]
pub struct Channel {
    pub bump: u8,
    pub status: u8,
    pub salt: u64,
    pub deposit: u64,
    pub settled: u64,
    pub payout_watermark: u64,
    pub closure_started_at: i64,
    pub payer_withdrawn_at: i64,
    pub grace_period: u32,
    pub distribution_hash: [u8; 32],
    pub payer: Address,
    pub payee: Address,
    pub authorized_signer: Address,
    pub mint: Address,
    pub rent_payer: Address,
    pub open_slot: u64,
}

#[inline(always)]
fn u64_at(d: &[u8], off: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[off..off + 8]);
    u64::from_le_bytes(b)
}

#[inline(always)]
fn addr_at(d: &[u8], off: usize) -> Address {
    let mut b = [0u8; 32];
    b.copy_from_slice(&d[off..off + 32]);
    Address::new_from_array(b)
}

impl Channel {
    /// Reads the channel from `account` after checking owner, writability, length, tag and
    /// version. The result is written into `out` (large values are not returned by value on
    /// the upstream BPF backend).
    #[inline(always)]
    pub fn load(account: &AccountView, program_id: &Address, out: &mut Channel) -> Result<(), ProgramError> {
        if !account.owned_by(program_id) {
            return fail(ChannelError::InvalidChannelOwner);
        }
        if !account.is_writable() {
            return fail(ChannelError::AccountNotWritable);
        }
        let d = account.try_borrow()?;
        if d.len() != CHANNEL_LEN {
            return fail(ChannelError::InvalidAccountDiscriminator);
        }
        if d[0] != CHANNEL_DISCRIMINATOR {
            return fail(ChannelError::InvalidAccountDiscriminator);
        }
        if d[1] != CHANNEL_VERSION {
            return fail(ChannelError::UnsupportedChannelVersion);
        }
        out.bump = d[2];
        out.status = d[3];
        out.salt = u64_at(&d, 4);
        out.deposit = u64_at(&d, 12);
        out.settled = u64_at(&d, 20);
        out.payout_watermark = u64_at(&d, 28);
        out.closure_started_at = u64_at(&d, 36) as i64;
        out.payer_withdrawn_at = u64_at(&d, 44) as i64;
        let mut g = [0u8; 4];
        g.copy_from_slice(&d[52..56]);
        out.grace_period = u32::from_le_bytes(g);
        out.distribution_hash.copy_from_slice(&d[56..88]);
        out.payer = addr_at(&d, 88);
        out.payee = addr_at(&d, 120);
        out.authorized_signer = addr_at(&d, 152);
        out.mint = addr_at(&d, 184);
        out.rent_payer = addr_at(&d, 216);
        out.open_slot = u64_at(&d, 248);
        Ok(())
    }

    /// Writes every field (and the tag and version) into `account`.
    #[inline(always)]
    pub fn store(&self, account: &AccountView) -> Result<(), ProgramError> {
        let mut d = account.try_borrow_mut()?;
        if d.len() != CHANNEL_LEN {
            return fail(ChannelError::InvalidAccountDiscriminator);
        }
        d[0] = CHANNEL_DISCRIMINATOR;
        d[1] = CHANNEL_VERSION;
        d[2] = self.bump;
        d[3] = self.status;
        d[4..12].copy_from_slice(&self.salt.to_le_bytes());
        d[12..20].copy_from_slice(&self.deposit.to_le_bytes());
        d[20..28].copy_from_slice(&self.settled.to_le_bytes());
        d[28..36].copy_from_slice(&self.payout_watermark.to_le_bytes());
        d[36..44].copy_from_slice(&self.closure_started_at.to_le_bytes());
        d[44..52].copy_from_slice(&self.payer_withdrawn_at.to_le_bytes());
        d[52..56].copy_from_slice(&self.grace_period.to_le_bytes());
        d[56..88].copy_from_slice(&self.distribution_hash);
        d[88..120].copy_from_slice(self.payer.as_ref());
        d[120..152].copy_from_slice(self.payee.as_ref());
        d[152..184].copy_from_slice(self.authorized_signer.as_ref());
        d[184..216].copy_from_slice(self.mint.as_ref());
        d[216..248].copy_from_slice(self.rent_payer.as_ref());
        d[248..256].copy_from_slice(&self.open_slot.to_le_bytes());
        Ok(())
    }

    /// An all-zero value to load into.
    #[inline(always)]
    pub const fn empty() -> Channel {
        Channel {
            bump: 0,
            status: 0,
            salt: 0,
            deposit: 0,
            settled: 0,
            payout_watermark: 0,
            closure_started_at: 0,
            payer_withdrawn_at: 0,
            grace_period: 0,
            distribution_hash: [0; 32],
            payer: Address::new_from_array([0; 32]),
            payee: Address::new_from_array([0; 32]),
            authorized_signer: Address::new_from_array([0; 32]),
            mint: Address::new_from_array([0; 32]),
            rent_payer: Address::new_from_array([0; 32]),
            open_slot: 0,
        }
    }
}

/// The channel PDA's signer seeds, owned so they can outlive the state borrow.
pub struct SeedBytes {
    pub payer: [u8; 32],
    pub payee: [u8; 32],
    pub mint: [u8; 32],
    pub signer: [u8; 32],
    pub salt: [u8; 8],
    pub open_slot: [u8; 8],
    pub bump: [u8; 1],
}

impl SeedBytes {
    /// The seeds of `ch`.
    #[inline(always)]
    pub fn of(ch: &Channel, out: &mut SeedBytes) {
        out.payer = ch.payer.to_bytes();
        out.payee = ch.payee.to_bytes();
        out.mint = ch.mint.to_bytes();
        out.signer = ch.authorized_signer.to_bytes();
        out.salt = ch.salt.to_le_bytes();
        out.open_slot = ch.open_slot.to_le_bytes();
        out.bump = [ch.bump];
    }

    /// The signer seeds (with the bump) for `invoke_signed`.
    #[inline(always)]
    pub fn seeds(&self) -> [Seed<'_>; 8] {
        [
            Seed::from(CHANNEL_SEED),
            Seed::from(&self.payer),
            Seed::from(&self.payee),
            Seed::from(&self.mint),
            Seed::from(&self.signer),
            Seed::from(&self.salt),
            Seed::from(&self.open_slot),
            Seed::from(&self.bump),
        ]
    }

    /// All zero.
    #[inline(always)]
    pub const fn empty() -> SeedBytes {
        SeedBytes {
            payer: [0; 32],
            payee: [0; 32],
            mint: [0; 32],
            signer: [0; 32],
            salt: [0; 8],
            open_slot: [0; 8],
            bump: [0],
        }
    }
}

/// Checks that `channel` is the PDA of the stored seeds with the stored (canonical) bump.
#[inline(always)]
pub fn check_channel_address(channel: &Address, seeds: &SeedBytes, program_id: &Address) -> Result<(), ProgramError> {
    let mut derived = [0u8; 32];
    let ok = crate::pda::create(
        &[
            CHANNEL_SEED,
            &seeds.payer,
            &seeds.payee,
            &seeds.mint,
            &seeds.signer,
            &seeds.salt,
            &seeds.open_slot,
            &seeds.bump,
        ],
        program_id,
        &mut derived,
    );
    if !ok || channel.as_ref() != &derived[..] {
        return fail(ChannelError::ChannelAccountMismatch);
    }
    Ok(())
}
