//! Solana's JSON shapes for transactions, their metadata and accounts.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};
use solana_account::Account;
use solana_address::Address;
use solana_message::VersionedMessage;
use solana_transaction::versioned::{TransactionVersion, VersionedTransaction};

use super::RpcError;
use super::parsed::{self, ui_token_amount};
use crate::embedded::history::LandedRecord;
use crate::programs::TOKEN_2022_PROGRAM;
use crate::token::{self, Extension, FeeSchedule};
use crate::{TokenBalance, tx_error};

/// How transactions are encoded in `getTransaction`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TxEncoding {
    Json,
    JsonParsed,
    Base64,
    Base58,
}

impl TxEncoding {
    pub fn parse(name: Option<&str>) -> Result<Self, RpcError> {
        match name.unwrap_or("json") {
            "json" => Ok(TxEncoding::Json),
            "jsonParsed" => Ok(TxEncoding::JsonParsed),
            "base64" => Ok(TxEncoding::Base64),
            "base58" | "binary" => Ok(TxEncoding::Base58),
            other => Err(RpcError::invalid_params(format!(
                "unsupported encoding `{other}`; use json, jsonParsed, base64 or base58"
            ))),
        }
    }
}

/// The `version` field: `"legacy"` or the number.
pub(crate) fn version_json(tx: &VersionedTransaction) -> Value {
    match tx.version() {
        TransactionVersion::Legacy(_) => json!("legacy"),
        TransactionVersion::Number(n) => json!(n),
    }
}

fn token_balances(balances: &[TokenBalance]) -> Value {
    Value::Array(
        balances
            .iter()
            .map(|b| {
                json!({
                    "accountIndex": b.account_index,
                    "mint": b.mint.to_string(),
                    "uiTokenAmount": ui_token_amount(b.amount, b.decimals),
                    "owner": b.owner.to_string(),
                    "programId": b.program_id.to_string(),
                })
            })
            .collect(),
    )
}

fn inner_instructions(record: &LandedRecord, parsed: bool) -> Value {
    let keys = &record.account_keys;
    let groups = record
        .landed
        .inner_instructions
        .iter()
        .zip(record.inner_stack_heights.iter())
        .map(|(group, heights)| {
            let instructions: Vec<Value> = group
                .instructions
                .iter()
                .zip(heights.iter())
                .map(|(ix, height)| {
                    if parsed {
                        parsed::instruction(ix, keys, Some(*height))
                    } else {
                        compiled_instruction(ix, Some(*height))
                    }
                })
                .collect();
            json!({"index": group.index, "instructions": instructions})
        })
        .collect();
    Value::Array(groups)
}

fn compiled_instruction(
    ix: &solana_message::compiled_instruction::CompiledInstruction,
    stack_height: Option<u32>,
) -> Value {
    json!({
        "programIdIndex": ix.program_id_index,
        "accounts": ix.accounts,
        "data": bs58::encode(&ix.data).into_string(),
        "stackHeight": stack_height,
    })
}

/// The `meta` object of `getTransaction`.
pub(crate) fn meta(record: &LandedRecord, encoding: TxEncoding) -> Value {
    let landed = &record.landed;
    let err = record.tx_error.as_ref().map(tx_error::to_json);
    let status = match &err {
        None => json!({"Ok": null}),
        Some(e) => json!({"Err": e}),
    };
    let mut meta = json!({
        "err": err,
        "status": status,
        "fee": landed.fee,
        "preBalances": landed.pre_balances,
        "postBalances": landed.post_balances,
        "innerInstructions": inner_instructions(record, encoding == TxEncoding::JsonParsed),
        "logMessages": landed.log_messages,
        "preTokenBalances": token_balances(&landed.pre_token_balances),
        "postTokenBalances": token_balances(&landed.post_token_balances),
        "rewards": [],
        "computeUnitsConsumed": record.compute_units,
    });
    // Parsed transactions list loaded addresses in `accountKeys` instead.
    if encoding != TxEncoding::JsonParsed
        && let Some(map) = meta.as_object_mut()
    {
        map.insert(
            "loadedAddresses".to_string(),
            json!({
                "writable": strings(&record.loaded_writable),
                "readonly": strings(&record.loaded_readonly),
            }),
        );
    }
    meta
}

fn strings(keys: &[Address]) -> Vec<String> {
    keys.iter().map(ToString::to_string).collect()
}

fn lookups_json(message: &VersionedMessage) -> Option<Value> {
    message.address_table_lookups().map(|lookups| {
        Value::Array(
            lookups
                .iter()
                .map(|l| {
                    json!({
                        "accountKey": l.account_key.to_string(),
                        "writableIndexes": l.writable_indexes,
                        "readonlyIndexes": l.readonly_indexes,
                    })
                })
                .collect(),
        )
    })
}

