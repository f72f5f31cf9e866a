//! Webhook endpoints and their delivery queue. Events are written in the same transaction as
//! the state change they describe; [`operator_sql_webhooks`]'s `fan_out` turns each new event
//! into one `webhook_deliveries` row per matching endpoint (unique per pair, so running it
//! twice changes nothing), and senders claim due deliveries under a lease. The rows are the
//! delivery log: attempts, last HTTP status, last error, delivered time.

use serde::Serialize;

use super::model::Event;

/// A receiver of an operator's events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WebhookEndpoint {
    /// `whk_…`.
    pub id: String,
    /// Owner.
    pub operator_id: String,
    /// Where events are POSTed.
    pub url: String,
    /// Only these event types (`None`: all).
    pub event_types: Option<Vec<String>>,
    /// `active` or `disabled`.
    pub status: String,
    /// Unix seconds.
    pub created_at: i64,
}

/// An endpoint to create; the signing secret arrives sealed with the master key.
#[derive(Clone, PartialEq, Eq)]
pub struct NewWebhook {
    /// `whk_…` (the caller makes it: it is part of the sealing context).
    pub id: String,
    /// Where events are POSTed.
    pub url: String,
    /// Only these event types.
    pub event_types: Option<Vec<String>>,
    /// The sealed signing secret.
    pub sealed_secret: Vec<u8>,
}

impl std::fmt::Debug for NewWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewWebhook")
            .field("id", &self.id)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// One (event, endpoint) delivery: its log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WebhookDelivery {
    /// Insertion order.
    pub id: i64,
    /// The event (receivers deduplicate on it).
    pub event_id: String,
    /// The endpoint.
    pub endpoint_id: String,
    /// `pending`, `delivered` or `failed` (gave up).
    pub status: String,
    /// POSTs so far.
    pub attempts: i64,
    /// The next try (Unix seconds), while pending.
    pub next_attempt_at: i64,
    /// The last answer's HTTP status.
    pub last_status_code: Option<i64>,
    /// The last failure, for people.
    pub last_error: Option<String>,
    /// When a 2xx came back.
    pub delivered_at: Option<i64>,
}

/// A claimed delivery with what sending it needs.
#[derive(Clone, PartialEq, Eq)]
pub struct DueDelivery {
    /// The delivery row.
    pub delivery_id: i64,
    /// The endpoint.
    pub endpoint_id: String,
    /// Its URL.
    pub url: String,
    /// Its sealed signing secret.
    pub sealed_secret: Vec<u8>,
    /// What happened.
    pub event: Event,
    /// POSTs before this one.
    pub attempts: i64,
}

impl std::fmt::Debug for DueDelivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DueDelivery")
            .field("delivery_id", &self.delivery_id)
            .field("endpoint_id", &self.endpoint_id)
            .field("event", &self.event.id)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

/// How a POST went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryResult {
    /// The HTTP status, if an answer came.
    pub status_code: Option<u16>,
    /// Why it failed (`None`: delivered).
    pub error: Option<String>,
    /// When to try again; `None` after a failure gives up (`failed`).
    pub retry_at: Option<i64>,
}

