//! # mppsol-store: durable state behind one interface
//!
//! Two backends from day one, with the same migrations in each dialect:
//! - [`sqlite::SqliteStore`]: the default; a file under the data dir, or in memory.
//! - [`postgres::PgStore`]: production; several stateless server instances share it.
//!
//! Races that are part of normal operation come back as outcomes ([`Reservation`],
//! [`ConsumeOutcome`], [`SpendOutcome`]), not errors. Business rules live in the callers; the
//! store only makes each step atomic.
//!
//! Amounts are `u64` base units in the API and `BIGINT` in the database; an amount above
//! `i64::MAX` is refused with [`StoreError::AmountTooLarge`] rather than wrapped.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;

pub mod channels;
mod common;
pub mod model;
pub mod operator;
pub mod postgres;
pub mod sqlite;

pub use channels::{
    ChannelRecord, ChannelStore, ClientChannel, CloseStart, Debit, DebitOutcome, SessionStatus,
};
pub use model::PaymentRecord;
pub use operator::OperatorStore;
pub use postgres::{PgOptions, PgStore};
pub use sqlite::SqliteStore;

/// Opens the store named by `url_or_path` and runs its migrations.
///
/// - `postgres://…` or `postgresql://…`: [`PgStore::connect`].
/// - `sqlite::memory:`: [`SqliteStore::in_memory`].
/// - `sqlite://path`, `sqlite:path` or a bare filesystem path: [`SqliteStore::open`] (the file
///   and its parent directory are created if missing).
///
/// Any other `scheme://` is [`StoreError::InvalidUrl`]; the message names the scheme only, so a
/// password in the URL never reaches a log.
pub async fn open_store(url_or_path: &str) -> Result<Arc<dyn Store>, StoreError> {
    Ok(match open_backend(url_or_path).await? {
        Backend::Sqlite(s) => Arc::new(s),
        Backend::Postgres(s) => Arc::new(s),
    })
}

/// Opens the store named by `url_or_path` (as [`open_store`] does) for the operator service.
pub async fn open_operator_store(url_or_path: &str) -> Result<Arc<dyn OperatorStore>, StoreError> {
    Ok(match open_backend(url_or_path).await? {
        Backend::Sqlite(s) => Arc::new(s),
        Backend::Postgres(s) => Arc::new(s),
    })
}

enum Backend {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

async fn open_backend(url_or_path: &str) -> Result<Backend, StoreError> {
    if url_or_path.is_empty() {
        return Err(StoreError::InvalidUrl("empty database location".into()));
    }
    if url_or_path.starts_with("postgres://") || url_or_path.starts_with("postgresql://") {
        return Ok(Backend::Postgres(PgStore::connect(url_or_path).await?));
    }
    if let Some(rest) = url_or_path.strip_prefix("sqlite:") {
        if rest == ":memory:" || rest == "//:memory:" {
            return Ok(Backend::Sqlite(SqliteStore::in_memory().await?));
        }
        let path = rest.strip_prefix("//").unwrap_or(rest);
        // Query parameters (`?mode=ro`…) would silently change what is opened; we set the
        // options ourselves, so refuse them rather than treat them as part of a file name.
        if path.is_empty() || path.contains('?') {
            return Err(StoreError::InvalidUrl(
                "expected sqlite::memory:, sqlite://<path> or sqlite:<path> without parameters"
                    .into(),
            ));
        }
        return Ok(Backend::Sqlite(SqliteStore::open(Path::new(path)).await?));
    }
    if let Some((scheme, _)) = url_or_path.split_once("://") {
        return Err(StoreError::InvalidUrl(format!(
            "unsupported scheme {scheme:?}; expected postgres://, postgresql:// or sqlite:"
        )));
    }
    Ok(Backend::Sqlite(
        SqliteStore::open(Path::new(url_or_path)).await?,
    ))
}

/// What a challenge reservation found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reservation {
    /// The challenge was unused; it is now reserved for this credential.
    Fresh,
    /// This same credential already completed; here is the receipt it got (an idempotent retry).
    Completed {
        /// The `Payment-Receipt` header value that was returned.
        receipt: String,
    },
    /// This same credential is being processed by another request right now.
    InFlight,
    /// A different credential already used (or is using) this challenge.
    TakenByOtherCredential,
}

