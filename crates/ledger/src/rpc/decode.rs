//! `getTransaction` (base64 encoding) into [`LandedTransaction`].

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Deserialize;
use serde_json::Value;
use solana_address::Address;
use solana_message::compiled_instruction::CompiledInstruction;
use solana_signature::Signature;
use solana_transaction::versioned::VersionedTransaction;

use crate::{InnerInstructions, LandedTransaction, LedgerError, TokenBalance, tx_error};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RpcTransaction {
    slot: u64,
    block_time: Option<i64>,
    transaction: (String, String),
    meta: Option<RpcMeta>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RpcMeta {
    err: Option<Value>,
    fee: u64,
    pre_balances: Vec<u64>,
    post_balances: Vec<u64>,
    pre_token_balances: Option<Vec<RpcTokenBalance>>,
    post_token_balances: Option<Vec<RpcTokenBalance>>,
    log_messages: Option<Vec<String>>,
    inner_instructions: Option<Vec<RpcInner>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RpcTokenBalance {
    account_index: u8,
    mint: String,
    owner: Option<String>,
    program_id: Option<String>,
    ui_token_amount: RpcUiAmount,
}

#[derive(Deserialize)]
struct RpcUiAmount {
    amount: String,
    decimals: u8,
}

#[derive(Deserialize)]
struct RpcInner {
    index: u8,
    instructions: Vec<RpcCompiled>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RpcCompiled {
    program_id_index: u8,
    accounts: Vec<u8>,
    data: String,
}

fn invalid(what: &str) -> impl FnOnce(String) -> LedgerError + '_ {
    move |e| LedgerError::InvalidResponse(format!("getTransaction {what}: {e}"))
}

fn address(text: &str) -> Result<Address, LedgerError> {
    text.parse().map_err(|_| {
        LedgerError::InvalidResponse(format!("invalid address in token balance: {text}"))
    })
}

fn token_balances(list: Option<Vec<RpcTokenBalance>>) -> Result<Vec<TokenBalance>, LedgerError> {
    list.unwrap_or_default()
        .into_iter()
        .map(|b| {
            Ok(TokenBalance {
                account_index: b.account_index,
                mint: address(&b.mint)?,
                // Old nodes omit owner and program; the zero address then stands for unknown.
                owner: b
                    .owner
                    .as_deref()
                    .map(address)
                    .transpose()?
                    .unwrap_or_default(),
                program_id: b
                    .program_id
                    .as_deref()
                    .map(address)
                    .transpose()?
                    .unwrap_or_default(),
                amount: b
                    .ui_token_amount
                    .amount
                    .parse()
                    .map_err(|e: std::num::ParseIntError| invalid("token amount")(e.to_string()))?,
                decimals: b.ui_token_amount.decimals,
            })
        })
        .collect()
}

fn inner_instructions(list: Option<Vec<RpcInner>>) -> Result<Vec<InnerInstructions>, LedgerError> {
    list.unwrap_or_default()
        .into_iter()
        .map(|group| {
            let instructions = group
                .instructions
                .into_iter()
                .map(|ix| {
                    Ok(CompiledInstruction {
                        program_id_index: ix.program_id_index,
                        accounts: ix.accounts,
                        data: bs58::decode(&ix.data)
                            .into_vec()
                            .map_err(|e| invalid("inner instruction data")(e.to_string()))?,
                    })
                })
                .collect::<Result<Vec<_>, LedgerError>>()?;
            Ok(InnerInstructions {
                index: group.index,
                instructions,
            })
        })
        .collect()
}

impl RpcTransaction {
    pub fn into_landed(self, signature: Signature) -> Result<LandedTransaction, LedgerError> {
        if self.transaction.1 != "base64" {
            return Err(invalid("encoding")(self.transaction.1));
        }
        let bytes = BASE64
            .decode(&self.transaction.0)
            .map_err(|e| invalid("transaction")(e.to_string()))?;
        let transaction: VersionedTransaction =
            bincode::deserialize(&bytes).map_err(|e| invalid("transaction")(e.to_string()))?;
        let meta = self
            .meta
            .ok_or_else(|| LedgerError::InvalidResponse("getTransaction: no meta".to_string()))?;
        Ok(LandedTransaction {
            signature,
            slot: self.slot,
            block_time: self.block_time,
            transaction,
            err: meta.err.as_ref().map(tx_error::text_from_json),
            fee: meta.fee,
            pre_balances: meta.pre_balances,
            post_balances: meta.post_balances,
            pre_token_balances: token_balances(meta.pre_token_balances)?,
            post_token_balances: token_balances(meta.post_token_balances)?,
            log_messages: meta.log_messages.unwrap_or_default(),
            inner_instructions: inner_instructions(meta.inner_instructions)?,
        })
    }
}
