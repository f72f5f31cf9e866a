//! Reading SPL Token and Token-2022 account state (shared by both adapters and the server).

use solana_account::Account;
use solana_address::Address;
use solana_program_pack::Pack;
use spl_token_2022_interface::extension::{
    BaseStateWithExtensions, ExtensionType, StateWithExtensions,
    transfer_fee::{TransferFeeAmount, TransferFeeConfig},
};

use crate::programs::{TOKEN_2022_PROGRAM, TOKEN_PROGRAM};

/// A Token-2022 extension we show; anything else is listed by name only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Extension {
    /// A mint's transfer fee schedule.
    TransferFeeConfig(TransferFeeInfo),
    /// Fees withheld in a token account.
    TransferFeeAmount { withheld_amount: u64 },
    /// The account's owner cannot change.
    ImmutableOwner,
    /// Any other extension (shown as `unparseableExtension`).
    Other,
}

/// One epoch's transfer fee.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FeeSchedule {
    pub epoch: u64,
    pub maximum_fee: u64,
    pub basis_points: u16,
}

/// A mint's TransferFeeConfig extension, unpacked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TransferFeeInfo {
    pub config_authority: Option<Address>,
    pub withdraw_withheld_authority: Option<Address>,
    pub withheld_amount: u64,
    pub older: FeeSchedule,
    pub newer: FeeSchedule,
}

/// A token account (either program), unpacked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TokenAccountState {
    pub program_id: Address,
    pub mint: Address,
    pub owner: Address,
    pub amount: u64,
    pub delegate: Option<Address>,
    pub delegated_amount: u64,
    pub frozen: bool,
    pub is_native: Option<u64>,
    pub close_authority: Option<Address>,
    pub extensions: Vec<Extension>,
}

/// A mint (either program), unpacked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MintState {
    pub program_id: Address,
    pub mint_authority: Option<Address>,
    pub supply: u64,
    pub decimals: u8,
    pub is_initialized: bool,
    pub freeze_authority: Option<Address>,
    pub extensions: Vec<Extension>,
}

fn fee_schedule(
    fee: &spl_token_2022_interface::extension::transfer_fee::TransferFee,
) -> FeeSchedule {
    FeeSchedule {
        epoch: u64::from(fee.epoch),
        maximum_fee: u64::from(fee.maximum_fee),
        basis_points: u16::from(fee.transfer_fee_basis_points),
    }
}

fn extensions_of<S>(state: &StateWithExtensions<'_, S>) -> Vec<Extension>
where
    S: spl_token_2022_interface::extension::BaseState + Pack,
{
    let Ok(types) = state.get_extension_types() else {
        return Vec::new();
    };
    types
        .into_iter()
        .map(|ty| match ty {
            ExtensionType::TransferFeeConfig => state
                .get_extension::<TransferFeeConfig>()
                .map(|c| {
                    Extension::TransferFeeConfig(TransferFeeInfo {
                        config_authority: c.transfer_fee_config_authority.into(),
                        withdraw_withheld_authority: c.withdraw_withheld_authority.into(),
                        withheld_amount: u64::from(c.withheld_amount),
                        older: fee_schedule(&c.older_transfer_fee),
                        newer: fee_schedule(&c.newer_transfer_fee),
                    })
                })
                .unwrap_or(Extension::Other),
            ExtensionType::TransferFeeAmount => state
                .get_extension::<TransferFeeAmount>()
                .map(|a| Extension::TransferFeeAmount {
                    withheld_amount: u64::from(a.withheld_amount),
                })
                .unwrap_or(Extension::Other),
            ExtensionType::ImmutableOwner => Extension::ImmutableOwner,
            _ => Extension::Other,
        })
        .collect()
}

/// Unpacks a token account, if `account` is an initialized one of SPL Token or Token-2022.
pub(crate) fn parse_token_account(account: &Account) -> Option<TokenAccountState> {
    if account.owner == TOKEN_PROGRAM {
        let a = spl_token_interface::state::Account::unpack(&account.data).ok()?;
        Some(TokenAccountState {
            program_id: TOKEN_PROGRAM,
            mint: a.mint,
            owner: a.owner,
            amount: a.amount,
            delegate: a.delegate.into(),
            delegated_amount: a.delegated_amount,
            frozen: a.state == spl_token_interface::state::AccountState::Frozen,
            is_native: a.is_native.into(),
            close_authority: a.close_authority.into(),
            extensions: Vec::new(),
        })
    } else if account.owner == TOKEN_2022_PROGRAM {
        let s =
            StateWithExtensions::<spl_token_2022_interface::state::Account>::unpack(&account.data)
                .ok()?;
        let a = &s.base;
        Some(TokenAccountState {
            program_id: TOKEN_2022_PROGRAM,
            mint: a.mint,
            owner: a.owner,
            amount: a.amount,
            delegate: a.delegate.into(),
            delegated_amount: a.delegated_amount,
            frozen: a.state == spl_token_2022_interface::state::AccountState::Frozen,
            is_native: a.is_native.into(),
            close_authority: a.close_authority.into(),
            extensions: extensions_of(&s),
        })
    } else {
        None
    }
}

/// Unpacks a mint, if `account` is an initialized one of SPL Token or Token-2022.
pub(crate) fn parse_mint(account: &Account) -> Option<MintState> {
    if account.owner == TOKEN_PROGRAM {
        let m = spl_token_interface::state::Mint::unpack(&account.data).ok()?;
        Some(MintState {
            program_id: TOKEN_PROGRAM,
            mint_authority: m.mint_authority.into(),
            supply: m.supply,
            decimals: m.decimals,
            is_initialized: m.is_initialized,
            freeze_authority: m.freeze_authority.into(),
            extensions: Vec::new(),
        })
    } else if account.owner == TOKEN_2022_PROGRAM {
        let s = StateWithExtensions::<spl_token_2022_interface::state::Mint>::unpack(&account.data)
            .ok()?;
        let m = &s.base;
        Some(MintState {
            program_id: TOKEN_2022_PROGRAM,
            mint_authority: m.mint_authority.into(),
            supply: m.supply,
            decimals: m.decimals,
            is_initialized: m.is_initialized,
            freeze_authority: m.freeze_authority.into(),
            extensions: extensions_of(&s),
        })
    } else {
        None
    }
}

/// The decimal string of `amount` base units, trailing zeros trimmed (`uiAmountString`).
pub(crate) fn ui_amount_string(amount: u64, decimals: u8) -> String {
    let decimals = usize::from(decimals);
    if decimals == 0 {
        return amount.to_string();
    }
    let digits = format!("{amount:0>width$}", width = decimals + 1);
    let (whole, frac) = digits.split_at(digits.len() - decimals);
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        whole.to_string()
    } else {
        format!("{whole}.{frac}")
    }
}

/// `amount` as a float (`uiAmount`); lossy by design, as in Solana's RPC.
pub(crate) fn ui_amount(amount: u64, decimals: u8) -> f64 {
    ui_amount_string(amount, decimals).parse().unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ui_amount_strings() {
        assert_eq!(ui_amount_string(0, 6), "0");
        assert_eq!(ui_amount_string(1_000_000, 6), "1");
        assert_eq!(ui_amount_string(990_000, 6), "0.99");
        assert_eq!(ui_amount_string(1, 6), "0.000001");
        assert_eq!(ui_amount_string(123_456_789, 2), "1234567.89");
        assert_eq!(ui_amount_string(42, 0), "42");
        assert_eq!(ui_amount(2_500_000, 6), 2.5);
    }
}
