//! Row → type mappings, one for both backends (only the SQL's placeholders and locking differ).

use sqlx::Row;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;

use super::model::*;
use crate::StoreError;
use crate::common::amount_from_db;

/// The column types the operator tables use.
pub(crate) trait OpRow {
    fn text(&self, col: &str) -> Result<String, StoreError>;
    fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError>;
    fn int(&self, col: &str) -> Result<i64, StoreError>;
    fn opt_int(&self, col: &str) -> Result<Option<i64>, StoreError>;
    fn flag(&self, col: &str) -> Result<bool, StoreError>;
    fn bytes(&self, col: &str) -> Result<Option<Vec<u8>>, StoreError>;
}

macro_rules! op_row {
    ($row:ty) => {
        impl OpRow for $row {
            fn text(&self, col: &str) -> Result<String, StoreError> {
                Ok(self.try_get(col)?)
            }
            fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError> {
                Ok(self.try_get(col)?)
            }
            fn int(&self, col: &str) -> Result<i64, StoreError> {
                Ok(self.try_get(col)?)
            }
            fn opt_int(&self, col: &str) -> Result<Option<i64>, StoreError> {
                Ok(self.try_get(col)?)
            }
            fn flag(&self, col: &str) -> Result<bool, StoreError> {
                Ok(self.try_get(col)?)
            }
            fn bytes(&self, col: &str) -> Result<Option<Vec<u8>>, StoreError> {
                Ok(self.try_get(col)?)
            }
        }
    };
}
op_row!(SqliteRow);
op_row!(PgRow);

fn amount(row: &impl OpRow, col: &str) -> Result<u64, StoreError> {
    amount_from_db(row.int(col)?, col)
}

fn opt_amount(row: &impl OpRow, col: &str) -> Result<Option<u64>, StoreError> {
    row.opt_int(col)?
        .map(|v| amount_from_db(v, col))
        .transpose()
}

fn json_list(row: &impl OpRow, col: &str) -> Result<Option<Vec<String>>, StoreError> {
    row.opt_text(col)?
        .map(|text| serde_json::from_str(&text).map_err(|e| decode(col, e)))
        .transpose()
}

fn json_value(row: &impl OpRow, col: &str) -> Result<serde_json::Value, StoreError> {
    serde_json::from_str(&row.text(col)?).map_err(|e| decode(col, e))
}

fn decode(col: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(sqlx::Error::Decode(format!("column {col}: {e}").into()))
}

/// A list column as stored: JSON text, or NULL for "no limit".
pub(crate) fn list_to_db(list: &Option<Vec<String>>) -> Option<String> {
    list.as_ref()
        .map(|l| serde_json::Value::from(l.clone()).to_string())
}

pub(crate) const OPERATOR_COLUMNS: &str = "id, name, created_at";

pub(crate) fn operator(row: &impl OpRow) -> Result<Operator, StoreError> {
    Ok(Operator {
        id: row.text("id")?,
        name: row.text("name")?,
        created_at: row.int("created_at")?,
    })
}

pub(crate) const ACCOUNT_COLUMNS: &str = "a.id, a.operator_id, a.handle, a.address, a.currency, \
     a.token_account, a.custody_mode, a.status, a.created_at";

pub(crate) fn account(row: &impl OpRow) -> Result<Account, StoreError> {
    Ok(Account {
        id: row.text("id")?,
        operator_id: row.text("operator_id")?,
        handle: row.text("handle")?,
        address: row.text("address")?,
        currency: row.text("currency")?,
        token_account: row.opt_text("token_account")?,
        custody_mode: CustodyMode::parse(&row.text("custody_mode")?)?,
        status: AccountStatus::parse(&row.text("status")?)?,
        created_at: row.int("created_at")?,
    })
}

pub(crate) const POLICY_COLUMNS: &str = "max_single_transfer, max_daily_spend, \
     allowed_counterparties, categories, require_memo, escalation_threshold, paused";

pub(crate) fn policy(row: &impl OpRow) -> Result<Policy, StoreError> {
    Ok(Policy {
        max_single_transfer: opt_amount(row, "max_single_transfer")?,
        max_daily_spend: opt_amount(row, "max_daily_spend")?,
        allowed_counterparties: json_list(row, "allowed_counterparties")?,
        categories: json_list(row, "categories")?,
        require_memo: row.flag("require_memo")?,
        escalation_threshold: opt_amount(row, "escalation_threshold")?,
        paused: row.flag("paused")?,
    })
}

