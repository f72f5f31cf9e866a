//! Program ids, associated-token-account derivation and Token-2022 transfer-fee arithmetic.

use solana_address::Address;
use solana_instruction::{AccountMeta, Instruction};

/// The System program.
pub const SYSTEM_PROGRAM: Address = solana_address::address!("11111111111111111111111111111111");
/// SPL Token.
pub const TOKEN_PROGRAM: Address =
    solana_address::address!("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA");
/// SPL Token-2022.
pub const TOKEN_2022_PROGRAM: Address =
    solana_address::address!("TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb");
/// The Associated Token Account program.
pub const ATA_PROGRAM: Address =
    solana_address::address!("ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL");
/// SPL Memo v2 (what our client writes).
pub const MEMO_PROGRAM: Address =
    solana_address::address!("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr");
/// SPL Memo v1 (accepted from other clients).
pub const MEMO_V1_PROGRAM: Address =
    solana_address::address!("Memo1UhkJRfHyvLMcVucJwxXeuD728EqVDDwQDxFMNo");
/// The Compute Budget program.
pub const COMPUTE_BUDGET_PROGRAM: Address =
    solana_address::address!("ComputeBudget111111111111111111111111111111");

/// The longest memo the Memo program accepts, in bytes.
pub const MAX_MEMO_BYTES: usize = 566;

/// Which token program a mint lives under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenProgram {
    /// SPL Token.
    Token,
    /// SPL Token-2022.
    Token2022,
}

impl TokenProgram {
    /// The program id.
    pub fn id(self) -> Address {
        match self {
            TokenProgram::Token => TOKEN_PROGRAM,
            TokenProgram::Token2022 => TOKEN_2022_PROGRAM,
        }
    }

    /// Recognises a token program id.
    pub fn from_id(id: &Address) -> Option<Self> {
        if *id == TOKEN_PROGRAM {
            Some(TokenProgram::Token)
        } else if *id == TOKEN_2022_PROGRAM {
            Some(TokenProgram::Token2022)
        } else {
            None
        }
    }
}

/// The associated token account of `owner` for `mint` under `program`.
pub fn associated_token_address(owner: &Address, mint: &Address, program: TokenProgram) -> Address {
    let (ata, _) = Address::find_program_address(
        &[owner.as_ref(), program.id().as_ref(), mint.as_ref()],
        &ATA_PROGRAM,
    );
    ata
}

/// `TransferChecked` of `amount` (same layout in Token and Token-2022).
pub fn transfer_checked(
    program: TokenProgram,
    source: &Address,
    mint: &Address,
    destination: &Address,
    authority: &Address,
    amount: u64,
    decimals: u8,
) -> Instruction {
    // TransferChecked (tag 12): amount u64 LE, decimals u8; same layout in Token and Token-2022.
    let mut data = Vec::with_capacity(10);
    data.push(12);
    data.extend_from_slice(&amount.to_le_bytes());
    data.push(decimals);
    Instruction {
        program_id: program.id(),
        accounts: vec![
            AccountMeta::new(*source, false),
            AccountMeta::new_readonly(*mint, false),
            AccountMeta::new(*destination, false),
            AccountMeta::new_readonly(*authority, true),
        ],
        data,
    }
}

/// A Token-2022 transfer-fee schedule in force (the mint's `TransferFeeConfig` for the current
/// epoch), read by the caller from the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TransferFee {
    /// Fee in basis points of the transferred amount.
    pub basis_points: u16,
    /// Cap on the fee, in base units.
    pub maximum_fee: u64,
}

impl TransferFee {
    /// No fee.
    pub const NONE: TransferFee = TransferFee {
        basis_points: 0,
        maximum_fee: 0,
    };

    /// The fee Token-2022 withholds from a transfer of `amount` (ceiling division, capped), as
    /// the program computes it.
    pub fn fee_for(self, amount: u64) -> u64 {
        if self.basis_points == 0 || amount == 0 {
            return 0;
        }
        let raw = (u128::from(amount) * u128::from(self.basis_points)).div_ceil(10_000);
        u64::try_from(raw).unwrap_or(u64::MAX).min(self.maximum_fee)
    }

    /// What the recipient receives from a transfer of `amount`.
    pub fn net_of(self, amount: u64) -> u64 {
        amount.saturating_sub(self.fee_for(amount))
    }

    /// The smallest transfer whose recipient receives at least `net`; `None` if no `u64`
    /// transfer can deliver it.
    pub fn gross_for(self, net: u64) -> Option<u64> {
        if self.basis_points == 0 || net == 0 {
            return Some(net);
        }
        // Start from the capped-fee case, then from the proportional estimate; take the
        // smaller transfer that delivers `net`. The search is a few steps at most because the
        // fee function is monotone and changes by at most one unit per step.
        let capped = net.checked_add(self.maximum_fee)?;
        let bps = u128::from(self.basis_points);
        let estimate = if bps >= 10_000 {
            capped
        } else {
            let e = (u128::from(net) * 10_000).div_ceil(10_000 - bps);
            u64::try_from(e).ok()?.min(capped)
        };
        let mut g = estimate.saturating_sub(2).max(net);
        while self.net_of(g) < net {
            g = g.checked_add(1)?;
        }
        Some(g)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ata_matches_the_well_known_derivation() {
        // The USDC ATA of a known wallet, as every wallet and explorer derives it.
        let owner = solana_address::address!("7xKXtg2CW87d97TXJSDpbD5jBkheTqA83TZRuJosgAsU");
        let usdc = solana_address::address!("EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v");
        let via_interface =
            spl_associated_token_account_interface::address::get_associated_token_address_with_program_id(
                &owner, &usdc, &TOKEN_PROGRAM,
            );
        assert_eq!(
            associated_token_address(&owner, &usdc, TokenProgram::Token),
            via_interface
        );
        assert_ne!(
            associated_token_address(&owner, &usdc, TokenProgram::Token2022),
            via_interface
        );
    }

    #[test]
    fn transfer_fee_rounds_up_and_caps() {
        let f = TransferFee {
            basis_points: 100,
            maximum_fee: 5_000,
        };
        assert_eq!(f.fee_for(1), 1); // ceil(0.01)
        assert_eq!(f.fee_for(100), 1);
        assert_eq!(f.fee_for(101), 2);
        assert_eq!(f.fee_for(10_000_000), 5_000);
        assert_eq!(TransferFee::NONE.fee_for(123), 0);
    }

    #[test]
    fn gross_up_is_the_smallest_sufficient_transfer() {
        let f = TransferFee {
            basis_points: 100,
            maximum_fee: 1_000_000,
        };
        for net in [1u64, 99, 100, 1_000, 999_999, 1_000_000, 123_456_789] {
            let g = f.gross_for(net).unwrap();
            assert!(f.net_of(g) >= net, "{net}");
            assert!(f.net_of(g - 1) < net, "{net}: {g} is not the smallest");
        }
        assert_eq!(f.gross_for(u64::MAX), None);
    }
}
