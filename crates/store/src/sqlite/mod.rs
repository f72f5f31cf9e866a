//! The SQLite backend: the embedded default, a file under the data dir or an in-memory database.
//!
//! Concurrency model: SQLite has one writer at a time per database file. Every multi-statement
//! step runs in a `BEGIN IMMEDIATE` transaction, which takes the write lock before reading, so a
//! read-check-write cannot interleave with another connection or process, and waiting for the
//! lock goes through `busy_timeout` instead of failing with `SQLITE_BUSY` on a lock upgrade.
//! Single statements run in autocommit mode, which is atomic on its own.
//!
//! | file | tables |
//! |---|---|
//! | `replay.rs` | `challenge_reservations`, `consumed_proofs` |
//! | `records.rs` | `payments`, `daily_spend`, pruning |
//! | `crate::operator` (expanded here) | the operator tables (`0003_operator.sql`) |
//! | `group_commit.rs` | one transaction (one WAL sync) for the concurrent replay, payment and debit writes of a file database |
//! | `channels.rs` | channel debits as group-commit writes |

mod channels;
mod group_commit;
mod records;
mod replay;

use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use sqlx::Connection;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::{ConsumeOutcome, PaymentRecord, Reservation, SpendOutcome, Store, StoreError};
use group_commit::{Done, Write, Writer};

/// The SQLite dialect of the schema (`migrations/sqlite/NNNN_*.sql`).
static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long a connection waits for another writer's lock before giving up with `SQLITE_BUSY`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections per pool on a file database. Writers are serialised by SQLite anyway; a few
/// connections let readers proceed while one writes (WAL).
const FILE_MAX_CONNECTIONS: u32 = 8;

/// [`Store`] on SQLite.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// The group-commit writer for replay and payment writes (file databases only).
    writer: Option<Writer>,
}

impl SqliteStore {
    /// Opens (creating it and its parent directory if missing) the database file at `path`,
    /// in WAL mode with a 5 s busy timeout and foreign keys on, and applies the migrations.
    ///
    /// Several stores (in this process or others) may open the same file; they coordinate
    /// through SQLite's file locks.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(sqlx::Error::Io)?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            // FULL syncs the WAL on every commit: a consumed proof must survive a power cut,
            // or the same signature could be accepted twice after a restart.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        // WAL is a property of the file, set once here rather than by every pooled connection
        // (see `enable_wal`); connections opened later inherit it.
        enable_wal(&options).await?;
        let pool = SqlitePoolOptions::new()
            .max_connections(FILE_MAX_CONNECTIONS)
            .connect_with(options.clone())
            .await?;
        tracing::debug!(path = %path.display(), "opened SQLite store");
        let mut store = Self::migrated(pool).await?;
        store.writer = Some(Writer::start(&options).await?);
        Ok(store)
    }

    /// A fresh in-memory database, private to this store and gone when it is dropped.
    ///
    /// Each connection to `:memory:` would otherwise be its own empty database, so the pool
    /// holds exactly one connection that is never closed for idleness or age: every caller
    /// sees the same data (and calls are serialised, which SQLite would do for writes anyway).
    pub async fn in_memory() -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")?
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await?;
        Self::migrated(pool).await
    }

    /// The underlying pool, for callers that need a table this crate does not wrap yet.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Closes every connection of the pool; later calls fail.
    pub async fn close(&self) {
        if let Some(w) = &self.writer {
            w.close().await;
        }
        self.pool.close().await;
    }

    /// Runs `write` through the group-commit writer. Only called when there is one.
    async fn grouped(&self, writer: &Writer, write: Write) -> Result<Done, StoreError> {
        if self.pool.is_closed() {
            return Err(StoreError::Backend(sqlx::Error::PoolClosed));
        }
        writer.submit(write).await
    }

    /// Applies pending migrations and wraps the pool.
    async fn migrated(pool: SqlitePool) -> Result<Self, StoreError> {
        // sqlx's SQLite migrator takes no lock, so two processes opening a new file at once
        // could both apply 0001. Holding the write lock serialises them: the second one finds
        // the migration already recorded. (The migrator's own transaction nests as a savepoint.)
        // `run_direct` rather than `run`: `run`'s `Acquire` bound makes this future fail the
        // `Send` check (sqlx's own comment on `run_direct` names this workaround), and callers
        // spawn `open` on multi-threaded runtimes.
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
        MIGRATOR.run_direct(&mut *tx).await?;
        tx.commit().await?;
        Ok(Self { pool, writer: None })
    }
}

