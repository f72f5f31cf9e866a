//! # mppsol-ledger: the chain port
//!
//! One async trait, [`Ledger`], is everything the payment code asks of a Solana cluster. Two
//! adapters implement it:
//! - [`embedded`]: LiteSVM in-process with the real SPL Token, Token-2022, Associated Token
//!   Account and Memo programs, a clock that advances, dev mints and a faucet; zero setup.
//! - [`rpc`]: async JSON-RPC to localnet, devnet or mainnet, with retries on 429/503.
//!
//! [`rpc_server`] serves an embedded ledger as a Solana JSON-RPC endpoint on loopback
//! (`mppsol localnet`) so other SDKs and wallets can use it.
//!
//! This crate knows Solana, not MPP.

use std::time::Duration;

use async_trait::async_trait;
use solana_account::Account;
use solana_address::Address;
use solana_hash::Hash;
use solana_message::compiled_instruction::CompiledInstruction;
use solana_signature::Signature;
use solana_transaction::versioned::VersionedTransaction;

pub mod embedded;
pub mod programs;
pub mod rpc;
pub mod rpc_server;
mod token;
mod tx_error;

/// How final a transaction must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Commitment {
    /// Seen by the node.
    Processed,
    /// Voted on by a supermajority (what payments wait for by default).
    #[default]
    Confirmed,
    /// Rooted.
    Finalized,
}

impl Commitment {
    /// The JSON-RPC name.
    pub fn as_str(self) -> &'static str {
        match self {
            Commitment::Processed => "processed",
            Commitment::Confirmed => "confirmed",
            Commitment::Finalized => "finalized",
        }
    }
}

/// A recent blockhash and the last block height at which transactions using it land.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockhashInfo {
    /// The blockhash.
    pub blockhash: Hash,
    /// Transactions with this blockhash expire after this block height.
    pub last_valid_block_height: u64,
}

/// Result of simulating a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Simulation {
    /// The transaction error, if it would fail (Solana's error text).
    pub err: Option<String>,
    /// Program logs.
    pub logs: Vec<String>,
    /// Compute units consumed.
    pub units_consumed: Option<u64>,
}

/// Where a signature stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureStatus {
    /// Slot it landed in.
    pub slot: u64,
    /// Its error, if it failed on chain (it still consumed its fee and its signature).
    pub err: Option<String>,
    /// The commitment it has reached.
    pub commitment: Commitment,
}

/// One transaction in an address's history (`getSignaturesForAddress`), newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureInfo {
    /// The transaction's id (its first signature).
    pub signature: Signature,
    /// Slot it landed in.
    pub slot: u64,
    /// Its error, if it failed on chain.
    pub err: Option<String>,
    /// Unix time of the block, if known.
    pub block_time: Option<i64>,
}

/// A token account balance inside a landed transaction's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenBalance {
    /// Index of the token account in the transaction's account keys.
    pub account_index: u8,
    /// The mint.
    pub mint: Address,
    /// The token account's owner.
    pub owner: Address,
    /// SPL Token or Token-2022.
    pub program_id: Address,
    /// Raw amount in base units.
    pub amount: u64,
    /// The mint's decimals.
    pub decimals: u8,
}

/// Instructions a top-level instruction invoked (CPI), as the node records them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InnerInstructions {
    /// Index of the top-level instruction.
    pub index: u8,
    /// The invoked instructions, in order (account indexes into the transaction's keys).
    pub instructions: Vec<CompiledInstruction>,
}

/// A transaction that landed, with the metadata verification needs.
#[derive(Debug, Clone)]
pub struct LandedTransaction {
    /// Its first signature.
    pub signature: Signature,
    /// Slot it landed in.
    pub slot: u64,
    /// Unix time of the block, if known.
    pub block_time: Option<i64>,
    /// The transaction as sent.
    pub transaction: VersionedTransaction,
    /// Its error, if it failed on chain.
    pub err: Option<String>,
    /// Fee paid, lamports.
    pub fee: u64,
    /// Lamport balances of the account keys before.
    pub pre_balances: Vec<u64>,
    /// Lamport balances of the account keys after.
    pub post_balances: Vec<u64>,
    /// Token balances before.
    pub pre_token_balances: Vec<TokenBalance>,
    /// Token balances after.
    pub post_token_balances: Vec<TokenBalance>,
    /// Program logs.
    pub log_messages: Vec<String>,
    /// CPIs, per top-level instruction.
    pub inner_instructions: Vec<InnerInstructions>,
}

/// A token account's balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenAmount {
    /// Raw amount in base units.
    pub amount: u64,
    /// The mint's decimals.
    pub decimals: u8,
}

