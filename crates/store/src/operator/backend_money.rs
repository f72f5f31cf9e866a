//! The operator statements that move money (expanded inside each backend's `operator_sql`
//! module by [`operator_sql_money`]): requesting, approving, rejecting, failing and settling
//! transfers, and ingesting receipts. Each runs in one write transaction that locks the paying
//! account first.

/// Expands the money statements as free functions over the backend's `Pool`.
macro_rules! operator_sql_money {
    () => {
            pub(super) async fn request_transfer(
                pool: &Pool,
                actor: &Actor,
                transfer: &NewTransfer,
                check: PolicyCheck,
                now: i64,
            ) -> Result<TransferOutcome, StoreError> {
                let (mut tx, account, seen) = begin_keyed(pool, actor, transfer).await?;
                if let Some((existing, hash)) = seen {
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

            pub(super) async fn approve_transfer(
                pool: &Pool,
                actor: &Actor,
                id: &str,
                check: PolicyCheck,
                now: i64,
            ) -> Result<ApprovalOutcome, StoreError> {
                let mut tx = begin_write(pool).await?;
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

            pub(super) async fn reject_transfer(
                pool: &Pool,
                actor: &Actor,
                id: &str,
                reason: &str,
                now: i64,
            ) -> Result<RejectOutcome, StoreError> {
                let mut tx = begin_write(pool).await?;
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

            pub(super) async fn set_transfer_signature(
                pool: &Pool,
                actor: &Actor,
                id: &str,
                signature: &str,
                now: i64,
            ) -> Result<(), StoreError> {
                let mut tx = begin_write(pool).await?;
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

            pub(super) async fn fail_transfer(
                pool: &Pool,
                actor: &Actor,
                id: &str,
                reason: &str,
                now: i64,
            ) -> Result<Transfer, StoreError> {
                let mut tx = begin_write(pool).await?;
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

            pub(super) async fn settle_charge(
                pool: &Pool,
                actor: &Actor,
                account_id: &str,
                idempotency_key: &str,
                signature: &str,
                now: i64,
            ) -> Result<Option<Transfer>, StoreError> {
                let mut tx = begin_write(pool).await?;
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

            pub(super) async fn ingest_receipt(
                pool: &Pool,
                actor: &Actor,
                transfer: &NewTransfer,
                session: Option<&SessionRef>,
                now: i64,
            ) -> Result<ReceiptOutcome, StoreError> {
                let (mut tx, account, seen) = begin_keyed(pool, actor, transfer).await?;
                if let Some((existing, hash)) = seen {
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
                         AND s.provider_endpoint = $2 AND s.status = 'open' \
                         AND s.channel_id IS NULL",
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
                                channel_id: None,
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
    };
}

pub(crate) use operator_sql_money;
