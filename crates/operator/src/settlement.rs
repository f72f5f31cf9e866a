//! The settlement worker: claims `settle_transfer` jobs from the outbox, builds and signs the
//! transfer from the custodial account, stores the signed transaction, sends it and waits for
//! it to land, then settles the transfer (one database transaction with its event). A
//! non-custodial account's transfer is sent the same way once its agent's signed transaction is
//! stored ([`agent_signed`]); a custodial charge the payee broadcasts (`confirm_charge`) is
//! watched until it lands or can no longer land (`settlement/confirm_charge.rs`).
//!
//! Exactly once (docs/operator.md, "Settlement worker"): the signed transaction is stored
//! before it is sent, so after a crash the next worker looks its signature up on chain before
//! anything else. It resends the same bytes (same signature: the chain takes it at most once)
//! while its blockhash is valid, and builds a new transaction only once the old blockhash has
//! expired *and* the old signature is still absent — after that it can never land. Replacing
//! the stored transaction is a compare-and-set on the old signature by the lease holder. Every
//! transaction carries a memo naming its transfer, so two equal transfers never share a
//! signature.

use std::sync::Arc;
use std::time::{Duration, Instant};

use mpp::Clock;
use mppsol_ledger::{Commitment, Ledger, LedgerError};
use mppsol_store::operator::{Actor, SettledOutcome, SettlementJob, SignedAttempt, TransferKind};
use mppsol_store::{OperatorStore, StoreError};
use solana_hash::Hash;
use solana_keypair::Keypair;
use solana_message::VersionedMessage;
use solana_signature::Signature;
use solana_signer::Signer as _;
use solana_transaction::versioned::VersionedTransaction;

use crate::MasterKey;
use crate::crypto::account_key_context;
use crate::policy_wallet;

pub mod agent_signed;
pub mod build;
mod confirm_charge;

/// Why a settlement step could not run (the job is given back and retried).
#[derive(Debug, thiserror::Error)]
pub enum SettleError {
    /// The database failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The chain failed.
    #[error("ledger: {0}")]
    Ledger(#[from] LedgerError),
    /// The transaction could not be built or read back.
    #[error("transaction: {0}")]
    Transaction(String),
}

/// How the worker behaves.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// This worker's name in the lease column (unique per process).
    pub worker_id: String,
    /// Jobs claimed at once.
    pub batch: u32,
    /// How long a claim holds before another worker may take the job over.
    pub lease: Duration,
    /// How long to wait for a sent transaction before giving the job back.
    pub confirm_timeout: Duration,
    /// Pause when the queue is empty.
    pub idle_poll: Duration,
    /// After this many claims, a transaction that certainly did not land fails the transfer.
    pub max_attempts: i64,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            worker_id: mppsol_store::operator::new_id("wrk"),
            batch: 32,
            lease: Duration::from_secs(30),
            confirm_timeout: Duration::from_secs(20),
            idle_poll: Duration::from_millis(200),
            max_attempts: 10,
        }
    }
}

/// What happened to one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobOutcome {
    /// It landed and the transfer is settled.
    Settled {
        /// The landed signature.
        signature: String,
    },
    /// Someone else finished it first.
    AlreadyFinal,
    /// It cannot be paid; the transfer failed and its amount was given back.
    Failed {
        /// Why.
        reason: String,
    },
    /// Not yet; back in the queue.
    Retry {
        /// Why.
        reason: String,
    },
    /// Another worker holds it now; nothing was done.
    LostLease,
    /// The agent's signed transaction expired without landing; the transfer waits for the
    /// agent to sign a fresh one (non-custodial accounts).
    AwaitingSignature,
}

/// Counters a worker keeps for metrics.
pub trait SettlementObserver: Send + Sync {
    /// A job ended a step with `outcome`.
    fn job_done(&self, job: &SettlementJob, outcome: &JobOutcome);
    /// A chain call failed.
    fn rpc_error(&self);
}

/// Observes nothing.
pub struct NoObserver;

impl SettlementObserver for NoObserver {
    fn job_done(&self, _: &SettlementJob, _: &JobOutcome) {}
    fn rpc_error(&self) {}
}

