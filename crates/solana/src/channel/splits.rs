//! Distribution splits (spec "Distribution Splits"): the payee gets the implicit remainder
//! `10000 − Σ shareBps`; the canonical preimage is
//! `count (u32 LE) || [recipient (32) || shareBps (u16 LE)] × count`, hashed with SHA-256.

use sha2::{Digest, Sha256};
use solana_address::Address;

/// Most split recipients per channel.
pub const MAX_DISTRIBUTION_RECIPIENTS: usize = 32;
/// Basis points in a whole.
pub const BPS_DENOMINATOR: u64 = 10_000;
const ENTRY_LEN: usize = 34;

/// One recipient's share of the merchant-side pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DistributionSplit {
    /// Wallet whose ATA receives the share.
    pub recipient: Address,
    /// Share in basis points (1..=10000).
    pub share_bps: u16,
}

/// Why a split list was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SplitsError {
    /// More than [`MAX_DISTRIBUTION_RECIPIENTS`] entries.
    #[error("{count} split recipients; at most {MAX_DISTRIBUTION_RECIPIENTS}")]
    TooMany {
        /// Entries given.
        count: usize,
    },
    /// An entry with a zero share.
    #[error("split {index} has a zero share")]
    ZeroShare {
        /// Position of the entry.
        index: usize,
    },
    /// Shares add up to more than 10 000 bps.
    #[error("split shares total {total} bps; at most 10000")]
    TotalOver {
        /// Sum of the shares.
        total: u64,
    },
    /// The same recipient twice.
    #[error("split recipient {0} appears twice")]
    Duplicate(Address),
    /// The channel PDA itself as a recipient.
    #[error("the channel cannot be a split recipient")]
    RecipientIsChannel,
    /// Preimage bytes that are not `count || entries` exactly.
    #[error("malformed splits preimage")]
    Malformed,
}

/// The spec's rules: at most 32 entries, every share non-zero, total at most 10 000, recipients
/// unique and not the channel PDA.
pub fn validate(splits: &[DistributionSplit], channel: &Address) -> Result<(), SplitsError> {
    if splits.len() > MAX_DISTRIBUTION_RECIPIENTS {
        return Err(SplitsError::TooMany {
            count: splits.len(),
        });
    }
    let mut total = 0u64;
    for (i, s) in splits.iter().enumerate() {
        if s.share_bps == 0 {
            return Err(SplitsError::ZeroShare { index: i });
        }
        if s.recipient == *channel {
            return Err(SplitsError::RecipientIsChannel);
        }
        if splits[..i].iter().any(|p| p.recipient == s.recipient) {
            return Err(SplitsError::Duplicate(s.recipient));
        }
        total += u64::from(s.share_bps);
    }
    if total > BPS_DENOMINATOR {
        return Err(SplitsError::TotalOver { total });
    }
    Ok(())
}

/// The canonical preimage bytes.
pub fn preimage(splits: &[DistributionSplit]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + splits.len() * ENTRY_LEN);
    out.extend_from_slice(&(splits.len() as u32).to_le_bytes());
    for s in splits {
        out.extend_from_slice(s.recipient.as_ref());
        out.extend_from_slice(&s.share_bps.to_le_bytes());
    }
    out
}

/// Parses a preimage (exact length, at most 32 entries); share rules are [`validate`]'s job.
pub fn parse_preimage(bytes: &[u8]) -> Result<Vec<DistributionSplit>, SplitsError> {
    let count_bytes: [u8; 4] = bytes
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .ok_or(SplitsError::Malformed)?;
    let count = u32::from_le_bytes(count_bytes) as usize;
    if count > MAX_DISTRIBUTION_RECIPIENTS {
        return Err(SplitsError::TooMany { count });
    }
    if bytes.len() != 4 + count * ENTRY_LEN {
        return Err(SplitsError::Malformed);
    }
    Ok(bytes[4..]
        .chunks_exact(ENTRY_LEN)
        .map(|e| {
            let mut r = [0u8; 32];
            r.copy_from_slice(&e[..32]);
            DistributionSplit {
                recipient: Address::new_from_array(r),
                share_bps: u16::from_le_bytes([e[32], e[33]]),
            }
        })
        .collect())
}

/// SHA-256 of the canonical preimage: what `open` commits as `distributionHash`.
pub fn distribution_hash(splits: &[DistributionSplit]) -> [u8; 32] {
    Sha256::digest(preimage(splits)).into()
}

/// The payee's implicit share, `10000 − Σ shareBps` (0 when the shares exceed the whole).
pub fn payee_bps(splits: &[DistributionSplit]) -> u64 {
    let total: u64 = splits.iter().map(|s| u64::from(s.share_bps)).sum();
    BPS_DENOMINATOR.saturating_sub(total)
}

/// `floor(amount · bps / 10000)`, exact for every u64 amount and bps <= 10000.
pub fn floor_share(amount: u64, bps: u64) -> u64 {
    let bps = bps.min(BPS_DENOMINATOR);
    (amount / BPS_DENOMINATOR) * bps + (amount % BPS_DENOMINATOR) * bps / BPS_DENOMINATOR
}

