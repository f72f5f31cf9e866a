//! Transaction methods: sendTransaction, simulateTransaction, getTransaction, getFeeForMessage.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bincode::Options as _;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use solana_message::VersionedMessage;
use solana_transaction::versioned::VersionedTransaction;
use solana_transaction_error::TransactionError;

use super::RpcError;
use super::encode::{self, TxEncoding};
use super::methods::{Params, signature, with_context};
use crate::embedded::{EmbeddedLedger, Rejected};
use crate::programs::COMPUTE_BUDGET_PROGRAM;
use crate::tx_error;

/// Packets are at most 1232 bytes, so encoded transactions are bounded too.
const PACKET_DATA_SIZE: usize = 1232;
const MAX_BASE58_SIZE: usize = 1683;
const MAX_BASE64_SIZE: usize = 1644;

/// Decodes a wire transaction or message (`binary`/`base58` default, or `base64`).
fn decode_wire<T: DeserializeOwned>(
    text: &str,
    encoding: Option<&str>,
    what: &str,
) -> Result<T, RpcError> {
    let bytes = match encoding.unwrap_or("base58") {
        "base58" | "binary" => {
            if text.len() > MAX_BASE58_SIZE {
                return Err(RpcError::invalid_params(format!(
                    "base58 encoded {what} too large: {} bytes (max: encoded/raw {MAX_BASE58_SIZE}/{PACKET_DATA_SIZE})",
                    text.len()
                )));
            }
            bs58::decode(text)
                .into_vec()
                .map_err(|e| RpcError::invalid_params(format!("invalid base58 encoding: {e}")))?
        }
        "base64" => {
            if text.len() > MAX_BASE64_SIZE {
                return Err(RpcError::invalid_params(format!(
                    "base64 encoded {what} too large: {} bytes (max: encoded/raw {MAX_BASE64_SIZE}/{PACKET_DATA_SIZE})",
                    text.len()
                )));
            }
            BASE64
                .decode(text)
                .map_err(|e| RpcError::invalid_params(format!("invalid base64 encoding: {e}")))?
        }
        other => {
            return Err(RpcError::invalid_params(format!(
                "unsupported encoding: {other}. Supported encodings: base58, base64"
            )));
        }
    };
    bincode::options()
        .with_limit(PACKET_DATA_SIZE as u64)
        .with_fixint_encoding()
        .allow_trailing_bytes()
        .deserialize(&bytes)
        .map_err(|e| RpcError::invalid_params(format!("failed to deserialize {what}: {e}")))
}

