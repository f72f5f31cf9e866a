//! What the settlement worker reads and writes: claiming outbox jobs under a lease, recording
//! the signed transaction before it is sent, and settling or releasing the job. The SQL is
//! expanded inside each backend's `operator_sql` module by [`operator_sql_settlement`].
//!
//! Claiming takes `FOR UPDATE SKIP LOCKED` on PostgreSQL (several workers share the queue) and
//! runs under SQLite's single writer lock otherwise. Every write a worker makes while it holds
//! a job names its `lease_owner`, so a worker whose lease expired (and whose job another
//! worker took) changes nothing.

use serde::Serialize;

use super::model::Transfer;

/// A transaction signed for a job, stored before it is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedAttempt {
    /// The serialized signed transaction (bincode `VersionedTransaction`).
    pub signed_tx: Vec<u8>,
    /// Its first signature (base58): the id it lands under.
    pub signature: String,
    /// Its recent blockhash (base58).
    pub blockhash: String,
    /// It cannot land after this block height.
    pub last_valid_block_height: u64,
}

/// A claimed `settle_transfer` job with what settling it needs.
#[derive(Clone, PartialEq, Eq)]
pub struct SettlementJob {
    /// The outbox job.
    pub job_id: i64,
    /// The account's operator.
    pub operator_id: String,
    /// The pending transfer.
    pub transfer: Transfer,
    /// The paying address.
    pub account_address: String,
    /// The account's sealed key (`None`: non-custodial, the service cannot sign).
    pub sealed_key: Option<Vec<u8>>,
    /// The transaction already signed for it, if any (for a `confirm_charge` job: the
    /// charge's partly signed transaction, `signature` being the account's own).
    pub attempt: Option<SignedAttempt>,
    /// Where a `confirm_charge` job looks for its landed transaction (the challenge's
    /// reference key, or the paying address).
    pub watch_address: Option<String>,
    /// Claims so far, this one included.
    pub attempts: i64,
    /// When the job was written (Unix seconds).
    pub enqueued_at: i64,
}

impl std::fmt::Debug for SettlementJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SettlementJob")
            .field("job_id", &self.job_id)
            .field("transfer", &self.transfer.id)
            .field("custodial", &self.sealed_key.is_some())
            .field("attempt", &self.attempt.as_ref().map(|a| &a.signature))
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

/// Counts of the outbox, for metrics and readiness.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct QueueDepth {
    /// Waiting to be claimed.
    pub pending: u64,
    /// Held by a worker.
    pub in_progress: u64,
}

