//! LiteSVM in-process with the real SPL Token (p-token), Token-2022, ATA and Memo programs.
//!
//! LiteSVM is neither `Send` nor cheap to share, so one OS thread owns it and every call is a
//! job sent over a channel; [`EmbeddedLedger`] is a cheap `Clone + Send + Sync` handle usable
//! from any tokio task. Everything that lands is immediately `finalized`.
//!
//! Choices a real cluster leaves open:
//! - Each landed transaction gets its own slot (and block): the slot, block height and
//!   blockhash advance by one after it, and the Clock sysvar follows wall-clock time.
//! - [`Ledger::send`] behaves like an RPC node with preflight on: a failing transaction is
//!   rejected with [`LedgerError::TransactionFailed`] and nothing lands (no fee, no signature).
//!   [`EmbeddedLedger::send_with_options`] with `skip_preflight` lands it as failed with its fee
//!   charged, as a cluster does, and returns its signature.

mod chain;
mod dev_assets;
pub(crate) mod history;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use solana_account::Account;
use solana_address::Address;
use solana_hash::Hash;
use solana_signature::Signature;
use solana_signer::Signer;
use solana_transaction::versioned::VersionedTransaction;
use tokio::sync::{mpsc, oneshot, watch};

pub(crate) use chain::{Chain, Rejected, SimOutcome};
pub use dev_assets::{DevMint, DevMints, TransferFee};

use crate::{
    BlockhashInfo, Commitment, LandedTransaction, Ledger, LedgerError, SignatureInfo,
    SignatureStatus, Simulation, TokenAmount, token, tx_error,
};

/// How the embedded ledger starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmbeddedConfig {
    /// Seed for the faucet, the dev mints and the genesis hash: same seed, same addresses.
    pub seed: u64,
    /// The Token-2022 dev mint's transfer fee.
    pub usdc_2022_fee: TransferFee,
    /// Lamports the faucet holds at genesis.
    pub faucet_lamports: u64,
    /// Where to load the bundled payment-channel program at genesis (`None`: not loaded).
    pub channel_program: Option<Address>,
    /// Load the bundled policy, payments and example-vault programs at their dev ids
    /// (`crate::programs::DEV_*`) at genesis.
    pub policy_programs: bool,
}

impl Default for EmbeddedConfig {
    fn default() -> Self {
        EmbeddedConfig {
            seed: 0,
            usdc_2022_fee: TransferFee {
                basis_points: 100,
                maximum_fee: 1_000_000,
            },
            // 500 million SOL: far more than any test spends, well below u64::MAX.
            faucet_lamports: 500_000_000 * 1_000_000_000,
            channel_program: Some(crate::programs::DEV_CHANNEL_PROGRAM_ID),
            policy_programs: true,
        }
    }
}

type Job = Box<dyn FnOnce(&mut Chain) + Send>;

struct Inner {
    jobs: mpsc::UnboundedSender<Job>,
    landed: watch::Receiver<u64>,
    dev_mints: DevMints,
    faucet: Address,
    genesis_hash: Hash,
}

/// The embedded ledger: a handle to the LiteSVM thread. Cloning shares the same chain; the
/// thread stops when the last clone is dropped.
#[derive(Clone)]
pub struct EmbeddedLedger {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for EmbeddedLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedLedger")
            .field("faucet", &self.inner.faucet)
            .field("dev_mints", &self.inner.dev_mints)
            .finish_non_exhaustive()
    }
}

fn stopped() -> LedgerError {
    LedgerError::Embedded(
        "the embedded ledger thread has stopped (or this call panicked in it)".to_string(),
    )
}

fn run_thread(mut chain: Chain, mut jobs: mpsc::UnboundedReceiver<Job>) {
    while let Some(job) = jobs.blocking_recv() {
        // A panic inside LiteSVM fails that one call (its reply is dropped), not the chain.
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&mut chain)));
        if outcome.is_err() {
            tracing::error!("embedded ledger job panicked");
        }
    }
}