/// What one `distribute` pays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payout {
    /// Per split recipient, in preimage order.
    pub recipients: Vec<u64>,
    /// The payee's implicit-remainder delta.
    pub payee: u64,
}

impl Payout {
    /// Recipients plus payee.
    pub fn total(&self) -> u64 {
        self.recipients.iter().sum::<u64>() + self.payee
    }
}

/// The cumulative floor deltas `distribute` pays when moving the watermark from `watermark` to
/// `settled` (spec "Distribution Math").
pub fn payout(settled: u64, watermark: u64, splits: &[DistributionSplit]) -> Payout {
    let delta = |bps: u64| floor_share(settled, bps).saturating_sub(floor_share(watermark, bps));
    Payout {
        recipients: splits
            .iter()
            .map(|s| delta(u64::from(s.share_bps)))
            .collect(),
        payee: delta(payee_bps(splits)),
    }
}

/// The irreducible flooring dust the sealed `distribute` sweeps to the treasury:
/// `settled − Σ floor(settled · share / 10000)` over every share including the payee's.
pub fn final_dust(settled: u64, splits: &[DistributionSplit]) -> u64 {
    settled - payout(settled, 0, splits).total()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn split(b: u8, bps: u16) -> DistributionSplit {
        DistributionSplit {
            recipient: Address::new_from_array([b; 32]),
            share_bps: bps,
        }
    }

    const CHANNEL: Address = Address::new_from_array([0xcc; 32]);

    #[test]
    fn rules() {
        assert_eq!(validate(&[], &CHANNEL), Ok(()));
        assert_eq!(validate(&[split(1, 10_000)], &CHANNEL), Ok(()));
        assert_eq!(
            validate(&[split(1, 0)], &CHANNEL),
            Err(SplitsError::ZeroShare { index: 0 })
        );
        assert_eq!(
            validate(&[split(1, 6_000), split(2, 4_001)], &CHANNEL),
            Err(SplitsError::TotalOver { total: 10_001 })
        );
        assert_eq!(
            validate(&[split(1, 1), split(1, 2)], &CHANNEL),
            Err(SplitsError::Duplicate(Address::new_from_array([1; 32])))
        );
        assert_eq!(
            validate(&[split(0xcc, 1)], &CHANNEL),
            Err(SplitsError::RecipientIsChannel)
        );
        let many: Vec<_> = (0..33).map(|i| split(i, 1)).collect();
        assert_eq!(
            validate(&many, &CHANNEL),
            Err(SplitsError::TooMany { count: 33 })
        );
    }

    #[test]
    fn preimage_layout_and_round_trip() {
        let s = [split(1, 250), split(2, 1000)];
        let p = preimage(&s);
        assert_eq!(p.len(), 4 + 2 * 34);
        assert_eq!(&p[..4], &2u32.to_le_bytes());
        assert_eq!(&p[4..36], &[1; 32]);
        assert_eq!(&p[36..38], &250u16.to_le_bytes());
        assert_eq!(parse_preimage(&p).unwrap(), s.to_vec());
        assert_eq!(
            parse_preimage(&p[..p.len() - 1]),
            Err(SplitsError::Malformed)
        );
        assert_eq!(preimage(&[]), 0u32.to_le_bytes().to_vec());
        // SHA-256 of the 4-byte empty preimage.
        assert_eq!(
            distribution_hash(&[]),
            <[u8; 32]>::from(Sha256::digest([0u8; 4]))
        );
    }

    #[test]
    fn floor_share_is_exact_at_the_edges() {
        assert_eq!(floor_share(u64::MAX, 10_000), u64::MAX);
        assert_eq!(floor_share(u64::MAX, 1), u64::MAX / 10_000);
        assert_eq!(floor_share(9_999, 1), 0);
        assert_eq!(floor_share(10_000, 1), 1);
        assert_eq!(floor_share(3, 5_000), 1);
    }

    fn splits_strategy() -> impl Strategy<Value = Vec<DistributionSplit>> {
        prop::collection::vec(1u16..=2_000, 0..6).prop_map(|shares| {
            shares
                .iter()
                .enumerate()
                .map(|(i, b)| split(i as u8 + 1, *b))
                .collect()
        })
    }

    proptest! {
        #[test]
        fn floor_share_matches_128_bit_math(amount in any::<u64>(), bps in 0u64..=10_000) {
            let wide = (u128::from(amount) * u128::from(bps) / 10_000) as u64;
            prop_assert_eq!(floor_share(amount, bps), wide);
        }

        /// Any sequence of distributions at rising watermarks, then the final dust, pays out
        /// exactly `settled`: payee + recipients + dust == settled, nothing lost or doubled.
        #[test]
        fn payouts_plus_dust_equal_settled(
            splits in splits_strategy(),
            mut marks in prop::collection::vec(0u64..=1_000_000_000_000, 1..6),
        ) {
            marks.sort_unstable();
            let settled = *marks.last().unwrap();
            let mut watermark = 0;
            let mut paid = 0u64;
            for m in marks {
                paid += payout(m, watermark, &splits).total();
                watermark = m;
            }
            let dust = final_dust(settled, &splits);
            prop_assert_eq!(paid + dust, settled);
            prop_assert!(dust <= splits.len() as u64 + 1);
        }
    }
}
