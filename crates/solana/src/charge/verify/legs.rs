//! Matching a transaction's transfers to the challenge's legs: each leg needs its own transfer
//! (duplicates are not aggregated), amounts are exact, and for Token-2022 mints with a transfer
//! fee the recipient must receive the leg after the fee.

use solana_address::Address;

use crate::charge::request::{ChargeRequest, Currency, Leg};
use crate::charge::verify::instructions::Decoded;
use crate::error::VerifyError;
use crate::token::{TokenProgram, TransferFee, associated_token_address};

/// The asset the legs are paid in, resolved.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    /// SOL or a mint.
    pub currency: Currency,
    /// The mint's program (token payments).
    pub program: Option<TokenProgram>,
    /// The mint's decimals (token payments).
    pub decimals: u8,
    /// Token-2022 transfer fee in force.
    pub fee: TransferFee,
}

/// A leg and the account that receives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatchedLeg {
    /// The leg.
    pub leg: Leg,
    /// System account (SOL) or token account (ATA) credited.
    pub destination: Address,
    /// Index of the paying instruction.
    pub instruction: usize,
}

/// Where a leg's money must land.
pub fn destination(asset: &Asset, leg: &Leg) -> Address {
    match (asset.currency, asset.program) {
        (Currency::Mint(mint), Some(p)) => associated_token_address(&leg.recipient, &mint, p),
        _ => leg.recipient,
    }
}

/// Whether instruction `d` pays `leg` exactly.
fn pays(asset: &Asset, d: &Decoded, leg: &Leg, dest: &Address) -> bool {
    match (d, asset.currency) {
        (Decoded::SystemTransfer { to, lamports, .. }, Currency::Sol) => {
            to == dest && *lamports == leg.amount
        }
        (
            Decoded::TransferChecked {
                program,
                mint,
                destination,
                amount,
                decimals,
                ..
            },
            Currency::Mint(m),
        ) => {
            Some(*program) == asset.program
                && *mint == m
                && *decimals == asset.decimals
                && destination == dest
                && match program {
                    TokenProgram::Token => *amount == leg.amount,
                    TokenProgram::Token2022 => asset.fee.net_of(*amount) == leg.amount,
                }
        }
        _ => false,
    }
}

/// Whether `d` moves funds at all (and so must pay some leg).
pub fn is_transfer(d: &Decoded) -> bool {
    matches!(
        d,
        Decoded::SystemTransfer { .. } | Decoded::TransferChecked { .. }
    )
}

/// Matches every leg to a distinct transfer. With `strict`, a transfer that pays no leg is an
/// error (pull mode: the server signs what it broadcasts); otherwise it is ignored (push mode:
/// the payer's own transaction may do other things).
pub fn match_legs(
    req: &ChargeRequest,
    asset: &Asset,
    decoded: &[Decoded],
    strict: bool,
) -> Result<Vec<MatchedLeg>, VerifyError> {
    let legs = req.legs()?;
    let mut used = vec![false; decoded.len()];
    let mut out = Vec::with_capacity(legs.len());
    for leg in legs {
        let dest = destination(asset, &leg);
        let found = decoded
            .iter()
            .enumerate()
            .position(|(i, d)| !used[i] && pays(asset, d, &leg, &dest))
            .ok_or(VerifyError::MissingTransfer {
                recipient: leg.recipient,
                amount: leg.amount,
            })?;
        used[found] = true;
        out.push(MatchedLeg {
            leg,
            destination: dest,
            instruction: found,
        });
    }
    if strict
        && let Some(index) = decoded
            .iter()
            .enumerate()
            .position(|(i, d)| !used[i] && is_transfer(d))
    {
        return Err(match &decoded[index] {
            Decoded::TransferChecked {
                mint,
                decimals,
                program,
                ..
            } if Currency::Mint(*mint) != asset.currency
                || *decimals != asset.decimals
                || Some(*program) != asset.program =>
            {
                VerifyError::WrongAsset { index }
            }
            _ => VerifyError::UnexpectedTransfer { index },
        });
    }
    Ok(out)
}