/// The settlement worker.
pub struct Settler {
    store: Arc<dyn OperatorStore>,
    ledger: Arc<dyn Ledger>,
    master_key: MasterKey,
    clock: Arc<dyn Clock>,
    config: WorkerConfig,
    observer: Arc<dyn SettlementObserver>,
}

impl Settler {
    /// A worker over `store` and `ledger`.
    pub fn new(
        store: Arc<dyn OperatorStore>,
        ledger: Arc<dyn Ledger>,
        master_key: MasterKey,
        clock: Arc<dyn Clock>,
        config: WorkerConfig,
    ) -> Self {
        Self {
            store,
            ledger,
            master_key,
            clock,
            config,
            observer: Arc::new(NoObserver),
        }
    }

    /// Reports to `observer` (metrics).
    pub fn with_observer(mut self, observer: Arc<dyn SettlementObserver>) -> Self {
        self.observer = observer;
        self
    }

    fn now(&self) -> i64 {
        self.clock.now().unix()
    }

    /// Claims one batch and works it, jobs concurrently; returns what happened to each.
    pub async fn run_once(&self) -> Result<Vec<JobOutcome>, SettleError> {
        let jobs = self.claim().await?;
        Ok(self.work_all(&jobs).await)
    }

    /// Works jobs claimed with [`Settler::claim`] (the rest of [`Settler::run_once`]).
    pub async fn work_all(&self, jobs: &[SettlementJob]) -> Vec<JobOutcome> {
        futures::future::join_all(jobs.iter().map(|job| self.work(job))).await
    }

