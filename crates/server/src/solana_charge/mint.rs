//! Reading a mint once: its token program (the account's owner), decimals and Token-2022
//! transfer fee.

use mpp::MethodError;
use mppsol_ledger::Ledger;
use mppsol_solana::token::{TokenProgram, TransferFee};
use solana_address::Address;
use spl_token_2022_interface::extension::transfer_fee::TransferFeeConfig;
use spl_token_2022_interface::extension::{BaseStateWithExtensions, StateWithExtensions};
use spl_token_2022_interface::state::Mint;

use super::ledger_error;

/// What the server needs to know about a mint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MintInfo {
    /// Token or Token-2022.
    pub program: TokenProgram,
    /// Decimals.
    pub decimals: u8,
    /// The transfer fee in force (zero without the extension).
    pub transfer_fee: TransferFee,
}

pub(crate) async fn read_mint(ledger: &dyn Ledger, mint: Address) -> Result<MintInfo, MethodError> {
    let account = ledger
        .get_account(&mint)
        .await
        .map_err(ledger_error)?
        .ok_or_else(|| MethodError::verification(format!("mint {mint} does not exist")))?;
    let program = TokenProgram::from_id(&account.owner)
        .ok_or_else(|| MethodError::verification(format!("{mint} is not a token mint")))?;
    // Token-2022's parser reads classic Token mints too (no extensions).
    let state = StateWithExtensions::<Mint>::unpack(&account.data)
        .map_err(|_| MethodError::verification(format!("{mint} is not a token mint")))?;
    let transfer_fee = state
        .get_extension::<TransferFeeConfig>()
        .map(|c| {
            // The newer schedule is the one in force once its epoch arrives; the ledger port has
            // no epoch, and newly created mints carry the same schedule in both slots.
            let f = &c.newer_transfer_fee;
            TransferFee {
                basis_points: u16::from(f.transfer_fee_basis_points),
                maximum_fee: u64::from(f.maximum_fee),
            }
        })
        .unwrap_or(TransferFee::NONE);
    Ok(MintInfo {
        program,
        decimals: state.base.decimals,
        transfer_fee,
    })
}

/// Mint facts read once per mint and shared by every request (the cells let concurrent first
/// reads of one mint wait for a single RPC call).
#[derive(Default)]
pub(crate) struct MintCache {
    mints: tokio::sync::Mutex<Vec<(Address, std::sync::Arc<tokio::sync::OnceCell<MintInfo>>)>>,
}

impl MintCache {
    /// The mint's program, decimals and transfer fee.
    pub(crate) async fn get(
        &self,
        ledger: &dyn Ledger,
        mint: Address,
    ) -> Result<MintInfo, MethodError> {
        let cell = {
            let mut mints = self.mints.lock().await;
            match mints.iter().find(|(m, _)| *m == mint) {
                Some((_, c)) => c.clone(),
                None => {
                    let c = std::sync::Arc::new(tokio::sync::OnceCell::new());
                    mints.push((mint, c.clone()));
                    c
                }
            }
        };
        cell.get_or_try_init(|| read_mint(ledger, mint))
            .await
            .copied()
    }
}
