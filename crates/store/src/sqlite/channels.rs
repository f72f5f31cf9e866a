//! Channel debits on SQLite through the group-commit writer: the debits of concurrent requests
//! (on any channels) share one `BEGIN IMMEDIATE … COMMIT`, so one WAL sync makes a batch of
//! metering steps durable. Each caller is answered only after its batch has committed, so a
//! voucher is still persisted before its response.

use sqlx::SqliteConnection;

use crate::StoreError;
use crate::channels::{CHANNEL_COLUMNS, ChannelRow, DEBIT_UPDATE, Debit, DebitOutcome};
use crate::common::amount_to_db as db;

/// A [`Debit`] the writer task can own.
pub(super) struct OwnedDebit {
    channel_id: String,
    expected_accepted: u64,
    expected_spent: u64,
    new_accepted: u64,
    new_spent: u64,
    voucher: Option<String>,
    idempotency_key: Option<String>,
    receipt: String,
    now: i64,
}

impl OwnedDebit {
    pub(super) fn new(d: &Debit<'_>) -> Self {
        Self {
            channel_id: d.channel_id.to_owned(),
            expected_accepted: d.expected_accepted,
            expected_spent: d.expected_spent,
            new_accepted: d.new_accepted,
            new_spent: d.new_spent,
            voucher: d.voucher.map(str::to_owned),
            idempotency_key: d.idempotency_key.map(str::to_owned),
            receipt: d.receipt.to_owned(),
            now: d.now,
        }
    }
}

/// One debit inside a transaction whose write lock the caller holds. Nothing is written unless
/// the step applies, so a refused step needs no rollback of its own and the other writes of
/// the batch are unaffected.
///
/// Under the write lock, reading the idempotency row first and inserting it after the
/// compare-and-set is equivalent to the insert-or-conflict of a transaction per debit: no other
/// writer can come between the read and the insert.
pub(super) async fn debit_in(
    conn: &mut SqliteConnection,
    d: &OwnedDebit,
) -> Result<DebitOutcome, StoreError> {
    if let Some(key) = &d.idempotency_key {
        let stored: Option<String> = sqlx::query_scalar(
            "SELECT receipt FROM session_requests WHERE channel_id = ?1 AND idempotency_key = ?2",
        )
        .bind(&d.channel_id)
        .bind(key)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(receipt) = stored {
            return Ok(DebitOutcome::Replayed { receipt });
        }
    }
    let n = sqlx::query(&super::dialect(DEBIT_UPDATE))
        .bind(db(d.new_accepted)?)
        .bind(db(d.new_spent)?)
        .bind(d.voucher.as_deref())
        .bind(d.now)
        .bind(&d.channel_id)
        .bind(db(d.expected_accepted)?)
        .bind(db(d.expected_spent)?)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    if n == 0 {
        let row: Option<ChannelRow> = sqlx::query_as(&format!(
            "SELECT {CHANNEL_COLUMNS} FROM session_channels WHERE channel_id = ?1"
        ))
        .bind(&d.channel_id)
        .fetch_optional(&mut *conn)
        .await?;
        let current = row.map(ChannelRow::into_record).transpose()?;
        return Ok(DebitOutcome::Stale(current.map(Box::new)));
    }
    if let Some(key) = &d.idempotency_key {
        sqlx::query(
            "INSERT INTO session_requests (channel_id, idempotency_key, receipt, created_at) \
             VALUES (?1, ?2, ?3, ?4)",
        )
        .bind(&d.channel_id)
        .bind(key)
        .bind(&d.receipt)
        .bind(d.now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(DebitOutcome::Applied)
}