/// Why a chain call failed. [`LedgerError::is_retryable`] separates "try again" from "this
/// transaction is bad".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// The cluster could not be reached (connection refused, DNS, TLS).
    #[error("cluster unreachable at {url}: {reason}")]
    Unreachable {
        /// The RPC URL (never with credentials).
        url: String,
        /// What failed.
        reason: String,
    },
    /// The cluster answered 429 or 503 after our retries.
    #[error("cluster is rate limiting or unavailable (HTTP {status})")]
    Unavailable {
        /// HTTP status.
        status: u16,
    },
    /// No answer in time.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// The transaction's blockhash is too old (or unknown) to land.
    #[error("blockhash expired or not found")]
    BlockhashExpired,
    /// The transaction was already processed (its signature exists).
    #[error("transaction already processed")]
    AlreadyProcessed,
    /// Preflight or execution failed; the transaction is bad as it stands.
    #[error("transaction failed: {err}")]
    TransactionFailed {
        /// Solana's error text.
        err: String,
        /// Program logs, if any.
        logs: Vec<String>,
    },
    /// The node answered something we could not read.
    #[error("invalid RPC response: {0}")]
    InvalidResponse(String),
    /// The node returned a JSON-RPC error we do not classify.
    #[error("RPC error {code}: {message}")]
    Rpc {
        /// JSON-RPC error code.
        code: i64,
        /// Its message.
        message: String,
    },
    /// Not available on this cluster (for example an airdrop on mainnet).
    #[error("not supported here: {0}")]
    Unsupported(&'static str),
    /// The embedded ledger failed outside a transaction (its thread stopped, a program could
    /// not be loaded, a faucet helper was misused).
    #[error("embedded ledger: {0}")]
    Embedded(String),
}

impl LedgerError {
    /// Whether the same call may succeed later unchanged (or, for an expired blockhash, with a
    /// fresh one).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            LedgerError::Unreachable { .. }
                | LedgerError::Unavailable { .. }
                | LedgerError::Timeout(_)
                | LedgerError::BlockhashExpired
        )
    }
}

/// Everything the payment code asks of a Solana cluster.
#[async_trait]
pub trait Ledger: Send + Sync {
    /// The cluster's network name as the MPP Solana method spells it (`mainnet`, `devnet`,
    /// `localnet`).
    fn network(&self) -> &str;

    /// A recent blockhash.
    async fn latest_blockhash(&self) -> Result<BlockhashInfo, LedgerError>;

    /// Whether a blockhash is still valid for new transactions.
    async fn is_blockhash_valid(&self, blockhash: &Hash) -> Result<bool, LedgerError>;

    /// The current slot.
    async fn slot(&self) -> Result<u64, LedgerError>;

    /// Simulates without landing (signatures are verified).
    async fn simulate(&self, tx: &VersionedTransaction) -> Result<Simulation, LedgerError>;

    /// Submits a fully signed transaction; returns its signature once the node accepted it.
    /// Preflight is on: the transaction is simulated first (signatures verified) and one that
    /// would fail is refused with [`LedgerError::TransactionFailed`] without landing or
    /// charging a fee. Callers rely on this as their simulation before broadcast.
    async fn send(&self, tx: &VersionedTransaction) -> Result<Signature, LedgerError>;

    /// Waits until `signature` reaches `commitment` or `timeout` passes. `Ok(None)` means it has
    /// not landed (yet); a landed-but-failed transaction is `Ok(Some(status))` with `err` set.
    async fn confirm(
        &self,
        signature: &Signature,
        commitment: Commitment,
        timeout: Duration,
    ) -> Result<Option<SignatureStatus>, LedgerError>;

    /// The current status of a signature, without waiting.
    async fn signature_status(
        &self,
        signature: &Signature,
    ) -> Result<Option<SignatureStatus>, LedgerError>;

    /// A landed transaction with its metadata (at least `confirmed`).
    async fn get_transaction(
        &self,
        signature: &Signature,
    ) -> Result<Option<LandedTransaction>, LedgerError>;

    /// Landed transactions that reference `address` (any account position), newest first,
    /// older than `before` (exclusive) when given, at most `limit` (1 to 1,000).
    async fn signatures_for_address(
        &self,
        address: &Address,
        before: Option<&Signature>,
        limit: usize,
    ) -> Result<Vec<SignatureInfo>, LedgerError>;

    /// An account, if it exists.
    async fn get_account(&self, address: &Address) -> Result<Option<Account>, LedgerError>;

    /// Several accounts in one call, in order.
    async fn get_multiple_accounts(
        &self,
        addresses: &[Address],
    ) -> Result<Vec<Option<Account>>, LedgerError>;

    /// Lamports held by an address (0 if it does not exist).
    async fn balance(&self, address: &Address) -> Result<u64, LedgerError>;

    /// A token account's balance, if the account exists and is a token account.
    async fn token_balance(
        &self,
        token_account: &Address,
    ) -> Result<Option<TokenAmount>, LedgerError>;

    /// Lamports an account of `data_len` bytes needs to be rent-exempt.
    async fn minimum_balance_for_rent_exemption(&self, data_len: usize)
    -> Result<u64, LedgerError>;

    /// Requests lamports from the cluster's faucet (localnet and devnet only).
    async fn airdrop(&self, to: &Address, lamports: u64) -> Result<Signature, LedgerError>;
}