impl EmbeddedLedger {
    /// Starts a chain: LiteSVM with the SPL programs, a funded faucet (the dev mints' mint
    /// authority) and the two dev mints.
    pub async fn new(config: EmbeddedConfig) -> Result<Self, LedgerError> {
        let (jobs_tx, jobs_rx) = mpsc::unbounded_channel::<Job>();
        let (landed_tx, landed_rx) = watch::channel(0u64);
        let (ready_tx, ready_rx) = oneshot::channel();
        std::thread::Builder::new()
            .name("mppsol-ledger".to_string())
            .spawn(move || {
                let faucet = dev_assets::derive_keypair(config.seed, "faucet");
                let mut chain =
                    Chain::genesis(config.seed, faucet, config.faucet_lamports, landed_tx);
                let loaded = match config.channel_program {
                    Some(id) => chain.add_program(id, crate::programs::CHANNEL_PROGRAM_ELF),
                    None => Ok(()),
                };
                let loaded = loaded.and_then(|()| {
                    if !config.policy_programs {
                        return Ok(());
                    }
                    use crate::programs as p;
                    chain.add_program(p::DEV_POLICY_PROGRAM_ID, p::POLICY_PROGRAM_ELF)?;
                    chain.add_program(p::DEV_PAYMENTS_PROGRAM_ID, p::PAYMENTS_PROGRAM_ELF)?;
                    chain.add_program(
                        p::DEV_EXAMPLE_VAULT_PROGRAM_ID,
                        p::EXAMPLE_VAULT_PROGRAM_ELF,
                    )
                });
                let mints = loaded.and_then(|()| {
                    dev_assets::create_dev_mints(&mut chain, config.seed, config.usdc_2022_fee)
                });
                let ready = mints.map(|m| (m, chain.faucet.pubkey(), chain.genesis_hash));
                let ok = ready.is_ok();
                if ready_tx.send(ready).is_ok() && ok {
                    run_thread(chain, jobs_rx);
                }
            })
            .map_err(|e| LedgerError::Embedded(format!("spawning the ledger thread: {e}")))?;
        let (dev_mints, faucet, genesis_hash) = ready_rx.await.map_err(|_| stopped())??;
        Ok(EmbeddedLedger {
            inner: Arc::new(Inner {
                jobs: jobs_tx,
                landed: landed_rx,
                dev_mints,
                faucet,
                genesis_hash,
            }),
        })
    }