/// Puts the database file in WAL mode (readers never block the writer, and vice versa).
///
/// Switching a file into WAL needs an exclusive lock that SQLite does not wait for:
/// `busy_timeout` does not apply, and the pragma fails at once with `SQLITE_BUSY` while another
/// connection is using a file that is still in rollback-journal mode. That happens when several
/// stores or processes open a new file at the same moment, so the switch is retried here until
/// [`BUSY_TIMEOUT`] has passed. Once the file is in WAL, the pragma is a no-op.
async fn enable_wal(options: &SqliteConnectOptions) -> Result<(), StoreError> {
    /// Pause between attempts; the lock holder is another opener's short setup transaction.
    const RETRY_PAUSE: Duration = Duration::from_millis(10);
    let deadline = Instant::now() + BUSY_TIMEOUT;
    let mut conn = SqliteConnection::connect_with(options).await?;
    let outcome = loop {
        let attempt = sqlx::query_scalar::<_, String>("PRAGMA journal_mode = WAL")
            .fetch_one(&mut conn)
            .await;
        match attempt {
            Ok(mode) if mode.eq_ignore_ascii_case("wal") => break Ok(()),
            // SQLite answers with the mode it kept when WAL is impossible (e.g. a filesystem
            // without shared memory); running without WAL would change the locking model.
            Ok(mode) => {
                break Err(StoreError::Backend(sqlx::Error::Configuration(
                    format!("could not enable WAL journal mode; the database stays in {mode}")
                        .into(),
                )));
            }
            Err(e) if is_busy(&e) && Instant::now() < deadline => {
                tokio::time::sleep(RETRY_PAUSE).await;
            }
            Err(e) => break Err(e.into()),
        }
    };
    // Closing is best effort: the outcome above is what matters to the caller.
    if let Err(e) = conn.close().await {
        tracing::debug!(error = %e, "closing the WAL setup connection failed");
    }
    outcome
}

/// Opens a write transaction that holds SQLite's write lock from its first statement.
async fn begin_write(
    pool: &SqlitePool,
) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
    pool.begin_with("BEGIN IMMEDIATE").await
}

crate::operator::operator_store_impl!(
    crate::SqliteStore,
    sqlx::SqlitePool,
    sqlx::SqliteConnection,
    lock = ""
);

/// The writer answered a write with another write's kind of result (a bug, not a database
/// state); reported rather than panicking.
fn unexpected() -> StoreError {
    StoreError::Backend(sqlx::Error::Protocol(
        "group-commit writer returned the wrong kind of result".into(),
    ))
}

/// `SQLITE_BUSY`, including its extended codes (connections report extended result codes).
fn is_busy(error: &sqlx::Error) -> bool {
    const SQLITE_BUSY: i32 = 5;
    let sqlx::Error::Database(db) = error else {
        return false;
    };
    db.code()
        .and_then(|code| code.parse::<i32>().ok())
        .is_some_and(|code| code & 0xff == SQLITE_BUSY)
}

#[async_trait]
impl Store for SqliteStore {
    async fn reserve_challenge(
        &self,
        challenge_id: &str,
        credential_digest: &[u8; 32],
        expires_at: i64,
    ) -> Result<Reservation, StoreError> {
        let Some(w) = &self.writer else {
            return replay::reserve_challenge(
                &self.pool,
                challenge_id,
                credential_digest,
                expires_at,
            )
            .await;
        };
        let write = Write::Reserve {
            challenge_id: challenge_id.to_owned(),
            digest: *credential_digest,
            expires_at,
        };
        match self.grouped(w, write).await? {
            Done::Reservation(r) => Ok(r),
            _ => Err(unexpected()),
        }
    }