pub(crate) const TRANSFER_COLUMNS: &str = "t.id, t.account_id, t.kind, t.amount, t.currency, \
     t.counterparty, t.memo, t.category, t.session_id, t.idempotency_key, t.signature, t.status, \
     t.rejection_rule, t.rejection_reason, t.created_at, t.updated_at, t.settled_at";

pub(crate) fn transfer(row: &impl OpRow) -> Result<Transfer, StoreError> {
    Ok(Transfer {
        id: row.text("id")?,
        account_id: row.text("account_id")?,
        kind: TransferKind::parse(&row.text("kind")?)?,
        amount: amount(row, "amount")?,
        currency: row.text("currency")?,
        counterparty: row.text("counterparty")?,
        memo: row.opt_text("memo")?,
        category: row.opt_text("category")?,
        session_id: row.opt_text("session_id")?,
        idempotency_key: row.text("idempotency_key")?,
        signature: row.opt_text("signature")?,
        status: TransferStatus::parse(&row.text("status")?)?,
        rejection_rule: row.opt_text("rejection_rule")?,
        rejection_reason: row.opt_text("rejection_reason")?,
        created_at: row.int("created_at")?,
        updated_at: row.int("updated_at")?,
        settled_at: row.opt_int("settled_at")?,
    })
}

pub(crate) const SESSION_COLUMNS: &str = "s.id, s.account_id, s.provider_endpoint, s.cap, \
     s.running_total, s.status, s.settlement_signature, s.channel_id, s.created_at, s.updated_at";

pub(crate) fn session(row: &impl OpRow) -> Result<Session, StoreError> {
    Ok(Session {
        id: row.text("id")?,
        account_id: row.text("account_id")?,
        provider_endpoint: row.text("provider_endpoint")?,
        cap: amount(row, "cap")?,
        running_total: amount(row, "running_total")?,
        status: SessionStatus::parse(&row.text("status")?)?,
        settlement_signature: row.opt_text("settlement_signature")?,
        channel_id: row.opt_text("channel_id")?,
        created_at: row.int("created_at")?,
        updated_at: row.int("updated_at")?,
    })
}

pub(crate) const API_KEY_COLUMNS: &str =
    "id, operator_id, role, account_id, status, replaced_by, created_at, revoked_at";

pub(crate) fn api_key(row: &impl OpRow) -> Result<ApiKey, StoreError> {
    Ok(ApiKey {
        id: row.text("id")?,
        operator_id: row.text("operator_id")?,
        role: KeyRole::parse(&row.text("role")?)?,
        account_id: row.opt_text("account_id")?,
        status: KeyStatus::parse(&row.text("status")?)?,
        replaced_by: row.opt_text("replaced_by")?,
        created_at: row.int("created_at")?,
        revoked_at: row.opt_int("revoked_at")?,
    })
}

pub(crate) const EVENT_COLUMNS: &str =
    "id, operator_id, account_id, type, subject_id, payload, created_at";

pub(crate) fn event(row: &impl OpRow) -> Result<Event, StoreError> {
    Ok(Event {
        id: row.text("id")?,
        operator_id: row.text("operator_id")?,
        account_id: row.opt_text("account_id")?,
        event_type: EventType::parse(&row.text("type")?)?,
        subject_id: row.text("subject_id")?,
        payload: json_value(row, "payload")?,
        created_at: row.int("created_at")?,
    })
}

pub(crate) const AUDIT_COLUMNS: &str =
    "id, operator_id, actor, action, subject_id, detail, created_at";

pub(crate) fn audit(row: &impl OpRow) -> Result<AuditEntry, StoreError> {
    Ok(AuditEntry {
        id: row.int("id")?,
        operator_id: row.text("operator_id")?,
        actor: row.text("actor")?,
        action: row.text("action")?,
        subject_id: row.text("subject_id")?,
        detail: json_value(row, "detail")?,
        created_at: row.int("created_at")?,
    })
}

pub(crate) const OUTBOX_COLUMNS: &str =
    "id, kind, transfer_id, status, attempts, next_attempt_at, tx_signature";

pub(crate) fn outbox(row: &impl OpRow) -> Result<OutboxJob, StoreError> {
    Ok(OutboxJob {
        id: row.int("id")?,
        kind: row.text("kind")?,
        transfer_id: row.text("transfer_id")?,
        status: row.text("status")?,
        attempts: row.int("attempts")?,
        next_attempt_at: row.int("next_attempt_at")?,
        tx_signature: row.opt_text("tx_signature")?,
    })
}