    /// Runs `f` on the ledger thread and returns its result.
    pub(crate) async fn with_chain<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Chain) -> R + Send + 'static,
    ) -> Result<R, LedgerError> {
        let (reply, result) = oneshot::channel();
        self.inner
            .jobs
            .send(Box::new(move |chain| {
                // The caller may have gone away; nothing to do then.
                let _ = reply.send(f(chain));
            }))
            .map_err(|_| stopped())?;
        result.await.map_err(|_| stopped())
    }

    /// The dev mints created at genesis.
    pub fn dev_mints(&self) -> DevMints {
        self.inner.dev_mints
    }

    /// The faucet address (fee payer of faucet transactions, mint authority of the dev mints).
    pub fn faucet(&self) -> Address {
        self.inner.faucet
    }

    /// The genesis hash (stable for a seed).
    pub fn genesis_hash(&self) -> Hash {
        self.inner.genesis_hash
    }

    /// Sends `lamports` from the faucet to `to` in a system transfer.
    pub async fn fund_sol(&self, to: &Address, lamports: u64) -> Result<Signature, LedgerError> {
        let to = *to;
        self.with_chain(move |c| dev_assets::fund_sol(c, &to, lamports))
            .await?
    }

    /// Mints `amount` base units of `mint` (whose mint authority must be the faucet) to the
    /// owner's associated token account, creating it if missing; returns that account.
    pub async fn mint_tokens(
        &self,
        mint: &Address,
        owner: &Address,
        amount: u64,
    ) -> Result<Address, LedgerError> {
        let (mint, owner) = (*mint, *owner);
        self.with_chain(move |c| dev_assets::mint_tokens(c, &mint, &owner, amount))
            .await?
    }

    /// Creates the owner's associated token account for `mint` if missing; returns its address.
    pub async fn create_ata(
        &self,
        owner: &Address,
        mint: &Address,
        token_program: &Address,
    ) -> Result<Address, LedgerError> {
        let (owner, mint, program) = (*owner, *mint, *token_program);
        self.with_chain(move |c| dev_assets::create_ata(c, &owner, &mint, &program))
            .await?
    }

    /// Deploys an SBF program (upgradeable loader, no upgrade authority).
    pub async fn add_program(&self, program_id: Address, elf: &[u8]) -> Result<(), LedgerError> {
        let elf = elf.to_vec();
        self.with_chain(move |c| c.add_program(program_id, &elf))
            .await?
    }

    /// Produces `n` empty blocks: slot and block height advance by `n`, and blockhashes older
    /// than 150 blocks expire.
    pub async fn advance_slots(&self, n: u64) -> Result<(), LedgerError> {
        self.with_chain(move |c| c.advance_slots(n)).await
    }

    /// Sets the Clock sysvar's unix time to `t`; it follows wall-clock time from there.
    pub async fn set_unix_timestamp(&self, t: i64) -> Result<(), LedgerError> {
        self.with_chain(move |c| c.set_unix_timestamp(t)).await
    }

    /// The Clock sysvar's unix time.
    pub async fn unix_timestamp(&self) -> Result<i64, LedgerError> {
        self.with_chain(|c| c.unix_timestamp()).await
    }

    /// Invalidates every blockhash issued so far (a fresh one becomes the latest).
    pub async fn expire_blockhash(&self) -> Result<(), LedgerError> {
        self.with_chain(|c| c.expire_blockhash()).await
    }

    /// The current block height.
    pub async fn block_height(&self) -> Result<u64, LedgerError> {
        self.with_chain(|c| c.block_height).await
    }

    /// Sends with a choice of preflight: with `skip_preflight`, a transaction that fails after
    /// paying its fee lands as failed and its signature is returned (check its status).
    pub async fn send_with_options(
        &self,
        tx: &VersionedTransaction,
        skip_preflight: bool,
    ) -> Result<Signature, LedgerError> {
        self.send_raw(tx, skip_preflight)
            .await?
            .map_err(Rejected::into_ledger_error)
    }

    /// Sends, keeping the structured rejection (for the RPC server's error data).
    pub(crate) async fn send_raw(
        &self,
        tx: &VersionedTransaction,
        skip_preflight: bool,
    ) -> Result<Result<Signature, Rejected>, LedgerError> {
        let tx = tx.clone();
        self.with_chain(move |c| c.send(tx, !skip_preflight)).await
    }

    /// The full landed record (for the RPC server).
    pub(crate) async fn record(
        &self,
        signature: &Signature,
    ) -> Result<Option<Arc<history::LandedRecord>>, LedgerError> {
        let signature = *signature;
        self.with_chain(move |c| c.history.get(&signature)).await
    }
}

fn status_of(record: &history::LandedRecord) -> SignatureStatus {
    SignatureStatus {
        slot: record.landed.slot,
        err: record.landed.err.clone(),
        commitment: Commitment::Finalized,
    }
}

fn token_amount(c: &Chain, address: &Address) -> Option<TokenAmount> {
    let account = token::parse_token_account(&c.account(address)?)?;
    let mint = token::parse_mint(&c.account(&account.mint)?)?;
    Some(TokenAmount {
        amount: account.amount,
        decimals: mint.decimals,
    })
}

#[async_trait]
impl Ledger for EmbeddedLedger {
    fn network(&self) -> &str {
        "localnet"
    }

    async fn latest_blockhash(&self) -> Result<BlockhashInfo, LedgerError> {
        self.with_chain(|c| c.latest_blockhash()).await
    }

