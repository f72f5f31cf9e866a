//! SPL Token and Token-2022 instructions in `jsonParsed` form.

use serde_json::{Map, Value, json};
use solana_address::Address;
use spl_token_2022_interface::extension::transfer_fee::instruction::TransferFeeInstruction;
use spl_token_2022_interface::instruction::{AuthorityType, TokenInstruction};

use super::{keys_at_least, typed, ui_token_amount};

/// Adds the authority: a single signer at `index`, or a multisig followed by its signers.
fn signers(map: &mut Map<String, Value>, index: usize, a: &[String], single: &str, multi: &str) {
    if a.len() > index + 1 {
        map.insert(multi.to_string(), json!(a[index]));
        map.insert("signers".to_string(), json!(a[index + 1..].to_vec()));
    } else if let Some(key) = a.get(index) {
        map.insert(single.to_string(), json!(key));
    }
}

fn with_signers(
    kind: &str,
    mut info: Value,
    index: usize,
    a: &[String],
    single: &str,
    multi: &str,
) -> Value {
    if let Some(map) = info.as_object_mut() {
        signers(map, index, a, single, multi);
    }
    typed(kind, info)
}

fn authority_type_name(t: &AuthorityType) -> &'static str {
    match t {
        AuthorityType::MintTokens => "mintTokens",
        AuthorityType::FreezeAccount => "freezeAccount",
        AuthorityType::AccountOwner => "accountOwner",
        AuthorityType::CloseAccount => "closeAccount",
        AuthorityType::TransferFeeConfig => "transferFeeConfig",
        AuthorityType::WithheldWithdraw => "withheldWithdraw",
        AuthorityType::CloseMint => "closeMint",
        AuthorityType::InterestRate => "interestRate",
        AuthorityType::PermanentDelegate => "permanentDelegate",
        AuthorityType::ConfidentialTransferMint => "confidentialTransferMint",
        AuthorityType::TransferHookProgramId => "transferHookProgramId",
        AuthorityType::ConfidentialTransferFeeConfig => "confidentialTransferFeeConfig",
        AuthorityType::MetadataPointer => "metadataPointer",
        AuthorityType::GroupPointer => "groupPointer",
        AuthorityType::GroupMemberPointer => "groupMemberPointer",
        AuthorityType::ScaledUiAmount => "scaledUiAmount",
        AuthorityType::Pause => "pause",
    }
}

fn insert_opt(info: &mut Value, key: &str, value: Option<Address>) {
    if let (Some(map), Some(value)) = (info.as_object_mut(), value) {
        map.insert(key.to_string(), json!(value.to_string()));
    }
}

