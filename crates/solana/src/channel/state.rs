//! The `Channel` account (256 bytes, fixed little-endian layout; see the program's
//! `state.rs` for the offset table).

use solana_address::Address;

/// Length of the channel account data.
pub const CHANNEL_ACCOUNT_LEN: usize = 256;
/// The account-type tag of a channel.
pub const CHANNEL_DISCRIMINATOR: u8 = 1;
/// The layout version this crate reads.
pub const CHANNEL_VERSION: u8 = 1;

/// Where a channel is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChannelStatus {
    /// Accepting vouchers, top-ups and distributions.
    Open,
    /// Settlement frozen; the final distribution and refund are pending.
    Sealed,
    /// The payer requested close; the grace period runs.
    Closing,
    /// Fully drained; only `reclaim` applies.
    Distributed,
}

impl ChannelStatus {
    /// The on-chain byte.
    pub fn as_u8(self) -> u8 {
        match self {
            ChannelStatus::Open => 0,
            ChannelStatus::Sealed => 1,
            ChannelStatus::Closing => 2,
            ChannelStatus::Distributed => 3,
        }
    }

    /// Parses the on-chain byte.
    pub fn from_u8(b: u8) -> Option<ChannelStatus> {
        Some(match b {
            0 => ChannelStatus::Open,
            1 => ChannelStatus::Sealed,
            2 => ChannelStatus::Closing,
            3 => ChannelStatus::Distributed,
            _ => return None,
        })
    }
}

/// Why account data is not a channel.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// Not 256 bytes.
    #[error("channel account is {expected} bytes, got {got}", expected = CHANNEL_ACCOUNT_LEN)]
    Length {
        /// Bytes given.
        got: usize,
    },
    /// The first byte is not the `Channel` tag.
    #[error("account is not a channel (discriminator {0})")]
    Discriminator(u8),
    /// A layout version this crate does not know.
    #[error("unsupported channel layout version {0}")]
    Version(u8),
    /// An unknown status byte.
    #[error("unknown channel status {0}")]
    Status(u8),
}

/// Every field of a channel account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelState {
    /// Canonical PDA bump.
    pub bump: u8,
    /// Life-cycle status.
    pub status: ChannelStatus,
    /// PDA disambiguator.
    pub salt: u64,
    /// Total escrowed, in base units.
    pub deposit: u64,
    /// Highest voucher amount settled on chain.
    pub settled: u64,
    /// How much of `settled` has been distributed.
    pub payout_watermark: u64,
    /// Unix time of `requestClose` (0 when not closing).
    pub closure_started_at: i64,
    /// Unix time of the payer refund (0 when not yet refunded).
    pub payer_withdrawn_at: i64,
    /// Seconds between `requestClose` and `seal`.
    pub grace_period: u32,
    /// SHA-256 of the splits preimage.
    pub distribution_hash: [u8; 32],
    /// The depositing client.
    pub payer: Address,
    /// The paid server.
    pub payee: Address,
    /// The voucher signer.
    pub authorized_signer: Address,
    /// The token mint.
    pub mint: Address,
    /// Who funded the rent and gets it back.
    pub rent_payer: Address,
    /// The per-incarnation epoch seed.
    pub open_slot: u64,
}

fn u64_at(d: &[u8], o: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[o..o + 8]);
    u64::from_le_bytes(b)
}

fn addr_at(d: &[u8], o: usize) -> Address {
    let mut b = [0u8; 32];
    b.copy_from_slice(&d[o..o + 32]);
    Address::new_from_array(b)
}

impl ChannelState {
    /// Decodes channel account data.
    pub fn decode(d: &[u8]) -> Result<ChannelState, StateError> {
        if d.len() != CHANNEL_ACCOUNT_LEN {
            return Err(StateError::Length { got: d.len() });
        }
        if d[0] != CHANNEL_DISCRIMINATOR {
            return Err(StateError::Discriminator(d[0]));
        }
        if d[1] != CHANNEL_VERSION {
            return Err(StateError::Version(d[1]));
        }
        let mut hash = [0u8; 32];
        hash.copy_from_slice(&d[56..88]);
        Ok(ChannelState {
            bump: d[2],
            status: ChannelStatus::from_u8(d[3]).ok_or(StateError::Status(d[3]))?,
            salt: u64_at(d, 4),
            deposit: u64_at(d, 12),
            settled: u64_at(d, 20),
            payout_watermark: u64_at(d, 28),
            closure_started_at: u64_at(d, 36) as i64,
            payer_withdrawn_at: u64_at(d, 44) as i64,
            grace_period: u32::from_le_bytes([d[52], d[53], d[54], d[55]]),
            distribution_hash: hash,
            payer: addr_at(d, 88),
            payee: addr_at(d, 120),
            authorized_signer: addr_at(d, 152),
            mint: addr_at(d, 184),
            rent_payer: addr_at(d, 216),
            open_slot: u64_at(d, 248),
        })
    }

    /// Encodes the account data (what the program writes).
    pub fn encode(&self) -> [u8; CHANNEL_ACCOUNT_LEN] {
        let mut d = [0u8; CHANNEL_ACCOUNT_LEN];
        d[0] = CHANNEL_DISCRIMINATOR;
        d[1] = CHANNEL_VERSION;
        d[2] = self.bump;
        d[3] = self.status.as_u8();
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
        d
    }

    /// Escrowed value not yet claimed by a voucher: `deposit − settled`.
    pub fn remaining(&self) -> u64 {
        self.deposit.saturating_sub(self.settled)
    }

    /// The unix time from which `seal` succeeds, when closing.
    pub fn grace_deadline(&self) -> Option<i64> {
        (self.status == ChannelStatus::Closing).then(|| {
            self.closure_started_at
                .saturating_add(i64::from(self.grace_period))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ChannelState {
        ChannelState {
            bump: 254,
            status: ChannelStatus::Closing,
            salt: 9,
            deposit: 1_000,
            settled: 400,
            payout_watermark: 100,
            closure_started_at: 1_700_000_000,
            payer_withdrawn_at: 0,
            grace_period: 900,
            distribution_hash: [3; 32],
            payer: Address::new_from_array([1; 32]),
            payee: Address::new_from_array([2; 32]),
            authorized_signer: Address::new_from_array([4; 32]),
            mint: Address::new_from_array([5; 32]),
            rent_payer: Address::new_from_array([6; 32]),
            open_slot: 77,
        }
    }

    #[test]
    fn round_trip_and_offsets() {
        let d = sample().encode();
        assert_eq!(ChannelState::decode(&d), Ok(sample()));
        assert_eq!(d[3], 2);
        assert_eq!(&d[248..256], &77u64.to_le_bytes());
        assert_eq!(sample().grace_deadline(), Some(1_700_000_900));
        assert_eq!(sample().remaining(), 600);
    }

    #[test]
    fn refusals() {
        let d = sample().encode();
        assert_eq!(
            ChannelState::decode(&d[..255]),
            Err(StateError::Length { got: 255 })
        );
        let mut z = d;
        z[0] = 0;
        assert_eq!(ChannelState::decode(&z), Err(StateError::Discriminator(0)));
        let mut v = d;
        v[1] = 2;
        assert_eq!(ChannelState::decode(&v), Err(StateError::Version(2)));
        let mut s = d;
        s[3] = 4;
        assert_eq!(ChannelState::decode(&s), Err(StateError::Status(4)));
    }
}
