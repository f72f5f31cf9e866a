//! The JSON-RPC methods.

use std::str::FromStr;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use solana_address::Address;
use solana_hash::Hash;
use solana_signature::Signature;
use solana_transaction::versioned::VersionedTransaction;

use super::encode::{self, AccountEncoding, DataSlice};
use super::{FEATURE_SET, RpcError, SOLANA_CORE_VERSION, transactions};
use crate::embedded::{Chain, EmbeddedLedger};
use crate::programs::{is_memo_program, is_token_program};
use crate::{token, tx_error};

/// Positional params.
pub(crate) struct Params(Vec<Value>);

impl Params {
    pub fn new(value: Option<Value>) -> Result<Self, RpcError> {
        match value {
            None | Some(Value::Null) => Ok(Params(Vec::new())),
            Some(Value::Array(values)) => Ok(Params(values)),
            Some(_) => Err(RpcError::invalid_params(
                "Invalid params: expected an array of positional parameters".to_string(),
            )),
        }
    }

    pub fn optional<T: DeserializeOwned>(&self, index: usize) -> Result<Option<T>, RpcError> {
        match self.0.get(index) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => serde_json::from_value(v.clone())
                .map(Some)
                .map_err(|e| RpcError::invalid_params(format!("Invalid params: {e}"))),
        }
    }

    pub fn required<T: DeserializeOwned>(&self, index: usize, what: &str) -> Result<T, RpcError> {
        self.optional(index)?.ok_or_else(|| {
            RpcError::invalid_params(format!(
                "Invalid params: missing parameter {index} ({what})"
            ))
        })
    }

    pub fn config<T: DeserializeOwned + Default>(&self, index: usize) -> Result<T, RpcError> {
        Ok(self.optional(index)?.unwrap_or_default())
    }
}

pub(super) fn address(text: &str) -> Result<Address, RpcError> {
    Address::from_str(text).map_err(|_| {
        RpcError::invalid_params(format!("Invalid param: `{text}` is not a base58 address"))
    })
}

pub(super) fn signature(text: &str) -> Result<Signature, RpcError> {
    Signature::from_str(text).map_err(|_| {
        RpcError::invalid_params(format!("Invalid param: `{text}` is not a base58 signature"))
    })
}

fn hash(text: &str) -> Result<Hash, RpcError> {
    Hash::from_str(text).map_err(|_| {
        RpcError::invalid_params(format!("Invalid param: `{text}` is not a base58 hash"))
    })
}

