//! Dev mints and the faucet: created with real System, Token and ATA instructions.

use solana_address::Address;
use solana_instruction::Instruction;
use solana_keypair::Keypair;
use solana_program_pack::Pack as _;
use solana_signature::Signature;
use solana_signer::Signer;
use spl_token_2022_interface::extension::ExtensionType;

use super::chain::{Chain, derive_hash};
use crate::programs::{TOKEN_2022_PROGRAM, TOKEN_PROGRAM};
use crate::{LedgerError, token};

/// A Token-2022 transfer fee.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransferFee {
    /// Fee in basis points of the amount (100 = 1%).
    pub basis_points: u16,
    /// Cap on the fee, in base units.
    pub maximum_fee: u64,
}

/// A mint the embedded ledger creates at genesis; the faucet is its mint authority.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DevMint {
    /// The mint address (stable for a given seed).
    pub address: Address,
    /// Decimals.
    pub decimals: u8,
    /// SPL Token or Token-2022.
    pub token_program: Address,
    /// The TransferFeeConfig extension, if any.
    pub transfer_fee: Option<TransferFee>,
}

/// The dev mints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DevMints {
    /// A USDC-like mint: 6 decimals on SPL Token.
    pub usdc: DevMint,
    /// A USDC-like mint: 6 decimals on Token-2022 with a transfer fee.
    pub usdc_2022: DevMint,
}

/// A keypair derived from the seed and a label, so addresses are stable across runs.
pub(crate) fn derive_keypair(seed: u64, label: &str) -> Keypair {
    let secret = derive_hash(&[b"mppsol-ledger/key/", label.as_bytes(), &seed.to_le_bytes()]);
    Keypair::new_from_array(secret.to_bytes())
}

fn wrap<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> LedgerError + '_ {
    move |e| LedgerError::Embedded(format!("building {what}: {e}"))
}

/// Creates both dev mints in one transaction.
pub(crate) fn create_dev_mints(
    chain: &mut Chain,
    seed: u64,
    fee: TransferFee,
) -> Result<DevMints, LedgerError> {
    let usdc = derive_keypair(seed, "usdc");
    let usdc_2022 = derive_keypair(seed, "usdc-2022");
    let authority = chain.faucet.pubkey();
    let decimals = 6;

    let classic_len = spl_token_interface::state::Mint::LEN;
    let fee_len =
        ExtensionType::try_calculate_account_len::<spl_token_2022_interface::state::Mint>(&[
            ExtensionType::TransferFeeConfig,
        ])
        .map_err(wrap("the Token-2022 mint size"))?;
    let rent = |len: usize| chain.svm.minimum_balance_for_rent_exemption(len);
    let instructions = vec![
        solana_system_interface::instruction::create_account(
            &authority,
            &usdc.pubkey(),
            rent(classic_len),
            classic_len as u64,
            &TOKEN_PROGRAM,
        ),
        spl_token_2022_interface::instruction::initialize_mint2(
            &TOKEN_PROGRAM,
            &usdc.pubkey(),
            &authority,
            None,
            decimals,
        )
        .map_err(wrap("initialize_mint2"))?,
        solana_system_interface::instruction::create_account(
            &authority,
            &usdc_2022.pubkey(),
            rent(fee_len),
            fee_len as u64,
            &TOKEN_2022_PROGRAM,
        ),
        spl_token_2022_interface::extension::transfer_fee::instruction::initialize_transfer_fee_config(
            &TOKEN_2022_PROGRAM,
            &usdc_2022.pubkey(),
            Some(&authority),
            Some(&authority),
            fee.basis_points,
            fee.maximum_fee,
        )
        .map_err(wrap("initialize_transfer_fee_config"))?,
        spl_token_2022_interface::instruction::initialize_mint2(
            &TOKEN_2022_PROGRAM,
            &usdc_2022.pubkey(),
            &authority,
            None,
            decimals,
        )
        .map_err(wrap("initialize_mint2"))?,
    ];
    chain.faucet_send(&instructions, &[&usdc, &usdc_2022])?;
    Ok(DevMints {
        usdc: DevMint {
            address: usdc.pubkey(),
            decimals,
            token_program: TOKEN_PROGRAM,
            transfer_fee: None,
        },
        usdc_2022: DevMint {
            address: usdc_2022.pubkey(),
            decimals,
            token_program: TOKEN_2022_PROGRAM,
            transfer_fee: Some(fee),
        },
    })
}

/// Sends lamports from the faucet.
pub(crate) fn fund_sol(
    chain: &mut Chain,
    to: &Address,
    lamports: u64,
) -> Result<Signature, LedgerError> {
    let ix = solana_system_interface::instruction::transfer(&chain.faucet.pubkey(), to, lamports);
    chain.faucet_send(&[ix], &[])
}

fn create_ata_instruction(
    chain: &Chain,
    owner: &Address,
    mint: &Address,
    token_program: &Address,
) -> Instruction {
    spl_associated_token_account_interface::instruction::create_associated_token_account_idempotent(
        &chain.faucet.pubkey(),
        owner,
        mint,
        token_program,
    )
}

/// The owner's associated token account for `mint`, created (idempotently) if missing.
pub(crate) fn create_ata(
    chain: &mut Chain,
    owner: &Address,
    mint: &Address,
    token_program: &Address,
) -> Result<Address, LedgerError> {
    let ata = spl_associated_token_account_interface::address::get_associated_token_address_with_program_id(
        owner,
        mint,
        token_program,
    );
    if chain.account(&ata).is_none() {
        let ix = create_ata_instruction(chain, owner, mint, token_program);
        chain.faucet_send(&[ix], &[])?;
    }
    Ok(ata)
}

/// Mints `amount` base units of a mint the faucet controls into the owner's associated token
/// account (created in the same transaction if missing).
pub(crate) fn mint_tokens(
    chain: &mut Chain,
    mint: &Address,
    owner: &Address,
    amount: u64,
) -> Result<Address, LedgerError> {
    let mint_account = chain
        .account(mint)
        .ok_or_else(|| LedgerError::Embedded(format!("mint {mint} does not exist")))?;
    let state = token::parse_mint(&mint_account)
        .ok_or_else(|| LedgerError::Embedded(format!("{mint} is not a token mint")))?;
    let program = state.program_id;
    let ata = spl_associated_token_account_interface::address::get_associated_token_address_with_program_id(
        owner, mint, &program,
    );
    let mut instructions = Vec::with_capacity(2);
    if chain.account(&ata).is_none() {
        instructions.push(create_ata_instruction(chain, owner, mint, &program));
    }
    instructions.push(
        spl_token_2022_interface::instruction::mint_to_checked(
            &program,
            mint,
            &ata,
            &chain.faucet.pubkey(),
            &[],
            amount,
            state.decimals,
        )
        .map_err(wrap("mint_to_checked"))?,
    );
    chain.faucet_send(&instructions, &[])?;
    Ok(ata)
}
