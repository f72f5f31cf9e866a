//! What the web dashboard reads and writes beyond the API's operations: its sign-in sessions
//! (`dashboard_sessions`, only a hash of the cookie's token), the filtered transfers search, the
//! account search, the overview's figures, closing an agent session and redelivering a webhook
//! (`migrations/*/0008_dashboard.sql`).
//!
//! Lists page by `(created_at, id)` keyset (row-value comparison, which both databases seek
//! with an index) and never by OFFSET; counts stop at [`COUNT_CAP`] so a page never counts a
//! whole table.

use serde::Serialize;

/// Counts on the overview stop here (shown as "at least").
pub const COUNT_CAP: u64 = 1_000;

/// A signed-in browser, as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct DashboardSession {
    /// The operator it acts for.
    pub operator_id: String,
    /// The operator key it signed in with (revoking the key ends the session).
    pub key_id: String,
    /// What every form of this session must carry.
    pub csrf_token: String,
    /// Unix seconds.
    pub expires_at: i64,
}

impl std::fmt::Debug for DashboardSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DashboardSession")
            .field("operator_id", &self.operator_id)
            .field("key_id", &self.key_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// A session to store: the SHA-256 (hex) of the cookie's token, never the token.
#[derive(Clone, PartialEq, Eq)]
pub struct NewDashboardSession {
    /// Hex SHA-256 of the cookie token.
    pub token_hash: String,
    /// The CSRF token of its forms.
    pub csrf_token: String,
    /// Unix seconds.
    pub expires_at: i64,
}

impl std::fmt::Debug for NewDashboardSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewDashboardSession")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// The transfers page's filters (all optional, combined with AND).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransferSearch {
    /// Only this account's.
    pub account_id: Option<String>,
    /// Only in this state.
    pub status: Option<super::TransferStatus>,
    /// Only to this counterparty.
    pub counterparty: Option<String>,
    /// Created at or after (Unix seconds).
    pub from: Option<i64>,
    /// Created before (Unix seconds).
    pub until: Option<i64>,
}

/// Spend counted on one UTC day in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DailySpend {
    /// `YYYY-MM-DD`.
    pub day: String,
    /// `sol` or a mint.
    pub currency: String,
    /// Base units.
    pub total: u64,
}

/// An amount in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CurrencyAmount {
    /// `sol` or a mint.
    pub currency: String,
    /// Base units.
    pub amount: u64,
}

/// The overview's figures for one operator.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Overview {
    /// Counted spend per day and currency from `since_day` on, oldest first.
    pub daily_spend: Vec<DailySpend>,
    /// Transfers created in the last hour that are not rejected (capped at [`COUNT_CAP`]).
    pub payments_last_hour: u64,
    /// Accepted transfers not yet landed (capped).
    pub pending_settlements: u64,
    /// Transfers waiting for an operator (capped).
    pub pending_approvals: u64,
    /// Transfers that failed in the last 24 hours (capped).
    pub failures_last_day: u64,
    /// Agent sessions open or settling.
    pub open_sessions: u64,
    /// What those sessions have accepted and not yet settled, per currency.
    pub unsettled_exposure: Vec<CurrencyAmount>,
}

