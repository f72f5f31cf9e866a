//! Pieces both backends share: amount conversion, reservation classification, the clock for
//! `created_at` columns.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::{Reservation, StoreError};

/// `challenge_reservations.status` of a reservation whose payment is still being processed.
pub(crate) const STATUS_PENDING: &str = "pending";
/// `challenge_reservations.status` of a reservation that has its receipt.
pub(crate) const STATUS_COMPLETED: &str = "completed";

/// How many times an insert-or-inspect step is retried when the row it conflicted with vanished
/// before it could be read (a concurrent release). Each retry needs another concurrent release,
/// so running out means something is badly wrong.
pub(crate) const MAX_RACE_RETRIES: usize = 16;

/// An API amount as the database's signed 64-bit integer; refused, never wrapped.
pub(crate) fn amount_to_db(amount: u64) -> Result<i64, StoreError> {
    i64::try_from(amount).map_err(|_| StoreError::AmountTooLarge(amount))
}

/// A spending cap as a database integer. Totals are stored as `i64`, so no total can ever exceed
/// `i64::MAX`: a larger cap binds exactly like `i64::MAX` and is treated as such (the outcome is
/// the same as with the exact cap, nothing is lost).
pub(crate) fn cap_to_db(cap: u64) -> i64 {
    i64::try_from(cap).unwrap_or(i64::MAX)
}

/// A stored amount back as `u64`. The schema's `CHECK (… >= 0)` makes a negative value a
/// corrupt database, reported as a decode error.
pub(crate) fn amount_from_db(value: i64, column: &str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| {
        StoreError::Backend(sqlx::Error::Decode(
            format!("negative amount {value} in column {column}").into(),
        ))
    })
}

/// Unix seconds now, for `created_at` columns (bookkeeping only; no rule depends on it).
pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Classifies an existing reservation row as seen by the credential `digest`.
pub(crate) fn classify_reservation(
    digest: &[u8; 32],
    stored_digest: &[u8],
    status: &str,
    receipt: Option<String>,
) -> Result<Reservation, StoreError> {
    if stored_digest != digest.as_slice() {
        return Ok(Reservation::TakenByOtherCredential);
    }
    match (status, receipt) {
        (STATUS_COMPLETED, Some(receipt)) => Ok(Reservation::Completed { receipt }),
        (STATUS_PENDING, _) => Ok(Reservation::InFlight),
        // The schema's CHECKs exclude anything else.
        (other, _) => Err(StoreError::Backend(sqlx::Error::Decode(
            format!("invalid reservation status {other:?}").into(),
        ))),
    }
}

/// Reads a `payments` row; one mapping for both backends (only the SQL differs by dialect).
pub(crate) fn payment_from_row<'r, R>(row: &'r R) -> Result<crate::PaymentRecord, StoreError>
where
    R: sqlx::Row,
    &'static str: sqlx::ColumnIndex<R>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(crate::PaymentRecord {
        challenge_id: row.try_get("challenge_id")?,
        role: row.try_get("role")?,
        method: row.try_get("method")?,
        intent: row.try_get("intent")?,
        reference: row.try_get("reference")?,
        amount: amount_from_db(row.try_get("amount")?, "payments.amount")?,
        currency: row.try_get("currency")?,
        recipient: row.try_get("recipient")?,
        payer: row.try_get("payer")?,
        realm: row.try_get("realm")?,
        receipt: row.try_get("receipt")?,
        created_at: row.try_get("created_at")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_above_i64_max_are_refused() {
        assert_eq!(amount_to_db(0).ok(), Some(0));
        assert_eq!(amount_to_db(i64::MAX as u64).ok(), Some(i64::MAX));
        assert!(matches!(
            amount_to_db(u64::MAX),
            Err(StoreError::AmountTooLarge(u64::MAX))
        ));
        assert!(matches!(
            amount_to_db(1 << 63),
            Err(StoreError::AmountTooLarge(a)) if a == 1 << 63
        ));
    }

    #[test]
    fn caps_above_i64_max_bind_at_i64_max() {
        assert_eq!(cap_to_db(500), 500);
        assert_eq!(cap_to_db(u64::MAX), i64::MAX);
    }

    #[test]
    fn negative_stored_amounts_are_decode_errors() {
        assert_eq!(amount_from_db(7, "total").ok(), Some(7));
        assert!(matches!(
            amount_from_db(-1, "total"),
            Err(StoreError::Backend(sqlx::Error::Decode(_)))
        ));
    }

    #[test]
    fn reservations_classify_by_digest_then_status() {
        let mine = [1u8; 32];
        let theirs = [2u8; 32];
        let classify = |stored: &[u8], status: &str, receipt: Option<&str>| {
            classify_reservation(&mine, stored, status, receipt.map(str::to_owned)).ok()
        };
        assert_eq!(
            classify(&theirs, STATUS_PENDING, None),
            Some(Reservation::TakenByOtherCredential)
        );
        assert_eq!(
            classify(&theirs, STATUS_COMPLETED, Some("r")),
            Some(Reservation::TakenByOtherCredential)
        );
        assert_eq!(
            classify(&mine, STATUS_PENDING, None),
            Some(Reservation::InFlight)
        );
        assert_eq!(
            classify(&mine, STATUS_COMPLETED, Some("r")),
            Some(Reservation::Completed {
                receipt: "r".into()
            })
        );
        assert_eq!(classify(&mine, "bogus", None), None);
    }
}
