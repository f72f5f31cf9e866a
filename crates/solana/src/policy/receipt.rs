//! The payments program: the receipt PDA `["receipt", sha256(challenge id)]`, its account
//! decoder, and the `pay` builder. A server verifies a payment made by any program by
//! deriving the receipt address from its own challenge id, reading that one account, and
//! comparing recipient, mint and amount with what it asked for.
//!
//! Receipt account (192 bytes, little-endian): `0x52 || version 1 || bump || 5 × 0 ||
//! challenge_hash [32] @8 || payer [32] @40 || recipient [32] @72 || destination [32] @104 ||
//! mint [32] @136 || amount u64 @168 || slot u64 @176 || unix_timestamp i64 @184`.

use solana_address::Address;
use solana_instruction::{AccountMeta, Instruction};

use crate::token::{SYSTEM_PROGRAM, TokenProgram};

/// First seed of the receipt PDA.
pub const RECEIPT_SEED: &[u8] = b"receipt";
/// Receipt account size.
pub const RECEIPT_LEN: usize = 192;
/// Receipt account-type tag.
pub const RECEIPT_DISCRIMINATOR: u8 = 0x52;
/// `pay`'s discriminator.
pub const PAY: u8 = 1;

/// The receipt PDA for a challenge hash.
pub fn find_receipt_address(program: &Address, challenge_hash: &[u8; 32]) -> (Address, u8) {
    Address::find_program_address(&[RECEIPT_SEED, challenge_hash], program)
}

/// A decoded receipt account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentReceipt {
    /// `sha256(challenge id)`.
    pub challenge_hash: [u8; 32],
    /// The authority that paid (a wallet PDA when paid through the policy program).
    pub payer: Address,
    /// The destination token account's owner.
    pub recipient: Address,
    /// The destination token account.
    pub destination: Address,
    /// The mint.
    pub mint: Address,
    /// Amount, base units.
    pub amount: u64,
    /// Slot the payment landed in.
    pub slot: u64,
    /// Unix time of that slot.
    pub unix_timestamp: i64,
}

/// Why a receipt account does not prove the payment a server asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    /// Wrong size.
    #[error("receipt account is {RECEIPT_LEN} bytes, got {0}")]
    Length(usize),
    /// Not a version-1 receipt.
    #[error("not a receipt account (tag {0})")]
    NotAReceipt(u8),
    /// The receipt is for another challenge.
    #[error("the receipt is for another challenge")]
    ChallengeMismatch,
    /// Paid to someone else.
    #[error("paid to {got}, expected {expected}")]
    RecipientMismatch {
        /// Who the server is.
        expected: Address,
        /// Who was paid.
        got: Address,
    },
    /// Another token.
    #[error("paid in mint {got}, expected {expected}")]
    MintMismatch {
        /// The asked mint.
        expected: Address,
        /// The paid mint.
        got: Address,
    },
    /// Less than asked.
    #[error("paid {got}, expected at least {expected}")]
    Underpaid {
        /// Asked, base units.
        expected: u64,
        /// Paid, base units.
        got: u64,
    },
}

fn addr(d: &[u8], o: usize) -> Address {
    let mut a = [0u8; 32];
    a.copy_from_slice(&d[o..o + 32]);
    Address::new_from_array(a)
}

fn u64_at(d: &[u8], o: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[o..o + 8]);
    u64::from_le_bytes(b)
}

impl PaymentReceipt {
    /// Decodes the receipt account's data.
    pub fn decode(d: &[u8]) -> Result<PaymentReceipt, ReceiptError> {
        if d.len() != RECEIPT_LEN {
            return Err(ReceiptError::Length(d.len()));
        }
        if d[0] != RECEIPT_DISCRIMINATOR || d[1] != 1 {
            return Err(ReceiptError::NotAReceipt(d[0]));
        }
        let mut challenge_hash = [0u8; 32];
        challenge_hash.copy_from_slice(&d[8..40]);
        Ok(PaymentReceipt {
            challenge_hash,
            payer: addr(d, 40),
            recipient: addr(d, 72),
            destination: addr(d, 104),
            mint: addr(d, 136),
            amount: u64_at(d, 168),
            slot: u64_at(d, 176),
            unix_timestamp: u64_at(d, 184) as i64,
        })
    }

