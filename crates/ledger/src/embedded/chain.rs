//! The chain state owned by the ledger thread: LiteSVM plus a clock, blockhashes and history.

use std::collections::VecDeque;
use std::time::{SystemTime, UNIX_EPOCH};

use litesvm::LiteSVM;
use sha2::{Digest, Sha256};
use solana_account::Account;
use solana_address::Address;
use solana_clock::Clock;
use solana_epoch_schedule::EpochSchedule;
use solana_hash::Hash;
use solana_keypair::Keypair;
use solana_signature::Signature;
use solana_signer::Signer;
use solana_slot_hashes::SlotHashes;
use solana_transaction::versioned::VersionedTransaction;
use solana_transaction_error::TransactionError;
use tokio::sync::watch;

use super::history::{self, History, Keys, LandedRecord};
use crate::{BlockhashInfo, LandedTransaction, LedgerError, tx_error};

/// Blocks a blockhash stays valid for, as on mainnet.
pub(crate) const MAX_PROCESSING_AGE: u64 = 150;

/// What a simulation produced.
#[derive(Debug, Clone, Default)]
pub(crate) struct SimOutcome {
    pub err: Option<TransactionError>,
    pub logs: Vec<String>,
    pub units_consumed: u64,
    pub fee: u64,
    pub replacement_blockhash: Option<BlockhashInfo>,
}

/// Why a transaction did not land (or, without preflight, what it failed with).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rejected {
    pub err: TransactionError,
    pub logs: Vec<String>,
    pub units_consumed: u64,
}

impl Rejected {
    fn new(err: TransactionError) -> Self {
        Rejected {
            err,
            logs: Vec::new(),
            units_consumed: 0,
        }
    }

    /// The trait-level error.
    pub fn into_ledger_error(self) -> LedgerError {
        tx_error::classify(self.err, self.logs)
    }
}

/// LiteSVM with a clock that advances one slot per landed transaction.
pub(crate) struct Chain {
    pub svm: LiteSVM,
    pub slot: u64,
    pub block_height: u64,
    /// Issued blockhashes, oldest first, with the block height they were issued at.
    blockhashes: VecDeque<(Hash, u64)>,
    /// Seconds added to wall-clock time (set by `set_unix_timestamp`).
    time_offset: i64,
    pub history: History,
    pub faucet: Keypair,
    pub genesis_hash: Hash,
    landed: watch::Sender<u64>,
}

/// SHA-256 of the parts, as a hash (deterministic blockhashes and keys).
pub(crate) fn derive_hash(parts: &[&[u8]]) -> Hash {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    Hash::new_from_array(hasher.finalize().into())
}

