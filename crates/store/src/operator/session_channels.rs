//! Agent sessions that pay through a payment channel (`migrations/*/0007_session_channels.sql`):
//! what the session method reports (the channel, its deposit, the highest accepted cumulative
//! amount, the close), and what the reconciler compares with the channel account on chain.
//! The SQL is expanded inside each backend's `operator_sql` module by
//! [`operator_sql_session_channels`].

use serde::Serialize;

/// One session receipt of a channel, as the agent (or the service, for a custodial account)
/// saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionReport {
    /// The channel (base58): the session's identity.
    pub channel_id: String,
    /// The channel program (base58).
    pub channel_program: String,
    /// The provider's endpoint (the challenge's realm or URL).
    pub provider_endpoint: String,
    /// The payee (base58).
    pub payee: String,
    /// The token the channel escrows.
    pub currency: String,
    /// The channel's deposit as known now (it grows with top-ups): the session's cap.
    pub deposit: u64,
    /// The highest cumulative amount the provider accepted.
    pub accepted_cumulative: u64,
    /// The channel was closed (the provider's final receipt).
    pub closed: bool,
    /// The closing transaction, when the final receipt names it.
    pub close_signature: Option<String>,
}

/// A session with a channel, for the reconciler.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChannelSession {
    /// The session.
    pub session_id: String,
    /// Its operator.
    pub operator_id: String,
    /// The channel (base58).
    pub channel_id: String,
    /// The recorded cap (the deposit).
    pub cap: u64,
    /// The recorded running total (accepted cumulative amount).
    pub running_total: u64,
    /// `open`, `settling` or `settled`.
    pub status: String,
    /// The recorded closing transaction.
    pub settlement_signature: Option<String>,
    /// The paying account's address (base58).
    pub account_address: String,
    /// The account's policy wallet (base58), which pays its channels when it has one.
    pub wallet: Option<String>,
}

/// What the chain proves about a session; applied only if the row still holds `expected`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRepair {
    /// The row as the reconciler read it.
    pub expected: ChannelSession,
    /// The deposit on chain.
    pub cap: u64,
    /// The amount settled on chain, when the chain proves it (sealed or distributed).
    pub running_total: Option<u64>,
    /// Mark it settled (the channel is closed on chain), with the closing signature if found.
    pub settled: Option<Option<String>>,
    /// The channel's payee (base58), the counterparty of a recovered amount.
    pub payee: String,
}