    /// Checks the receipt pays `challenge_id` to `recipient` at least `amount` of `mint`. The
    /// caller has read the account at [`find_receipt_address`] owned by the payments program.
    pub fn verify(
        &self,
        challenge_id: &str,
        recipient: &Address,
        mint: &Address,
        amount: u64,
    ) -> Result<(), ReceiptError> {
        if self.challenge_hash != super::challenge_hash(challenge_id) {
            return Err(ReceiptError::ChallengeMismatch);
        }
        if self.recipient != *recipient {
            return Err(ReceiptError::RecipientMismatch {
                expected: *recipient,
                got: self.recipient,
            });
        }
        if self.mint != *mint {
            return Err(ReceiptError::MintMismatch {
                expected: *mint,
                got: self.mint,
            });
        }
        if self.amount < amount {
            return Err(ReceiptError::Underpaid {
                expected: amount,
                got: self.amount,
            });
        }
        Ok(())
    }
}

/// The accounts of a direct payments `pay`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayAccounts {
    /// Owner of `source` (signer).
    pub authority: Address,
    /// Funds the receipt (signer; normally the fee payer).
    pub rent_payer: Address,
    /// Token account paid from.
    pub source: Address,
    /// The recipient's token account.
    pub destination: Address,
    /// The mint.
    pub mint: Address,
    /// The mint's token program.
    pub token_program: TokenProgram,
}

/// `pay` data: `1 || amount || challenge_hash`.
pub fn pay_data(amount: u64, challenge_hash: &[u8; 32]) -> Vec<u8> {
    let mut d = Vec::with_capacity(41);
    d.push(PAY);
    d.extend_from_slice(&amount.to_le_bytes());
    d.extend_from_slice(challenge_hash);
    d
}

/// `pay`: transfers `amount` and creates the challenge's receipt.
pub fn pay(
    program: &Address,
    a: &PayAccounts,
    amount: u64,
    challenge_hash: &[u8; 32],
) -> Instruction {
    let receipt = find_receipt_address(program, challenge_hash).0;
    Instruction {
        program_id: *program,
        accounts: vec![
            AccountMeta::new_readonly(a.authority, true),
            AccountMeta::new(a.rent_payer, true),
            AccountMeta::new(a.source, false),
            AccountMeta::new(a.destination, false),
            AccountMeta::new_readonly(a.mint, false),
            AccountMeta::new(receipt, false),
            AccountMeta::new_readonly(a.token_program.id(), false),
            AccountMeta::new_readonly(SYSTEM_PROGRAM, false),
        ],
        data: pay_data(amount, challenge_hash),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_and_verify_a_receipt() {
        let hash = super::super::challenge_hash("ch_1");
        let mut d = vec![0u8; RECEIPT_LEN];
        d[0] = RECEIPT_DISCRIMINATOR;
        d[1] = 1;
        d[8..40].copy_from_slice(&hash);
        d[72..104].copy_from_slice(&[7; 32]);
        d[136..168].copy_from_slice(&[9; 32]);
        d[168..176].copy_from_slice(&500u64.to_le_bytes());
        let r = PaymentReceipt::decode(&d).unwrap();
        let me = Address::new_from_array([7; 32]);
        let mint = Address::new_from_array([9; 32]);
        assert_eq!(r.verify("ch_1", &me, &mint, 500), Ok(()));
        assert_eq!(
            r.verify("ch_2", &me, &mint, 500),
            Err(ReceiptError::ChallengeMismatch)
        );
        assert_eq!(
            r.verify("ch_1", &me, &mint, 501),
            Err(ReceiptError::Underpaid {
                expected: 501,
                got: 500
            })
        );
        assert!(matches!(
            r.verify("ch_1", &mint, &mint, 1),
            Err(ReceiptError::RecipientMismatch { .. })
        ));
        assert_eq!(
            PaymentReceipt::decode(&d[..10]),
            Err(ReceiptError::Length(10))
        );
    }
}
