//! The operator SQL, written once and expanded for each backend by [`operator_store_impl`].
//!
//! Both dialects take `$N` placeholders (SQLite reads them as numbered parameters). What
//! differs is locking, passed in by the backend: SQLite opens every write transaction with
//! `BEGIN IMMEDIATE` (one writer per file, so read-check-write cannot interleave); PostgreSQL
//! locks the paying account's row `FOR UPDATE`, which serialises the transfers of one account
//! (its idempotency keys, daily counter and sessions) across every server instance.

/// Implements [`super::OperatorStore`] for `$store`, whose `pool` field is a `$pool`; the
/// money statements (`backend_money.rs`) and helpers (`backend_helpers.rs`) expand inside it.
/// `$conn` is the backend's connection type; `$lock` is appended to the account-locking
/// `SELECT`; the calling module provides `begin_write(&pool)`.
macro_rules! operator_store_impl {
    ($store:ty, $pool:ty, $conn:ty, lock = $lock:expr) => {
        mod operator_sql {
            use super::begin_write;
            use crate::StoreError;
            use crate::common::amount_to_db;
            use crate::operator::rows::{self, list_to_db};
            use crate::operator::*;
            use async_trait::async_trait;

            type Conn = $conn;
            type Pool = $pool;

            crate::operator::backend_helpers::operator_sql_helpers!($lock);

            /// The statements that move money, one transaction each.
            mod money {
                use super::*;
                crate::operator::backend_money::operator_sql_money!();
            }

            /// The settlement worker's statements.
            mod settlement {
                use super::*;
                crate::operator::settlement::operator_sql_settlement!(
                    if $lock.is_empty() { "" } else { " FOR UPDATE OF j SKIP LOCKED" }
                );
            }

            /// The reconciler's comparisons.
            mod reconcile {
                use super::*;
                crate::operator::reconcile::operator_sql_reconcile!();
            }

            /// Sessions paying through a channel.
            mod session_channels {
                use super::*;
                crate::operator::session_channels::operator_sql_session_channels!();
            }

            /// Policy-wallet owner keys and accounts' wallets.
            mod policy_wallets {
                use super::*;
                crate::operator::policy_wallets::operator_sql_policy_wallets!();
            }

            /// Webhook endpoints and deliveries.
            mod webhooks {
                use super::*;
                crate::operator::webhooks::operator_sql_webhooks!(
                    if $lock.is_empty() { "" } else { " FOR UPDATE SKIP LOCKED" }
                );
            }

            /// The web dashboard's statements.
            mod dashboard {
                use super::*;
                crate::operator::dashboard::operator_sql_dashboard!();
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
                    money::request_transfer(&self.pool, actor, transfer, check, now).await
                }

                async fn approve_transfer(
                    &self,
                    actor: &Actor,
                    id: &str,
                    check: PolicyCheck,
                    now: i64,
                ) -> Result<ApprovalOutcome, StoreError> {
                    money::approve_transfer(&self.pool, actor, id, check, now).await
                }

                async fn reject_transfer(
                    &self,
                    actor: &Actor,
                    id: &str,
                    reason: &str,
                    now: i64,
                ) -> Result<RejectOutcome, StoreError> {
                    money::reject_transfer(&self.pool, actor, id, reason, now).await
                }

                async fn set_transfer_signature(
                    &self,
                    actor: &Actor,
                    id: &str,
                    signature: &str,
                    now: i64,
                ) -> Result<(), StoreError> {
                    money::set_transfer_signature(&self.pool, actor, id, signature, now).await
                }

                async fn fail_transfer(
                    &self,
                    actor: &Actor,
                    id: &str,
                    reason: &str,
                    now: i64,
                ) -> Result<Transfer, StoreError> {
                    money::fail_transfer(&self.pool, actor, id, reason, now).await
                }

                async fn settle_charge(
                    &self,
                    actor: &Actor,
                    account_id: &str,
                    idempotency_key: &str,
                    signature: &str,
                    now: i64,
                ) -> Result<Option<Transfer>, StoreError> {
                    money::settle_charge(&self.pool, actor, account_id, idempotency_key, signature, now).await
                }

                async fn claim_signing(
                    &self,
                    actor: &Actor,
                    id: &str,
                    now: i64,
                ) -> Result<bool, StoreError> {
                    let claimed = sqlx::query(
                        "UPDATE transfers SET signed_at = $1, updated_at = $1 \
                         WHERE id = $2 AND kind = 'charge' AND status = 'pending' \
                         AND signed_at IS NULL \
                         AND account_id IN (SELECT id FROM accounts WHERE operator_id = $3)",
                    )
                    .bind(now)
                    .bind(id)
                    .bind(&actor.operator_id)
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                    Ok(claimed == 1)
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
                    money::ingest_receipt(&self.pool, actor, transfer, session, now).await
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

                async fn claim_settlements(&self, worker: &str, limit: u32, lease_until: i64,
                    now: i64) -> Result<Vec<SettlementJob>, StoreError> {
                    settlement::claim(&self.pool, worker, limit, lease_until, now).await
                }

                async fn record_settlement_attempt(&self, job_id: i64, worker: &str,
                    previous: Option<&str>, attempt: &SignedAttempt, now: i64,
                ) -> Result<bool, StoreError> {
                    settlement::record_attempt(&self.pool, job_id, worker, previous, attempt, now)
                        .await
                }

                async fn complete_settlement(&self, job_id: i64, signature: &str, now: i64)
                    -> Result<SettledOutcome, StoreError> {
                    settlement::complete(&self.pool, job_id, signature, now).await
                }

                async fn release_settlement(&self, job_id: i64, worker: &str, error: &str,
                    next_attempt_at: i64, now: i64) -> Result<bool, StoreError> {
                    settlement::release(&self.pool, job_id, worker, error, next_attempt_at, now)
                        .await
                }

                async fn outbox_depth(&self) -> Result<QueueDepth, StoreError> {
                    settlement::depth(&self.pool).await
                }

                async fn store_job_transaction(&self, actor: &Actor, transfer_id: &str,
                    attempt: &SignedAttempt, watch_address: Option<&str>, now: i64)
                    -> Result<bool, StoreError> {
                    settlement::store_transaction(&self.pool, actor, transfer_id, attempt,
                        watch_address, now).await
                }

                async fn clear_settlement_attempt(&self, job_id: i64, worker: &str,
                    signature: &str, reason: &str, now: i64) -> Result<bool, StoreError> {
                    settlement::clear_attempt(&self.pool, job_id, worker, signature, reason, now)
                        .await
                }

                async fn settlement_signatures(&self, transfer_id: &str)
                    -> Result<Vec<String>, StoreError> {
                    settlement::attempt_signatures(&self.pool, transfer_id).await
                }

                async fn create_webhook(&self, actor: &Actor, hook: &NewWebhook, now: i64)
                    -> Result<WebhookEndpoint, StoreError> {
                    webhooks::create(&self.pool, actor, hook, now).await
                }

                async fn list_webhooks(&self, actor: &Actor)
                    -> Result<Vec<WebhookEndpoint>, StoreError> {
                    webhooks::list(&self.pool, actor).await
                }

                async fn webhook_deliveries(&self, actor: &Actor, endpoint_id: &str)
                    -> Result<Vec<WebhookDelivery>, StoreError> {
                    webhooks::deliveries(&self.pool, actor, endpoint_id).await
                }

                async fn fan_out_events(&self, limit: u32, now: i64) -> Result<u64, StoreError> {
                    webhooks::fan_out(&self.pool, limit, now).await
                }

                async fn claim_deliveries(&self, worker: &str, limit: u32, lease_until: i64,
                    now: i64) -> Result<Vec<DueDelivery>, StoreError> {
                    webhooks::claim(&self.pool, worker, limit, lease_until, now).await
                }

                async fn finish_delivery(&self, delivery_id: i64, worker: &str,
                    result: &DeliveryResult, now: i64) -> Result<bool, StoreError> {
                    webhooks::finish(&self.pool, delivery_id, worker, result, now).await
                }

                async fn counter_drift(&self) -> Result<Vec<CounterDrift>, StoreError> {
                    reconcile::counter_drift(&self.pool).await
                }

                async fn repair_counter(&self, drift: &CounterDrift, now: i64)
                    -> Result<bool, StoreError> {
                    reconcile::repair_counter(&self.pool, drift, now).await
                }

                async fn policy_owner(&self, operator_id: &str) -> Result<Option<PolicyOwner>, StoreError> {
                    policy_wallets::policy_owner(&self.pool, operator_id).await
                }

                async fn insert_policy_owner(
                    &self,
                    operator_id: &str,
                    owner: &PolicyOwner,
                    now: i64,
                ) -> Result<PolicyOwner, StoreError> {
                    policy_wallets::insert_policy_owner(&self.pool, operator_id, owner, now).await
                }

                async fn set_account_policy_wallet(
                    &self,
                    account_id: &str,
                    wallet: &PolicyWalletRecord,
                    now: i64,
                ) -> Result<(), StoreError> {
                    policy_wallets::set_account_policy_wallet(&self.pool, account_id, wallet, now).await
                }

                async fn account_policy_wallet(
                    &self,
                    account_id: &str,
                ) -> Result<Option<PolicyWalletRecord>, StoreError> {
                    policy_wallets::account_policy_wallet(&self.pool, account_id).await
                }

                async fn report_session(
                    &self,
                    actor: &Actor,
                    account_id: &str,
                    report: &SessionReport,
                    now: i64,
                ) -> Result<Session, StoreError> {
                    session_channels::report_session(&self.pool, actor, account_id, report, now).await
                }

                async fn record_violation(
                    &self,
                    actor: &Actor,
                    asked: &NewTransfer,
                    violation: &Violation,
                    now: i64,
                ) -> Result<(), StoreError> {
                    session_channels::record_violation(&self.pool, actor, asked, violation, now).await
                }

                async fn channel_sessions(&self) -> Result<Vec<ChannelSession>, StoreError> {
                    session_channels::channel_sessions(&self.pool).await
                }

                async fn repair_session(&self, repair: &SessionRepair, now: i64) -> Result<bool, StoreError> {
                    session_channels::repair_session(&self.pool, repair, now).await
                }

                async fn session_drift(&self) -> Result<Vec<SessionDrift>, StoreError> {
                    reconcile::session_drift(&self.pool).await
                }

                async fn chain_checks(&self, since: i64, limit: u32)
                    -> Result<Vec<ChainCheck>, StoreError> {
                    reconcile::chain_checks(&self.pool, since, limit).await
                }

                async fn create_dashboard_session(&self, actor: &Actor,
                    session: &NewDashboardSession, now: i64) -> Result<(), StoreError> {
                    dashboard::create_session(&self.pool, actor, session, now).await
                }

                async fn dashboard_session(&self, token_hash: &str, now: i64)
                    -> Result<Option<DashboardSession>, StoreError> {
                    dashboard::session(&self.pool, token_hash, now).await
                }

                async fn delete_dashboard_session(&self, actor: &Actor, token_hash: &str,
                    now: i64) -> Result<(), StoreError> {
                    dashboard::delete_session(&self.pool, actor, token_hash, now).await
                }

                async fn search_transfers(&self, actor: &Actor, search: &TransferSearch,
                    page: &Page) -> Result<Vec<Transfer>, StoreError> {
                    dashboard::search_transfers(&self.pool, actor, search, page).await
                }

                async fn search_accounts(&self, actor: &Actor, query: &str, page: &Page)
                    -> Result<Vec<Account>, StoreError> {
                    dashboard::search_accounts(&self.pool, actor, query, page).await
                }

                async fn dashboard_overview(&self, actor: &Actor, since_day: &str, now: i64)
                    -> Result<Overview, StoreError> {
                    dashboard::overview(&self.pool, actor, since_day, now).await
                }

                async fn close_agent_session(&self, actor: &Actor, id: &str, now: i64)
                    -> Result<Session, StoreError> {
                    dashboard::close_agent_session(&self.pool, actor, id, now).await
                }

                async fn redeliver_webhook(&self, actor: &Actor, delivery_id: i64, now: i64)
                    -> Result<String, StoreError> {
                    dashboard::redeliver(&self.pool, actor, delivery_id, now).await
                }
            }
        }
    };
}

pub(crate) use operator_store_impl;