/// The `transaction` field of `getTransaction` in the requested encoding.
pub(crate) fn transaction(record: &LandedRecord, encoding: TxEncoding) -> Result<Value, RpcError> {
    let tx = &record.landed.transaction;
    let signatures: Vec<String> = tx.signatures.iter().map(ToString::to_string).collect();
    let message = &tx.message;
    let header = message.header();
    let value = match encoding {
        TxEncoding::Base64 | TxEncoding::Base58 => {
            let bytes = bincode::serialize(tx)
                .map_err(|e| RpcError::internal(format!("serializing a transaction: {e}")))?;
            if encoding == TxEncoding::Base64 {
                json!([BASE64.encode(bytes), "base64"])
            } else {
                json!([bs58::encode(bytes).into_string(), "base58"])
            }
        }
        TxEncoding::Json => {
            let mut msg = json!({
                "accountKeys": strings(message.static_account_keys()),
                "header": {
                    "numRequiredSignatures": header.num_required_signatures,
                    "numReadonlySignedAccounts": header.num_readonly_signed_accounts,
                    "numReadonlyUnsignedAccounts": header.num_readonly_unsigned_accounts,
                },
                "recentBlockhash": message.recent_blockhash().to_string(),
                "instructions": message.instructions().iter()
                    .map(|ix| compiled_instruction(ix, None)).collect::<Vec<_>>(),
            });
            if let (Some(map), Some(lookups)) = (msg.as_object_mut(), lookups_json(message)) {
                map.insert("addressTableLookups".to_string(), lookups);
            }
            json!({"signatures": signatures, "message": msg})
        }
        TxEncoding::JsonParsed => {
            let static_len = message.static_account_keys().len();
            let writable_loaded = record.loaded_writable.len();
            let keys: Vec<Value> = record
                .account_keys
                .iter()
                .enumerate()
                .map(|(i, key)| {
                    let (writable, source) = if i < static_len {
                        (
                            message.is_maybe_writable_with_reserved_addresses(
                                i,
                                None::<&std::collections::HashSet<Address>>,
                            ),
                            "transaction",
                        )
                    } else {
                        (i < static_len + writable_loaded, "lookupTable")
                    };
                    json!({"pubkey": key.to_string(), "writable": writable,
                           "signer": message.is_signer(i), "source": source})
                })
                .collect();
            let instructions: Vec<Value> = message
                .instructions()
                .iter()
                .map(|ix| parsed::instruction(ix, &record.account_keys, None))
                .collect();
            let mut msg = json!({
                "accountKeys": keys,
                "recentBlockhash": message.recent_blockhash().to_string(),
                "instructions": instructions,
            });
            if let (Some(map), Some(lookups)) = (msg.as_object_mut(), lookups_json(message)) {
                map.insert("addressTableLookups".to_string(), lookups);
            }
            json!({"signatures": signatures, "message": msg})
        }
    };
    Ok(value)
}

/// How account data is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AccountEncoding {
    /// Legacy default: a bare base58 string.
    Binary,
    Base58,
    Base64,
    JsonParsed,
}

impl AccountEncoding {
    pub fn parse(name: Option<&str>) -> Result<Self, RpcError> {
        match name.unwrap_or("binary") {
            "binary" => Ok(AccountEncoding::Binary),
            "base58" => Ok(AccountEncoding::Base58),
            "base64" => Ok(AccountEncoding::Base64),
            "jsonParsed" => Ok(AccountEncoding::JsonParsed),
            "base64+zstd" => Err(RpcError::invalid_params(
                "encoding base64+zstd is not supported by this node; use base64".to_string(),
            )),
            other => Err(RpcError::invalid_params(format!(
                "unsupported encoding `{other}`; use base64, base58 or jsonParsed"
            ))),
        }
    }
}

/// A `dataSlice` request.
#[derive(Debug, Clone, Copy, serde::Deserialize)]
pub(crate) struct DataSlice {
    pub offset: usize,
    pub length: usize,
}

fn slice(data: &[u8], slice: Option<DataSlice>) -> &[u8] {
    match slice {
        None => data,
        Some(s) => {
            let start = s.offset.min(data.len());
            let end = start.saturating_add(s.length).min(data.len());
            &data[start..end]
        }
    }
}

/// Base58 of account data is refused past this size, as Solana does.
const MAX_BASE58_BYTES: usize = 128;