    /// Runs until `shutdown` resolves, pausing when the queue is empty.
    pub async fn run(&self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let idle = match self.run_once().await {
                Ok(outcomes) => outcomes.is_empty(),
                Err(e) => {
                    tracing::warn!(error = %e, "settlement batch failed");
                    true
                }
            };
            if idle {
                tokio::select! {
                    () = &mut shutdown => return,
                    () = tokio::time::sleep(self.config.idle_poll) => {}
                }
            }
        }
    }

    /// Works one claimed job to an outcome; errors give it back to the queue.
    async fn work(&self, job: &SettlementJob) -> JobOutcome {
        let started = Instant::now();
        let outcome = match self.settle(job).await {
            Ok(outcome) => outcome,
            Err(e) => {
                if matches!(e, SettleError::Ledger(_)) {
                    self.observer.rpc_error();
                }
                self.retry(job, &e.to_string(), 1).await
            }
        };
        tracing::debug!(
            transfer = %job.transfer.id,
            ?outcome,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "settlement step"
        );
        self.observer.job_done(job, &outcome);
        outcome
    }

    async fn settle(&self, job: &SettlementJob) -> Result<JobOutcome, SettleError> {
        if job.transfer.kind == TransferKind::Charge {
            return self.confirm_charge(job).await;
        }
        let previous = match &job.attempt {
            None => None,
            Some(attempt) => {
                let signature = parse_signature(&attempt.signature)?;
                // Landed already (a crash after send)? Then settle, never send again.
                if let Some(done) = self.landed(job, &signature).await? {
                    return Ok(done);
                }
                if self.still_valid(attempt).await? {
                    // It may still land: resend the very same bytes (same signature).
                    let tx = decode_tx(&attempt.signed_tx)?;
                    return self.send_and_confirm(job, &tx, &signature).await;
                }
                // Expired: one last look, after the expiry, decides it never landed.
                if let Some(done) = self.landed(job, &signature).await? {
                    return Ok(done);
                }
                if job.sealed_key.is_none() {
                    // Only the agent can sign a replacement.
                    return self.await_new_signature(job, &attempt.signature).await;
                }
                if job.attempts >= self.config.max_attempts {
                    return self
                        .fail(job, "did not land after the maximum number of attempts")
                        .await;
                }
                Some(attempt.signature.clone())
            }
        };
        let Some(sealed) = &job.sealed_key else {
            // Claims skip these until the agent's transaction is stored; nothing to send yet.
            return Ok(self
                .retry(job, "waiting for the agent's signed transaction", 7)
                .await);
        };
        match self
            .sign_and_record(job, sealed, previous.as_deref())
            .await?
        {
            Some((tx, signature)) => self.send_and_confirm(job, &tx, &signature).await,
            // Another worker took the job over; it owns what is sent now.
            None => Ok(JobOutcome::LostLease),
        }
    }

    /// Claims a batch without working it (one step of [`Settler::run_once`], public so tests
    /// can stop a worker between steps as a crash would).
    pub async fn claim(&self) -> Result<Vec<SettlementJob>, SettleError> {
        let now = self.now();
        let lease = i64::try_from(self.config.lease.as_secs()).unwrap_or(i64::MAX);
        Ok(self
            .store
            .claim_settlements(
                &self.config.worker_id,
                self.config.batch,
                now.saturating_add(lease),
                now,
            )
            .await?)
    }

    /// Builds and signs the job's transaction on a fresh blockhash and stores it, replacing
    /// `previous` (the job's current signature). `None` when this worker no longer holds the
    /// job (nothing may be sent then). The step before sending.
    pub async fn sign_and_record(
        &self,
        job: &SettlementJob,
        sealed: &[u8],
        previous: Option<&str>,
    ) -> Result<Option<(VersionedTransaction, Signature)>, SettleError> {
        let keypair = self.open_key(job, sealed)?;
        let info = self.ledger.latest_blockhash().await?;
        let tx = self.build(job, &keypair, info.blockhash).await?;
        let signature = tx
            .signatures
            .first()
            .copied()
            .ok_or_else(|| SettleError::Transaction("unsigned transaction".into()))?;
        let attempt = SignedAttempt {
            signed_tx: bincode::serialize(&tx)
                .map_err(|e| SettleError::Transaction(e.to_string()))?,
            signature: signature.to_string(),
            blockhash: info.blockhash.to_string(),
            last_valid_block_height: info.last_valid_block_height,
        };
        let stored = self
            .store
            .record_settlement_attempt(
                job.job_id,
                &self.config.worker_id,
                previous,
                &attempt,
                self.now(),
            )
            .await?;
        Ok(stored.then_some((tx, signature)))
    }

    /// Whether the stored transaction's blockhash can still land.
    async fn still_valid(&self, attempt: &SignedAttempt) -> Result<bool, SettleError> {
        let blockhash: Hash = attempt
            .blockhash
            .parse()
            .map_err(|_| SettleError::Transaction("stored blockhash".into()))?;
        Ok(self.ledger.is_blockhash_valid(&blockhash).await?)
    }

    /// Settles or fails the job if `signature` is on chain; `None` if it is not (yet).
    async fn landed(
        &self,
        job: &SettlementJob,
        signature: &Signature,
    ) -> Result<Option<JobOutcome>, SettleError> {
        match self.ledger.signature_status(signature).await? {
            None => Ok(None),
            Some(status) => match status.err {
                Some(err) => Ok(Some(
                    self.fail(job, &policy_wallet::failure_reason(&err)).await?,
                )),
                None if status.commitment >= Commitment::Confirmed => {
                    Ok(Some(self.complete(job, signature).await?))
                }
                // Processed only: wait for confirmation in the normal way.
                None => Ok(Some(self.confirm(job, signature).await?)),
            },
        }
    }

    async fn send_and_confirm(
        &self,
        job: &SettlementJob,
        tx: &VersionedTransaction,
        signature: &Signature,
    ) -> Result<JobOutcome, SettleError> {
        match self.ledger.send(tx).await {
            Ok(_) | Err(LedgerError::AlreadyProcessed) => {}
            // Preflight refused it (insufficient funds…). It did not land now; it is retried
            // (and fails after `max_attempts`) once its blockhash has expired.
            // The wallet's on-chain policy refused it: retrying cannot change that.
            Err(LedgerError::TransactionFailed { err, .. })
                if policy_wallet::is_final_denial(&err) =>
            {
                return self.fail(job, &policy_wallet::failure_reason(&err)).await;
            }
            Err(LedgerError::TransactionFailed { err, .. }) => {
                return Ok(self
                    .retry(job, &format!("refused: {err}"), job.attempts)
                    .await);
            }
            Err(e) => return Err(e.into()),
        }
        self.confirm(job, signature).await
    }

    async fn confirm(
        &self,
        job: &SettlementJob,
        signature: &Signature,
    ) -> Result<JobOutcome, SettleError> {
        match self
            .ledger
            .confirm(
                signature,
                Commitment::Confirmed,
                self.config.confirm_timeout,
            )
            .await?
        {
            Some(status) if status.err.is_none() => self.complete(job, signature).await,
            Some(status) => {
                let err = status.err.unwrap_or_default();
                self.fail(job, &policy_wallet::failure_reason(&err)).await
            }
            None => Ok(self.retry(job, "not confirmed yet", 1).await),
        }
    }

    async fn complete(
        &self,
        job: &SettlementJob,
        signature: &Signature,
    ) -> Result<JobOutcome, SettleError> {
        let signature = signature.to_string();
        Ok(
            match self
                .store
                .complete_settlement(job.job_id, &signature, self.now())
                .await?
            {
                SettledOutcome::Settled(_) => JobOutcome::Settled { signature },
                SettledOutcome::AlreadyFinal => JobOutcome::AlreadyFinal,
            },
        )
    }

    async fn fail(&self, job: &SettlementJob, reason: &str) -> Result<JobOutcome, SettleError> {
        let actor = Actor {
            operator_id: job.operator_id.clone(),
            key_id: "worker".into(),
        };
        match self
            .store
            .fail_transfer(&actor, &job.transfer.id, reason, self.now())
            .await
        {
            Ok(_) => Ok(JobOutcome::Failed {
                reason: reason.to_owned(),
            }),
            Err(StoreError::Conflict(_)) => Ok(JobOutcome::AlreadyFinal),
            Err(e) => Err(e.into()),
        }
    }

    /// Gives the job back, due again after an exponential backoff on `attempts` (≤ 60 s).
    async fn retry(&self, job: &SettlementJob, reason: &str, attempts: i64) -> JobOutcome {
        let now = self.now();
        let shift = u32::try_from(attempts.clamp(1, 7) - 1).unwrap_or(0);
        let delay = (1i64 << shift).min(60) - 1;
        match self
            .store
            .release_settlement(
                job.job_id,
                &self.config.worker_id,
                reason,
                now.saturating_add(delay),
                now,
            )
            .await
        {
            Ok(true) => JobOutcome::Retry {
                reason: reason.to_owned(),
            },
            Ok(false) => JobOutcome::LostLease,
            Err(e) => {
                // The lease runs out and another claim takes the job: nothing is lost.
                tracing::warn!(error = %e, transfer = %job.transfer.id, "releasing a job failed");
                JobOutcome::Retry {
                    reason: reason.to_owned(),
                }
            }
        }
    }

    fn open_key(&self, job: &SettlementJob, sealed: &[u8]) -> Result<Keypair, SettleError> {
        let bytes = self
            .master_key
            .open(sealed, &account_key_context(&job.account_address))
            .map_err(|_| SettleError::Transaction("the account key does not open".into()))?;
        Keypair::try_from(bytes.as_slice())
            .map_err(|_| SettleError::Transaction("sealed key is not a keypair".into()))
    }

    /// The transfer as a transaction signed by the account ([`build::transfer_message`]).
    async fn build(
        &self,
        job: &SettlementJob,
        keypair: &Keypair,
        blockhash: Hash,
    ) -> Result<VersionedTransaction, SettleError> {
        // A custodial account with a policy wallet pays from its vault, under the rules the
        // chain enforces (`policy_wallet`).
        let wallet = self
            .store
            .account_policy_wallet(&job.transfer.account_id)
            .await?;
        let message = build::transfer_message(
            self.ledger.as_ref(),
            &job.transfer,
            &keypair.pubkey(),
            blockhash,
            wallet.as_ref(),
        )
        .await?;
        VersionedTransaction::try_new(VersionedMessage::Legacy(message), &[keypair])
            .map_err(|e| SettleError::Transaction(e.to_string()))
    }
}

fn parse_signature(text: &str) -> Result<Signature, SettleError> {
    text.parse()
        .map_err(|_| SettleError::Transaction("stored signature".into()))
}

fn decode_tx(bytes: &[u8]) -> Result<VersionedTransaction, SettleError> {
    bincode::deserialize(bytes).map_err(|e| SettleError::Transaction(e.to_string()))
}