/// SPL Token and Token-2022 (Token-2022's instruction set is a superset).
pub(super) fn parse(data: &[u8], accounts: &[Address]) -> Option<Value> {
    let ix = TokenInstruction::unpack(data).ok()?;
    #[allow(deprecated)] // `Transfer` is deprecated in Token-2022 but still parsed.
    let parsed = match ix {
        TokenInstruction::InitializeMint {
            decimals,
            mint_authority,
            freeze_authority,
        } => {
            let a = keys_at_least(accounts, 2)?;
            let mut info = json!({"mint": a[0], "decimals": decimals,
                "mintAuthority": mint_authority.to_string(), "rentSysvar": a[1]});
            insert_opt(&mut info, "freezeAuthority", freeze_authority.into());
            typed("initializeMint", info)
        }
        TokenInstruction::InitializeMint2 {
            decimals,
            mint_authority,
            freeze_authority,
        } => {
            let a = keys_at_least(accounts, 1)?;
            let mut info = json!({"mint": a[0], "decimals": decimals,
                "mintAuthority": mint_authority.to_string()});
            insert_opt(&mut info, "freezeAuthority", freeze_authority.into());
            typed("initializeMint2", info)
        }
        TokenInstruction::InitializeAccount => {
            let a = keys_at_least(accounts, 4)?;
            typed(
                "initializeAccount",
                json!({"account": a[0], "mint": a[1], "owner": a[2], "rentSysvar": a[3]}),
            )
        }
        TokenInstruction::InitializeAccount2 { owner } => {
            let a = keys_at_least(accounts, 3)?;
            typed(
                "initializeAccount2",
                json!({"account": a[0], "mint": a[1], "owner": owner.to_string(), "rentSysvar": a[2]}),
            )
        }
        TokenInstruction::InitializeAccount3 { owner } => {
            let a = keys_at_least(accounts, 2)?;
            typed(
                "initializeAccount3",
                json!({"account": a[0], "mint": a[1], "owner": owner.to_string()}),
            )
        }
        TokenInstruction::Transfer { amount } => {
            let a = keys_at_least(accounts, 3)?;
            let info = json!({"source": a[0], "destination": a[1], "amount": amount.to_string()});
            with_signers("transfer", info, 2, &a, "authority", "multisigAuthority")
        }
        TokenInstruction::TransferChecked { amount, decimals } => {
            let a = keys_at_least(accounts, 4)?;
            let info = json!({"source": a[0], "mint": a[1], "destination": a[2],
                "tokenAmount": ui_token_amount(amount, decimals)});
            with_signers(
                "transferChecked",
                info,
                3,
                &a,
                "authority",
                "multisigAuthority",
            )
        }
        TokenInstruction::Approve { amount } => {
            let a = keys_at_least(accounts, 3)?;
            let info = json!({"source": a[0], "delegate": a[1], "amount": amount.to_string()});
            with_signers("approve", info, 2, &a, "owner", "multisigOwner")
        }
        TokenInstruction::ApproveChecked { amount, decimals } => {
            let a = keys_at_least(accounts, 4)?;
            let info = json!({"source": a[0], "mint": a[1], "delegate": a[2],
                "tokenAmount": ui_token_amount(amount, decimals)});
            with_signers("approveChecked", info, 3, &a, "owner", "multisigOwner")
        }
        TokenInstruction::Revoke => {
            let a = keys_at_least(accounts, 2)?;
            with_signers(
                "revoke",
                json!({"source": a[0]}),
                1,
                &a,
                "owner",
                "multisigOwner",
            )
        }
        TokenInstruction::SetAuthority {
            authority_type,
            new_authority,
        } => {
            let a = keys_at_least(accounts, 2)?;
            let owned = match authority_type {
                AuthorityType::AccountOwner | AuthorityType::CloseAccount => "account",
                _ => "mint",
            };
            let new_authority: Option<Address> = new_authority.into();
            let info = json!({owned: a[0], "authorityType": authority_type_name(&authority_type),
                "newAuthority": new_authority.map(|k| k.to_string())});
            with_signers(
                "setAuthority",
                info,
                1,
                &a,
                "authority",
                "multisigAuthority",
            )
        }
        TokenInstruction::MintTo { amount } => {
            let a = keys_at_least(accounts, 3)?;
            let info = json!({"mint": a[0], "account": a[1], "amount": amount.to_string()});
            with_signers(
                "mintTo",
                info,
                2,
                &a,
                "mintAuthority",
                "multisigMintAuthority",
            )
        }
        TokenInstruction::MintToChecked { amount, decimals } => {
            let a = keys_at_least(accounts, 3)?;
            let info = json!({"mint": a[0], "account": a[1],
                "tokenAmount": ui_token_amount(amount, decimals)});
            with_signers(
                "mintToChecked",
                info,
                2,
                &a,
                "mintAuthority",
                "multisigMintAuthority",
            )
        }
        TokenInstruction::Burn { amount } => {
            let a = keys_at_least(accounts, 3)?;
            let info = json!({"account": a[0], "mint": a[1], "amount": amount.to_string()});
            with_signers("burn", info, 2, &a, "authority", "multisigAuthority")
        }
        TokenInstruction::BurnChecked { amount, decimals } => {
            let a = keys_at_least(accounts, 3)?;
            let info = json!({"account": a[0], "mint": a[1],
                "tokenAmount": ui_token_amount(amount, decimals)});
            with_signers("burnChecked", info, 2, &a, "authority", "multisigAuthority")
        }
        TokenInstruction::CloseAccount => {
            let a = keys_at_least(accounts, 3)?;
            let info = json!({"account": a[0], "destination": a[1]});
            with_signers("closeAccount", info, 2, &a, "owner", "multisigOwner")
        }
        TokenInstruction::FreezeAccount | TokenInstruction::ThawAccount => {
            let kind = if matches!(ix, TokenInstruction::FreezeAccount) {
                "freezeAccount"
            } else {
                "thawAccount"
            };
            let a = keys_at_least(accounts, 3)?;
            let info = json!({"account": a[0], "mint": a[1]});
            with_signers(
                kind,
                info,
                2,
                &a,
                "freezeAuthority",
                "multisigFreezeAuthority",
            )
        }
        TokenInstruction::SyncNative => {
            let a = keys_at_least(accounts, 1)?;
            typed("syncNative", json!({"account": a[0]}))
        }
        TokenInstruction::InitializeImmutableOwner => {
            let a = keys_at_least(accounts, 1)?;
            typed("initializeImmutableOwner", json!({"account": a[0]}))
        }
        TokenInstruction::GetAccountDataSize { .. } => {
            let a = keys_at_least(accounts, 1)?;
            typed("getAccountDataSize", json!({"mint": a[0]}))
        }
        TokenInstruction::AmountToUiAmount { amount } => {
            let a = keys_at_least(accounts, 1)?;
            typed(
                "amountToUiAmount",
                json!({"mint": a[0], "amount": amount.to_string()}),
            )
        }
        TokenInstruction::UiAmountToAmount { ui_amount } => {
            let a = keys_at_least(accounts, 1)?;
            typed(
                "uiAmountToAmount",
                json!({"mint": a[0], "uiAmount": ui_amount}),
            )
        }
        TokenInstruction::TransferFeeExtension => transfer_fee(data.get(1..)?, accounts)?,
        // Other Token-2022 extensions are shown partially decoded.
        _ => return None,
    };
    Some(parsed)
}

