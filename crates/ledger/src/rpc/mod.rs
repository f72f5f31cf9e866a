//! [`Ledger`] over async JSON-RPC (reqwest): localnet, devnet, mainnet or any provider.
//!
//! Retries HTTP 429/503 with bounded exponential backoff (honouring `Retry-After`), then gives
//! [`LedgerError::Unavailable`]. Transactions are sent with preflight on, so a failing one is
//! [`LedgerError::TransactionFailed`] and nothing lands.

mod decode;
mod transport;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Deserialize;
use serde_json::{Value, json};
use solana_account::Account;
use solana_address::Address;
use solana_hash::Hash;
use solana_signature::Signature;
use solana_transaction::versioned::VersionedTransaction;

use crate::{
    BlockhashInfo, Commitment, LandedTransaction, Ledger, LedgerError, SignatureInfo,
    SignatureStatus, Simulation, TokenAmount, token,
};
use transport::{RetryPolicy, Transport};

/// How to reach a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcConfig {
    /// The JSON-RPC URL (may carry an API key; it never appears in errors).
    pub url: String,
    /// The network name reported by [`Ledger::network`] (`mainnet`, `devnet`, `localnet`).
    pub network: String,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Retries after HTTP 429/503 (0 = fail at once).
    pub max_retries: u32,
    /// First backoff; doubles per retry.
    pub initial_backoff: Duration,
    /// Cap on one backoff, including a node's `Retry-After`.
    pub max_backoff: Duration,
    /// Commitment for reads and preflight.
    pub commitment: Commitment,
    /// How often `confirm` polls `getSignatureStatuses`.
    pub confirm_poll_interval: Duration,
}

impl RpcConfig {
    /// Defaults: 30 s timeout, 4 retries from 250 ms up to 5 s, `confirmed`, polling every 250 ms.
    pub fn new(url: impl Into<String>, network: impl Into<String>) -> Self {
        RpcConfig {
            url: url.into(),
            network: network.into(),
            timeout: Duration::from_secs(30),
            max_retries: 4,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(5),
            commitment: Commitment::Confirmed,
            confirm_poll_interval: Duration::from_millis(250),
        }
    }
}

/// The JSON-RPC adapter. Cheap to clone.
#[derive(Debug, Clone)]
pub struct RpcLedger {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    transport: Transport,
    network: String,
    commitment: Commitment,
    poll: Duration,
}