    async fn complete_challenge(
        &self,
        challenge_id: &str,
        credential_digest: &[u8; 32],
        receipt: &str,
    ) -> Result<(), StoreError> {
        let Some(w) = &self.writer else {
            return replay::complete_challenge(
                &self.pool,
                challenge_id,
                credential_digest,
                receipt,
            )
            .await;
        };
        let write = Write::Complete {
            challenge_id: challenge_id.to_owned(),
            digest: *credential_digest,
            receipt: receipt.to_owned(),
        };
        self.grouped(w, write).await.map(drop)
    }

    async fn release_challenge(
        &self,
        challenge_id: &str,
        credential_digest: &[u8; 32],
    ) -> Result<(), StoreError> {
        let Some(w) = &self.writer else {
            return replay::release_challenge(&self.pool, challenge_id, credential_digest).await;
        };
        let write = Write::ReleaseChallenge {
            challenge_id: challenge_id.to_owned(),
            digest: *credential_digest,
        };
        self.grouped(w, write).await.map(drop)
    }

    async fn consume_proof(
        &self,
        proof: &str,
        challenge_id: &str,
    ) -> Result<ConsumeOutcome, StoreError> {
        let Some(w) = &self.writer else {
            return replay::consume_proof(&self.pool, proof, challenge_id).await;
        };
        let write = Write::Consume {
            proof: proof.to_owned(),
            challenge_id: challenge_id.to_owned(),
        };
        match self.grouped(w, write).await? {
            Done::Consumed(c) => Ok(c),
            _ => Err(unexpected()),
        }
    }

    async fn release_proof(&self, proof: &str, challenge_id: &str) -> Result<(), StoreError> {
        let Some(w) = &self.writer else {
            return replay::release_proof(&self.pool, proof, challenge_id).await;
        };
        let write = Write::ReleaseProof {
            proof: proof.to_owned(),
            challenge_id: challenge_id.to_owned(),
        };
        self.grouped(w, write).await.map(drop)
    }

    async fn record_payment(&self, payment: &PaymentRecord) -> Result<(), StoreError> {
        let Some(w) = &self.writer else {
            return records::record_payment(&self.pool, payment).await;
        };
        self.grouped(w, Write::Record(Box::new(payment.clone())))
            .await
            .map(drop)
    }

    async fn list_payments(&self, limit: u32) -> Result<Vec<PaymentRecord>, StoreError> {
        records::list_payments(&self.pool, limit).await
    }

    async fn add_spend(
        &self,
        scope: &str,
        day: &str,
        amount: u64,
        cap: u64,
    ) -> Result<SpendOutcome, StoreError> {
        records::add_spend(&self.pool, scope, day, amount, cap).await
    }

    async fn refund_spend(&self, scope: &str, day: &str, amount: u64) -> Result<(), StoreError> {
        records::refund_spend(&self.pool, scope, day, amount).await
    }

    async fn prune_expired(&self, now: i64) -> Result<u64, StoreError> {
        records::prune_expired(&self.pool, now).await
    }
}

/// The channel queries are written with `$n` placeholders.
fn dialect(sql: &str) -> String {
    sql.replace('$', "?")
}

impl SqliteStore {
    /// A debit through the group-commit writer on a file database (one WAL sync per batch of
    /// concurrent debits); in its own transaction in memory.
    async fn debit_grouped(
        &self,
        d: &crate::channels::Debit<'_>,
    ) -> Result<crate::channels::DebitOutcome, StoreError> {
        let Some(w) = &self.writer else {
            return self.debit_in_transaction(d).await;
        };
        let write = Write::Debit(Box::new(channels::OwnedDebit::new(d)));
        match self.grouped(w, write).await? {
            Done::Debited(outcome) => Ok(outcome),
            _ => Err(unexpected()),
        }
    }
}

crate::channels::channel_store_impl!(SqliteStore, begin_write, dialect, debit = debit_grouped);