/// What consuming a payment proof found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsumeOutcome {
    /// First use: the proof is now bound to this challenge.
    Fresh,
    /// The proof was consumed before, for the named challenge.
    AlreadyConsumed {
        /// The challenge it paid for.
        challenge_id: String,
    },
}

/// What adding to a daily budget found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpendOutcome {
    /// Added; the day's new total.
    Accepted {
        /// Total spent in this scope today, including this amount.
        total: u64,
    },
    /// Not added: it would exceed the cap.
    OverBudget {
        /// Total spent in this scope today, without this amount.
        total: u64,
    },
}

/// A storage failure. Expected races are outcomes, not errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database could not be reached or failed.
    #[error("store backend: {0}")]
    Backend(#[from] sqlx::Error),
    /// Migrations could not be applied.
    #[error("store migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A row that must exist does not.
    #[error("not found: {0}")]
    NotFound(String),
    /// A write conflicts with existing state in a way the caller did not expect.
    #[error("conflict: {0}")]
    Conflict(String),
    /// An amount does not fit the database's signed 64-bit integers.
    #[error("amount {0} exceeds the storable maximum")]
    AmountTooLarge(u64),
    /// The connection string is not usable.
    #[error("invalid database URL: {0}")]
    InvalidUrl(String),
}

/// Durable state for servers (replay protection, payment records, session channels) and clients
/// (payment records, daily budgets, their channels).
#[async_trait]
pub trait Store: ChannelStore + Send + Sync {
    /// Reserves `challenge_id` for the credential whose SHA-256 is `credential_digest`.
    /// `expires_at` (Unix seconds) lets old rows be pruned.
    async fn reserve_challenge(
        &self,
        challenge_id: &str,
        credential_digest: &[u8; 32],
        expires_at: i64,
    ) -> Result<Reservation, StoreError>;

    /// Records the receipt of a reserved challenge whose payment succeeded.
    async fn complete_challenge(
        &self,
        challenge_id: &str,
        credential_digest: &[u8; 32],
        receipt: &str,
    ) -> Result<(), StoreError>;

    /// Frees a reservation whose payment failed verification, so a corrected credential can
    /// answer the challenge. Does nothing if the reservation belongs to another credential or
    /// has completed.
    async fn release_challenge(
        &self,
        challenge_id: &str,
        credential_digest: &[u8; 32],
    ) -> Result<(), StoreError>;

    /// Consumes a payment proof (a transaction signature) for a challenge, exactly once across
    /// every challenge and every server instance sharing this store.
    async fn consume_proof(
        &self,
        proof: &str,
        challenge_id: &str,
    ) -> Result<ConsumeOutcome, StoreError>;

    /// Un-consumes a proof that is known never to have landed (the send failed before the
    /// cluster accepted it). Only the challenge that consumed it can release it.
    async fn release_proof(&self, proof: &str, challenge_id: &str) -> Result<(), StoreError>;

    /// Records a completed payment (either side).
    async fn record_payment(&self, payment: &PaymentRecord) -> Result<(), StoreError>;

    /// The most recent payments, newest first.
    async fn list_payments(&self, limit: u32) -> Result<Vec<PaymentRecord>, StoreError>;

    /// Atomically adds `amount` to the `scope`'s total for `day` (`YYYY-MM-DD`, UTC) unless
    /// that would exceed `cap`.
    async fn add_spend(
        &self,
        scope: &str,
        day: &str,
        amount: u64,
        cap: u64,
    ) -> Result<SpendOutcome, StoreError>;

    /// Gives back an amount added by [`Store::add_spend`] whose payment did not happen.
    async fn refund_spend(&self, scope: &str, day: &str, amount: u64) -> Result<(), StoreError>;

    /// Deletes challenge reservations that expired before `now` (Unix seconds); returns how
    /// many. Consumed proofs are kept: a signature stays spent forever.
    async fn prune_expired(&self, now: i64) -> Result<u64, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    /// Servers open stores inside spawned tasks, so the futures must be `Send`.
    #[test]
    fn open_futures_are_send() {
        assert_send(&open_store("sqlite::memory:"));
        assert_send(&SqliteStore::open(Path::new("x.db")));
        assert_send(&SqliteStore::in_memory());
        assert_send(&PgStore::connect("postgres://localhost/x"));
    }
}