fn wall_clock_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl Chain {
    /// A fresh chain: LiteSVM with the SPL programs, the faucet funded at genesis.
    pub fn genesis(
        seed: u64,
        faucet: Keypair,
        faucet_lamports: u64,
        landed: watch::Sender<u64>,
    ) -> Self {
        // Our own history replaces LiteSVM's, which would also keep preflight failures.
        let mut svm = LiteSVM::new().with_transaction_history(0);
        // Genesis funding has no instruction: LiteSVM's airdrop account becomes our faucet.
        svm.set_airdrop_keypair(faucet.to_bytes());
        let svm = svm.with_lamports(faucet_lamports);
        let clock: Clock = svm.get_sysvar();
        let genesis_hash = derive_hash(&[b"mppsol-ledger/genesis", &seed.to_le_bytes()]);
        let mut chain = Chain {
            svm,
            slot: clock.slot,
            block_height: clock.slot,
            blockhashes: VecDeque::new(),
            time_offset: 0,
            history: History::default(),
            faucet,
            genesis_hash,
            landed,
        };
        chain.issue_blockhash();
        chain.sync_clock();
        chain
    }

    /// Deploys an SBF program (upgradeable loader) at `id`.
    pub fn add_program(&mut self, id: Address, elf: &[u8]) -> Result<(), LedgerError> {
        self.svm
            .add_program(id, elf)
            .map_err(|e| LedgerError::Embedded(format!("loading program {id}: {e}")))
    }

    /// Unix time on the chain's clock.
    pub fn unix_timestamp(&self) -> i64 {
        wall_clock_secs().saturating_add(self.time_offset)
    }

    /// Makes the clock read `t` now; it keeps following wall-clock time from there.
    pub fn set_unix_timestamp(&mut self, t: i64) {
        self.time_offset = t.saturating_sub(wall_clock_secs());
        self.sync_clock();
    }

    /// Writes slot, epoch and time into the Clock sysvar.
    fn sync_clock(&mut self) {
        let schedule: EpochSchedule = self.svm.get_sysvar();
        let mut clock: Clock = self.svm.get_sysvar();
        let now = self.unix_timestamp();
        let epoch = schedule.get_epoch(self.slot);
        if epoch != clock.epoch {
            clock.epoch_start_timestamp = now;
        }
        clock.slot = self.slot;
        clock.epoch = epoch;
        clock.leader_schedule_epoch = schedule.get_leader_schedule_epoch(self.slot);
        clock.unix_timestamp = now;
        self.svm.set_sysvar(&clock);
    }

    /// The current epoch and slot index in it, and slots in that epoch.
    pub fn epoch_info(&self) -> (u64, u64, u64) {
        let schedule: EpochSchedule = self.svm.get_sysvar();
        let (epoch, index) = schedule.get_epoch_and_slot_index(self.slot);
        (epoch, index, schedule.get_slots_in_epoch(epoch))
    }

    fn issue_blockhash(&mut self) {
        let previous = self.svm.latest_blockhash();
        let next = derive_hash(&[
            previous.as_ref(),
            &self.slot.to_le_bytes(),
            &self.block_height.to_le_bytes(),
        ]);
        self.blockhashes.push_back((next, self.block_height));
        while let Some((_, issued)) = self.blockhashes.front() {
            if issued.saturating_add(MAX_PROCESSING_AGE) >= self.block_height {
                break;
            }
            self.blockhashes.pop_front();
        }
        self.svm.set_latest_blockhash(next);
    }

    /// The newest blockhash.
    pub fn latest_blockhash(&self) -> BlockhashInfo {
        let (blockhash, issued) = self
            .blockhashes
            .back()
            .copied()
            .unwrap_or((self.svm.latest_blockhash(), self.block_height));
        BlockhashInfo {
            blockhash,
            last_valid_block_height: issued.saturating_add(MAX_PROCESSING_AGE),
        }
    }

    /// Whether transactions with `blockhash` can still land.
    pub fn is_blockhash_valid(&self, blockhash: &Hash) -> bool {
        self.blockhashes.iter().any(|(hash, issued)| {
            hash == blockhash && issued.saturating_add(MAX_PROCESSING_AGE) >= self.block_height
        })
    }

    /// Produces `n` empty blocks.
    pub fn advance_slots(&mut self, n: u64) {
        // SlotHashes lists parent slots; lookup-table creation checks its `recent_slot` there.
        let mut hashes: SlotHashes = self.svm.get_sysvar();
        hashes.add(self.slot, self.latest_blockhash().blockhash);
        self.svm.set_sysvar(&hashes);
        self.slot = self.slot.saturating_add(n);
        self.block_height = self.block_height.saturating_add(n);
        self.issue_blockhash();
        self.sync_clock();
    }

    /// Forgets every issued blockhash and issues a fresh one (slot unchanged).
    pub fn expire_blockhash(&mut self) {
        self.blockhashes.clear();
        self.issue_blockhash();
    }

    /// Runs `f` with LiteSVM accepting `blockhash` if it is in our validity window. LiteSVM only
    /// knows one blockhash (or a durable nonce); we keep 150 blocks' worth.
    fn with_blockhash<R>(&mut self, blockhash: &Hash, f: impl FnOnce(&mut LiteSVM) -> R) -> R {
        let current = self.svm.latest_blockhash();
        if self.is_blockhash_valid(blockhash) {
            self.svm.set_latest_blockhash(*blockhash);
        }
        let out = f(&mut self.svm);
        self.svm.set_latest_blockhash(current);
        out
    }

    /// Executes a signed transaction. With `preflight`, a failing transaction is rolled back
    /// (no fee, no signature consumed), as an RPC node's preflight check would refuse it.
    /// Without it, a transaction that fails after its fee was charged lands as failed, as on a
    /// real cluster, and its signature is returned.
    pub fn send(
        &mut self,
        tx: VersionedTransaction,
        preflight: bool,
    ) -> Result<Signature, Rejected> {
        let Some(signature) = tx.signatures.first().copied() else {
            return Err(Rejected::new(TransactionError::SanitizeFailure));
        };
        if self.history.contains(&signature) {
            return Err(Rejected::new(TransactionError::AlreadyProcessed));
        }
        self.sync_clock();
        let keys = history::resolve_keys(&self.svm, &tx);
        let pre = history::snapshot(&self.svm, &keys.all);
        let payer = keys.all.first().copied();
        let payer_before: Option<Account> = payer.and_then(|p| self.svm.get_account(&p));
        let blockhash = *tx.message.recent_blockhash();
        #[allow(clippy::result_large_err)] // LiteSVM's own result type, passed straight through.
        let result = self.with_blockhash(&blockhash, |svm| svm.send_transaction(tx.clone()));
        match result {
            Ok(meta) => {
                self.land(signature, tx, keys, pre, None, meta);
                Ok(signature)
            }
            Err(failed) => {
                let err = failed.err.clone();
                let rejected = Rejected {
                    err: err.clone(),
                    logs: failed.meta.logs.clone(),
                    units_consumed: failed.meta.compute_units_consumed,
                };
                if matches!(
                    err,
                    TransactionError::BlockhashNotFound | TransactionError::AlreadyProcessed
                ) {
                    return Err(rejected);
                }
                let payer_after = payer.and_then(|p| self.svm.get_balance(&p));
                let charged = match (&payer_before, payer_after) {
                    (Some(before), Some(after)) => after < before.lamports,
                    (Some(_), None) => true,
                    _ => false,
                };
                if charged && !preflight {
                    self.land(signature, tx, keys, pre, Some(err), failed.meta);
                    return Ok(signature);
                }
                if charged && let (Some(payer), Some(before)) = (payer, payer_before) {
                    // LiteSVM only withdrew the fee; putting the payer back undoes the attempt.
                    if let Err(e) = self.svm.set_account(payer, before) {
                        tracing::error!(error = %e, "could not roll back a preflight failure");
                    }
                }
                Err(rejected)
            }
        }
    }

    /// Records a landed transaction, then moves to the next slot.
    fn land(
        &mut self,
        signature: Signature,
        tx: VersionedTransaction,
        keys: Keys,
        pre: history::Snapshot,
        err: Option<TransactionError>,
        meta: litesvm::types::TransactionMetadata,
    ) {
        let post = history::snapshot(&self.svm, &keys.all);
        let (inner, heights) = history::inner_instructions(&meta.inner_instructions);
        let record = LandedRecord {
            landed: LandedTransaction {
                signature,
                slot: self.slot,
                block_time: Some(self.unix_timestamp()),
                transaction: tx,
                err: err.as_ref().map(tx_error::text),
                fee: meta.fee,
                pre_balances: pre.lamports,
                post_balances: post.lamports,
                pre_token_balances: pre.tokens,
                post_token_balances: post.tokens,
                log_messages: meta.logs,
                inner_instructions: inner,
            },
            tx_error: err,
            compute_units: meta.compute_units_consumed,
            account_keys: keys.all,
            loaded_writable: keys.loaded_writable,
            loaded_readonly: keys.loaded_readonly,
            inner_stack_heights: heights,
        };
        self.history.insert(record);
        self.advance_slots(1);
        self.landed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Simulates without landing. `sig_verify: false` skips signature checks;
    /// `replace_blockhash` runs it against the latest blockhash instead of its own.
    pub fn simulate(
        &mut self,
        mut tx: VersionedTransaction,
        sig_verify: bool,
        replace_blockhash: bool,
    ) -> SimOutcome {
        let mut replacement = None;
        if replace_blockhash {
            let latest = self.latest_blockhash();
            tx.message.set_recent_blockhash(latest.blockhash);
            replacement = Some(latest);
        }
        if sig_verify
            && let Some(signature) = tx.signatures.first()
            && self.history.contains(signature)
        {
            return SimOutcome {
                err: Some(TransactionError::AlreadyProcessed),
                replacement_blockhash: replacement,
                ..SimOutcome::default()
            };
        }
        self.sync_clock();
        let blockhash = *tx.message.recent_blockhash();
        #[allow(clippy::result_large_err)] // LiteSVM's own result type, passed straight through.
        let result = self.with_blockhash(&blockhash, |svm| {
            if !sig_verify {
                set_sigverify(svm, false);
            }
            let result = svm.simulate_transaction(tx);
            if !sig_verify {
                set_sigverify(svm, true);
            }
            result
        });
        let (err, meta) = match result {
            Ok(info) => (None, info.meta),
            Err(failed) => (Some(failed.err), failed.meta),
        };
        SimOutcome {
            err,
            logs: meta.logs,
            units_consumed: meta.compute_units_consumed,
            fee: meta.fee,
            replacement_blockhash: replacement,
        }
    }

    /// Sends a transaction the faucet pays for and signs (plus `extra` signers).
    pub fn faucet_send(
        &mut self,
        instructions: &[solana_instruction::Instruction],
        extra: &[&Keypair],
    ) -> Result<Signature, LedgerError> {
        let blockhash = self.latest_blockhash().blockhash;
        let payer = self.faucet.pubkey();
        let message =
            solana_message::Message::new_with_blockhash(instructions, Some(&payer), &blockhash);
        let mut signers: Vec<&Keypair> = vec![&self.faucet];
        signers.extend_from_slice(extra);
        let tx = VersionedTransaction::try_new(
            solana_message::VersionedMessage::Legacy(message),
            &signers,
        )
        .map_err(|e| LedgerError::Embedded(format!("signing a faucet transaction: {e}")))?;
        self.send(tx, true).map_err(Rejected::into_ledger_error)
    }

    /// An account, if it exists.
    pub fn account(&self, address: &Address) -> Option<Account> {
        self.svm.get_account(address)
    }
}

/// LiteSVM only sets signature verification through its builder.
fn set_sigverify(svm: &mut LiteSVM, on: bool) {
    let taken = std::mem::take(svm);
    *svm = taken.with_sigverify(on);
}