pub(super) fn with_context(slot: u64, value: Value) -> Value {
    json!({"context": {"slot": slot, "apiVersion": SOLANA_CORE_VERSION}, "value": value})
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccountConfig {
    encoding: Option<String>,
    data_slice: Option<DataSlice>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StatusesConfig {
    #[serde(default)]
    #[allow(dead_code)] // Accepted for compatibility: all history is searched anyway.
    search_transaction_history: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SignaturesConfig {
    limit: Option<usize>,
    before: Option<String>,
    until: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenAccountsFilter {
    mint: Option<String>,
    program_id: Option<String>,
}

/// Dispatches one method.
pub(crate) async fn call(
    ledger: &EmbeddedLedger,
    method: &str,
    p: Params,
) -> Result<Value, RpcError> {
    match method {
        "getHealth" => Ok(json!("ok")),
        "getVersion" => Ok(json!({"solana-core": SOLANA_CORE_VERSION, "feature-set": FEATURE_SET})),
        "getGenesisHash" => Ok(json!(ledger.genesis_hash().to_string())),
        "getSlot" => Ok(json!(ledger.with_chain(|c| c.slot).await?)),
        "getBlockHeight" => Ok(json!(ledger.with_chain(|c| c.block_height).await?)),
        "getEpochInfo" => {
            let info = ledger
                .with_chain(|c| {
                    let (epoch, index, slots) = c.epoch_info();
                    json!({"absoluteSlot": c.slot, "blockHeight": c.block_height, "epoch": epoch,
                           "slotIndex": index, "slotsInEpoch": slots,
                           "transactionCount": c.history.len()})
                })
                .await?;
            Ok(info)
        }
        "getLatestBlockhash" => Ok(ledger
            .with_chain(|c| {
                let info = c.latest_blockhash();
                with_context(
                    c.slot,
                    json!({"blockhash": info.blockhash.to_string(),
                           "lastValidBlockHeight": info.last_valid_block_height}),
                )
            })
            .await?),
        "isBlockhashValid" => {
            let blockhash = hash(&p.required::<String>(0, "blockhash")?)?;
            Ok(ledger
                .with_chain(move |c| with_context(c.slot, json!(c.is_blockhash_valid(&blockhash))))
                .await?)
        }
        "getBalance" => {
            let who = address(&p.required::<String>(0, "address")?)?;
            Ok(ledger
                .with_chain(move |c| {
                    with_context(c.slot, json!(c.svm.get_balance(&who).unwrap_or(0)))
                })
                .await?)
        }
        "getMinimumBalanceForRentExemption" => {
            let len: usize = p.required(0, "data length")?;
            Ok(json!(
                ledger
                    .with_chain(move |c| c.svm.minimum_balance_for_rent_exemption(len))
                    .await?
            ))
        }
        "getAccountInfo" => {
            let who = address(&p.required::<String>(0, "address")?)?;
            let config: AccountConfig = p.config(1)?;
            let encoding = AccountEncoding::parse(config.encoding.as_deref())?;
            ledger
                .with_chain(move |c| {
                    let value = account_json(c, &who, encoding, config.data_slice)?;
                    Ok(with_context(c.slot, value))
                })
                .await?
        }
        "getMultipleAccounts" => {
            let keys: Vec<String> = p.required(0, "addresses")?;
            if keys.len() > 100 {
                return Err(RpcError::invalid_params(
                    "Too many inputs provided; max 100".to_string(),
                ));
            }
            let keys = keys
                .iter()
                .map(|k| address(k))
                .collect::<Result<Vec<_>, _>>()?;
            let config: AccountConfig = p.config(1)?;
            let encoding = AccountEncoding::parse(config.encoding.as_deref())?;
            ledger
                .with_chain(move |c| {
                    let values = keys
                        .iter()
                        .map(|k| account_json(c, k, encoding, config.data_slice))
                        .collect::<Result<Vec<_>, _>>()?;
                    Ok(with_context(c.slot, Value::Array(values)))
                })
                .await?
        }
        "getTokenAccountBalance" => {
            let who = address(&p.required::<String>(0, "token account")?)?;
            ledger
                .with_chain(move |c| {
                    let account = c.account(&who).ok_or_else(|| {
                        RpcError::invalid_params(
                            "Invalid param: could not find account".to_string(),
                        )
                    })?;
                    let state = token::parse_token_account(&account).ok_or_else(|| {
                        RpcError::invalid_params("Invalid param: not a Token account".to_string())
                    })?;
                    let decimals = mint_decimals(c, &state.mint).ok_or_else(|| {
                        RpcError::invalid_params("Invalid param: could not find mint".to_string())
                    })?;
                    Ok(with_context(
                        c.slot,
                        super::parsed::ui_token_amount(state.amount, decimals),
                    ))
                })
                .await?
        }
        "getTokenAccountsByOwner" => token_accounts_by_owner(ledger, &p).await,
        "getFeeForMessage" => transactions::get_fee_for_message(ledger, &p).await,
        "requestAirdrop" => {
            let to = address(&p.required::<String>(0, "address")?)?;
            let lamports: u64 = p.required(1, "lamports")?;
            let signature = ledger
                .fund_sol(&to, lamports)
                .await
                .map_err(|e| RpcError::internal(format!("airdrop failed: {e}")))?;
            Ok(json!(signature.to_string()))
        }
        // Not a Solana method: the dev faucet for tokens, so other SDKs' test wallets on
        // `mppsol localnet` can hold the dev mints. Params: owner, mint, amount (base units);
        // returns the owner's token account.
        "mppsol_mintTokens" => {
            let owner = address(&p.required::<String>(0, "owner")?)?;
            let mint = address(&p.required::<String>(1, "mint")?)?;
            let amount: u64 = p.required(2, "amount")?;
            let account = ledger
                .mint_tokens(&mint, &owner, amount)
                .await
                .map_err(|e| RpcError::invalid_params(format!("mint failed: {e}")))?;
            Ok(json!(account.to_string()))
        }
        // Not a Solana method: the dev mints of this localnet.
        "mppsol_devMints" => {
            let m = ledger.dev_mints();
            Ok(json!({
                "usdc": {"mint": m.usdc.address.to_string(), "decimals": m.usdc.decimals,
                         "tokenProgram": m.usdc.token_program.to_string()},
                "usdc2022": {"mint": m.usdc_2022.address.to_string(), "decimals": m.usdc_2022.decimals,
                             "tokenProgram": m.usdc_2022.token_program.to_string()},
            }))
        }
        "sendTransaction" => transactions::send_transaction(ledger, &p).await,
        "simulateTransaction" => transactions::simulate_transaction(ledger, &p).await,
        "getSignatureStatuses" => {
            let sigs: Vec<String> = p.required(0, "signatures")?;
            if sigs.len() > 256 {
                return Err(RpcError::invalid_params(
                    "Too many inputs provided; max 256".to_string(),
                ));
            }
            let _config: StatusesConfig = p.config(1)?;
            let sigs = sigs
                .iter()
                .map(|s| signature(s))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(ledger
                .with_chain(move |c| {
                    let values: Vec<Value> = sigs
                        .iter()
                        .map(|s| match c.history.get(s) {
                            None => Value::Null,
                            Some(r) => {
                                let err = r.tx_error.as_ref().map(tx_error::to_json);
                                let status = match &err {
                                    None => json!({"Ok": null}),
                                    Some(e) => json!({"Err": e}),
                                };
                                json!({"slot": r.landed.slot, "confirmations": null, "err": err,
                                       "status": status, "confirmationStatus": "finalized"})
                            }
                        })
                        .collect();
                    with_context(c.slot, Value::Array(values))
                })
                .await?)
        }
        "getTransaction" => transactions::get_transaction(ledger, &p).await,
        "getSignaturesForAddress" => {
            let who = address(&p.required::<String>(0, "address")?)?;
            let config: SignaturesConfig = p.config(1)?;
            let limit = config.limit.unwrap_or(1000);
            if !(1..=1000).contains(&limit) {
                return Err(RpcError::invalid_params(
                    "Invalid limit; max 1000".to_string(),
                ));
            }
            let before = config.before.as_deref().map(signature).transpose()?;
            let until = config.until.as_deref().map(signature).transpose()?;
            Ok(ledger
                .with_chain(move |c| {
                    let records =
                        c.history
                            .for_address(&who, before.as_ref(), until.as_ref(), limit);
                    Value::Array(
                        records
                            .iter()
                            .map(|r| {
                                json!({
                                    "signature": r.landed.signature.to_string(),
                                    "slot": r.landed.slot,
                                    "err": r.tx_error.as_ref().map(tx_error::to_json),
                                    "memo": memo_of(&r.landed.transaction),
                                    "blockTime": r.landed.block_time,
                                    "confirmationStatus": "finalized",
                                })
                            })
                            .collect(),
                    )
                })
                .await?)
        }
        other => Err(RpcError::method_not_found(other)),
    }
}

fn mint_decimals(c: &Chain, mint: &Address) -> Option<u8> {
    token::parse_mint(&c.account(mint)?).map(|m| m.decimals)
}

fn account_json(
    c: &Chain,
    who: &Address,
    encoding: AccountEncoding,
    data_slice: Option<DataSlice>,
) -> Result<Value, RpcError> {
    let Some(account) = c.account(who) else {
        return Ok(Value::Null);
    };
    let decimals = token::parse_token_account(&account).and_then(|t| mint_decimals(c, &t.mint));
    encode::account(&account, encoding, data_slice, decimals)
}

/// Memos of a transaction as Solana's signature lists show them (`[len] text; ...`).
fn memo_of(tx: &VersionedTransaction) -> Option<String> {
    let keys = tx.message.static_account_keys();
    let memos: Vec<String> = tx
        .message
        .instructions()
        .iter()
        .filter(|ix| {
            keys.get(usize::from(ix.program_id_index))
                .is_some_and(is_memo_program)
        })
        .map(|ix| {
            let text = String::from_utf8_lossy(&ix.data);
            format!("[{}] {text}", ix.data.len())
        })
        .collect();
    (!memos.is_empty()).then(|| memos.join("; "))
}

async fn token_accounts_by_owner(ledger: &EmbeddedLedger, p: &Params) -> Result<Value, RpcError> {
    let owner = address(&p.required::<String>(0, "owner")?)?;
    let filter: TokenAccountsFilter =
        p.required(1, "filter ({\"mint\":...} or {\"programId\":...})")?;
    let config: AccountConfig = p.config(2)?;
    let encoding = AccountEncoding::parse(config.encoding.as_deref())?;
    let (mint, program) = match (filter.mint, filter.program_id) {
        (Some(mint), None) => (Some(address(&mint)?), None),
        (None, Some(program)) => {
            let program = address(&program)?;
            if !is_token_program(&program) {
                return Err(RpcError::invalid_params(
                    "Invalid param: unrecognized Token program id".to_string(),
                ));
            }
            (None, Some(program))
        }
        _ => {
            return Err(RpcError::invalid_params(
                "Invalid param: expected exactly one of `mint` or `programId`".to_string(),
            ));
        }
    };
    ledger
        .with_chain(move |c| {
            let program = match (program, mint) {
                (Some(program), _) => program,
                (None, Some(mint)) => c
                    .account(&mint)
                    .filter(|a| token::parse_mint(a).is_some())
                    .map(|a| a.owner)
                    .ok_or_else(|| {
                        RpcError::invalid_params("Invalid param: could not find mint".to_string())
                    })?,
                (None, None) => return Ok(Value::Null),
            };
            let mut out = Vec::new();
            for (key, account) in c.svm.get_program_accounts(&program) {
                let Some(state) = token::parse_token_account(&account) else {
                    continue;
                };
                if state.owner != owner || mint.is_some_and(|m| m != state.mint) {
                    continue;
                }
                let decimals = mint_decimals(c, &state.mint);
                let account = encode::account(&account, encoding, config.data_slice, decimals)?;
                out.push(json!({"pubkey": key.to_string(), "account": account}));
            }
            Ok(with_context(c.slot, Value::Array(out)))
        })
        .await?
}
