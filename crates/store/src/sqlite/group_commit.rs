//! Group commit for a SQLite file: the replay, payment and channel-debit writes of concurrent
//! requests share one `BEGIN IMMEDIATE … COMMIT`, so one WAL sync (`synchronous = FULL`) makes
//! a whole batch durable instead of paying one sync per write. On a disk where a sync takes milliseconds, that
//! sync, not SQL, is what limits payments per second.
//!
//! The rules are the ones of one transaction per write:
//! - A caller is answered only after the commit holding its write has returned: no write is
//!   reported before it is durable.
//! - The writes of a batch run one after another under the write lock, so each sees the ones
//!   before it, exactly as if each had been its own transaction in that order.
//! - If a write fails in the backend or the commit fails, the whole batch is rolled back and
//!   each write is retried in its own transaction, so one bad write cannot fail the others.
//!
//! One writer task owns one connection; reads keep using the pool (WAL lets them run while it
//! writes). Other processes on the same file still coordinate through SQLite's lock.

use sqlx::Connection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use tokio::sync::{mpsc, oneshot};

use super::channels::{OwnedDebit, debit_in};
use super::{records, replay};
use crate::{ConsumeOutcome, DebitOutcome, PaymentRecord, Reservation, StoreError};

/// Most writes in one transaction (bounds how long the write lock is held).
const MAX_BATCH: usize = 256;

/// A write the writer task performs.
pub(super) enum Write {
    Reserve {
        challenge_id: String,
        digest: [u8; 32],
        expires_at: i64,
    },
    Complete {
        challenge_id: String,
        digest: [u8; 32],
        receipt: String,
    },
    ReleaseChallenge {
        challenge_id: String,
        digest: [u8; 32],
    },
    Consume {
        proof: String,
        challenge_id: String,
    },
    ReleaseProof {
        proof: String,
        challenge_id: String,
    },
    Record(Box<PaymentRecord>),
    Debit(Box<OwnedDebit>),
}

/// What a write produced.
pub(super) enum Done {
    Reservation(Reservation),
    Consumed(ConsumeOutcome),
    Debited(DebitOutcome),
    Written,
}

enum Msg {
    Write(Write, oneshot::Sender<Result<Done, StoreError>>),
    Close(oneshot::Sender<()>),
}

/// A handle to the writer task. Cheap to clone; the task stops on [`Writer::close`] or when
/// the last handle is dropped.
#[derive(Debug, Clone)]
pub(super) struct Writer {
    msgs: mpsc::UnboundedSender<Msg>,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Msg::Write(..) => "Write",
            Msg::Close(_) => "Close",
        })
    }
}

fn closed() -> StoreError {
    StoreError::Backend(sqlx::Error::PoolClosed)
}

impl Writer {
    /// Opens the writer's own connection and starts its task on the current tokio runtime.
    pub async fn start(options: &SqliteConnectOptions) -> Result<Self, StoreError> {
        let conn = SqliteConnection::connect_with(options).await?;
        let (msgs, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(conn, rx));
        Ok(Writer { msgs })
    }

    /// Performs `write` in the next batch and answers once that batch is durable.
    pub async fn submit(&self, write: Write) -> Result<Done, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.msgs
            .send(Msg::Write(write, reply))
            .map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }

    /// Finishes the queued writes, closes the connection and stops the task; later writes fail.
    pub async fn close(&self) {
        let (done, wait) = oneshot::channel();
        if self.msgs.send(Msg::Close(done)).is_ok() {
            // The task may already be gone; either way nothing is left to wait for.
            let _ = wait.await;
        }
    }
}

async fn run(mut conn: SqliteConnection, mut rx: mpsc::UnboundedReceiver<Msg>) {
    let mut msgs = Vec::with_capacity(MAX_BATCH);
    let mut close = None;
    while close.is_none() && rx.recv_many(&mut msgs, MAX_BATCH).await > 0 {
        let mut batch = Vec::with_capacity(msgs.len());
        for m in msgs.drain(..) {
            match m {
                Msg::Write(w, reply) => batch.push((w, reply)),
                // Writes queued before the close still happen; later ones are refused.
                Msg::Close(done) => close = Some(done),
            }
        }
        if !batch.is_empty() {
            commit_batch(&mut conn, batch).await;
        }
    }
    if let Err(e) = conn.close().await {
        tracing::debug!(error = %e, "closing the SQLite writer connection failed");
    }
    if let Some(done) = close {
        let _ = done.send(());
    }
}

type Batch = Vec<(Write, oneshot::Sender<Result<Done, StoreError>>)>;

async fn commit_batch(conn: &mut SqliteConnection, batch: Batch) {
    match together(conn, &batch).await {
        Ok(results) => {
            for ((_, reply), result) in batch.into_iter().zip(results) {
                // The caller may have gone away; its write is durable all the same.
                let _ = reply.send(result);
            }
        }
        Err(e) if batch.len() == 1 => {
            if let Some((_, reply)) = batch.into_iter().next() {
                let _ = reply.send(Err(e));
            }
        }
        Err(e) => {
            tracing::debug!(error = %e, size = batch.len(), "batch rolled back; writing one by one");
            for (write, reply) in batch {
                let _ = reply.send(alone(conn, &write).await);
            }
        }
    }
}

/// All writes in one transaction. A backend error rolls everything back (the transaction is
/// dropped uncommitted) and is returned; other errors are that write's answer.
async fn together(
    conn: &mut SqliteConnection,
    batch: &Batch,
) -> Result<Vec<Result<Done, StoreError>>, StoreError> {
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    let mut results = Vec::with_capacity(batch.len());
    for (write, _) in batch {
        match apply(&mut tx, write).await {
            Err(e @ StoreError::Backend(_)) => return Err(e),
            other => results.push(other),
        }
    }
    tx.commit().await?;
    Ok(results)
}

async fn alone(conn: &mut SqliteConnection, write: &Write) -> Result<Done, StoreError> {
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    let done = apply(&mut tx, write).await?;
    tx.commit().await?;
    Ok(done)
}

async fn apply(conn: &mut SqliteConnection, write: &Write) -> Result<Done, StoreError> {
    Ok(match write {
        Write::Reserve {
            challenge_id,
            digest,
            expires_at,
        } => Done::Reservation(replay::reserve_in(conn, challenge_id, digest, *expires_at).await?),
        Write::Complete {
            challenge_id,
            digest,
            receipt,
        } => {
            replay::complete_challenge(&mut *conn, challenge_id, digest, receipt).await?;
            Done::Written
        }
        Write::ReleaseChallenge {
            challenge_id,
            digest,
        } => {
            replay::release_challenge(&mut *conn, challenge_id, digest).await?;
            Done::Written
        }
        Write::Consume {
            proof,
            challenge_id,
        } => Done::Consumed(replay::consume_in(conn, proof, challenge_id).await?),
        Write::ReleaseProof {
            proof,
            challenge_id,
        } => {
            replay::release_proof(&mut *conn, proof, challenge_id).await?;
            Done::Written
        }
        Write::Record(payment) => {
            records::record_payment(&mut *conn, payment).await?;
            Done::Written
        }
        Write::Debit(debit) => Done::Debited(debit_in(conn, debit).await?),
    })
}