/// Expands the session-channel SQL.
macro_rules! operator_sql_session_channels {
    () => {
        use crate::operator::session_channels::{ChannelSession, SessionRepair, SessionReport};

        fn session_json(s: &Session) -> serde_json::Value {
            serde_json::to_value(s).unwrap_or(serde_json::Value::Null)
        }

        async fn session_of_channel(
            conn: &mut Conn,
            channel_id: &str,
        ) -> Result<Option<Session>, StoreError> {
            let sql = format!(
                "SELECT {} FROM agent_sessions s WHERE s.channel_id = $1",
                rows::SESSION_COLUMNS
            );
            let row = sqlx::query(&sql).bind(channel_id).fetch_optional(&mut *conn).await?;
            row.as_ref().map(rows::session).transpose()
        }

        pub(super) async fn report_session(
            pool: &Pool,
            actor: &Actor,
            account_id: &str,
            r: &SessionReport,
            now: i64,
        ) -> Result<Session, StoreError> {
            let mut tx = begin_write(pool).await?;
            // Serialises this account's money (counter, sessions) as every transfer does.
            let account = locked_account(&mut tx, &actor.operator_id, account_id).await?;
            let deposit = r.deposit.max(r.accepted_cumulative);
            let mut session = match session_of_channel(&mut tx, &r.channel_id).await? {
                Some(s) if s.account_id != account.id => {
                    return Err(StoreError::Conflict(format!(
                        "channel {} belongs to another account's session",
                        r.channel_id
                    )));
                }
                Some(s) => s,
                None => {
                    let opened = Session {
                        id: new_id("sess"),
                        account_id: account.id.clone(),
                        provider_endpoint: r.provider_endpoint.clone(),
                        cap: deposit,
                        running_total: 0,
                        status: SessionStatus::Open,
                        settlement_signature: None,
                        channel_id: Some(r.channel_id.clone()),
                        created_at: now,
                        updated_at: now,
                    };
                    sqlx::query(
                        "INSERT INTO agent_sessions (id, account_id, provider_endpoint, cap, \
                             running_total, status, channel_id, channel_program, created_at, \
                             updated_at) \
                         VALUES ($1, $2, $3, $4, 0, 'open', $5, $6, $7, $7)",
                    )
                    .bind(&opened.id)
                    .bind(&opened.account_id)
                    .bind(&opened.provider_endpoint)
                    .bind(amount_to_db(deposit)?)
                    .bind(&r.channel_id)
                    .bind(&r.channel_program)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    insert_event(&mut tx, &actor.operator_id, Some(&account.id),
                        EventType::SessionOpened, &opened.id, session_json(&opened), now).await?;
                    insert_audit(&mut tx, actor, "session.open", &opened.id,
                        session_json(&opened), now).await?;
                    opened
                }
            };
            if session.status == SessionStatus::Settled {
                // Final: a late or repeated report changes nothing.
                tx.rollback().await?;
                return Ok(session);
            }
            // Cumulative amounts only rise: a lower or equal one was recorded already.
            if let Some(delta) = r
                .accepted_cumulative
                .checked_sub(session.running_total)
                .filter(|d| *d > 0)
            {
                let key = format!("session:{}:{}", r.channel_id, r.accepted_cumulative);
                // Keyed by the cumulative amount, which only rises: no request to compare.
                let request_hash = [0u8; 32];
                let day = crate::operator::utc_day(now);
                add_spent(&mut tx, &account.id, &day, delta).await?;
                insert_transfer(&mut tx, Insert {
                    id: &new_id("txn"),
                    t: &NewTransfer {
                        account_id: account.id.clone(),
                        kind: TransferKind::Receipt,
                        amount: delta,
                        currency: r.currency.clone(),
                        counterparty: r.payee.clone(),
                        memo: None,
                        category: None,
                        session_id: Some(session.id.clone()),
                        idempotency_key: key,
                        request_hash,
                        signature: None,
                    },
                    status: TransferStatus::Settled, rejection: None,
                    counted_day: Some(&day), settled_at: Some(now), now,
                }).await?;
                session.running_total = r.accepted_cumulative;
            }
            session.cap = session.cap.max(deposit);
            let closing = r.closed;
            if closing {
                session.status = SessionStatus::Settled;
                session.settlement_signature = r.close_signature.clone();
            }
            session.updated_at = now;
            sqlx::query(
                "UPDATE agent_sessions SET cap = $1, running_total = $2, status = $3, \
                     settlement_signature = $4, updated_at = $5 WHERE id = $6",
            )
            .bind(amount_to_db(session.cap)?)
            .bind(amount_to_db(session.running_total)?)
            .bind(session.status.as_str())
            .bind(&session.settlement_signature)
            .bind(now)
            .bind(&session.id)
            .execute(&mut *tx)
            .await?;
            if closing {
                insert_event(&mut tx, &actor.operator_id, Some(&account.id),
                    EventType::SessionSettled, &session.id, session_json(&session), now).await?;
                insert_audit(&mut tx, actor, "session.settle", &session.id,
                    session_json(&session), now).await?;
            }
            tx.commit().await?;
            Ok(session)
        }

        pub(super) async fn record_violation(
            pool: &Pool,
            actor: &Actor,
            asked: &NewTransfer,
            v: &Violation,
            now: i64,
        ) -> Result<(), StoreError> {
            let mut tx = begin_write(pool).await?;
            let account = locked_account(&mut tx, &actor.operator_id, &asked.account_id).await?;
            insert_event(&mut tx, &actor.operator_id, Some(&account.id),
                EventType::PolicyViolation, &account.id,
                violation_json(&account.id, asked, v), now).await?;
            insert_audit(&mut tx, actor, "policy.refuse", &account.id,
                serde_json::json!({"rule": v.rule, "reason": v.reason,
                    "amount": asked.amount.to_string()}), now).await?;
            tx.commit().await?;
            Ok(())
        }

        pub(super) async fn channel_sessions(pool: &Pool) -> Result<Vec<ChannelSession>, StoreError> {
            type Row = (String, String, String, i64, i64, String, Option<String>, String,
                Option<String>);
            let found: Vec<Row> = sqlx::query_as(
                "SELECT s.id, a.operator_id, s.channel_id, s.cap, s.running_total, s.status, \
                     s.settlement_signature, a.address, w.wallet \
                 FROM agent_sessions s JOIN accounts a ON a.id = s.account_id \
                 LEFT JOIN account_policy_wallets w ON w.account_id = a.id \
                 WHERE s.channel_id IS NOT NULL ORDER BY s.created_at, s.id",
            )
            .fetch_all(pool)
            .await?;
            found
                .into_iter()
                .map(|(session_id, operator_id, channel_id, cap, total, status, signature,
                       account_address, wallet)| {
                    Ok(ChannelSession {
                        session_id,
                        operator_id,
                        channel_id,
                        cap: crate::common::amount_from_db(cap, "cap")?,
                        running_total: crate::common::amount_from_db(total, "running_total")?,
                        status,
                        settlement_signature: signature,
                        account_address,
                        wallet,
                    })
                })
                .collect()
        }

        pub(super) async fn repair_session(
            pool: &Pool,
            repair: &SessionRepair,
            now: i64,
        ) -> Result<bool, StoreError> {
            let e = &repair.expected;
            let mut tx = begin_write(pool).await?;
            let (status, signature) = match &repair.settled {
                Some(signature) => ("settled", signature.clone().or(e.settlement_signature.clone())),
                None => (e.status.as_str(), e.settlement_signature.clone()),
            };
            let total = repair.running_total.unwrap_or(e.running_total);
            // Compare-and-set on what was read: a report recorded meanwhile wins.
            let done = sqlx::query(
                "UPDATE agent_sessions SET cap = $1, running_total = $2, status = $3, \
                     settlement_signature = $4, updated_at = $5 \
                 WHERE id = $6 AND cap = $7 AND running_total = $8 AND status = $9",
            )
            .bind(amount_to_db(repair.cap.max(total))?)
            .bind(amount_to_db(total)?)
            .bind(status)
            .bind(&signature)
            .bind(now)
            .bind(&e.session_id)
            .bind(amount_to_db(e.cap)?)
            .bind(amount_to_db(e.running_total)?)
            .bind(&e.status)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if done == 1 && total > e.running_total {
                // Settled on chain beyond what was reported: the difference was paid.
                let (account_id, currency): (String, String) = sqlx::query_as(
                    "SELECT a.id, a.currency FROM agent_sessions s \
                     JOIN accounts a ON a.id = s.account_id WHERE s.id = $1",
                )
                .bind(&e.session_id)
                .fetch_one(&mut *tx)
                .await?;
                let day = crate::operator::utc_day(now);
                let delta = total - e.running_total;
                add_spent(&mut tx, &account_id, &day, delta).await?;
                insert_transfer(&mut tx, Insert {
                    id: &new_id("txn"),
                    t: &NewTransfer {
                        account_id,
                        kind: TransferKind::Receipt,
                        amount: delta,
                        currency,
                        counterparty: repair.payee.clone(),
                        memo: Some("settled on chain; found by the reconciler".into()),
                        category: None,
                        session_id: Some(e.session_id.clone()),
                        idempotency_key: format!("session:{}:{}", e.channel_id, total),
                        request_hash: [0u8; 32],
                        signature: None,
                    },
                    status: TransferStatus::Settled, rejection: None,
                    counted_day: Some(&day), settled_at: Some(now), now,
                }).await?;
            }
            if done == 1 {
                let system = Actor { operator_id: e.operator_id.clone(), key_id: "reconciler".into() };
                let detail = serde_json::json!({
                    "from": e, "cap": repair.cap, "running_total": total, "status": status,
                    "settlement_signature": signature,
                });
                insert_audit(&mut tx, &system, "session.repair", &e.session_id, detail, now).await?;
                if repair.settled.is_some() && e.status != "settled" {
                    let sql = format!("SELECT {} FROM agent_sessions s WHERE s.id = $1",
                        rows::SESSION_COLUMNS);
                    let row = sqlx::query(&sql).bind(&e.session_id).fetch_one(&mut *tx).await?;
                    let s = rows::session(&row)?;
                    insert_event(&mut tx, &e.operator_id, Some(&s.account_id),
                        EventType::SessionSettled, &s.id, session_json(&s), now).await?;
                }
            }
            tx.commit().await?;
            Ok(done == 1)
        }
    };
}

pub(crate) use operator_sql_session_channels;
