//! The policy blob (`createWallet` / `setPolicy` data) and the wallet account.
//!
//! Wallet account (728 bytes, little-endian): `0x57 || version 1 || bump || paused ||
//! flags || counterparty_count || 2 × 0 || owner [32] @8 || agent [32] @40 || max_single @72 ||
//! max_daily @80 || escalation_threshold @88 || day_index @96 || spent_today @104 ||
//! last_nonce @112 || categories [32] @120 || channel_program [32] @152 ||
//! payments_program [32] @184 || 16 × counterparty [32] @216`.

use solana_address::Address;

use super::{DAY_SECONDS, MAX_COUNTERPARTIES};

/// Length of the wallet account.
pub const WALLET_LEN: usize = 728;
/// Account-type tag of a wallet.
pub const WALLET_DISCRIMINATOR: u8 = 0x57;
/// Layout version this crate reads.
pub const WALLET_VERSION: u8 = 1;
/// Flag: every `pay` must carry a memo.
pub const FLAG_REQUIRE_MEMO: u8 = 1;
/// Flag: only listed counterparties may be paid.
pub const FLAG_RESTRICT_COUNTERPARTIES: u8 = 2;
const POLICY_HEADER_LEN: usize = 122;

/// Who the wallet may pay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Counterparties {
    /// Anyone.
    Any,
    /// Only these recipients (owners of the recipient token account, or a channel's payee); at
    /// most [`MAX_COUNTERPARTIES`].
    Only(Vec<Address>),
}

/// A set of category ids (0..=255): the provider's category a payment carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CategorySet(pub [u8; 32]);

impl CategorySet {
    /// Every category.
    pub fn all() -> Self {
        CategorySet([0xff; 32])
    }

    /// Exactly `ids`.
    pub fn of(ids: &[u8]) -> Self {
        let mut b = [0u8; 32];
        for id in ids {
            b[(id / 8) as usize] |= 1 << (id % 8);
        }
        CategorySet(b)
    }

    /// Whether `id` is in the set.
    pub fn contains(&self, id: u8) -> bool {
        self.0[(id / 8) as usize] & (1 << (id % 8)) != 0
    }
}

/// The owner's rules for a wallet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyConfig {
    /// Largest single payment, base units.
    pub max_single: u64,
    /// Largest total per UTC day (`unix_timestamp / 86_400`), base units.
    pub max_daily: u64,
    /// Payments strictly above this also need the owner's signature (`u64::MAX`: never).
    pub escalation_threshold: u64,
    /// Every `pay` must carry a non-empty memo.
    pub require_memo: bool,
    /// Allowed recipients.
    pub counterparties: Counterparties,
    /// Allowed categories.
    pub categories: CategorySet,
    /// The channel program `fundChannel`/`topUpChannel` may call (`None`: channels disabled).
    pub channel_program: Option<Address>,
    /// The payments program `payWithReceipt` may call (`None`: receipts disabled).
    pub payments_program: Option<Address>,
}

/// Why a policy or wallet cannot be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// More counterparties than the program stores.
    #[error("at most {MAX_COUNTERPARTIES} counterparties, got {0}")]
    TooManyCounterparties(usize),
    /// The wallet account has the wrong size.
    #[error("wallet account is {WALLET_LEN} bytes, got {0}")]
    Length(usize),
    /// Not a wallet, or a layout version this crate does not know.
    #[error("not a version-1 wallet account (tag {tag}, version {version})")]
    NotAWallet {
        /// First byte.
        tag: u8,
        /// Second byte.
        version: u8,
    },
}

fn opt_addr(a: &Option<Address>) -> [u8; 32] {
    a.map(|a| a.to_bytes()).unwrap_or([0; 32])
}

fn addr_opt(b: &[u8]) -> Option<Address> {
    let mut a = [0u8; 32];
    a.copy_from_slice(b);
    (a != [0; 32]).then(|| Address::new_from_array(a))
}

fn u64_at(d: &[u8], o: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[o..o + 8]);
    u64::from_le_bytes(b)
}

impl PolicyConfig {
    /// The policy blob the program parses.
    pub fn encode(&self) -> Result<Vec<u8>, PolicyError> {
        let (flag, list): (u8, &[Address]) = match &self.counterparties {
            Counterparties::Any => (0, &[]),
            Counterparties::Only(l) => (FLAG_RESTRICT_COUNTERPARTIES, l),
        };
        if list.len() > MAX_COUNTERPARTIES {
            return Err(PolicyError::TooManyCounterparties(list.len()));
        }
        let mut d = Vec::with_capacity(POLICY_HEADER_LEN + 32 * list.len());
        d.extend_from_slice(&self.max_single.to_le_bytes());
        d.extend_from_slice(&self.max_daily.to_le_bytes());
        d.extend_from_slice(&self.escalation_threshold.to_le_bytes());
        d.push(
            flag | if self.require_memo {
                FLAG_REQUIRE_MEMO
            } else {
                0
            },
        );
        d.push(list.len() as u8);
        d.extend_from_slice(&self.categories.0);
        d.extend_from_slice(&opt_addr(&self.channel_program));
        d.extend_from_slice(&opt_addr(&self.payments_program));
        for a in list {
            d.extend_from_slice(a.as_ref());
        }
        Ok(d)
    }
}