fn transfer_fee(data: &[u8], accounts: &[Address]) -> Option<Value> {
    let parsed = match TransferFeeInstruction::unpack(data).ok()? {
        TransferFeeInstruction::InitializeTransferFeeConfig {
            transfer_fee_config_authority,
            withdraw_withheld_authority,
            transfer_fee_basis_points,
            maximum_fee,
        } => {
            let a = keys_at_least(accounts, 1)?;
            let mut info = json!({"mint": a[0], "transferFeeBasisPoints": transfer_fee_basis_points,
                "maximumFee": maximum_fee});
            insert_opt(
                &mut info,
                "transferFeeConfigAuthority",
                transfer_fee_config_authority.into(),
            );
            insert_opt(
                &mut info,
                "withdrawWithheldAuthority",
                withdraw_withheld_authority.into(),
            );
            typed("initializeTransferFeeConfig", info)
        }
        TransferFeeInstruction::TransferCheckedWithFee {
            amount,
            decimals,
            fee,
        } => {
            let a = keys_at_least(accounts, 4)?;
            let info = json!({"source": a[0], "mint": a[1], "destination": a[2],
                "tokenAmount": ui_token_amount(amount, decimals),
                "feeAmount": ui_token_amount(fee, decimals)});
            with_signers(
                "transferCheckedWithFee",
                info,
                3,
                &a,
                "authority",
                "multisigAuthority",
            )
        }
        TransferFeeInstruction::SetTransferFee {
            transfer_fee_basis_points,
            maximum_fee,
        } => {
            let a = keys_at_least(accounts, 2)?;
            let info = json!({"mint": a[0], "transferFeeBasisPoints": transfer_fee_basis_points,
                "maximumFee": maximum_fee});
            with_signers(
                "setTransferFee",
                info,
                1,
                &a,
                "transferFeeConfigAuthority",
                "multisigtransferFeeConfigAuthority",
            )
        }
        TransferFeeInstruction::HarvestWithheldTokensToMint => {
            let a = keys_at_least(accounts, 1)?;
            typed(
                "harvestWithheldTokensToMint",
                json!({"mint": a[0], "sourceAccounts": a[1..].to_vec()}),
            )
        }
        TransferFeeInstruction::WithdrawWithheldTokensFromMint => {
            let a = keys_at_least(accounts, 3)?;
            let info = json!({"mint": a[0], "feeRecipient": a[1]});
            with_signers(
                "withdrawWithheldTokensFromMint",
                info,
                2,
                &a,
                "withdrawWithheldAuthority",
                "multisigWithdrawWithheldAuthority",
            )
        }
        TransferFeeInstruction::WithdrawWithheldTokensFromAccounts { num_token_accounts } => {
            let a = keys_at_least(accounts, 3 + usize::from(num_token_accounts))?;
            let first_source = a.len() - usize::from(num_token_accounts);
            let info = json!({"mint": a[0], "feeRecipient": a[1],
                "sourceAccounts": a[first_source..].to_vec()});
            with_signers(
                "withdrawWithheldTokensFromAccounts",
                info,
                2,
                &a[..first_source],
                "withdrawWithheldAuthority",
                "multisigWithdrawWithheldAuthority",
            )
        }
    };
    Some(parsed)
}
