//! Helpers shared by the operator SQL (expanded inside each backend's `operator_sql` module by
//! [`operator_sql_helpers`]): account locking, transfer lookup, counters, events, the audit log
//! (its only write path), outbox jobs, paging.

/// Expands the helpers; `$lock` is appended to the account-locking `SELECT`.
macro_rules! operator_sql_helpers {
    ($lock:expr) => {
            /// The transfer columns plus its stored request hash.
            fn transfer_select(filter: &str) -> String {
                format!(
                    "SELECT {}, t.request_hash FROM transfers t \
                     JOIN accounts a ON a.id = t.account_id WHERE {filter}",
                    rows::TRANSFER_COLUMNS
                )
            }

            async fn locked_account(
                conn: &mut Conn,
                operator_id: &str,
                account_id: &str,
            ) -> Result<Account, StoreError> {
                let sql = format!(
                    "SELECT {} FROM accounts a WHERE a.id = $1 AND a.operator_id = $2{}",
                    rows::ACCOUNT_COLUMNS,
                    $lock
                );
                let row = sqlx::query(&sql)
                    .bind(account_id)
                    .bind(operator_id)
                    .fetch_optional(&mut *conn)
                    .await?;
                match row {
                    Some(row) => rows::account(&row),
                    None => Err(StoreError::NotFound(format!("account {account_id}"))),
                }
            }

            async fn transfer_by(
                conn: &mut Conn,
                operator_id: &str,
                filter: &str,
                a: &str,
                b: &str,
            ) -> Result<Option<(Transfer, Vec<u8>)>, StoreError> {
                let sql = transfer_select(&format!("a.operator_id = $1 AND {filter}"));
                let row = sqlx::query(&sql)
                    .bind(operator_id)
                    .bind(a)
                    .bind(b)
                    .fetch_optional(&mut *conn)
                    .await?;
                row.map(|r| {
                    use rows::OpRow as _;
                    Ok((rows::transfer(&r)?, r.bytes("request_hash")?.unwrap_or_default()))
                })
                .transpose()
            }

            async fn transfer_by_id(
                conn: &mut Conn,
                operator_id: &str,
                id: &str,
            ) -> Result<Option<Transfer>, StoreError> {
                Ok(transfer_by(conn, operator_id, "t.id = $2 AND $3 = $3", id, "")
                    .await?
                    .map(|(t, _)| t))
            }

            /// A unique-index violation is a conflict the caller can act on (a concurrent insert
            /// of the same handle or signature), not a backend failure.
            fn unique_as_conflict(e: sqlx::Error, what: &str) -> StoreError {
                match e.as_database_error() {
                    Some(db) if db.is_unique_violation() => {
                        StoreError::Conflict(format!("{what} is already recorded"))
                    }
                    _ => StoreError::Backend(e),
                }
            }

            /// `NotFound` unless the account is the operator's (no lock: reads only).
            async fn require_owned(
                conn: &mut Conn,
                operator_id: &str,
                account_id: &str,
            ) -> Result<(), StoreError> {
                let owned: Option<String> = sqlx::query_scalar(
                    "SELECT id FROM accounts WHERE id = $1 AND operator_id = $2",
                )
                .bind(account_id)
                .bind(operator_id)
                .fetch_optional(&mut *conn)
                .await?;
                match owned {
                    Some(_) => Ok(()),
                    None => Err(StoreError::NotFound(format!("account {account_id}"))),
                }
            }

            /// Opens the write transaction of a keyed request: checks the amount fits, locks the
            /// paying account, and finds what its idempotency key already recorded (the transfer
            /// and its request hash).
            async fn begin_keyed(
                pool: &Pool,
                actor: &Actor,
                transfer: &NewTransfer,
            ) -> Result<
                (
                    sqlx::Transaction<'static, <Conn as sqlx::Connection>::Database>,
                    Account,
                    Option<(Transfer, Vec<u8>)>,
                ),
                StoreError,
            > {
                amount_to_db(transfer.amount)?;
                let mut tx = begin_write(pool).await?;
                let account =
                    locked_account(&mut tx, &actor.operator_id, &transfer.account_id).await?;
                let seen = transfer_by(
                    &mut tx,
                    &actor.operator_id,
                    "t.account_id = $2 AND t.idempotency_key = $3",
                    &transfer.account_id,
                    &transfer.idempotency_key,
                )
                .await?;
                Ok((tx, account, seen))
            }

            async fn policy_of(conn: &mut Conn, account_id: &str) -> Result<Policy, StoreError> {
                let sql = format!(
                    "SELECT {} FROM account_policies WHERE account_id = $1",
                    rows::POLICY_COLUMNS
                );
                let row = sqlx::query(&sql)
                    .bind(account_id)
                    .fetch_optional(&mut *conn)
                    .await?;
                match row {
                    Some(row) => rows::policy(&row),
                    None => Err(StoreError::NotFound(format!("policy of {account_id}"))),
                }
            }

            async fn spent(conn: &mut Conn, account_id: &str, day: &str) -> Result<u64, StoreError> {
                let total: Option<i64> = sqlx::query_scalar(
                    "SELECT total FROM account_daily_spend WHERE account_id = $1 AND day = $2",
                )
                .bind(account_id)
                .bind(day)
                .fetch_optional(&mut *conn)
                .await?;
                crate::common::amount_from_db(total.unwrap_or(0), "account_daily_spend.total")
            }

            /// Adds to the day's counter; the caller decided whether a cap applies.
            async fn add_spent(
                conn: &mut Conn,
                account_id: &str,
                day: &str,
                amount: u64,
            ) -> Result<(), StoreError> {
                let current = amount_to_db(spent(conn, account_id, day).await?)?;
                let new_total = current
                    .checked_add(amount_to_db(amount)?)
                    .ok_or(StoreError::AmountTooLarge(amount))?;
                sqlx::query(
                    "INSERT INTO account_daily_spend (account_id, day, total) VALUES ($1, $2, $3) \
                     ON CONFLICT (account_id, day) DO UPDATE SET total = excluded.total",
                )
                .bind(account_id)
                .bind(day)
                .bind(new_total)
                .execute(&mut *conn)
                .await?;
                Ok(())
            }

            async fn insert_event(
                conn: &mut Conn,
                operator_id: &str,
                account_id: Option<&str>,
                event_type: EventType,
                subject_id: &str,
                payload: serde_json::Value,
                now: i64,
            ) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO events (id, operator_id, account_id, type, subject_id, payload, \
                         created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(new_id("evt"))
                .bind(operator_id)
                .bind(account_id)
                .bind(event_type.as_str())
                .bind(subject_id)
                .bind(payload.to_string())
                .bind(now)
                .execute(&mut *conn)
                .await?;
                Ok(())
            }

            /// The one write path of the audit log: INSERT only.
            async fn insert_audit(
                conn: &mut Conn,
                actor: &Actor,
                action: &str,
                subject_id: &str,
                detail: serde_json::Value,
                now: i64,
            ) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO audit_log (operator_id, actor, action, subject_id, detail, \
                         created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&actor.operator_id)
                .bind(&actor.key_id)
                .bind(action)
                .bind(subject_id)
                .bind(detail.to_string())
                .bind(now)
                .execute(&mut *conn)
                .await?;
                Ok(())
            }

            /// What a transfer is and what happened to it, for events and audit entries.
            fn transfer_json(t: &Transfer) -> serde_json::Value {
                serde_json::to_value(t).unwrap_or(serde_json::Value::Null)
            }

            struct Insert<'a> {
                id: &'a str,
                t: &'a NewTransfer,
                status: TransferStatus,
                rejection: Option<&'a Violation>,
                counted_day: Option<&'a str>,
                settled_at: Option<i64>,
                now: i64,
            }

            async fn insert_transfer(conn: &mut Conn, i: Insert<'_>) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO transfers (id, account_id, kind, amount, currency, counterparty, \
                         memo, category, session_id, idempotency_key, request_hash, signature, \
                         status, rejection_rule, rejection_reason, counted_day, created_at, \
                         updated_at, settled_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, \
                         $16, $17, $17, $18)",
                )
                .bind(i.id)
                .bind(&i.t.account_id)
                .bind(i.t.kind.as_str())
                .bind(amount_to_db(i.t.amount)?)
                .bind(&i.t.currency)
                .bind(&i.t.counterparty)
                .bind(&i.t.memo)
                .bind(&i.t.category)
                .bind(&i.t.session_id)
                .bind(&i.t.idempotency_key)
                .bind(i.t.request_hash.to_vec())
                .bind(&i.t.signature)
                .bind(i.status.as_str())
                .bind(i.rejection.map(|v| v.rule.clone()))
                .bind(i.rejection.map(|v| v.reason.clone()))
                .bind(i.counted_day)
                .bind(i.now)
                .bind(i.settled_at)
                .execute(&mut *conn)
                .await
                .map_err(|e| unique_as_conflict(e, "this transaction signature"))?;
                Ok(())
            }

            async fn insert_outbox(
                conn: &mut Conn,
                kind: TransferKind,
                transfer_id: &str,
                now: i64,
            ) -> Result<(), StoreError> {
                let job = match kind {
                    TransferKind::Transfer => "settle_transfer",
                    TransferKind::Charge => "confirm_charge",
                    // Receipts are settled when ingested: nothing for the worker.
                    TransferKind::Receipt => return Ok(()),
                };
                sqlx::query(
                    "INSERT INTO outbox_jobs (kind, transfer_id, status, attempts, \
                         next_attempt_at, created_at, updated_at) \
                     VALUES ($1, $2, 'pending', 0, $3, $3, $3)",
                )
                .bind(job)
                .bind(transfer_id)
                .bind(now)
                .execute(&mut *conn)
                .await?;
                Ok(())
            }

            fn violation_json(account_id: &str, t: &NewTransfer, v: &Violation) -> serde_json::Value {
                serde_json::json!({
                    "account_id": account_id,
                    "rule": v.rule,
                    "reason": v.reason,
                    "amount": t.amount.to_string(),
                    "counterparty": t.counterparty,
                })
            }

            fn page_clause(page: &Page, alias: &str, first: usize) -> (String, i64, String, i64) {
                let limit = i64::from(page.limit.clamp(1, MAX_PAGE));
                match &page.after {
                    Some((at, id)) => (
                        format!(
                            "AND ({alias}.created_at < ${first} OR ({alias}.created_at = ${first} \
                             AND {alias}.id < ${})) ORDER BY {alias}.created_at DESC, {alias}.id DESC \
                             LIMIT ${}",
                            first + 1,
                            first + 2
                        ),
                        *at,
                        id.clone(),
                        limit,
                    ),
                    None => (
                        format!(
                            "AND ${first} = ${first} AND ${} = ${} \
                             ORDER BY {alias}.created_at DESC, {alias}.id DESC LIMIT ${}",
                            first + 1,
                            first + 1,
                            first + 2
                        ),
                        0,
                        String::new(),
                        limit,
                    ),
                }
            }


            async fn write_policy(
                conn: &mut Conn,
                account_id: &str,
                policy: &Policy,
                now: i64,
                insert: bool,
            ) -> Result<(), StoreError> {
                let opt = |v: Option<u64>| v.map(amount_to_db).transpose();
                let sql = if insert {
                    "INSERT INTO account_policies (max_single_transfer, max_daily_spend, \
                         allowed_counterparties, categories, require_memo, escalation_threshold, \
                         paused, updated_at, account_id) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
                } else {
                    "UPDATE account_policies SET max_single_transfer = $1, max_daily_spend = $2, \
                         allowed_counterparties = $3, categories = $4, require_memo = $5, \
                         escalation_threshold = $6, paused = $7, updated_at = $8 \
                     WHERE account_id = $9"
                };
                sqlx::query(sql)
                    .bind(opt(policy.max_single_transfer)?)
                    .bind(opt(policy.max_daily_spend)?)
                    .bind(list_to_db(&policy.allowed_counterparties))
                    .bind(list_to_db(&policy.categories))
                    .bind(policy.require_memo)
                    .bind(opt(policy.escalation_threshold)?)
                    .bind(policy.paused)
                    .bind(now)
                    .bind(account_id)
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            }
    };
}

pub(crate) use operator_sql_helpers;
