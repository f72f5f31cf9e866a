//! Replay protection on PostgreSQL: `challenge_reservations` and `consumed_proofs`.
//!
//! Insert-or-inspect is two statements: `INSERT … ON CONFLICT DO NOTHING` (which waits for a
//! concurrent inserter of the same key to commit), then a `SELECT` of the row that won. The
//! `SELECT` is a new statement, so under READ COMMITTED it sees that committed row, which the
//! insert's own snapshot might not. If the row was released in between, the insert is retried.

use sqlx::PgPool;

use crate::common::{
    MAX_RACE_RETRIES, STATUS_COMPLETED, STATUS_PENDING, classify_reservation, unix_now,
};
use crate::{ConsumeOutcome, Reservation, StoreError};

/// Reserves the challenge for `digest`, or reports who holds it.
pub(super) async fn reserve_challenge(
    pool: &PgPool,
    challenge_id: &str,
    digest: &[u8; 32],
    expires_at: i64,
) -> Result<Reservation, StoreError> {
    for _ in 0..MAX_RACE_RETRIES {
        let inserted = sqlx::query(
            "INSERT INTO challenge_reservations \
                 (challenge_id, credential_digest, status, receipt, expires_at, created_at) \
             VALUES ($1, $2, $3, NULL, $4, $5) \
             ON CONFLICT (challenge_id) DO NOTHING",
        )
        .bind(challenge_id)
        .bind(digest.as_slice())
        .bind(STATUS_PENDING)
        .bind(expires_at)
        .bind(unix_now())
        .execute(pool)
        .await?
        .rows_affected();
        if inserted == 1 {
            return Ok(Reservation::Fresh);
        }
        let existing: Option<(Vec<u8>, String, Option<String>)> = sqlx::query_as(
            "SELECT credential_digest, status, receipt FROM challenge_reservations \
             WHERE challenge_id = $1",
        )
        .bind(challenge_id)
        .fetch_optional(pool)
        .await?;
        if let Some((stored, status, receipt)) = existing {
            return classify_reservation(digest, &stored, &status, receipt);
        }
        // Released between the two statements: the challenge is free again.
    }
    Err(StoreError::Conflict(format!(
        "challenge {challenge_id} kept being reserved and released concurrently"
    )))
}

/// Pending → completed, only for the credential that holds the reservation.
pub(super) async fn complete_challenge(
    pool: &PgPool,
    challenge_id: &str,
    digest: &[u8; 32],
    receipt: &str,
) -> Result<(), StoreError> {
    let updated = sqlx::query(
        "UPDATE challenge_reservations SET status = $1, receipt = $2 \
         WHERE challenge_id = $3 AND credential_digest = $4 AND status = $5",
    )
    .bind(STATUS_COMPLETED)
    .bind(receipt)
    .bind(challenge_id)
    .bind(digest.as_slice())
    .bind(STATUS_PENDING)
    .execute(pool)
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
pub(super) async fn release_challenge(
    pool: &PgPool,
    challenge_id: &str,
    digest: &[u8; 32],
) -> Result<(), StoreError> {
    sqlx::query(
        "DELETE FROM challenge_reservations \
         WHERE challenge_id = $1 AND credential_digest = $2 AND status = $3",
    )
    .bind(challenge_id)
    .bind(digest.as_slice())
    .bind(STATUS_PENDING)
    .execute(pool)
    .await?;
    Ok(())
}

/// Consumes the proof for `challenge_id`, or reports which challenge consumed it first.
pub(super) async fn consume_proof(
    pool: &PgPool,
    proof: &str,
    challenge_id: &str,
) -> Result<ConsumeOutcome, StoreError> {
    for _ in 0..MAX_RACE_RETRIES {
        let inserted = sqlx::query(
            "INSERT INTO consumed_proofs (proof, challenge_id, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (proof) DO NOTHING",
        )
        .bind(proof)
        .bind(challenge_id)
        .bind(unix_now())
        .execute(pool)
        .await?
        .rows_affected();
        if inserted == 1 {
            return Ok(ConsumeOutcome::Fresh);
        }
        let existing: Option<String> =
            sqlx::query_scalar("SELECT challenge_id FROM consumed_proofs WHERE proof = $1")
                .bind(proof)
                .fetch_optional(pool)
                .await?;
        if let Some(challenge_id) = existing {
            return Ok(ConsumeOutcome::AlreadyConsumed { challenge_id });
        }
        // Released between the two statements: the proof is unspent again.
    }
    Err(StoreError::Conflict(format!(
        "proof for challenge {challenge_id} kept being consumed and released concurrently"
    )))
}

/// Deletes the proof only if this challenge consumed it.
pub(super) async fn release_proof(
    pool: &PgPool,
    proof: &str,
    challenge_id: &str,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM consumed_proofs WHERE proof = $1 AND challenge_id = $2")
        .bind(proof)
        .bind(challenge_id)
        .execute(pool)
        .await?;
    Ok(())
}