    async fn is_blockhash_valid(&self, blockhash: &Hash) -> Result<bool, LedgerError> {
        let blockhash = *blockhash;
        self.with_chain(move |c| c.is_blockhash_valid(&blockhash))
            .await
    }

    async fn slot(&self) -> Result<u64, LedgerError> {
        self.with_chain(|c| c.slot).await
    }

    async fn simulate(&self, tx: &VersionedTransaction) -> Result<Simulation, LedgerError> {
        let tx = tx.clone();
        let outcome: SimOutcome = self
            .with_chain(move |c| c.simulate(tx, true, false))
            .await?;
        Ok(Simulation {
            err: outcome.err.as_ref().map(tx_error::text),
            logs: outcome.logs,
            units_consumed: Some(outcome.units_consumed),
        })
    }

    async fn send(&self, tx: &VersionedTransaction) -> Result<Signature, LedgerError> {
        self.send_with_options(tx, false).await
    }

    async fn confirm(
        &self,
        signature: &Signature,
        _commitment: Commitment,
        timeout: Duration,
    ) -> Result<Option<SignatureStatus>, LedgerError> {
        // Everything that lands is finalized, so any commitment is met once it has landed.
        // Subscribe before looking so a landing in between is not missed.
        let mut landed = self.inner.landed.clone();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            landed.mark_unchanged();
            if let Some(status) = self.signature_status(signature).await? {
                return Ok(Some(status));
            }
            match tokio::time::timeout_at(deadline, landed.changed()).await {
                Ok(Ok(())) => continue,
                Ok(Err(_)) => return Err(stopped()),
                Err(_) => return Ok(None),
            }
        }
    }

    async fn signature_status(
        &self,
        signature: &Signature,
    ) -> Result<Option<SignatureStatus>, LedgerError> {
        Ok(self.record(signature).await?.map(|r| status_of(&r)))
    }

    async fn get_transaction(
        &self,
        signature: &Signature,
    ) -> Result<Option<LandedTransaction>, LedgerError> {
        Ok(self.record(signature).await?.map(|r| r.landed.clone()))
    }

    async fn signatures_for_address(
        &self,
        address: &Address,
        before: Option<&Signature>,
        limit: usize,
    ) -> Result<Vec<SignatureInfo>, LedgerError> {
        let (address, before) = (*address, before.copied());
        self.with_chain(move |c| {
            c.history
                .for_address(&address, before.as_ref(), None, limit.clamp(1, 1000))
                .iter()
                .map(|r| SignatureInfo {
                    signature: r.landed.signature,
                    slot: r.landed.slot,
                    err: r.landed.err.clone(),
                    block_time: r.landed.block_time,
                })
                .collect()
        })
        .await
    }

    async fn get_account(&self, address: &Address) -> Result<Option<Account>, LedgerError> {
        let address = *address;
        self.with_chain(move |c| c.account(&address)).await
    }

    async fn get_multiple_accounts(
        &self,
        addresses: &[Address],
    ) -> Result<Vec<Option<Account>>, LedgerError> {
        let addresses = addresses.to_vec();
        self.with_chain(move |c| addresses.iter().map(|a| c.account(a)).collect())
            .await
    }

    async fn balance(&self, address: &Address) -> Result<u64, LedgerError> {
        let address = *address;
        self.with_chain(move |c| c.svm.get_balance(&address).unwrap_or(0))
            .await
    }

    async fn token_balance(
        &self,
        token_account: &Address,
    ) -> Result<Option<TokenAmount>, LedgerError> {
        let address = *token_account;
        self.with_chain(move |c| token_amount(c, &address)).await
    }

    async fn minimum_balance_for_rent_exemption(
        &self,
        data_len: usize,
    ) -> Result<u64, LedgerError> {
        self.with_chain(move |c| c.svm.minimum_balance_for_rent_exemption(data_len))
            .await
    }

    async fn airdrop(&self, to: &Address, lamports: u64) -> Result<Signature, LedgerError> {
        self.fund_sol(to, lamports).await
    }
}