/// Expands the webhook SQL; `$skip_locked` is appended to the claiming `SELECT`.
macro_rules! operator_sql_webhooks {
    ($skip_locked:expr) => {
        use crate::operator::webhooks::{
            DeliveryResult, DueDelivery, NewWebhook, WebhookDelivery, WebhookEndpoint,
        };

        const ENDPOINT_COLUMNS: &str =
            "id, operator_id, url, event_types, status, created_at";
        const DELIVERY_COLUMNS: &str = "id, event_id, endpoint_id, status, attempts, \
             next_attempt_at, last_status_code, last_error, delivered_at";

        fn endpoint_row(row: &impl rows::OpRow) -> Result<WebhookEndpoint, StoreError> {
            let types = row
                .opt_text("event_types")?
                .map(|t| serde_json::from_str(&t))
                .transpose()
                .map_err(|e| StoreError::Backend(sqlx::Error::Decode(Box::new(e))))?;
            Ok(WebhookEndpoint {
                id: row.text("id")?,
                operator_id: row.text("operator_id")?,
                url: row.text("url")?,
                event_types: types,
                status: row.text("status")?,
                created_at: row.int("created_at")?,
            })
        }

        fn delivery_row(row: &impl rows::OpRow) -> Result<WebhookDelivery, StoreError> {
            Ok(WebhookDelivery {
                id: row.int("id")?,
                event_id: row.text("event_id")?,
                endpoint_id: row.text("endpoint_id")?,
                status: row.text("status")?,
                attempts: row.int("attempts")?,
                next_attempt_at: row.int("next_attempt_at")?,
                last_status_code: row.opt_int("last_status_code")?,
                last_error: row.opt_text("last_error")?,
                delivered_at: row.opt_int("delivered_at")?,
            })
        }

        pub(super) async fn create(
            pool: &Pool,
            actor: &Actor,
            hook: &NewWebhook,
            now: i64,
        ) -> Result<WebhookEndpoint, StoreError> {
            let mut tx = begin_write(pool).await?;
            // From the next event on: the endpoint does not get the operator's history.
            let last: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM events")
                .fetch_one(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO webhook_endpoints (id, operator_id, url, sealed_secret, event_types, \
                     status, created_at, last_event_seq) VALUES ($1, $2, $3, $4, $5, 'active', $6, $7)",
            )
            .bind(&hook.id)
            .bind(&actor.operator_id)
            .bind(&hook.url)
            .bind(&hook.sealed_secret)
            .bind(list_to_db(&hook.event_types))
            .bind(now)
            .bind(last.unwrap_or(0))
            .execute(&mut *tx)
            .await?;
            insert_audit(&mut tx, actor, "webhook.create", &hook.id,
                serde_json::json!({"url": hook.url}), now).await?;
            tx.commit().await?;
            Ok(WebhookEndpoint {
                id: hook.id.clone(),
                operator_id: actor.operator_id.clone(),
                url: hook.url.clone(),
                event_types: hook.event_types.clone(),
                status: "active".into(),
                created_at: now,
            })
        }

        pub(super) async fn list(
            pool: &Pool,
            actor: &Actor,
        ) -> Result<Vec<WebhookEndpoint>, StoreError> {
            let sql = format!(
                "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE operator_id = $1 \
                 ORDER BY created_at, id"
            );
            let found = sqlx::query(&sql).bind(&actor.operator_id).fetch_all(pool).await?;
            found.iter().map(endpoint_row).collect()
        }

        pub(super) async fn deliveries(
            pool: &Pool,
            actor: &Actor,
            endpoint_id: &str,
        ) -> Result<Vec<WebhookDelivery>, StoreError> {
            let owned: Option<String> = sqlx::query_scalar(
                "SELECT id FROM webhook_endpoints WHERE id = $1 AND operator_id = $2",
            )
            .bind(endpoint_id)
            .bind(&actor.operator_id)
            .fetch_optional(pool)
            .await?;
            if owned.is_none() {
                return Err(StoreError::NotFound(format!("webhook {endpoint_id}")));
            }
            let sql = format!(
                "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE endpoint_id = $1 ORDER BY id"
            );
            let found = sqlx::query(&sql).bind(endpoint_id).fetch_all(pool).await?;
            found.iter().map(delivery_row).collect()
        }

        pub(super) async fn fan_out(pool: &Pool, limit: u32, now: i64) -> Result<u64, StoreError> {
            let mut tx = begin_write(pool).await?;
            let sql = format!(
                "SELECT id, operator_id, event_types, last_event_seq FROM webhook_endpoints \
                 WHERE status = 'active' ORDER BY id{}",
                $skip_locked
            );
            let endpoints: Vec<(String, String, Option<String>, i64)> =
                sqlx::query_as(&sql).fetch_all(&mut *tx).await?;
            let mut created = 0u64;
            for (id, operator_id, types, after) in endpoints {
                let types: Option<Vec<String>> = types.and_then(|t| serde_json::from_str(&t).ok());
                let events: Vec<(i64, String, String)> = sqlx::query_as(
                    "SELECT seq, id, type FROM events WHERE operator_id = $1 AND seq > $2 \
                     ORDER BY seq LIMIT $3",
                )
                .bind(&operator_id)
                .bind(after)
                .bind(i64::from(limit))
                .fetch_all(&mut *tx)
                .await?;
                let Some(last) = events.last().map(|e| e.0) else { continue };
                for (_, event_id, event_type) in &events {
                    if types.as_ref().is_some_and(|t| !t.iter().any(|x| x == event_type)) {
                        continue;
                    }
                    created += sqlx::query(
                        "INSERT INTO webhook_deliveries (event_id, endpoint_id, status, attempts, \
                             next_attempt_at, created_at, updated_at) \
                         VALUES ($1, $2, 'pending', 0, $3, $3, $3) \
                         ON CONFLICT (event_id, endpoint_id) DO NOTHING",
                    )
                    .bind(event_id)
                    .bind(&id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                }
                sqlx::query("UPDATE webhook_endpoints SET last_event_seq = $1 WHERE id = $2")
                    .bind(last)
                    .bind(&id)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(created)
        }

        pub(super) async fn claim(
            pool: &Pool,
            worker: &str,
            limit: u32,
            lease_until: i64,
            now: i64,
        ) -> Result<Vec<DueDelivery>, StoreError> {
            let mut tx = begin_write(pool).await?;
            let sql = format!(
                "SELECT id FROM webhook_deliveries d WHERE \
                     (status = 'pending' AND next_attempt_at <= $1 \
                      AND (lease_until IS NULL OR lease_until < $1)) \
                 ORDER BY id LIMIT $2{}",
                $skip_locked
            );
            let ids: Vec<i64> = sqlx::query_scalar(&sql)
                .bind(now)
                .bind(i64::from(limit))
                .fetch_all(&mut *tx)
                .await?;
            let mut due = Vec::with_capacity(ids.len());
            for id in ids {
                sqlx::query(
                    "UPDATE webhook_deliveries SET lease_owner = $1, lease_until = $2, \
                         updated_at = $3 WHERE id = $4",
                )
                .bind(worker)
                .bind(lease_until)
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                let row = sqlx::query(
                    "SELECT d.id AS delivery_id, d.attempts AS delivery_attempts, \
                         w.id AS endpoint_id, w.url, w.sealed_secret, e.id, e.operator_id, \
                         e.account_id, e.type, e.subject_id, e.payload, e.created_at \
                     FROM webhook_deliveries d JOIN webhook_endpoints w ON w.id = d.endpoint_id \
                     JOIN events e ON e.id = d.event_id WHERE d.id = $1",
                )
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
                use rows::OpRow as _;
                due.push(DueDelivery {
                    delivery_id: row.int("delivery_id")?,
                    endpoint_id: row.text("endpoint_id")?,
                    url: row.text("url")?,
                    sealed_secret: row.bytes("sealed_secret")?.unwrap_or_default(),
                    event: rows::event(&row)?,
                    attempts: row.int("delivery_attempts")?,
                });
            }
            tx.commit().await?;
            Ok(due)
        }

        pub(super) async fn finish(
            pool: &Pool,
            delivery_id: i64,
            worker: &str,
            result: &DeliveryResult,
            now: i64,
        ) -> Result<bool, StoreError> {
            let status = match (&result.error, result.retry_at) {
                (None, _) => "delivered",
                (Some(_), Some(_)) => "pending",
                (Some(_), None) => "failed",
            };
            let done = sqlx::query(
                "UPDATE webhook_deliveries SET status = $1, attempts = attempts + 1, \
                     next_attempt_at = $2, last_status_code = $3, last_error = $4, \
                     delivered_at = $5, lease_owner = NULL, lease_until = NULL, updated_at = $6 \
                 WHERE id = $7 AND lease_owner = $8 AND status = 'pending'",
            )
            .bind(status)
            .bind(result.retry_at.unwrap_or(now))
            .bind(result.status_code.map(i64::from))
            .bind(result.error.as_deref())
            .bind(result.error.is_none().then_some(now))
            .bind(now)
            .bind(delivery_id)
            .bind(worker)
            .execute(pool)
            .await?
            .rows_affected();
            Ok(done == 1)
        }
    };
}

pub(crate) use operator_sql_webhooks;