/// A decoded wallet account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalletState {
    /// The PDA bump.
    pub bump: u8,
    /// Payments are refused while paused.
    pub paused: bool,
    /// Sets the policy, pauses, withdraws, closes, co-signs escalations.
    pub owner: Address,
    /// Signs payments.
    pub agent: Address,
    /// The UTC day index `spent_today` counts.
    pub day_index: u64,
    /// Spent in that day, base units.
    pub spent_today: u64,
    /// The last nonce used (0: none yet); the next payment needs a greater one.
    pub last_nonce: u64,
    /// The rules.
    pub policy: PolicyConfig,
}

impl WalletState {
    /// Decodes the wallet account's data.
    pub fn decode(d: &[u8]) -> Result<WalletState, PolicyError> {
        if d.len() != WALLET_LEN {
            return Err(PolicyError::Length(d.len()));
        }
        if d[0] != WALLET_DISCRIMINATOR || d[1] != WALLET_VERSION {
            return Err(PolicyError::NotAWallet {
                tag: d[0],
                version: d[1],
            });
        }
        let flags = d[4];
        let n = (d[5] as usize).min(MAX_COUNTERPARTIES);
        let counterparties = if flags & FLAG_RESTRICT_COUNTERPARTIES != 0 {
            Counterparties::Only(
                (0..n)
                    .map(|i| addr_opt(&d[216 + 32 * i..248 + 32 * i]).unwrap_or_default())
                    .collect(),
            )
        } else {
            Counterparties::Any
        };
        let mut categories = [0u8; 32];
        categories.copy_from_slice(&d[120..152]);
        Ok(WalletState {
            bump: d[2],
            paused: d[3] != 0,
            owner: addr_opt(&d[8..40]).unwrap_or_default(),
            agent: addr_opt(&d[40..72]).unwrap_or_default(),
            day_index: u64_at(d, 96),
            spent_today: u64_at(d, 104),
            last_nonce: u64_at(d, 112),
            policy: PolicyConfig {
                max_single: u64_at(d, 72),
                max_daily: u64_at(d, 80),
                escalation_threshold: u64_at(d, 88),
                require_memo: flags & FLAG_REQUIRE_MEMO != 0,
                counterparties,
                categories: CategorySet(categories),
                channel_program: addr_opt(&d[152..184]),
                payments_program: addr_opt(&d[184..216]),
            },
        })
    }

    /// What may still be spent on the day containing `unix_timestamp` (the program's rule).
    pub fn remaining_today(&self, unix_timestamp: i64) -> u64 {
        let day = (unix_timestamp.max(0) / DAY_SECONDS) as u64;
        let spent = if day == self.day_index {
            self.spent_today
        } else {
            0
        };
        self.policy.max_daily.saturating_sub(spent)
    }

    /// The smallest nonce the next payment may carry.
    pub fn next_nonce(&self) -> u64 {
        self.last_nonce.saturating_add(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_many_counterparties_is_refused_before_the_chain() {
        let p = PolicyConfig {
            max_single: 1,
            max_daily: 1,
            escalation_threshold: u64::MAX,
            require_memo: false,
            counterparties: Counterparties::Only(vec![Address::new_from_array([1; 32]); 17]),
            categories: CategorySet::all(),
            channel_program: None,
            payments_program: None,
        };
        assert_eq!(p.encode(), Err(PolicyError::TooManyCounterparties(17)));
    }

    #[test]
    fn category_set_membership() {
        let s = CategorySet::of(&[0, 9, 255]);
        assert!(s.contains(0) && s.contains(9) && s.contains(255));
        assert!(!s.contains(8) && !s.contains(10));
        assert!((0..=255u8).all(|c| CategorySet::all().contains(c)));
    }

    #[test]
    fn short_or_foreign_accounts_are_typed_errors() {
        assert_eq!(WalletState::decode(&[0; 10]), Err(PolicyError::Length(10)));
        assert_eq!(
            WalletState::decode(&[1; WALLET_LEN]),
            Err(PolicyError::NotAWallet { tag: 1, version: 1 })
        );
    }
}