fn decode_transaction(
    text: &str,
    encoding: Option<&str>,
) -> Result<VersionedTransaction, RpcError> {
    let tx: VersionedTransaction = decode_wire(text, encoding, "transaction")?;
    tx.sanitize()
        .map_err(|e| RpcError::invalid_params(format!("invalid transaction: {e}")))?;
    Ok(tx)
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SendConfig {
    #[serde(default)]
    skip_preflight: bool,
    encoding: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SimulateConfig {
    #[serde(default)]
    sig_verify: bool,
    #[serde(default)]
    replace_recent_blockhash: bool,
    encoding: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TransactionConfig {
    encoding: Option<String>,
    commitment: Option<String>,
    max_supported_transaction_version: Option<u8>,
}

/// Base fee per signature plus the priority fee (compute unit price × limit). The default
/// limit is estimated as 200k units per non-compute-budget instruction.
fn fee_for_message(message: &VersionedMessage) -> u64 {
    const LAMPORTS_PER_SIGNATURE: u64 = 5000;
    let keys = message.static_account_keys();
    let mut price: Option<u64> = None;
    let mut limit: Option<u64> = None;
    let mut other_instructions = 0u64;
    for ix in message.instructions() {
        let is_budget = keys.get(usize::from(ix.program_id_index)) == Some(&COMPUTE_BUDGET_PROGRAM);
        if !is_budget {
            other_instructions += 1;
            continue;
        }
        match ix.data.split_first() {
            Some((2, rest)) if rest.len() >= 4 => {
                limit = rest
                    .get(..4)
                    .and_then(|b| <[u8; 4]>::try_from(b).ok())
                    .map(|b| u64::from(u32::from_le_bytes(b)));
            }
            Some((3, rest)) if rest.len() >= 8 => {
                price = rest
                    .get(..8)
                    .and_then(|b| <[u8; 8]>::try_from(b).ok())
                    .map(u64::from_le_bytes);
            }
            _ => {}
        }
    }
    let base = LAMPORTS_PER_SIGNATURE * u64::from(message.header().num_required_signatures);
    let limit = limit.unwrap_or_else(|| (200_000 * other_instructions).min(1_400_000));
    let priority = price.map_or(0, |p| {
        let micro = u128::from(p) * u128::from(limit);
        u64::try_from(micro.div_ceil(1_000_000)).unwrap_or(u64::MAX)
    });
    base.saturating_add(priority)
}

fn preflight_error(rejected: Rejected) -> RpcError {
    if rejected.err == TransactionError::SignatureFailure {
        return RpcError::server(
            -32003,
            "Transaction signature verification failure".to_string(),
            None,
        );
    }
    let message = format!(
        "Transaction simulation failed: {}",
        tx_error::text(&rejected.err)
    );
    let data = json!({
        "err": tx_error::to_json(&rejected.err),
        "logs": rejected.logs,
        "accounts": null,
        "unitsConsumed": rejected.units_consumed,
        "returnData": null,
        "innerInstructions": null,
        "replacementBlockhash": null,
    });
    RpcError::server(-32002, message, Some(data))
}

pub(super) async fn send_transaction(
    ledger: &EmbeddedLedger,
    p: &Params,
) -> Result<Value, RpcError> {
    let text: String = p.required(0, "transaction")?;
    let config: SendConfig = p.config(1)?;
    let tx = decode_transaction(&text, config.encoding.as_deref())?;
    match ledger.send_raw(&tx, config.skip_preflight).await? {
        Ok(signature) => Ok(json!(signature.to_string())),
        Err(rejected) => Err(preflight_error(rejected)),
    }
}

pub(super) async fn simulate_transaction(
    ledger: &EmbeddedLedger,
    p: &Params,
) -> Result<Value, RpcError> {
    let text: String = p.required(0, "transaction")?;
    let config: SimulateConfig = p.config(1)?;
    if config.sig_verify && config.replace_recent_blockhash {
        return Err(RpcError::invalid_params(
            "sigVerify may not be used with replaceRecentBlockhash".to_string(),
        ));
    }
    let tx = decode_transaction(&text, config.encoding.as_deref())?;
    let (sig_verify, replace) = (config.sig_verify, config.replace_recent_blockhash);
    let (slot, outcome) = ledger
        .with_chain(move |c| {
            let outcome = c.simulate(tx, sig_verify, replace);
            (c.slot, outcome)
        })
        .await?;
    if sig_verify && outcome.err == Some(TransactionError::SignatureFailure) {
        return Err(RpcError::server(
            -32003,
            "Transaction signature verification failure".to_string(),
            None,
        ));
    }
    let replacement = outcome.replacement_blockhash.map(|b| {
        json!({"blockhash": b.blockhash.to_string(), "lastValidBlockHeight": b.last_valid_block_height})
    });
    Ok(with_context(
        slot,
        json!({
            "err": outcome.err.as_ref().map(tx_error::to_json),
            "logs": outcome.logs,
            "accounts": null,
            "unitsConsumed": outcome.units_consumed,
            "returnData": null,
            "innerInstructions": null,
            "replacementBlockhash": replacement,
            "fee": outcome.fee,
        }),
    ))
}

pub(super) async fn get_transaction(
    ledger: &EmbeddedLedger,
    p: &Params,
) -> Result<Value, RpcError> {
    let sig = signature(&p.required::<String>(0, "signature")?)?;
    // The second parameter may also be a bare encoding string (deprecated form).
    let config: TransactionConfig = match p.optional::<Value>(1)? {
        Some(Value::String(encoding)) => TransactionConfig {
            encoding: Some(encoding),
            ..TransactionConfig::default()
        },
        _ => p.config(1)?,
    };
    if config.commitment.as_deref() == Some("processed") {
        return Err(RpcError::invalid_params(
            "Method does not support commitment below `confirmed`".to_string(),
        ));
    }
    let encoding = TxEncoding::parse(config.encoding.as_deref())?;
    let Some(record) = ledger.record(&sig).await? else {
        return Ok(Value::Null);
    };
    let tx = &record.landed.transaction;
    let version = encode::version_json(tx);
    if let solana_transaction::versioned::TransactionVersion::Number(n) = tx.version() {
        let supported = config
            .max_supported_transaction_version
            .is_some_and(|max| n <= max);
        if !supported {
            return Err(RpcError::server(
                -32015,
                format!(
                    "Transaction version ({n}) is not supported by the requesting client. Please try the request again with the following configuration parameter: \"maxSupportedTransactionVersion\": {n}"
                ),
                None,
            ));
        }
    }
    let mut value = json!({
        "slot": record.landed.slot,
        "blockTime": record.landed.block_time,
        "transaction": encode::transaction(&record, encoding)?,
        "meta": encode::meta(&record, encoding),
    });
    if config.max_supported_transaction_version.is_some()
        && let Some(map) = value.as_object_mut()
    {
        map.insert("version".to_string(), version);
    }
    Ok(value)
}

pub(super) async fn get_fee_for_message(
    ledger: &EmbeddedLedger,
    p: &Params,
) -> Result<Value, RpcError> {
    let text: String = p.required(0, "message")?;
    let message: VersionedMessage = decode_wire(&text, Some("base64"), "message")?;
    Ok(ledger
        .with_chain(move |c| {
            let fee = c
                .is_blockhash_valid(message.recent_blockhash())
                .then(|| fee_for_message(&message));
            with_context(c.slot, json!(fee))
        })
        .await?)
}
