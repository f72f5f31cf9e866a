//! After landing: every destination's balance must have grown by at least what its legs owe.
//! This is what catches a Token-2022 fee or a hook that delivered less than the instruction
//! said.

use solana_address::Address;

use crate::charge::verify::legs::MatchedLeg;
use crate::error::VerifyError;

/// A balance before and after, for one account of a landed transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BalanceChange {
    /// The account (a system account for SOL, a token account for tokens).
    pub account: Address,
    /// Before, base units.
    pub pre: u64,
    /// After, base units.
    pub post: u64,
}

/// Checks each destination received the sum of its legs.
pub fn check_settled(legs: &[MatchedLeg], changes: &[BalanceChange]) -> Result<(), VerifyError> {
    let mut owed: Vec<(Address, u64)> = Vec::new();
    for l in legs {
        match owed.iter_mut().find(|(a, _)| *a == l.destination) {
            Some((_, total)) => {
                *total = total
                    .checked_add(l.leg.amount)
                    .ok_or(VerifyError::MalformedTransaction)?;
            }
            None => owed.push((l.destination, l.leg.amount)),
        }
    }
    for (account, expected) in owed {
        let received = changes
            .iter()
            .filter(|c| c.account == account)
            .map(|c| c.post.saturating_sub(c.pre))
            .sum::<u64>();
        if received < expected {
            return Err(VerifyError::Underpaid {
                recipient: account,
                expected,
                received,
            });
        }
    }
    Ok(())
}
