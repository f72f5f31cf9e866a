//! Replay protection on SQLite: `challenge_reservations` and `consumed_proofs`.

use sqlx::{Executor, Sqlite, SqliteConnection, SqlitePool};

use crate::common::{STATUS_COMPLETED, STATUS_PENDING, classify_reservation, unix_now};
use crate::{ConsumeOutcome, Reservation, StoreError};

/// Insert-or-inspect under the write lock: the insert and the read of a conflicting row see
/// the same state, so the outcome is exact even with other writers waiting.
pub(super) async fn reserve_challenge(
    pool: &SqlitePool,
    challenge_id: &str,
    digest: &[u8; 32],
    expires_at: i64,
) -> Result<Reservation, StoreError> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let outcome = reserve_in(&mut tx, challenge_id, digest, expires_at).await?;
    tx.commit().await?;
    Ok(outcome)
}

/// [`reserve_challenge`]'s statements, inside a transaction the caller holds the write lock of.
pub(super) async fn reserve_in(
    conn: &mut SqliteConnection,
    challenge_id: &str,
    digest: &[u8; 32],
    expires_at: i64,
) -> Result<Reservation, StoreError> {
    let inserted = sqlx::query(
        "INSERT INTO challenge_reservations \
             (challenge_id, credential_digest, status, receipt, expires_at, created_at) \
         VALUES (?1, ?2, ?3, NULL, ?4, ?5) \
         ON CONFLICT (challenge_id) DO NOTHING",
    )
    .bind(challenge_id)
    .bind(digest.as_slice())
    .bind(STATUS_PENDING)
    .bind(expires_at)
    .bind(unix_now())
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted == 1 {
        Ok(Reservation::Fresh)
    } else {
        // The lock is held, so the row that blocked the insert is still there.
        let (stored, status, receipt): (Vec<u8>, String, Option<String>) = sqlx::query_as(
            "SELECT credential_digest, status, receipt FROM challenge_reservations \
             WHERE challenge_id = ?1",
        )
        .bind(challenge_id)
        .fetch_one(&mut *conn)
        .await?;
        classify_reservation(digest, &stored, &status, receipt)
    }
}

/// Pending → completed, only for the credential that holds the reservation.
pub(super) async fn complete_challenge<'c>(
    ex: impl Executor<'c, Database = Sqlite>,
    challenge_id: &str,
    digest: &[u8; 32],
    receipt: &str,
) -> Result<(), StoreError> {
    let updated = sqlx::query(
        "UPDATE challenge_reservations SET status = ?1, receipt = ?2 \
         WHERE challenge_id = ?3 AND credential_digest = ?4 AND status = ?5",
    )
    .bind(STATUS_COMPLETED)
    .bind(receipt)
    .bind(challenge_id)
    .bind(digest.as_slice())
    .bind(STATUS_PENDING)
    .execute(ex)
    .await?
    .rows_affected();
    if updated == 1 {
        Ok(())
    } else {
        Err(StoreError::Conflict(format!(
            "challenge {challenge_id} has no pending reservation for this credential"
        )))
    }
}

/// Deletes the reservation only while it is pending and held by this credential.
pub(super) async fn release_challenge<'c>(
    ex: impl Executor<'c, Database = Sqlite>,
    challenge_id: &str,
    digest: &[u8; 32],
) -> Result<(), StoreError> {
    sqlx::query(
        "DELETE FROM challenge_reservations \
         WHERE challenge_id = ?1 AND credential_digest = ?2 AND status = ?3",
    )
    .bind(challenge_id)
    .bind(digest.as_slice())
    .bind(STATUS_PENDING)
    .execute(ex)
    .await?;
    Ok(())
}

/// Insert-or-inspect under the write lock, like [`reserve_challenge`].
pub(super) async fn consume_proof(
    pool: &SqlitePool,
    proof: &str,
    challenge_id: &str,
) -> Result<ConsumeOutcome, StoreError> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let outcome = consume_in(&mut tx, proof, challenge_id).await?;
    tx.commit().await?;
    Ok(outcome)
}

/// [`consume_proof`]'s statements, inside a transaction the caller holds the write lock of.
pub(super) async fn consume_in(
    conn: &mut SqliteConnection,
    proof: &str,
    challenge_id: &str,
) -> Result<ConsumeOutcome, StoreError> {
    let inserted = sqlx::query(
        "INSERT INTO consumed_proofs (proof, challenge_id, created_at) VALUES (?1, ?2, ?3) \
         ON CONFLICT (proof) DO NOTHING",
    )
    .bind(proof)
    .bind(challenge_id)
    .bind(unix_now())
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted == 1 {
        return Ok(ConsumeOutcome::Fresh);
    }
    let challenge_id: String =
        sqlx::query_scalar("SELECT challenge_id FROM consumed_proofs WHERE proof = ?1")
            .bind(proof)
            .fetch_one(&mut *conn)
            .await?;
    Ok(ConsumeOutcome::AlreadyConsumed { challenge_id })
}

/// Deletes the proof only if this challenge consumed it.
pub(super) async fn release_proof<'c>(
    ex: impl Executor<'c, Database = Sqlite>,
    proof: &str,
    challenge_id: &str,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM consumed_proofs WHERE proof = ?1 AND challenge_id = ?2")
        .bind(proof)
        .bind(challenge_id)
        .execute(ex)
        .await?;
    Ok(())
}