/// An account object (`{"data":..., "lamports":...}`). `mint_decimals` is the decimals of a
/// token account's mint (needed for its `jsonParsed` form).
pub(crate) fn account(
    account: &Account,
    encoding: AccountEncoding,
    data_slice: Option<DataSlice>,
    mint_decimals: Option<u8>,
) -> Result<Value, RpcError> {
    let data = match encoding {
        AccountEncoding::JsonParsed => {
            let token_account = token::parse_token_account(account)
                .zip(mint_decimals)
                .map(|(state, decimals)| parsed_token_account_data(account, &state, decimals));
            match token_account.or_else(|| parsed_mint(account)) {
                Some(parsed) => parsed,
                None => json!([BASE64.encode(slice(&account.data, data_slice)), "base64"]),
            }
        }
        AccountEncoding::Base64 => {
            json!([BASE64.encode(slice(&account.data, data_slice)), "base64"])
        }
        AccountEncoding::Binary | AccountEncoding::Base58 => {
            let bytes = slice(&account.data, data_slice);
            if bytes.len() > MAX_BASE58_BYTES {
                return Err(RpcError::invalid_params(
                    "Encoded binary (base 58) data should be less than 128 bytes, please use Base64 encoding."
                        .to_string(),
                ));
            }
            let text = bs58::encode(bytes).into_string();
            if encoding == AccountEncoding::Binary {
                json!(text)
            } else {
                json!([text, "base58"])
            }
        }
    };
    Ok(json!({
        "data": data,
        "executable": account.executable,
        "lamports": account.lamports,
        "owner": account.owner.to_string(),
        "rentEpoch": account.rent_epoch,
        "space": account.data.len(),
    }))
}

fn fee_schedule(f: &FeeSchedule) -> Value {
    json!({"epoch": f.epoch, "maximumFee": f.maximum_fee, "transferFeeBasisPoints": f.basis_points})
}

fn extensions_json(extensions: &[Extension]) -> Value {
    Value::Array(
        extensions
            .iter()
            .map(|e| match e {
                Extension::TransferFeeConfig(c) => json!({
                    "extension": "transferFeeConfig",
                    "state": {
                        "newerTransferFee": fee_schedule(&c.newer),
                        "olderTransferFee": fee_schedule(&c.older),
                        "transferFeeConfigAuthority": c.config_authority.map(|k| k.to_string()),
                        "withdrawWithheldAuthority": c.withdraw_withheld_authority.map(|k| k.to_string()),
                        "withheldAmount": c.withheld_amount,
                    }
                }),
                Extension::TransferFeeAmount { withheld_amount } => json!({
                    "extension": "transferFeeAmount",
                    "state": {"withheldAmount": withheld_amount}
                }),
                Extension::ImmutableOwner => json!({"extension": "immutableOwner"}),
                Extension::Other => json!({"extension": "unparseableExtension"}),
            })
            .collect(),
    )
}

/// `jsonParsed` info of a token account, given its mint's decimals.
fn parsed_token_account(state: &token::TokenAccountState, decimals: u8) -> Value {
    let mut info = json!({
        "isNative": state.is_native.is_some(),
        "mint": state.mint.to_string(),
        "owner": state.owner.to_string(),
        "state": if state.frozen { "frozen" } else { "initialized" },
        "tokenAmount": ui_token_amount(state.amount, decimals),
    });
    if let Some(map) = info.as_object_mut() {
        if let Some(delegate) = state.delegate {
            map.insert("delegate".to_string(), json!(delegate.to_string()));
            map.insert(
                "delegatedAmount".to_string(),
                ui_token_amount(state.delegated_amount, decimals),
            );
        }
        if let Some(reserve) = state.is_native {
            map.insert(
                "rentExemptReserve".to_string(),
                ui_token_amount(reserve, decimals),
            );
        }
        if let Some(close) = state.close_authority {
            map.insert("closeAuthority".to_string(), json!(close.to_string()));
        }
        if !state.extensions.is_empty() {
            map.insert("extensions".to_string(), extensions_json(&state.extensions));
        }
    }
    info
}

fn program_name(program_id: &Address) -> &'static str {
    if *program_id == TOKEN_2022_PROGRAM {
        "spl-token-2022"
    } else {
        "spl-token"
    }
}

/// `jsonParsed` data of a mint; `None` for anything else.
fn parsed_mint(account: &Account) -> Option<Value> {
    let mint = token::parse_mint(account)?;
    let mut info = json!({
        "decimals": mint.decimals,
        "freezeAuthority": mint.freeze_authority.map(|k| k.to_string()),
        "isInitialized": mint.is_initialized,
        "mintAuthority": mint.mint_authority.map(|k| k.to_string()),
        "supply": mint.supply.to_string(),
    });
    if !mint.extensions.is_empty()
        && let Some(map) = info.as_object_mut()
    {
        map.insert("extensions".to_string(), extensions_json(&mint.extensions));
    }
    Some(json!({
        "program": program_name(&mint.program_id),
        "parsed": {"info": info, "type": "mint"},
        "space": account.data.len(),
    }))
}

/// The full `data` value of a token account in `jsonParsed`.
fn parsed_token_account_data(
    account: &Account,
    state: &token::TokenAccountState,
    decimals: u8,
) -> Value {
    json!({
        "program": program_name(&state.program_id),
        "parsed": {"info": parsed_token_account(state, decimals), "type": "account"},
        "space": account.data.len(),
    })
}