/// Expands the dashboard SQL inside a backend's `operator_sql` module.
macro_rules! operator_sql_dashboard {
    () => {
        use crate::operator::dashboard::{
            COUNT_CAP, CurrencyAmount, DailySpend, DashboardSession, NewDashboardSession,
            Overview, TransferSearch,
        };

        /// A bound value of a query built from optional filters.
        enum Arg {
            Text(String),
            Int(i64),
        }

        async fn fetch(pool: &Pool, sql: &str, args: Vec<Arg>)
            -> Result<Vec<<<Conn as sqlx::Connection>::Database as sqlx::Database>::Row>, StoreError> {
            let mut q = sqlx::query(sql);
            for a in args {
                q = match a {
                    Arg::Text(t) => q.bind(t),
                    Arg::Int(i) => q.bind(i),
                };
            }
            Ok(q.fetch_all(pool).await?)
        }

        /// `conditions` (with `$N` already numbered) plus the keyset clause after `page`.
        fn keyset(alias: &str, page: &Page, args: &mut Vec<Arg>) -> String {
            let mut clause = String::new();
            if let Some((at, id)) = &page.after {
                args.push(Arg::Int(*at));
                args.push(Arg::Text(id.clone()));
                clause = format!(
                    " AND ({alias}.created_at, {alias}.id) < (${}, ${})",
                    args.len() - 1,
                    args.len()
                );
            }
            args.push(Arg::Int(i64::from(page.limit.clamp(1, MAX_PAGE))));
            format!(
                "{clause} ORDER BY {alias}.created_at DESC, {alias}.id DESC LIMIT ${}",
                args.len()
            )
        }

        pub(super) async fn search_transfers(
            pool: &Pool,
            actor: &Actor,
            search: &TransferSearch,
            page: &Page,
        ) -> Result<Vec<Transfer>, StoreError> {
            // Only the filters in use reach the SQL, so each shape gets its own plan (and index).
            let mut args = vec![Arg::Text(actor.operator_id.clone())];
            let mut conditions = String::from("a.operator_id = $1");
            let mut add = |column: &str, op: &str, arg: Arg, args: &mut Vec<Arg>| {
                args.push(arg);
                conditions.push_str(&format!(" AND t.{column} {op} ${}", args.len()));
            };
            if let Some(account) = &search.account_id {
                add("account_id", "=", Arg::Text(account.clone()), &mut args);
            }
            if let Some(status) = search.status {
                add("status", "=", Arg::Text(status.as_str().to_owned()), &mut args);
            }
            if let Some(counterparty) = &search.counterparty {
                add("counterparty", "=", Arg::Text(counterparty.clone()), &mut args);
            }
            if let Some(from) = search.from {
                add("created_at", ">=", Arg::Int(from), &mut args);
            }
            if let Some(until) = search.until {
                add("created_at", "<", Arg::Int(until), &mut args);
            }
            let tail = keyset("t", page, &mut args);
            let sql = format!(
                "SELECT {} FROM transfers t JOIN accounts a ON a.id = t.account_id \
                 WHERE {conditions}{tail}",
                rows::TRANSFER_COLUMNS
            );
            fetch(pool, &sql, args).await?.iter().map(rows::transfer).collect()
        }

        pub(super) async fn search_accounts(
            pool: &Pool,
            actor: &Actor,
            query: &str,
            page: &Page,
        ) -> Result<Vec<Account>, StoreError> {
            let mut args = vec![Arg::Text(actor.operator_id.clone())];
            let mut conditions = String::from("a.operator_id = $1");
            let query = query.trim();
            if !query.is_empty() {
                // A handle containing the text (LIKE's wildcards escaped), or the exact address.
                let escaped: String = query
                    .to_lowercase()
                    .chars()
                    .flat_map(|c| match c {
                        '%' | '_' | '\\' => vec!['\\', c],
                        c => vec![c],
                    })
                    .collect();
                args.push(Arg::Text(format!("%{escaped}%")));
                args.push(Arg::Text(query.to_owned()));
                conditions.push_str(
                    " AND (LOWER(a.handle) LIKE $2 ESCAPE '\\' OR a.address = $3 OR a.id = $3)",
                );
            }
            let tail = keyset("a", page, &mut args);
            let sql = format!(
                "SELECT {} FROM accounts a WHERE {conditions}{tail}",
                rows::ACCOUNT_COLUMNS
            );
            fetch(pool, &sql, args).await?.iter().map(rows::account).collect()
        }

        /// `SELECT COUNT(*)` of at most [`COUNT_CAP`] rows of `from_where`.
        async fn capped_count(pool: &Pool, from_where: &str, operator_id: &str, at: i64)
            -> Result<u64, StoreError> {
            let sql = format!(
                "SELECT COUNT(*) FROM (SELECT 1 FROM {from_where} LIMIT {COUNT_CAP}) capped"
            );
            let n: i64 = sqlx::query_scalar(&sql)
                .bind(operator_id)
                .bind(at)
                .fetch_one(pool)
                .await?;
            crate::common::amount_from_db(n, "count")
        }

        pub(super) async fn overview(
            pool: &Pool,
            actor: &Actor,
            since_day: &str,
            now: i64,
        ) -> Result<Overview, StoreError> {
            let op = actor.operator_id.as_str();
            let daily: Vec<(String, String, i64)> = sqlx::query_as(
                "SELECT d.day, a.currency, CAST(SUM(d.total) AS BIGINT) FROM account_daily_spend d \
                 JOIN accounts a ON a.id = d.account_id \
                 WHERE a.operator_id = $1 AND d.day >= $2 \
                 GROUP BY d.day, a.currency ORDER BY d.day, a.currency",
            )
            .bind(op)
            .bind(since_day)
            .fetch_all(pool)
            .await?;
            let daily_spend = daily
                .into_iter()
                .map(|(day, currency, total)| {
                    Ok(DailySpend { day, currency, total: crate::common::amount_from_db(total, "total")? })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            let transfers = "transfers t JOIN accounts a ON a.id = t.account_id \
                 WHERE a.operator_id = $1 AND";
            let payments_last_hour = capped_count(pool, &format!(
                "{transfers} t.created_at >= $2 AND t.status IN ('pending', 'settled')"), op, now - 3600).await?;
            let pending_settlements = capped_count(pool, &format!(
                "{transfers} t.status = 'pending' AND $2 = $2"), op, 0).await?;
            let pending_approvals = capped_count(pool, &format!(
                "{transfers} t.status = 'pending_approval' AND $2 = $2"), op, 0).await?;
            let failures_last_day = capped_count(pool, &format!(
                "{transfers} t.status = 'failed' AND t.updated_at >= $2"), op, now - 86_400).await?;
            let sessions: Vec<(String, i64, i64)> = sqlx::query_as(
                "SELECT a.currency, COUNT(*), CAST(SUM(s.running_total) AS BIGINT) FROM agent_sessions s \
                 JOIN accounts a ON a.id = s.account_id \
                 WHERE a.operator_id = $1 AND s.status IN ('open', 'settling') \
                 GROUP BY a.currency ORDER BY a.currency",
            )
            .bind(op)
            .fetch_all(pool)
            .await?;
            let mut open_sessions = 0u64;
            let mut unsettled_exposure = Vec::new();
            for (currency, count, total) in sessions {
                open_sessions += crate::common::amount_from_db(count, "count")?;
                unsettled_exposure.push(CurrencyAmount {
                    currency,
                    amount: crate::common::amount_from_db(total, "running_total")?,
                });
            }
            Ok(Overview {
                daily_spend,
                payments_last_hour,
                pending_settlements,
                pending_approvals,
                failures_last_day,
                open_sessions,
                unsettled_exposure,
            })
        }

        pub(super) async fn create_session(
            pool: &Pool,
            actor: &Actor,
            session: &NewDashboardSession,
            now: i64,
        ) -> Result<(), StoreError> {
            let mut tx = begin_write(pool).await?;
            // Sessions past their expiry are of no use to anyone: pruned on each sign-in.
            sqlx::query("DELETE FROM dashboard_sessions WHERE expires_at <= $1")
                .bind(now)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO dashboard_sessions (token_hash, operator_id, key_id, csrf_token, \
                     expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&session.token_hash)
            .bind(&actor.operator_id)
            .bind(&actor.key_id)
            .bind(&session.csrf_token)
            .bind(session.expires_at)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            insert_audit(&mut tx, actor, "dashboard.sign_in", &actor.key_id,
                serde_json::json!({"expires_at": session.expires_at}), now).await?;
            tx.commit().await?;
            Ok(())
        }

        pub(super) async fn session(
            pool: &Pool,
            token_hash: &str,
            now: i64,
        ) -> Result<Option<DashboardSession>, StoreError> {
            let row: Option<(String, String, String, i64)> = sqlx::query_as(
                "SELECT s.operator_id, s.key_id, s.csrf_token, s.expires_at \
                 FROM dashboard_sessions s JOIN api_keys k ON k.id = s.key_id \
                 WHERE s.token_hash = $1 AND s.expires_at > $2 AND k.status = 'active'",
            )
            .bind(token_hash)
            .bind(now)
            .fetch_optional(pool)
            .await?;
            Ok(row.map(|(operator_id, key_id, csrf_token, expires_at)| DashboardSession {
                operator_id,
                key_id,
                csrf_token,
                expires_at,
            }))
        }

        pub(super) async fn delete_session(
            pool: &Pool,
            actor: &Actor,
            token_hash: &str,
            now: i64,
        ) -> Result<(), StoreError> {
            let mut tx = begin_write(pool).await?;
            let gone = sqlx::query(
                "DELETE FROM dashboard_sessions WHERE token_hash = $1 AND operator_id = $2",
            )
            .bind(token_hash)
            .bind(&actor.operator_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if gone > 0 {
                insert_audit(&mut tx, actor, "dashboard.sign_out", &actor.key_id,
                    serde_json::json!({}), now).await?;
            }
            tx.commit().await?;
            Ok(())
        }

        pub(super) async fn close_agent_session(
            pool: &Pool,
            actor: &Actor,
            id: &str,
            now: i64,
        ) -> Result<Session, StoreError> {
            let mut tx = begin_write(pool).await?;
            let sql = format!(
                "SELECT {} FROM agent_sessions s JOIN accounts a ON a.id = s.account_id \
                 WHERE s.id = $1 AND a.operator_id = $2",
                rows::SESSION_COLUMNS
            );
            let row = sqlx::query(&sql)
                .bind(id)
                .bind(&actor.operator_id)
                .fetch_optional(&mut *tx)
                .await?;
            let Some(session) = row.as_ref().map(rows::session).transpose()? else {
                return Err(StoreError::NotFound(format!("session {id}")));
            };
            if let Some(channel) = &session.channel_id {
                // Its money sits in escrow on chain: only the channel's close settles it.
                return Err(StoreError::Conflict(format!(
                    "session {id} pays through channel {channel}: its agent closes the channel \
                     (the session's close action) and the session settles here when it closes"
                )));
            }
            // Serialise with the account's payments (receipts add to open sessions).
            locked_account(&mut tx, &actor.operator_id, &session.account_id).await?;
            let closed = sqlx::query(
                "UPDATE agent_sessions SET status = 'settled', updated_at = $1 \
                 WHERE id = $2 AND status <> 'settled'",
            )
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if closed == 0 {
                return Err(StoreError::Conflict(format!("session {id} is already settled")));
            }
            let session = Session { status: SessionStatus::Settled, updated_at: now, ..session };
            let payload = serde_json::to_value(&session).unwrap_or(serde_json::Value::Null);
            insert_event(&mut tx, &actor.operator_id, Some(&session.account_id),
                EventType::SessionSettled, id, payload.clone(), now).await?;
            insert_audit(&mut tx, actor, "session.close", id, payload, now).await?;
            tx.commit().await?;
            Ok(session)
        }

        pub(super) async fn redeliver(
            pool: &Pool,
            actor: &Actor,
            delivery_id: i64,
            now: i64,
        ) -> Result<String, StoreError> {
            let mut tx = begin_write(pool).await?;
            let endpoint: Option<String> = sqlx::query_scalar(
                "SELECT d.endpoint_id FROM webhook_deliveries d \
                 JOIN webhook_endpoints e ON e.id = d.endpoint_id \
                 WHERE d.id = $1 AND e.operator_id = $2",
            )
            .bind(delivery_id)
            .bind(&actor.operator_id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(endpoint) = endpoint else {
                return Err(StoreError::NotFound(format!("delivery {delivery_id}")));
            };
            // Due now and unleased: the sender's next claim takes it, whatever it was.
            sqlx::query(
                "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $1, \
                     lease_until = NULL, lease_owner = NULL, updated_at = $1 WHERE id = $2",
            )
            .bind(now)
            .bind(delivery_id)
            .execute(&mut *tx)
            .await?;
            insert_audit(&mut tx, actor, "webhook.redeliver", &endpoint,
                serde_json::json!({"delivery_id": delivery_id}), now).await?;
            tx.commit().await?;
            Ok(endpoint)
        }
    };
}

pub(crate) use operator_sql_dashboard;
