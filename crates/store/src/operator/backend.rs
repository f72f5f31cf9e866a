//! The operator SQL, written once and expanded for each backend by [`operator_store_impl`].
//!
//! Both dialects take `$N` placeholders (SQLite reads them as numbered parameters). What
//! differs is locking, passed in by the backend: SQLite opens every write transaction with
//! `BEGIN IMMEDIATE` (one writer per file, so read-check-write cannot interleave); PostgreSQL
//! locks the paying account's row `FOR UPDATE`, which serialises the transfers of one account
//! (its idempotency keys, daily counter and sessions) across every server instance.

/// Implements [`super::OperatorStore`] for `$store`, whose `pool` field is a `$pool`.
/// `$conn` is the backend's connection type; `$lock` is appended to the account-locking
/// `SELECT`; the calling module provides `begin_write(&pool)`.
macro_rules! operator_store_impl {
    ($store:ty, $conn:ty, lock = $lock:expr) => {
        mod operator_sql {
            use super::begin_write;
            use crate::StoreError;
            use crate::common::amount_to_db;
            use crate::operator::rows::{self, list_to_db};
            use crate::operator::*;
            use async_trait::async_trait;

            type Conn = $conn;

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

            #[async_trait]
            impl OperatorStore for $store {
                async fn create_operator(&self, name: &str, now: i64) -> Result<Operator, StoreError> {
                    let mut tx = begin_write(&self.pool).await?;
                    let op = Operator { id: new_id("op"), name: name.to_owned(), created_at: now };
                    sqlx::query("INSERT INTO operators (id, name, created_at) VALUES ($1, $2, $3)")
                        .bind(&op.id)
                        .bind(&op.name)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    let system = Actor { operator_id: op.id.clone(), key_id: "system".into() };
                    insert_audit(&mut tx, &system, "operator.create", &op.id,
                        serde_json::json!({"name": name}), now).await?;
                    tx.commit().await?;
                    Ok(op)
                }

                async fn get_operator(&self, id: &str) -> Result<Option<Operator>, StoreError> {
                    let sql = format!("SELECT {} FROM operators WHERE id = $1", rows::OPERATOR_COLUMNS);
                    let row = sqlx::query(&sql).bind(id).fetch_optional(&self.pool).await?;
                    row.as_ref().map(rows::operator).transpose()
                }

                async fn count_operators(&self) -> Result<u64, StoreError> {
                    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM operators")
                        .fetch_one(&self.pool)
                        .await?;
                    crate::common::amount_from_db(n, "count")
                }

                async fn create_api_key(
                    &self,
                    actor: &Actor,
                    key: &NewApiKey,
                    now: i64,
                ) -> Result<ApiKey, StoreError> {
                    if key.operator_id != actor.operator_id {
                        return Err(StoreError::NotFound(format!("operator {}", key.operator_id)));
                    }
                    let mut tx = begin_write(&self.pool).await?;
                    if let Some(account_id) = &key.account_id {
                        locked_account(&mut tx, &actor.operator_id, account_id).await?;
                    }
                    let id = new_id("key");
                    sqlx::query(
                        "INSERT INTO api_keys (id, operator_id, role, account_id, sealed_verifier, \
                             status, created_at) VALUES ($1, $2, $3, $4, $5, 'active', $6)",
                    )
                    .bind(&id)
                    .bind(&key.operator_id)
                    .bind(key.role.as_str())
                    .bind(&key.account_id)
                    .bind(&key.sealed_verifier)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    insert_audit(&mut tx, actor, "api_key.create", &id,
                        serde_json::json!({"role": key.role, "account_id": key.account_id}), now).await?;
                    tx.commit().await?;
                    Ok(ApiKey {
                        id,
                        operator_id: key.operator_id.clone(),
                        role: key.role,
                        account_id: key.account_id.clone(),
                        status: KeyStatus::Active,
                        replaced_by: None,
                        created_at: now,
                        revoked_at: None,
                    })
                }

                async fn api_key_for_auth(
                    &self,
                    id: &str,
                ) -> Result<Option<(ApiKey, Vec<u8>)>, StoreError> {
                    use rows::OpRow as _;
                    let sql = format!(
                        "SELECT {}, sealed_verifier FROM api_keys WHERE id = $1",
                        rows::API_KEY_COLUMNS
                    );
                    let row = sqlx::query(&sql).bind(id).fetch_optional(&self.pool).await?;
                    row.map(|r| Ok((rows::api_key(&r)?, r.bytes("sealed_verifier")?.unwrap_or_default())))
                        .transpose()
                }

                async fn list_api_keys(&self, actor: &Actor) -> Result<Vec<ApiKey>, StoreError> {
                    let sql = format!(
                        "SELECT {} FROM api_keys WHERE operator_id = $1 \
                         ORDER BY created_at DESC, id DESC",
                        rows::API_KEY_COLUMNS
                    );
                    let found = sqlx::query(&sql).bind(&actor.operator_id).fetch_all(&self.pool).await?;
                    found.iter().map(rows::api_key).collect()
                }

                async fn rotate_api_key(
                    &self,
                    actor: &Actor,
                    id: &str,
                    sealed_verifier: &[u8],
                    now: i64,
                ) -> Result<ApiKey, StoreError> {
                    let mut tx = begin_write(&self.pool).await?;
                    let sql = format!(
                        "SELECT {} FROM api_keys WHERE id = $1 AND operator_id = $2 \
                         AND status = 'active'",
                        rows::API_KEY_COLUMNS
                    );
                    let row = sqlx::query(&sql)
                        .bind(id)
                        .bind(&actor.operator_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                    let Some(old) = row.as_ref().map(rows::api_key).transpose()? else {
                        return Err(StoreError::NotFound(format!("active api key {id}")));
                    };
                    let new = ApiKey {
                        id: new_id("key"),
                        created_at: now,
                        replaced_by: None,
                        ..old.clone()
                    };
                    sqlx::query(
                        "INSERT INTO api_keys (id, operator_id, role, account_id, sealed_verifier, \
                             status, created_at) VALUES ($1, $2, $3, $4, $5, 'active', $6)",
                    )
                    .bind(&new.id)
                    .bind(&new.operator_id)
                    .bind(new.role.as_str())
                    .bind(&new.account_id)
                    .bind(sealed_verifier)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    // `status = 'active'` makes a concurrent rotation of the same key lose.
                    let revoked = sqlx::query(
                        "UPDATE api_keys SET status = 'revoked', revoked_at = $1, replaced_by = $2 \
                         WHERE id = $3 AND status = 'active'",
                    )
                    .bind(now)
                    .bind(&new.id)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if revoked != 1 {
                        return Err(StoreError::Conflict(format!("api key {id} was rotated concurrently")));
                    }
                    insert_audit(&mut tx, actor, "api_key.rotate", id,
                        serde_json::json!({"replaced_by": new.id}), now).await?;
                    tx.commit().await?;
                    Ok(new)
                }

                async fn revoke_api_key(
                    &self,
                    actor: &Actor,
                    id: &str,
                    now: i64,
                ) -> Result<ApiKey, StoreError> {
                    let mut tx = begin_write(&self.pool).await?;
                    let revoked = sqlx::query(
                        "UPDATE api_keys SET status = 'revoked', revoked_at = $1 \
                         WHERE id = $2 AND operator_id = $3 AND status = 'active'",
                    )
                    .bind(now)
                    .bind(id)
                    .bind(&actor.operator_id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if revoked != 1 {
                        return Err(StoreError::NotFound(format!("active api key {id}")));
                    }
                    insert_audit(&mut tx, actor, "api_key.revoke", id, serde_json::json!({}), now).await?;
                    let sql = format!("SELECT {} FROM api_keys WHERE id = $1", rows::API_KEY_COLUMNS);
                    let row = sqlx::query(&sql).bind(id).fetch_one(&mut *tx).await?;
                    let key = rows::api_key(&row)?;
                    tx.commit().await?;
                    Ok(key)
                }

                async fn record_nonce(
                    &self,
                    key_id: &str,
                    nonce: &str,
                    expires_at: i64,
                    now: i64,
                ) -> Result<NonceOutcome, StoreError> {
                    sqlx::query("DELETE FROM request_nonces WHERE expires_at < $1")
                        .bind(now)
                        .execute(&self.pool)
                        .await?;
                    let inserted = sqlx::query(
                        "INSERT INTO request_nonces (key_id, nonce, expires_at) \
                         VALUES ($1, $2, $3) ON CONFLICT (key_id, nonce) DO NOTHING",
                    )
                    .bind(key_id)
                    .bind(nonce)
                    .bind(expires_at)
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                    Ok(if inserted == 1 { NonceOutcome::Fresh } else { NonceOutcome::Replayed })
                }

                async fn create_account(
                    &self,
                    actor: &Actor,
                    account: &NewAccount,
                    policy: &Policy,
                    now: i64,
                ) -> Result<Account, StoreError> {
                    if account.operator_id != actor.operator_id {
                        return Err(StoreError::NotFound(format!("operator {}", account.operator_id)));
                    }
                    let mut tx = begin_write(&self.pool).await?;
                    let taken: Option<String> = sqlx::query_scalar(
                        "SELECT id FROM accounts WHERE operator_id = $1 AND handle = $2",
                    )
                    .bind(&account.operator_id)
                    .bind(&account.handle)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if taken.is_some() {
                        return Err(StoreError::Conflict(format!(
                            "handle {:?} is already in use", account.handle
                        )));
                    }
                    let created = Account {
                        id: new_id("acct"),
                        operator_id: account.operator_id.clone(),
                        handle: account.handle.clone(),
                        address: account.address.clone(),
                        currency: account.currency.clone(),
                        token_account: account.token_account.clone(),
                        custody_mode: if account.sealed_key.is_some() {
                            CustodyMode::Custodial
                        } else {
                            CustodyMode::NonCustodial
                        },
                        status: AccountStatus::Active,
                        created_at: now,
                    };
                    sqlx::query(
                        "INSERT INTO accounts (id, operator_id, handle, address, currency, \
                             token_account, custody_mode, status, sealed_key, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                    )
                    .bind(&created.id)
                    .bind(&created.operator_id)
                    .bind(&created.handle)
                    .bind(&created.address)
                    .bind(&created.currency)
                    .bind(&created.token_account)
                    .bind(created.custody_mode.as_str())
                    .bind(created.status.as_str())
                    .bind(&account.sealed_key)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| unique_as_conflict(e, "this handle"))?;
                    write_policy(&mut tx, &created.id, policy, now, true).await?;
                    insert_audit(&mut tx, actor, "account.create", &created.id,
                        serde_json::json!({"handle": created.handle, "custody_mode": created.custody_mode,
                            "address": created.address}), now).await?;
                    tx.commit().await?;
                    Ok(created)
                }

                async fn get_account(&self, actor: &Actor, id: &str) -> Result<Option<Account>, StoreError> {
                    let sql = format!(
                        "SELECT {} FROM accounts a WHERE a.id = $1 AND a.operator_id = $2",
                        rows::ACCOUNT_COLUMNS
                    );
                    let row = sqlx::query(&sql)
                        .bind(id)
                        .bind(&actor.operator_id)
                        .fetch_optional(&self.pool)
                        .await?;
                    row.as_ref().map(rows::account).transpose()
                }

                async fn list_accounts(&self, actor: &Actor, page: &Page) -> Result<Vec<Account>, StoreError> {
                    let (clause, at, id, limit) = page_clause(page, "a", 2);
                    let sql = format!(
                        "SELECT {} FROM accounts a WHERE a.operator_id = $1 {clause}",
                        rows::ACCOUNT_COLUMNS
                    );
                    let found = sqlx::query(&sql)
                        .bind(&actor.operator_id)
                        .bind(at)
                        .bind(id)
                        .bind(limit)
                        .fetch_all(&self.pool)
                        .await?;
                    found.iter().map(rows::account).collect()
                }

                async fn set_account_status(
                    &self,
                    actor: &Actor,
                    id: &str,
                    status: AccountStatus,
                    now: i64,
                ) -> Result<Account, StoreError> {
                    let mut tx = begin_write(&self.pool).await?;
                    let mut account = locked_account(&mut tx, &actor.operator_id, id).await?;
                    sqlx::query("UPDATE accounts SET status = $1 WHERE id = $2")
                        .bind(status.as_str())
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    insert_audit(&mut tx, actor, "account.status", id,
                        serde_json::json!({"from": account.status, "to": status}), now).await?;
                    tx.commit().await?;
                    account.status = status;
                    Ok(account)
                }

                async fn sealed_account_key(
                    &self,
                    actor: &Actor,
                    account_id: &str,
                ) -> Result<Option<Vec<u8>>, StoreError> {
                    let key: Option<Option<Vec<u8>>> = sqlx::query_scalar(
                        "SELECT sealed_key FROM accounts WHERE id = $1 AND operator_id = $2",
                    )
                    .bind(account_id)
                    .bind(&actor.operator_id)
                    .fetch_optional(&self.pool)
                    .await?;
                    Ok(key.flatten())
                }

                async fn get_policy(&self, actor: &Actor, account_id: &str) -> Result<Policy, StoreError> {
                    let mut conn = self.pool.acquire().await?;
                    require_owned(&mut conn, &actor.operator_id, account_id).await?;
                    policy_of(&mut conn, account_id).await
                }

                async fn put_policy(
                    &self,
                    actor: &Actor,
                    account_id: &str,
                    policy: &Policy,
                    now: i64,
                ) -> Result<Policy, StoreError> {
                    let mut tx = begin_write(&self.pool).await?;
                    locked_account(&mut tx, &actor.operator_id, account_id).await?;
                    write_policy(&mut tx, account_id, policy, now, false).await?;
                    insert_audit(&mut tx, actor, "policy.put", account_id,
                        serde_json::to_value(policy).unwrap_or_default(), now).await?;
                    tx.commit().await?;
                    Ok(policy.clone())
                }

                async fn request_transfer(
                    &self,
                    actor: &Actor,
                    transfer: &NewTransfer,
                    check: PolicyCheck,
                    now: i64,
                ) -> Result<TransferOutcome, StoreError> {
                    amount_to_db(transfer.amount)?;
                    let mut tx = begin_write(&self.pool).await?;
                    let account = locked_account(&mut tx, &actor.operator_id, &transfer.account_id).await?;
                    if let Some((existing, hash)) = transfer_by(
                        &mut tx, &actor.operator_id,
                        "t.account_id = $2 AND t.idempotency_key = $3",
                        &transfer.account_id, &transfer.idempotency_key,
                    ).await? {
                        tx.rollback().await?;
                        return Ok(if hash == transfer.request_hash {
                            TransferOutcome::Replayed(existing)
                        } else {
                            TransferOutcome::KeyConflict(existing)
                        });
                    }
                    if let Some(session_id) = &transfer.session_id {
                        let open: Option<String> = sqlx::query_scalar(
                            "SELECT id FROM agent_sessions WHERE id = $1 AND account_id = $2 \
                             AND status = 'open'",
                        )
                        .bind(session_id)
                        .bind(&account.id)
                        .fetch_optional(&mut *tx)
                        .await?;
                        if open.is_none() {
                            return Err(StoreError::NotFound(format!("open session {session_id}")));
                        }
                    }
                    let policy = policy_of(&mut tx, &account.id).await?;
                    let day = utc_day(now);
                    let spent_today = spent(&mut tx, &account.id, &day).await?;
                    let decision = check(&PolicyContext {
                        account: &account, policy: &policy, spent_today, transfer, approving: false,
                    });
                    let id = new_id("txn");
                    let mut insert = Insert {
                        id: &id, t: transfer, status: TransferStatus::Pending, rejection: None,
                        counted_day: None, settled_at: None, now,
                    };
                    match &decision {
                        Decision::Accept => {
                            add_spent(&mut tx, &account.id, &day, transfer.amount).await?;
                            insert.counted_day = Some(&day);
                            insert_transfer(&mut tx, insert).await?;
                            insert_outbox(&mut tx, transfer.kind, &id, now).await?;
                        }
                        Decision::Escalate => {
                            insert.status = TransferStatus::PendingApproval;
                            insert_transfer(&mut tx, insert).await?;
                        }
                        Decision::Reject(v) => {
                            insert.status = TransferStatus::Rejected;
                            insert.rejection = Some(v);
                            insert_transfer(&mut tx, insert).await?;
                            insert_event(&mut tx, &actor.operator_id, Some(&account.id),
                                EventType::PolicyViolation, &id,
                                violation_json(&account.id, transfer, v), now).await?;
                        }
                    }
                    let created = transfer_by_id(&mut tx, &actor.operator_id, &id)
                        .await?
                        .ok_or_else(|| StoreError::NotFound(format!("transfer {id}")))?;
                    if decision == Decision::Escalate {
                        insert_event(&mut tx, &actor.operator_id, Some(&account.id),
                            EventType::TransferPendingApproval, &id, transfer_json(&created), now).await?;
                    }
                    insert_audit(&mut tx, actor, "transfer.request", &id, transfer_json(&created), now).await?;
                    tx.commit().await?;
                    Ok(TransferOutcome::Created(created))
                }

                async fn approve_transfer(
                    &self,
                    actor: &Actor,
                    id: &str,
                    check: PolicyCheck,
                    now: i64,
                ) -> Result<ApprovalOutcome, StoreError> {
                    let mut tx = begin_write(&self.pool).await?;
                    let Some(found) = transfer_by_id(&mut tx, &actor.operator_id, id).await? else {
                        return Err(StoreError::NotFound(format!("transfer {id}")));
                    };
                    let account = locked_account(&mut tx, &actor.operator_id, &found.account_id).await?;
                    // Re-read under the account lock: another approval may have won.
                    let Some(current) = transfer_by_id(&mut tx, &actor.operator_id, id).await? else {
                        return Err(StoreError::NotFound(format!("transfer {id}")));
                    };
                    if current.status != TransferStatus::PendingApproval {
                        tx.rollback().await?;
                        return Ok(ApprovalOutcome::NotPending(current));
                    }
                    let policy = policy_of(&mut tx, &account.id).await?;
                    let day = utc_day(now);
                    let spent_today = spent(&mut tx, &account.id, &day).await?;
                    let asked = NewTransfer {
                        account_id: current.account_id.clone(),
                        kind: current.kind,
                        amount: current.amount,
                        currency: current.currency.clone(),
                        counterparty: current.counterparty.clone(),
                        memo: current.memo.clone(),
                        category: current.category.clone(),
                        session_id: current.session_id.clone(),
                        idempotency_key: current.idempotency_key.clone(),
                        request_hash: [0; 32],
                        signature: current.signature.clone(),
                    };
                    let decision = check(&PolicyContext {
                        account: &account, policy: &policy, spent_today, transfer: &asked, approving: true,
                    });
                    if let Decision::Reject(v) = decision {
                        insert_event(&mut tx, &actor.operator_id, Some(&account.id),
                            EventType::PolicyViolation, id, violation_json(&account.id, &asked, &v), now).await?;
                        insert_audit(&mut tx, actor, "transfer.approve_refused", id,
                            serde_json::json!({"rule": v.rule, "reason": v.reason}), now).await?;
                        tx.commit().await?;
                        return Ok(ApprovalOutcome::Refused(current, v));
                    }
                    add_spent(&mut tx, &account.id, &day, current.amount).await?;
                    sqlx::query(
                        "UPDATE transfers SET status = 'pending', counted_day = $1, updated_at = $2 \
                         WHERE id = $3 AND status = 'pending_approval'",
                    )
                    .bind(&day)
                    .bind(now)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                    insert_outbox(&mut tx, current.kind, id, now).await?;
                    insert_audit(&mut tx, actor, "transfer.approve", id, serde_json::json!({}), now).await?;
                    let approved = transfer_by_id(&mut tx, &actor.operator_id, id)
                        .await?
                        .ok_or_else(|| StoreError::NotFound(format!("transfer {id}")))?;
                    tx.commit().await?;
                    Ok(ApprovalOutcome::Approved(approved))
                }

                async fn reject_transfer(
                    &self,
                    actor: &Actor,
                    id: &str,
                    reason: &str,
                    now: i64,
                ) -> Result<RejectOutcome, StoreError> {
                    let mut tx = begin_write(&self.pool).await?;
                    let Some(found) = transfer_by_id(&mut tx, &actor.operator_id, id).await? else {
                        return Err(StoreError::NotFound(format!("transfer {id}")));
                    };
                    locked_account(&mut tx, &actor.operator_id, &found.account_id).await?;
                    let changed = sqlx::query(
                        "UPDATE transfers SET status = 'rejected', rejection_rule = 'operator', \
                             rejection_reason = $1, updated_at = $2 \
                         WHERE id = $3 AND status = 'pending_approval'",
                    )
                    .bind(reason)
                    .bind(now)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    let current = transfer_by_id(&mut tx, &actor.operator_id, id)
                        .await?
                        .ok_or_else(|| StoreError::NotFound(format!("transfer {id}")))?;
                    if changed != 1 {
                        tx.rollback().await?;
                        return Ok(RejectOutcome::NotPending(current));
                    }
                    insert_audit(&mut tx, actor, "transfer.reject", id,
                        serde_json::json!({"reason": reason}), now).await?;
                    tx.commit().await?;
                    Ok(RejectOutcome::Rejected(current))
                }

                async fn set_transfer_signature(
                    &self,
                    actor: &Actor,
                    id: &str,
                    signature: &str,
                    now: i64,
                ) -> Result<(), StoreError> {
                    let mut tx = begin_write(&self.pool).await?;
                    if transfer_by_id(&mut tx, &actor.operator_id, id).await?.is_none() {
                        return Err(StoreError::NotFound(format!("transfer {id}")));
                    }
                    let changed = sqlx::query(
                        "UPDATE transfers SET signature = $1, updated_at = $2 \
                         WHERE id = $3 AND status = 'pending' AND signature IS NULL",
                    )
                    .bind(signature)
                    .bind(now)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| unique_as_conflict(e, "this transaction signature"))?
                    .rows_affected();
                    if changed != 1 {
                        return Err(StoreError::Conflict(format!(
                            "transfer {id} is not pending without a signature"
                        )));
                    }
                    insert_audit(&mut tx, actor, "transfer.sign", id,
                        serde_json::json!({"signature": signature}), now).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn fail_transfer(
                    &self,
                    actor: &Actor,
                    id: &str,
                    reason: &str,
                    now: i64,
                ) -> Result<Transfer, StoreError> {
                    let mut tx = begin_write(&self.pool).await?;
                    let Some(found) = transfer_by_id(&mut tx, &actor.operator_id, id).await? else {
                        return Err(StoreError::NotFound(format!("transfer {id}")));
                    };
                    locked_account(&mut tx, &actor.operator_id, &found.account_id).await?;
                    let day: Option<Option<String>> = sqlx::query_scalar(
                        "SELECT counted_day FROM transfers WHERE id = $1 AND status = 'pending'",
                    )
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let Some(day) = day else {
                        return Err(StoreError::Conflict(format!("transfer {id} is not pending")));
                    };
                    if let Some(day) = day {
                        // Give the amount back, never below zero.
                        sqlx::query(
                            "UPDATE account_daily_spend SET total = CASE WHEN total > $1 \
                                 THEN total - $1 ELSE 0 END \
                             WHERE account_id = $2 AND day = $3",
                        )
                        .bind(amount_to_db(found.amount)?)
                        .bind(&found.account_id)
                        .bind(&day)
                        .execute(&mut *tx)
                        .await?;
                    }
                    sqlx::query(
                        "UPDATE transfers SET status = 'failed', rejection_reason = $1, updated_at = $2 \
                         WHERE id = $3",
                    )
                    .bind(reason)
                    .bind(now)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query(
                        "UPDATE outbox_jobs SET status = 'failed', last_error = $1, updated_at = $2 \
                         WHERE transfer_id = $3 AND status IN ('pending', 'in_progress')",
                    )
                    .bind(reason)
                    .bind(now)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                    let failed = transfer_by_id(&mut tx, &actor.operator_id, id)
                        .await?
                        .ok_or_else(|| StoreError::NotFound(format!("transfer {id}")))?;
                    insert_event(&mut tx, &actor.operator_id, Some(&failed.account_id),
                        EventType::TransferFailed, id, transfer_json(&failed), now).await?;
                    insert_audit(&mut tx, actor, "transfer.fail", id,
                        serde_json::json!({"reason": reason}), now).await?;
                    tx.commit().await?;
                    Ok(failed)
                }

                async fn settle_charge(
                    &self,
                    actor: &Actor,
                    account_id: &str,
                    idempotency_key: &str,
                    signature: &str,
                    now: i64,
                ) -> Result<Option<Transfer>, StoreError> {
                    let mut tx = begin_write(&self.pool).await?;
                    locked_account(&mut tx, &actor.operator_id, account_id).await?;
                    let Some((found, _)) = transfer_by(
                        &mut tx, &actor.operator_id,
                        "t.account_id = $2 AND t.idempotency_key = $3",
                        account_id, idempotency_key,
                    ).await? else {
                        return Ok(None);
                    };
                    if found.kind != TransferKind::Charge {
                        return Ok(None);
                    }
                    match found.status {
                        TransferStatus::Pending => {}
                        TransferStatus::Settled if found.signature.as_deref() == Some(signature) => {
                            return Ok(Some(found));
                        }
                        other => {
                            return Err(StoreError::Conflict(format!(
                                "charge {} is {other} and cannot settle with this receipt", found.id
                            )));
                        }
                    }
                    if found.signature.as_deref().is_some_and(|s| s != signature) {
                        return Err(StoreError::Conflict(format!(
                            "charge {} was signed as another transaction", found.id
                        )));
                    }
                    sqlx::query(
                        "UPDATE transfers SET signature = $1, status = 'settled', settled_at = $2, \
                             updated_at = $2 WHERE id = $3",
                    )
                    .bind(signature)
                    .bind(now)
                    .bind(&found.id)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| unique_as_conflict(e, "this transaction signature"))?;
                    sqlx::query(
                        "UPDATE outbox_jobs SET status = 'done', updated_at = $1 \
                         WHERE transfer_id = $2 AND status IN ('pending', 'in_progress')",
                    )
                    .bind(now)
                    .bind(&found.id)
                    .execute(&mut *tx)
                    .await?;
                    let settled = transfer_by_id(&mut tx, &actor.operator_id, &found.id)
                        .await?
                        .ok_or_else(|| StoreError::NotFound(format!("transfer {}", found.id)))?;
                    insert_event(&mut tx, &actor.operator_id, Some(account_id),
                        EventType::TransferSettled, &settled.id, transfer_json(&settled), now).await?;
                    insert_audit(&mut tx, actor, "charge.settle", &settled.id,
                        serde_json::json!({"signature": signature}), now).await?;
                    tx.commit().await?;
                    Ok(Some(settled))
                }

                async fn get_transfer(&self, actor: &Actor, id: &str) -> Result<Option<Transfer>, StoreError> {
                    let mut conn = self.pool.acquire().await?;
                    transfer_by_id(&mut conn, &actor.operator_id, id).await
                }

                async fn list_transfers(
                    &self,
                    actor: &Actor,
                    filter: &TransferFilter,
                    page: &Page,
                ) -> Result<Vec<Transfer>, StoreError> {
                    let (clause, at, id, limit) = page_clause(page, "t", 5);
                    let sql = transfer_select(&format!(
                        "a.operator_id = $1 AND ($2 IS NULL OR t.account_id = $2) \
                         AND ($3 IS NULL OR t.status = $3) AND ($4 IS NULL OR t.session_id = $4) {clause}"
                    ));
                    let found = sqlx::query(&sql)
                        .bind(&actor.operator_id)
                        .bind(&filter.account_id)
                        .bind(filter.status.map(TransferStatus::as_str))
                        .bind(&filter.session_id)
                        .bind(at)
                        .bind(id)
                        .bind(limit)
                        .fetch_all(&self.pool)
                        .await?;
                    found.iter().map(rows::transfer).collect()
                }

                async fn ingest_receipt(
                    &self,
                    actor: &Actor,
                    transfer: &NewTransfer,
                    session: Option<&SessionRef>,
                    now: i64,
                ) -> Result<ReceiptOutcome, StoreError> {
                    amount_to_db(transfer.amount)?;
                    let mut tx = begin_write(&self.pool).await?;
                    let account = locked_account(&mut tx, &actor.operator_id, &transfer.account_id).await?;
                    if let Some((existing, hash)) = transfer_by(
                        &mut tx, &actor.operator_id,
                        "t.account_id = $2 AND t.idempotency_key = $3",
                        &transfer.account_id, &transfer.idempotency_key,
                    ).await? {
                        tx.rollback().await?;
                        return if hash == transfer.request_hash {
                            Ok(ReceiptOutcome::Duplicate(existing))
                        } else {
                            Err(StoreError::Conflict(format!(
                                "this receipt was reported before with other details (transfer {})",
                                existing.id
                            )))
                        };
                    }
                    if let Some(signature) = &transfer.signature {
                        let taken: Option<String> =
                            sqlx::query_scalar("SELECT id FROM transfers WHERE signature = $1")
                                .bind(signature)
                                .fetch_optional(&mut *tx)
                                .await?;
                        if taken.is_some() {
                            return Err(StoreError::Conflict(
                                "this transaction is already recorded for another transfer".into(),
                            ));
                        }
                    }
                    let mut recorded = transfer.clone();
                    if let Some(sref) = session {
                        let sql = format!(
                            "SELECT {} FROM agent_sessions s WHERE s.account_id = $1 \
                             AND s.provider_endpoint = $2 AND s.status = 'open'",
                            rows::SESSION_COLUMNS
                        );
                        let row = sqlx::query(&sql)
                            .bind(&account.id)
                            .bind(&sref.provider_endpoint)
                            .fetch_optional(&mut *tx)
                            .await?;
                        let open = match row.as_ref().map(rows::session).transpose()? {
                            Some(open) => open,
                            None => {
                                let opened = Session {
                                    id: new_id("sess"),
                                    account_id: account.id.clone(),
                                    provider_endpoint: sref.provider_endpoint.clone(),
                                    cap: sref.cap,
                                    running_total: 0,
                                    status: SessionStatus::Open,
                                    settlement_signature: None,
                                    created_at: now,
                                    updated_at: now,
                                };
                                sqlx::query(
                                    "INSERT INTO agent_sessions (id, account_id, provider_endpoint, \
                                         cap, running_total, status, created_at, updated_at) \
                                     VALUES ($1, $2, $3, $4, 0, 'open', $5, $5)",
                                )
                                .bind(&opened.id)
                                .bind(&opened.account_id)
                                .bind(&opened.provider_endpoint)
                                .bind(amount_to_db(opened.cap)?)
                                .bind(now)
                                .execute(&mut *tx)
                                .await?;
                                insert_event(&mut tx, &actor.operator_id, Some(&account.id),
                                    EventType::SessionOpened, &opened.id,
                                    serde_json::to_value(&opened).unwrap_or_default(), now).await?;
                                opened
                            }
                        };
                        let Some(total) = open
                            .running_total
                            .checked_add(transfer.amount)
                            .filter(|t| *t <= open.cap)
                        else {
                            tx.rollback().await?;
                            return Ok(ReceiptOutcome::OverSessionCap(open));
                        };
                        sqlx::query(
                            "UPDATE agent_sessions SET running_total = $1, updated_at = $2 WHERE id = $3",
                        )
                        .bind(amount_to_db(total)?)
                        .bind(now)
                        .bind(&open.id)
                        .execute(&mut *tx)
                        .await?;
                        recorded.session_id = Some(open.id);
                    }
                    let day = utc_day(now);
                    add_spent(&mut tx, &account.id, &day, transfer.amount).await?;
                    let id = new_id("txn");
                    insert_transfer(&mut tx, Insert {
                        id: &id, t: &recorded, status: TransferStatus::Settled, rejection: None,
                        counted_day: Some(&day), settled_at: Some(now), now,
                    }).await?;
                    let created = transfer_by_id(&mut tx, &actor.operator_id, &id)
                        .await?
                        .ok_or_else(|| StoreError::NotFound(format!("transfer {id}")))?;
                    insert_event(&mut tx, &actor.operator_id, Some(&account.id),
                        EventType::TransferSettled, &id, transfer_json(&created), now).await?;
                    insert_audit(&mut tx, actor, "receipt.ingest", &id, transfer_json(&created), now).await?;
                    tx.commit().await?;
                    Ok(ReceiptOutcome::Recorded(created))
                }

                async fn list_sessions(
                    &self,
                    actor: &Actor,
                    account_id: Option<&str>,
                    page: &Page,
                ) -> Result<Vec<Session>, StoreError> {
                    let (clause, at, id, limit) = page_clause(page, "s", 3);
                    let sql = format!(
                        "SELECT {} FROM agent_sessions s JOIN accounts a ON a.id = s.account_id \
                         WHERE a.operator_id = $1 AND ($2 IS NULL OR s.account_id = $2) {clause}",
                        rows::SESSION_COLUMNS
                    );
                    let found = sqlx::query(&sql)
                        .bind(&actor.operator_id)
                        .bind(account_id)
                        .bind(at)
                        .bind(id)
                        .bind(limit)
                        .fetch_all(&self.pool)
                        .await?;
                    found.iter().map(rows::session).collect()
                }

                async fn spent_on_day(
                    &self,
                    actor: &Actor,
                    account_id: &str,
                    now: i64,
                ) -> Result<u64, StoreError> {
                    let mut conn = self.pool.acquire().await?;
                    require_owned(&mut conn, &actor.operator_id, account_id).await?;
                    spent(&mut conn, account_id, &utc_day(now)).await
                }

                async fn list_events(
                    &self,
                    actor: &Actor,
                    event_type: Option<EventType>,
                ) -> Result<Vec<Event>, StoreError> {
                    let sql = format!(
                        "SELECT {} FROM events WHERE operator_id = $1 AND ($2 IS NULL OR type = $2) \
                         ORDER BY seq",
                        rows::EVENT_COLUMNS
                    );
                    let found = sqlx::query(&sql)
                        .bind(&actor.operator_id)
                        .bind(event_type.map(EventType::as_str))
                        .fetch_all(&self.pool)
                        .await?;
                    found.iter().map(rows::event).collect()
                }

                async fn list_audit(&self, actor: &Actor) -> Result<Vec<AuditEntry>, StoreError> {
                    let sql = format!(
                        "SELECT {} FROM audit_log WHERE operator_id = $1 ORDER BY id",
                        rows::AUDIT_COLUMNS
                    );
                    let found = sqlx::query(&sql).bind(&actor.operator_id).fetch_all(&self.pool).await?;
                    found.iter().map(rows::audit).collect()
                }

                async fn outbox_job(&self, transfer_id: &str) -> Result<Option<OutboxJob>, StoreError> {
                    let sql = format!(
                        "SELECT {} FROM outbox_jobs WHERE transfer_id = $1",
                        rows::OUTBOX_COLUMNS
                    );
                    let row = sqlx::query(&sql).bind(transfer_id).fetch_optional(&self.pool).await?;
                    row.as_ref().map(rows::outbox).transpose()
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
        }
    };
}

pub(crate) use operator_store_impl;
