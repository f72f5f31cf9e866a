//! The PostgreSQL backend: production, shared by several stateless server instances.
//!
//! Concurrency model: every step is one statement (autocommit, READ COMMITTED) whose effect is
//! decided by a unique index or a row lock: `INSERT … ON CONFLICT` for reservations, proofs and
//! payments, and a conditional `ON CONFLICT … DO UPDATE … WHERE` for budgets, which re-checks
//! the cap against the latest committed total after locking the row.
//!
//! | file | tables |
//! |---|---|
//! | `replay.rs` | `challenge_reservations`, `consumed_proofs` |
//! | `records.rs` | `payments`, `daily_spend`, pruning |
//! | `crate::operator` (expanded here) | the operator tables (`0003_operator.sql`); transfers lock their account `FOR UPDATE` |

mod records;
mod replay;

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::{ConsumeOutcome, PaymentRecord, Reservation, SpendOutcome, Store, StoreError};

/// The PostgreSQL dialect of the schema (`migrations/postgres/NNNN_*.sql`).
static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// Pool settings for [`PgStore::connect_with`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgOptions {
    /// Most connections the pool opens (default 10). Across all instances this must stay
    /// below the server's `max_connections`.
    pub max_connections: u32,
    /// How long a call waits for a free connection before failing (default 30 s).
    pub acquire_timeout: Duration,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(30),
        }
    }
}

/// [`Store`] on PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects with [`PgOptions::default`] and applies the migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, PgOptions::default()).await
    }

    /// Connects a pool configured by `options` to `url` (`postgres://…`) and applies the
    /// migrations. Concurrent migrators are serialised by sqlx's advisory lock.
    pub async fn connect_with(url: &str, options: PgOptions) -> Result<Self, StoreError> {
        // The parse error describes the problem without echoing the URL (and its password).
        let connect =
            PgConnectOptions::from_str(url).map_err(|e| StoreError::InvalidUrl(e.to_string()))?;
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect)
            .await?;
        MIGRATOR.run(&pool).await?;
        tracing::debug!(
            max_connections = options.max_connections,
            "opened PostgreSQL store"
        );
        Ok(Self { pool })
    }

    /// The underlying pool, for callers that need a table this crate does not wrap yet.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Closes every connection of the pool; later calls fail.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Opens a write transaction; operator writes lock the paying account's row inside it.
async fn begin_write(
    pool: &PgPool,
) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
    pool.begin().await
}

crate::operator::operator_store_impl!(
    crate::PgStore,
    sqlx::PgPool,
    sqlx::PgConnection,
    lock = " FOR UPDATE"
);

#[async_trait]
impl Store for PgStore {
    async fn reserve_challenge(
        &self,
        challenge_id: &str,
        credential_digest: &[u8; 32],
        expires_at: i64,
    ) -> Result<Reservation, StoreError> {
        replay::reserve_challenge(&self.pool, challenge_id, credential_digest, expires_at).await
    }

    async fn complete_challenge(
        &self,
        challenge_id: &str,
        credential_digest: &[u8; 32],
        receipt: &str,
    ) -> Result<(), StoreError> {
        replay::complete_challenge(&self.pool, challenge_id, credential_digest, receipt).await
    }

    async fn release_challenge(
        &self,
        challenge_id: &str,
        credential_digest: &[u8; 32],
    ) -> Result<(), StoreError> {
        replay::release_challenge(&self.pool, challenge_id, credential_digest).await
    }

    async fn consume_proof(
        &self,
        proof: &str,
        challenge_id: &str,
    ) -> Result<ConsumeOutcome, StoreError> {
        replay::consume_proof(&self.pool, proof, challenge_id).await
    }

    async fn release_proof(&self, proof: &str, challenge_id: &str) -> Result<(), StoreError> {
        replay::release_proof(&self.pool, proof, challenge_id).await
    }

    async fn record_payment(&self, payment: &PaymentRecord) -> Result<(), StoreError> {
        records::record_payment(&self.pool, payment).await
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
    sql.to_owned()
}

crate::channels::channel_store_impl!(PgStore, begin_write, dialect, debit = debit_in_transaction);
