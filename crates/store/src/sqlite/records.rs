//! Payment records, daily budgets and pruning on SQLite: `payments`, `daily_spend`.

use sqlx::{Executor, Sqlite, SqlitePool};

use crate::common::{amount_from_db, amount_to_db, cap_to_db, payment_from_row};
use crate::{PaymentRecord, SpendOutcome, StoreError};

/// Inserts one payment; a second record for the same (role, challenge) is a conflict.
pub(super) async fn record_payment<'c>(
    ex: impl Executor<'c, Database = Sqlite>,
    payment: &PaymentRecord,
) -> Result<(), StoreError> {
    let amount = amount_to_db(payment.amount)?;
    let inserted = sqlx::query(
        "INSERT INTO payments (challenge_id, role, method, intent, reference, amount, currency, \
             recipient, payer, realm, receipt, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) \
         ON CONFLICT (role, challenge_id) DO NOTHING",
    )
    .bind(&payment.challenge_id)
    .bind(&payment.role)
    .bind(&payment.method)
    .bind(&payment.intent)
    .bind(&payment.reference)
    .bind(amount)
    .bind(&payment.currency)
    .bind(&payment.recipient)
    .bind(&payment.payer)
    .bind(&payment.realm)
    .bind(&payment.receipt)
    .bind(payment.created_at)
    .execute(ex)
    .await?
    .rows_affected();
    if inserted == 1 {
        Ok(())
    } else {
        Err(StoreError::Conflict(format!(
            "a {} payment for challenge {} is already recorded",
            payment.role, payment.challenge_id
        )))
    }
}

/// Newest first; ties on `created_at` go by insertion order, newest first.
pub(super) async fn list_payments(
    pool: &SqlitePool,
    limit: u32,
) -> Result<Vec<PaymentRecord>, StoreError> {
    let rows = sqlx::query(
        "SELECT challenge_id, role, method, intent, reference, amount, currency, recipient, \
             payer, realm, receipt, created_at \
         FROM payments ORDER BY created_at DESC, id DESC LIMIT ?1",
    )
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    rows.iter().map(payment_from_row).collect()
}

/// Read-check-write under `BEGIN IMMEDIATE`: no other connection can change the total between
/// the read and the write, so concurrent adds never pass the cap.
pub(super) async fn add_spend(
    pool: &SqlitePool,
    scope: &str,
    day: &str,
    amount: u64,
    cap: u64,
) -> Result<SpendOutcome, StoreError> {
    let amount = amount_to_db(amount)?;
    let cap = cap_to_db(cap);
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let current: i64 =
        sqlx::query_scalar("SELECT total FROM daily_spend WHERE scope = ?1 AND day = ?2")
            .bind(scope)
            .bind(day)
            .fetch_optional(&mut *tx)
            .await?
            .unwrap_or(0);
    let Some(new_total) = current.checked_add(amount).filter(|t| *t <= cap) else {
        tx.rollback().await?;
        return Ok(SpendOutcome::OverBudget {
            total: amount_from_db(current, "daily_spend.total")?,
        });
    };
    sqlx::query(
        "INSERT INTO daily_spend (scope, day, total) VALUES (?1, ?2, ?3) \
         ON CONFLICT (scope, day) DO UPDATE SET total = excluded.total",
    )
    .bind(scope)
    .bind(day)
    .bind(new_total)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(SpendOutcome::Accepted {
        total: amount_from_db(new_total, "daily_spend.total")?,
    })
}

/// Subtracts, stopping at zero; a missing row stays missing. One statement, so atomic.
pub(super) async fn refund_spend(
    pool: &SqlitePool,
    scope: &str,
    day: &str,
    amount: u64,
) -> Result<(), StoreError> {
    let amount = amount_to_db(amount)?;
    // Both operands are non-negative i64, so `total - amount` cannot overflow.
    sqlx::query("UPDATE daily_spend SET total = MAX(total - ?1, 0) WHERE scope = ?2 AND day = ?3")
        .bind(amount)
        .bind(scope)
        .bind(day)
        .execute(pool)
        .await?;
    Ok(())
}

/// Deletes reservations that expired before `now`; consumed proofs are kept forever.
pub(super) async fn prune_expired(pool: &SqlitePool, now: i64) -> Result<u64, StoreError> {
    let deleted = sqlx::query("DELETE FROM challenge_reservations WHERE expires_at < ?1")
        .bind(now)
        .execute(pool)
        .await?
        .rows_affected();
    Ok(deleted)
}
