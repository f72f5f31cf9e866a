//! What the reconciler compares: the daily counters against the transfers they count, agent
//! sessions' running totals against their receipts, and the transfers whose signatures it
//! looks up on chain. Expanded inside each backend by [`operator_sql_reconcile`].

use serde::Serialize;

/// A daily counter that differs from its transfers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CounterDrift {
    /// The account.
    pub account_id: String,
    /// The UTC day.
    pub day: String,
    /// What the counter holds.
    pub stored: u64,
    /// The sum of the day's pending and settled transfers.
    pub computed: u64,
}

/// A session whose running total differs from its receipts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionDrift {
    /// The session.
    pub session_id: String,
    /// What the session holds.
    pub stored: u64,
    /// The sum of its settled receipts.
    pub computed: u64,
}

/// A transfer to check on chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainCheck {
    /// The transfer.
    pub transfer_id: String,
    /// Its operator.
    pub operator_id: String,
    /// `settled`, `pending` or `failed`.
    pub status: String,
    /// Its recorded signature (settled) or every signature signed for it (pending, failed).
    pub signatures: Vec<String>,
    /// Its outbox job, when the worker settles it.
    pub job_id: Option<i64>,
}

/// Expands the reconciler's SQL.
macro_rules! operator_sql_reconcile {
    () => {
        use crate::operator::reconcile::{ChainCheck, CounterDrift, SessionDrift};

        pub(super) async fn counter_drift(pool: &Pool) -> Result<Vec<CounterDrift>, StoreError> {
            let found: Vec<(String, String, i64, i64)> = sqlx::query_as(
                "SELECT d.account_id, d.day, d.total, \
                     CAST(COALESCE(SUM(t.amount), 0) AS BIGINT) \
                 FROM account_daily_spend d LEFT JOIN transfers t \
                   ON t.account_id = d.account_id AND t.counted_day = d.day \
                  AND t.status IN ('pending', 'settled') \
                 GROUP BY d.account_id, d.day, d.total \
                 HAVING d.total <> CAST(COALESCE(SUM(t.amount), 0) AS BIGINT) \
                 ORDER BY d.account_id, d.day",
            )
            .fetch_all(pool)
            .await?;
            found
                .into_iter()
                .map(|(account_id, day, stored, computed)| {
                    Ok(CounterDrift {
                        account_id,
                        day,
                        stored: crate::common::amount_from_db(stored, "total")?,
                        computed: crate::common::amount_from_db(computed, "sum")?,
                    })
                })
                .collect()
        }

        pub(super) async fn repair_counter(
            pool: &Pool,
            drift: &CounterDrift,
            now: i64,
        ) -> Result<bool, StoreError> {
            let mut tx = begin_write(pool).await?;
            // Compare-and-set: a transfer recorded meanwhile changed the counter; leave it.
            let done = sqlx::query(
                "UPDATE account_daily_spend SET total = $1 \
                 WHERE account_id = $2 AND day = $3 AND total = $4",
            )
            .bind(amount_to_db(drift.computed)?)
            .bind(&drift.account_id)
            .bind(&drift.day)
            .bind(amount_to_db(drift.stored)?)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if done == 1 {
                let operator_id: String =
                    sqlx::query_scalar("SELECT operator_id FROM accounts WHERE id = $1")
                        .bind(&drift.account_id)
                        .fetch_one(&mut *tx)
                        .await?;
                let system = Actor { operator_id, key_id: "reconciler".into() };
                insert_audit(&mut tx, &system, "counter.repair", &drift.account_id,
                    serde_json::to_value(drift).unwrap_or_default(), now).await?;
            }
            tx.commit().await?;
            Ok(done == 1)
        }

        pub(super) async fn session_drift(pool: &Pool) -> Result<Vec<SessionDrift>, StoreError> {
            let found: Vec<(String, i64, i64)> = sqlx::query_as(
                "SELECT s.id, s.running_total, CAST(COALESCE(SUM(t.amount), 0) AS BIGINT) \
                 FROM agent_sessions s LEFT JOIN transfers t \
                   ON t.session_id = s.id AND t.kind = 'receipt' AND t.status = 'settled' \
                 GROUP BY s.id, s.running_total \
                 HAVING s.running_total <> CAST(COALESCE(SUM(t.amount), 0) AS BIGINT) \
                 ORDER BY s.id",
            )
            .fetch_all(pool)
            .await?;
            found
                .into_iter()
                .map(|(session_id, stored, computed)| {
                    Ok(SessionDrift {
                        session_id,
                        stored: crate::common::amount_from_db(stored, "running_total")?,
                        computed: crate::common::amount_from_db(computed, "sum")?,
                    })
                })
                .collect()
        }

        pub(super) async fn chain_checks(
            pool: &Pool,
            since: i64,
            limit: u32,
        ) -> Result<Vec<ChainCheck>, StoreError> {
            let found: Vec<(String, String, String, Option<String>, Option<i64>)> =
                sqlx::query_as(
                    "SELECT t.id, a.operator_id, t.status, t.signature, j.id \
                     FROM transfers t JOIN accounts a ON a.id = t.account_id \
                     LEFT JOIN outbox_jobs j ON j.transfer_id = t.id \
                     WHERE t.updated_at >= $1 AND t.kind <> 'receipt' \
                       AND (t.status = 'settled' AND t.signature IS NOT NULL \
                         OR t.status IN ('pending', 'failed') AND j.tx_signature IS NOT NULL) \
                     ORDER BY t.updated_at, t.id LIMIT $2",
                )
                .bind(since)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?;
            let mut out = Vec::with_capacity(found.len());
            for (transfer_id, operator_id, status, signature, job_id) in found {
                let signatures = match (status.as_str(), signature) {
                    ("settled", Some(sig)) => vec![sig],
                    _ => sqlx::query_scalar(
                        "SELECT signature FROM settlement_attempts WHERE job_id = $1 \
                         ORDER BY created_at, signature",
                    )
                    .bind(job_id)
                    .fetch_all(pool)
                    .await?,
                };
                out.push(ChainCheck { transfer_id, operator_id, status, signatures, job_id });
            }
            Ok(out)
        }
    };
}

pub(crate) use operator_sql_reconcile;
