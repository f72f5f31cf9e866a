//! The distribution-splits preimage: `count (u32 LE) || [recipient (32) || shareBps (u16 LE)] × count`,
//! committed by SHA-256 at `open` and re-verified by `distribute`.

use pinocchio::{Address, error::ProgramError};

use crate::error::{ChannelError, fail};

/// Most recipients a channel may split to.
pub const MAX_DISTRIBUTION_RECIPIENTS: usize = 32;
/// Basis-point denominator.
pub const BPS: u64 = 10_000;
const ENTRY_LEN: usize = 34;

/// A borrowed, length-checked preimage.
#[derive(Clone, Copy)]
pub struct Splits<'a> {
    /// The whole preimage (what is hashed).
    pub bytes: &'a [u8],
    /// Number of entries.
    pub count: usize,
}

impl<'a> Splits<'a> {
    /// Takes `data` as exactly one preimage (no trailing bytes).
    #[inline(always)]
    pub fn parse(data: &'a [u8]) -> Result<Splits<'a>, ProgramError> {
        if data.len() < 4 {
            return fail(ChannelError::InvalidInstructionData);
        }
        let count = u32::from_le_bytes([data[0], data[1], data[2], data[3]]) as usize;
        if count > MAX_DISTRIBUTION_RECIPIENTS {
            return fail(ChannelError::InvalidRecipientCount);
        }
        if data.len() != 4 + count.wrapping_mul(ENTRY_LEN) {
            return fail(ChannelError::DistributionPreimageLengthOverflow);
        }
        Ok(Splits { bytes: data, count })
    }

    /// Entry `i`'s recipient.
    #[inline(always)]
    pub fn recipient(&self, i: usize) -> &'a [u8] {
        let o = 4 + i.wrapping_mul(ENTRY_LEN);
        &self.bytes[o..o + 32]
    }

    /// Entry `i`'s share in basis points.
    #[inline(always)]
    pub fn bps(&self, i: usize) -> u64 {
        let o = 4 + i.wrapping_mul(ENTRY_LEN) + 32;
        u16::from_le_bytes([self.bytes[o], self.bytes[o + 1]]) as u64
    }

    /// The spec's rules: every share non-zero, total at most 10 000, recipients unique and not
    /// the channel itself. Returns the payee's implicit share.
    #[inline(always)]
    pub fn validate(&self, channel: &Address) -> Result<u64, ProgramError> {
        let mut total = 0u64;
        for i in 0..self.count {
            let bps = self.bps(i);
            if bps == 0 {
                return fail(ChannelError::InvalidSplitConfig);
            }
            total += bps;
            if self.recipient(i) == channel.as_ref() {
                return fail(ChannelError::InvalidSplitConfig);
            }
            for j in 0..i {
                if self.recipient(j) == self.recipient(i) {
                    return fail(ChannelError::DuplicateRecipient);
                }
            }
        }
        if total > BPS {
            return fail(ChannelError::InvalidSplitConfig);
        }
        Ok(BPS - total)
    }

    /// SHA-256 of the preimage.
    #[inline(always)]
    pub fn hash(&self, out: &mut [u8; 32]) {
        sha256(self.bytes, out);
    }
}

/// SHA-256 through the `sol_sha256` syscall.
#[inline(always)]
pub fn sha256(data: &[u8], out: &mut [u8; 32]) {
    #[cfg(target_arch = "bpf")]
    {
        let vals: [&[u8]; 1] = [data];
        // SAFETY: the syscall reads `vals` (one fat slice) and writes 32 bytes into `out`.
        unsafe {
            solana_define_syscall::definitions::sol_sha256(
                vals.as_ptr() as *const u8,
                1,
                out.as_mut_ptr(),
            );
        }
    }
    #[cfg(not(target_arch = "bpf"))]
    {
        let _ = data;
        *out = [0; 32];
    }
}

/// `floor(amount * bps / 10 000)` without 128-bit arithmetic (the upstream BPF backend has no
/// `__multi3`): `amount = q·10 000 + r`, so the product splits into `q·bps + r·bps / 10 000`.
#[inline(always)]
pub fn floor_share(amount: u64, bps: u64) -> u64 {
    // q·bps <= amount and r·bps < 10^8 for bps <= 10 000, so neither product overflows; the
    // plain operators would compile to overflow-checked 128-bit multiplies.
    let bps = if bps > BPS { BPS } else { bps };
    (amount / BPS)
        .wrapping_mul(bps)
        .wrapping_add((amount % BPS).wrapping_mul(bps) / BPS)
}

/// A beneficiary's cumulative floor delta between the old and new watermark.
#[inline(always)]
pub fn delta(settled: u64, watermark: u64, bps: u64) -> u64 {
    floor_share(settled, bps).saturating_sub(floor_share(watermark, bps))
}