/// Expands the settlement SQL; `$skip_locked` is appended to the claiming `SELECT`.
macro_rules! operator_sql_settlement {
    ($skip_locked:expr) => {
        use crate::operator::settlement::{QueueDepth, SettledOutcome, SettlementJob, SignedAttempt};

        const JOB_SELECT: &str = "SELECT j.id AS job_id, j.attempts AS job_attempts, \
             j.created_at AS job_created_at, j.signed_tx, j.tx_signature, j.tx_blockhash, \
             j.last_valid_block_height, a.operator_id AS job_operator, a.address AS job_address, \
             a.sealed_key AS job_sealed_key, j.watch_address AS job_watch_address, ";

        fn job_row(row: &impl rows::OpRow) -> Result<SettlementJob, StoreError> {
            let attempt = match (row.bytes("signed_tx")?, row.opt_text("tx_signature")?,
                row.opt_text("tx_blockhash")?, row.opt_int("last_valid_block_height")?)
            {
                (Some(signed_tx), Some(signature), Some(blockhash), Some(height)) => {
                    Some(SignedAttempt {
                        signed_tx,
                        signature,
                        blockhash,
                        last_valid_block_height: crate::common::amount_from_db(height, "height")?,
                    })
                }
                _ => None,
            };
            Ok(SettlementJob {
                job_id: row.int("job_id")?,
                operator_id: row.text("job_operator")?,
                transfer: rows::transfer(row)?,
                account_address: row.text("job_address")?,
                sealed_key: row.bytes("job_sealed_key")?,
                attempt,
                watch_address: row.opt_text("job_watch_address")?,
                attempts: row.int("job_attempts")?,
                enqueued_at: row.int("job_created_at")?,
            })
        }

        pub(super) async fn claim(
            pool: &Pool,
            worker: &str,
            limit: u32,
            lease_until: i64,
            now: i64,
        ) -> Result<Vec<SettlementJob>, StoreError> {
            let mut tx = begin_write(pool).await?;
            // Due pending jobs, and jobs whose worker's lease ran out (it crashed or hung). A
            // job with no transaction yet is workable only if the service signs it itself: a
            // charge waits for its signing, a non-custodial transfer for the agent's signature.
            let sql = format!(
                "SELECT j.id FROM outbox_jobs j JOIN transfers t ON t.id = j.transfer_id \
                 JOIN accounts a ON a.id = t.account_id \
                 WHERE t.status = 'pending' \
                   AND (j.tx_signature IS NOT NULL \
                     OR (j.kind = 'settle_transfer' AND a.sealed_key IS NOT NULL)) \
                   AND ((j.status = 'pending' AND j.next_attempt_at <= $1) \
                     OR (j.status = 'in_progress' AND j.lease_until < $1)) \
                 ORDER BY j.id LIMIT $2{}",
                $skip_locked
            );
            let ids: Vec<i64> = sqlx::query_scalar(&sql)
                .bind(now)
                .bind(i64::from(limit))
                .fetch_all(&mut *tx)
                .await?;
            let select = format!(
                "{JOB_SELECT}{} FROM outbox_jobs j JOIN transfers t ON t.id = j.transfer_id \
                 JOIN accounts a ON a.id = t.account_id WHERE j.id = $1",
                rows::TRANSFER_COLUMNS
            );
            let mut jobs = Vec::with_capacity(ids.len());
            for id in ids {
                sqlx::query(
                    "UPDATE outbox_jobs SET status = 'in_progress', lease_owner = $1, \
                         lease_until = $2, attempts = attempts + 1, updated_at = $3 WHERE id = $4",
                )
                .bind(worker)
                .bind(lease_until)
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                let row = sqlx::query(&select).bind(id).fetch_one(&mut *tx).await?;
                jobs.push(job_row(&row)?);
            }
            tx.commit().await?;
            Ok(jobs)
        }

        /// Keeps a signature of the job on record for good (the reconciler looks them all up).
        async fn insert_attempt(
            conn: &mut Conn,
            job_id: i64,
            attempt: &SignedAttempt,
            now: i64,
        ) -> Result<(), StoreError> {
            sqlx::query(
                "INSERT INTO settlement_attempts (signature, job_id, blockhash, created_at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(&attempt.signature)
            .bind(job_id)
            .bind(&attempt.blockhash)
            .bind(now)
            .execute(&mut *conn)
            .await?;
            Ok(())
        }

        pub(super) async fn record_attempt(
            pool: &Pool,
            job_id: i64,
            worker: &str,
            previous: Option<&str>,
            attempt: &SignedAttempt,
            now: i64,
        ) -> Result<bool, StoreError> {
            let mut tx = begin_write(pool).await?;
            // Compare-and-set on the previous signature: a transaction is replaced only by the
            // worker that saw it (and found it expired and absent).
            let done = sqlx::query(
                "UPDATE outbox_jobs SET signed_tx = $1, tx_signature = $2, tx_blockhash = $3, \
                     last_valid_block_height = $4, updated_at = $5 \
                 WHERE id = $6 AND lease_owner = $7 AND status = 'in_progress' \
                   AND tx_signature IS NOT DISTINCT FROM $8",
            )
            .bind(&attempt.signed_tx)
            .bind(&attempt.signature)
            .bind(&attempt.blockhash)
            .bind(amount_to_db(attempt.last_valid_block_height)?)
            .bind(now)
            .bind(job_id)
            .bind(worker)
            .bind(previous)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if done != 1 {
                return Ok(false);
            }
            insert_attempt(&mut tx, job_id, attempt, now).await?;
            tx.commit().await?;
            Ok(true)
        }

        pub(super) async fn complete(
            pool: &Pool,
            job_id: i64,
            signature: &str,
            now: i64,
        ) -> Result<SettledOutcome, StoreError> {
            let mut tx = begin_write(pool).await?;
            let found: Option<(String, String)> = sqlx::query_as(
                "SELECT t.id, a.operator_id FROM outbox_jobs j \
                 JOIN transfers t ON t.id = j.transfer_id JOIN accounts a ON a.id = t.account_id \
                 WHERE j.id = $1",
            )
            .bind(job_id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((transfer_id, operator_id)) = found else {
                return Err(StoreError::NotFound(format!("outbox job {job_id}")));
            };
            // Only a pending transfer settles: of two workers that both saw it land, the
            // second changes nothing.
            let changed = sqlx::query(
                "UPDATE transfers SET status = 'settled', signature = $1, settled_at = $2, \
                     updated_at = $2 WHERE id = $3 AND status = 'pending'",
            )
            .bind(signature)
            .bind(now)
            .bind(&transfer_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            sqlx::query(
                "UPDATE outbox_jobs SET status = 'done', lease_owner = NULL, lease_until = NULL, \
                     updated_at = $1 WHERE id = $2",
            )
            .bind(now)
            .bind(job_id)
            .execute(&mut *tx)
            .await?;
            if changed != 1 {
                tx.commit().await?;
                return Ok(SettledOutcome::AlreadyFinal);
            }
            let settled = transfer_by_id(&mut tx, &operator_id, &transfer_id)
                .await?
                .ok_or_else(|| StoreError::NotFound(format!("transfer {transfer_id}")))?;
            insert_event(&mut tx, &operator_id, Some(&settled.account_id),
                EventType::TransferSettled, &transfer_id, transfer_json(&settled), now).await?;
            let worker = Actor { operator_id, key_id: "worker".into() };
            insert_audit(&mut tx, &worker, "transfer.settle", &transfer_id,
                serde_json::json!({"signature": signature}), now).await?;
            tx.commit().await?;
            Ok(SettledOutcome::Settled(Box::new(settled)))
        }

        pub(super) async fn release(
            pool: &Pool,
            job_id: i64,
            worker: &str,
            error: &str,
            next_attempt_at: i64,
            now: i64,
        ) -> Result<bool, StoreError> {
            let done = sqlx::query(
                "UPDATE outbox_jobs SET status = 'pending', lease_owner = NULL, lease_until = NULL, \
                     last_error = $1, next_attempt_at = $2, updated_at = $3 \
                 WHERE id = $4 AND lease_owner = $5 AND status = 'in_progress'",
            )
            .bind(error)
            .bind(next_attempt_at)
            .bind(now)
            .bind(job_id)
            .bind(worker)
            .execute(pool)
            .await?
            .rows_affected();
            Ok(done == 1)
        }

        pub(super) async fn store_transaction(
            pool: &Pool,
            actor: &Actor,
            transfer_id: &str,
            attempt: &SignedAttempt,
            watch_address: Option<&str>,
            now: i64,
        ) -> Result<bool, StoreError> {
            let mut tx = begin_write(pool).await?;
            // Only into a job with no transaction, waiting (never one a worker holds), of a
            // pending transfer of the actor's operator.
            let job: Option<i64> = sqlx::query_scalar(
                "SELECT j.id FROM outbox_jobs j JOIN transfers t ON t.id = j.transfer_id \
                 JOIN accounts a ON a.id = t.account_id \
                 WHERE j.transfer_id = $1 AND a.operator_id = $2 AND t.status = 'pending' \
                   AND j.status = 'pending' AND j.tx_signature IS NULL",
            )
            .bind(transfer_id)
            .bind(&actor.operator_id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(job_id) = job else {
                return Ok(false);
            };
            sqlx::query(
                "UPDATE outbox_jobs SET signed_tx = $1, tx_signature = $2, tx_blockhash = $3, \
                     last_valid_block_height = $4, watch_address = $5, next_attempt_at = $6, \
                     updated_at = $6 WHERE id = $7",
            )
            .bind(&attempt.signed_tx)
            .bind(&attempt.signature)
            .bind(&attempt.blockhash)
            .bind(amount_to_db(attempt.last_valid_block_height)?)
            .bind(watch_address)
            .bind(now)
            .bind(job_id)
            .execute(&mut *tx)
            .await?;
            // A charge's own signature is not the id it lands under; a whole transaction's is.
            if watch_address.is_none() {
                insert_attempt(&mut tx, job_id, attempt, now).await?;
            }
            insert_audit(&mut tx, actor, "transfer.transaction", transfer_id,
                serde_json::json!({"signature": attempt.signature}), now).await?;
            tx.commit().await?;
            Ok(true)
        }

        pub(super) async fn clear_attempt(
            pool: &Pool,
            job_id: i64,
            worker: &str,
            signature: &str,
            reason: &str,
            now: i64,
        ) -> Result<bool, StoreError> {
            let done = sqlx::query(
                "UPDATE outbox_jobs SET signed_tx = NULL, tx_signature = NULL, tx_blockhash = NULL, \
                     last_valid_block_height = NULL, status = 'pending', lease_owner = NULL, \
                     lease_until = NULL, last_error = $1, updated_at = $2 \
                 WHERE id = $3 AND lease_owner = $4 AND status = 'in_progress' \
                   AND tx_signature = $5",
            )
            .bind(reason)
            .bind(now)
            .bind(job_id)
            .bind(worker)
            .bind(signature)
            .execute(pool)
            .await?
            .rows_affected();
            Ok(done == 1)
        }

        pub(super) async fn depth(pool: &Pool) -> Result<QueueDepth, StoreError> {
            let rows: Vec<(String, i64)> = sqlx::query_as(
                "SELECT status, COUNT(*) FROM outbox_jobs \
                 WHERE status IN ('pending', 'in_progress') GROUP BY status",
            )
            .fetch_all(pool)
            .await?;
            let mut depth = QueueDepth::default();
            for (status, n) in rows {
                let n = crate::common::amount_from_db(n, "count")?;
                match status.as_str() {
                    "pending" => depth.pending = n,
                    _ => depth.in_progress = n,
                }
            }
            Ok(depth)
        }

        pub(super) async fn attempt_signatures(
            pool: &Pool,
            transfer_id: &str,
        ) -> Result<Vec<String>, StoreError> {
            Ok(sqlx::query_scalar(
                "SELECT s.signature FROM settlement_attempts s \
                 JOIN outbox_jobs j ON j.id = s.job_id WHERE j.transfer_id = $1 \
                 ORDER BY s.created_at, s.signature",
            )
            .bind(transfer_id)
            .fetch_all(pool)
            .await?)
        }
    };
}

pub(crate) use operator_sql_settlement;

/// What settling a job found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettledOutcome {
    /// Now settled (a `transfer.settled` event was written with it).
    Settled(Box<Transfer>),
    /// It was already settled (or failed) by someone else; nothing changed.
    AlreadyFinal,
}