#[derive(Deserialize)]
struct WithContext<T> {
    value: T,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RpcBlockhash {
    blockhash: String,
    last_valid_block_height: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RpcSimulation {
    err: Option<Value>,
    logs: Option<Vec<String>>,
    units_consumed: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RpcStatus {
    slot: u64,
    err: Option<Value>,
    confirmation_status: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RpcSignatureInfo {
    signature: String,
    slot: u64,
    err: Option<Value>,
    block_time: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RpcAccount {
    data: (String, String),
    executable: bool,
    lamports: u64,
    owner: String,
    rent_epoch: u64,
}

fn parse<T: std::str::FromStr>(text: &str, what: &str) -> Result<T, LedgerError> {
    text.parse()
        .map_err(|_| LedgerError::InvalidResponse(format!("invalid {what}: {text}")))
}

fn account_from(rpc: RpcAccount) -> Result<Account, LedgerError> {
    if rpc.data.1 != "base64" {
        return Err(LedgerError::InvalidResponse(format!(
            "account data in {} instead of base64",
            rpc.data.1
        )));
    }
    Ok(Account {
        lamports: rpc.lamports,
        data: BASE64
            .decode(&rpc.data.0)
            .map_err(|e| LedgerError::InvalidResponse(format!("account data: {e}")))?,
        owner: parse(&rpc.owner, "owner")?,
        executable: rpc.executable,
        rent_epoch: rpc.rent_epoch,
    })
}

fn status_from(rpc: RpcStatus) -> SignatureStatus {
    let commitment = match rpc.confirmation_status.as_deref() {
        Some("processed") => Commitment::Processed,
        Some("confirmed") => Commitment::Confirmed,
        // `null` (old nodes) means rooted.
        _ => Commitment::Finalized,
    };
    SignatureStatus {
        slot: rpc.slot,
        err: rpc.err.as_ref().map(crate::tx_error::text_from_json),
        commitment,
    }
}

fn wire(tx: &VersionedTransaction) -> Result<String, LedgerError> {
    let bytes = bincode::serialize(tx)
        .map_err(|e| LedgerError::InvalidResponse(format!("serializing the transaction: {e}")))?;
    Ok(BASE64.encode(bytes))
}

impl RpcLedger {
    /// An adapter for `config.url` (no request is made yet).
    pub fn new(config: RpcConfig) -> Result<Self, LedgerError> {
        let retry = RetryPolicy {
            max_retries: config.max_retries,
            initial_backoff: config.initial_backoff,
            max_backoff: config.max_backoff,
        };
        Ok(RpcLedger {
            inner: Arc::new(Inner {
                transport: Transport::new(&config.url, config.timeout, retry)?,
                network: config.network,
                commitment: config.commitment,
                poll: config.confirm_poll_interval,
            }),
        })
    }

    /// The node URL with credentials, path and query removed.
    pub fn url(&self) -> &str {
        self.inner.transport.redacted_url()
    }

    fn commitment(&self) -> Value {
        json!({"commitment": self.inner.commitment.as_str()})
    }

    async fn statuses(
        &self,
        signature: &Signature,
    ) -> Result<Option<SignatureStatus>, LedgerError> {
        let reply: WithContext<Vec<Option<RpcStatus>>> = self
            .inner
            .transport
            .call(
                "getSignatureStatuses",
                json!([[signature.to_string()], {"searchTransactionHistory": true}]),
            )
            .await?;
        Ok(reply.value.into_iter().next().flatten().map(status_from))
    }
}

#[async_trait]
impl Ledger for RpcLedger {
    fn network(&self) -> &str {
        &self.inner.network
    }

    async fn latest_blockhash(&self) -> Result<BlockhashInfo, LedgerError> {
        let reply: WithContext<RpcBlockhash> = self
            .inner
            .transport
            .call("getLatestBlockhash", json!([self.commitment()]))
            .await?;
        Ok(BlockhashInfo {
            blockhash: parse(&reply.value.blockhash, "blockhash")?,
            last_valid_block_height: reply.value.last_valid_block_height,
        })
    }

    async fn is_blockhash_valid(&self, blockhash: &Hash) -> Result<bool, LedgerError> {
        let reply: WithContext<bool> = self
            .inner
            .transport
            .call(
                "isBlockhashValid",
                json!([blockhash.to_string(), self.commitment()]),
            )
            .await?;
        Ok(reply.value)
    }

    async fn slot(&self) -> Result<u64, LedgerError> {
        self.inner
            .transport
            .call("getSlot", json!([self.commitment()]))
            .await
    }

    async fn simulate(&self, tx: &VersionedTransaction) -> Result<Simulation, LedgerError> {
        let params = json!([wire(tx)?, {"encoding": "base64", "sigVerify": true,
                                        "commitment": self.inner.commitment.as_str()}]);
        match self
            .inner
            .transport
            .call::<WithContext<RpcSimulation>>("simulateTransaction", params)
            .await
        {
            Ok(reply) => Ok(Simulation {
                err: reply
                    .value
                    .err
                    .as_ref()
                    .map(crate::tx_error::text_from_json),
                logs: reply.value.logs.unwrap_or_default(),
                units_consumed: reply.value.units_consumed,
            }),
            // A signature failure is an error response; report it as a failed simulation.
            Err(LedgerError::TransactionFailed { err, logs }) => Ok(Simulation {
                err: Some(err),
                logs,
                units_consumed: None,
            }),
            Err(e) => Err(e),
        }
    }

    async fn send(&self, tx: &VersionedTransaction) -> Result<Signature, LedgerError> {
        let params = json!([wire(tx)?, {"encoding": "base64", "skipPreflight": false,
                                        "preflightCommitment": self.inner.commitment.as_str()}]);
        let signature: String = self.inner.transport.call("sendTransaction", params).await?;
        parse(&signature, "signature")
    }

    async fn confirm(
        &self,
        signature: &Signature,
        commitment: Commitment,
        timeout: Duration,
    ) -> Result<Option<SignatureStatus>, LedgerError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let status = self.statuses(signature).await?;
            let done = status
                .as_ref()
                .is_some_and(|s| s.err.is_some() || s.commitment >= commitment);
            let now = tokio::time::Instant::now();
            if done || now >= deadline {
                // Landed below the wanted commitment at the deadline: say where it stands.
                return Ok(status);
            }
            tokio::time::sleep(self.inner.poll.min(deadline - now)).await;
        }
    }

    async fn signature_status(
        &self,
        signature: &Signature,
    ) -> Result<Option<SignatureStatus>, LedgerError> {
        self.statuses(signature).await
    }

    async fn get_transaction(
        &self,
        signature: &Signature,
    ) -> Result<Option<LandedTransaction>, LedgerError> {
        // getTransaction refuses `processed`.
        let commitment = self.inner.commitment.max(Commitment::Confirmed);
        let reply: Option<decode::RpcTransaction> = self
            .inner
            .transport
            .call(
                "getTransaction",
                json!([signature.to_string(), {"encoding": "base64",
                       "maxSupportedTransactionVersion": 0, "commitment": commitment.as_str()}]),
            )
            .await?;
        reply.map(|r| r.into_landed(*signature)).transpose()
    }

    async fn signatures_for_address(
        &self,
        address: &Address,
        before: Option<&Signature>,
        limit: usize,
    ) -> Result<Vec<SignatureInfo>, LedgerError> {
        // getSignaturesForAddress refuses `processed`, like getTransaction.
        let commitment = self.inner.commitment.max(Commitment::Confirmed);
        let mut config = json!({"limit": limit.clamp(1, 1000), "commitment": commitment.as_str()});
        if let Some(before) = before {
            config["before"] = Value::String(before.to_string());
        }
        let reply: Vec<RpcSignatureInfo> = self
            .inner
            .transport
            .call(
                "getSignaturesForAddress",
                json!([address.to_string(), config]),
            )
            .await?;
        reply
            .into_iter()
            .map(|r| {
                Ok(SignatureInfo {
                    signature: parse(&r.signature, "signature")?,
                    slot: r.slot,
                    err: r.err.as_ref().map(crate::tx_error::text_from_json),
                    block_time: r.block_time,
                })
            })
            .collect()
    }

    async fn get_account(&self, address: &Address) -> Result<Option<Account>, LedgerError> {
        let reply: WithContext<Option<RpcAccount>> = self
            .inner
            .transport
            .call(
                "getAccountInfo",
                json!([address.to_string(), {"encoding": "base64",
                       "commitment": self.inner.commitment.as_str()}]),
            )
            .await?;
        reply.value.map(account_from).transpose()
    }

    async fn get_multiple_accounts(
        &self,
        addresses: &[Address],
    ) -> Result<Vec<Option<Account>>, LedgerError> {
        let mut out = Vec::with_capacity(addresses.len());
        // Nodes accept at most 100 keys per call.
        for chunk in addresses.chunks(100) {
            let keys: Vec<String> = chunk.iter().map(ToString::to_string).collect();
            let reply: WithContext<Vec<Option<RpcAccount>>> = self
                .inner
                .transport
                .call(
                    "getMultipleAccounts",
                    json!([keys, {"encoding": "base64", "commitment": self.inner.commitment.as_str()}]),
                )
                .await?;
            if reply.value.len() != chunk.len() {
                return Err(LedgerError::InvalidResponse(format!(
                    "getMultipleAccounts returned {} accounts for {} keys",
                    reply.value.len(),
                    chunk.len()
                )));
            }
            for account in reply.value {
                out.push(account.map(account_from).transpose()?);
            }
        }
        Ok(out)
    }

    async fn balance(&self, address: &Address) -> Result<u64, LedgerError> {
        let reply: WithContext<u64> = self
            .inner
            .transport
            .call(
                "getBalance",
                json!([address.to_string(), self.commitment()]),
            )
            .await?;
        Ok(reply.value)
    }

    async fn token_balance(
        &self,
        token_account: &Address,
    ) -> Result<Option<TokenAmount>, LedgerError> {
        let Some(account) = self.get_account(token_account).await? else {
            return Ok(None);
        };
        let Some(state) = token::parse_token_account(&account) else {
            return Ok(None);
        };
        let mint = self.get_account(&state.mint).await?;
        let Some(mint) = mint.as_ref().and_then(token::parse_mint) else {
            return Ok(None);
        };
        Ok(Some(TokenAmount {
            amount: state.amount,
            decimals: mint.decimals,
        }))
    }

    async fn minimum_balance_for_rent_exemption(
        &self,
        data_len: usize,
    ) -> Result<u64, LedgerError> {
        self.inner
            .transport
            .call("getMinimumBalanceForRentExemption", json!([data_len]))
            .await
    }

    async fn airdrop(&self, to: &Address, lamports: u64) -> Result<Signature, LedgerError> {
        if self.inner.network == "mainnet" {
            return Err(LedgerError::Unsupported("airdrops on mainnet"));
        }
        let signature: String = self
            .inner
            .transport
            .call(
                "requestAirdrop",
                json!([to.to_string(), lamports, self.commitment()]),
            )
            .await?;
        parse(&signature, "signature")
    }
}
