//! Row types of the operator tables, and the enums behind their `CHECK`ed text columns.

use serde::{Deserialize, Serialize};

use crate::StoreError;

/// Declares a text-backed enum: `as_str`, `parse` and serde in the column's spelling.
macro_rules! text_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $text)] $variant,)+
        }

        impl $name {
            /// The column (and JSON) spelling.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text,)+ }
            }

            /// Reads the column spelling; anything else is a corrupt row.
            pub fn parse(text: &str) -> Result<Self, StoreError> {
                match text {
                    $($text => Ok($name::$variant),)+
                    other => Err(StoreError::Backend(sqlx::Error::Decode(
                        format!("invalid {} {other:?}", stringify!($name)).into(),
                    ))),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum!(
    /// Who holds an account's key.
    CustodyMode {
        /// The service holds it, sealed with the master key, and signs for the agent.
        Custodial => "custodial",
        /// The agent holds it; the service only records and checks.
        NonCustodial => "non_custodial",
    }
);

text_enum!(
    /// Whether an account may spend.
    AccountStatus {
        /// Normal.
        Active => "active",
        /// Frozen by its operator.
        Paused => "paused",
    }
);

text_enum!(
    /// Where a transfer came from.
    TransferKind {
        /// Requested through the API; the settlement worker sends it.
        Transfer => "transfer",
        /// A charge credential the service signed for a custodial account.
        Charge => "charge",
        /// A payment the agent made itself and reported.
        Receipt => "receipt",
    }
);

text_enum!(
    /// A transfer's state.
    TransferStatus {
        /// Above the escalation threshold: waits for an operator.
        PendingApproval => "pending_approval",
        /// Accepted; settlement is under way.
        Pending => "pending",
        /// Landed on chain.
        Settled => "settled",
        /// Refused by policy or by an operator; no money moved.
        Rejected => "rejected",
        /// Accepted but did not land; its amount was given back to the daily counter.
        Failed => "failed",
    }
);

text_enum!(
    /// An agent session's state.
    SessionStatus {
        /// Payments are being added.
        Open => "open",
        /// Being closed on chain.
        Settling => "settling",
        /// Closed.
        Settled => "settled",
    }
);

text_enum!(
    /// What an API key may do.
    KeyRole {
        /// Everything within its operator.
        Operator => "operator",
        /// Spend from, and read, one account.
        Agent => "agent",
    }
);

text_enum!(
    /// Whether an API key is usable.
    KeyStatus {
        /// Usable.
        Active => "active",
        /// Revoked or rotated away.
        Revoked => "revoked",
    }
);

text_enum!(
    /// A business event (the webhook event types).
    EventType {
        /// A transfer landed.
        TransferSettled => "transfer.settled",
        /// A transfer did not land.
        TransferFailed => "transfer.failed",
        /// A transfer waits for an operator's approval.
        TransferPendingApproval => "transfer.pending_approval",
        /// An agent session was opened.
        SessionOpened => "session.opened",
        /// An agent session was closed.
        SessionSettled => "session.settled",
        /// A policy refused something.
        PolicyViolation => "policy.violation",
    }
);

/// Amounts leave the API as decimal strings (JSON numbers lose precision above 2^53).
fn amount_text<S: serde::Serializer>(amount: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(amount)
}

fn opt_amount_text<S: serde::Serializer>(amount: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
    match amount {
        Some(a) => s.collect_str(a),
        None => s.serialize_none(),
    }
}

/// A tenant of the service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Operator {
    /// `op_…`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Unix seconds.
    pub created_at: i64,
}

/// A wallet managed for one agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Account {
    /// `acct_…`.
    pub id: String,
    /// Owner.
    pub operator_id: String,
    /// Unique per operator.
    pub handle: String,
    /// The Solana address that pays.
    pub address: String,
    /// `sol` or a mint address: what this account spends and its limits count.
    pub currency: String,
    /// The associated token account, for mint currencies.
    pub token_account: Option<String>,
    /// Who holds the key.
    pub custody_mode: CustodyMode,
    /// Active or paused.
    pub status: AccountStatus,
    /// Unix seconds.
    pub created_at: i64,
}

/// What creating an account needs. The sealed key is stored but never read back with the
/// account (see [`super::OperatorStore::sealed_account_key`]).
#[derive(Clone, PartialEq, Eq)]
pub struct NewAccount {
    /// Owner.
    pub operator_id: String,
    /// Unique per operator.
    pub handle: String,
    /// The Solana address.
    pub address: String,
    /// `sol` or a mint.
    pub currency: String,
    /// The associated token account, for mint currencies.
    pub token_account: Option<String>,
    /// Custodial accounts carry their sealed secret key; non-custodial ones none.
    pub sealed_key: Option<Vec<u8>>,
}

impl std::fmt::Debug for NewAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewAccount")
            .field("operator_id", &self.operator_id)
            .field("handle", &self.handle)
            .field("address", &self.address)
            .field("custodial", &self.sealed_key.is_some())
            .finish_non_exhaustive()
    }
}

/// An account's spending rules. `None` limits and lists mean "no limit".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Policy {
    /// Largest single transfer, base units.
    #[serde(serialize_with = "opt_amount_text")]
    pub max_single_transfer: Option<u64>,
    /// Largest total per UTC day, base units.
    #[serde(serialize_with = "opt_amount_text")]
    pub max_daily_spend: Option<u64>,
    /// Addresses (or, for charges, realms) that may be paid.
    pub allowed_counterparties: Option<Vec<String>>,
    /// Categories a transfer may carry; when set, a transfer must name one of them.
    pub categories: Option<Vec<String>>,
    /// Every transfer must carry a memo.
    pub require_memo: bool,
    /// Transfers above this wait for an operator's approval.
    #[serde(serialize_with = "opt_amount_text")]
    pub escalation_threshold: Option<u64>,
    /// Nothing may be spent.
    pub paused: bool,
}

/// Money leaving an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Transfer {
    /// `txn_…`.
    pub id: String,
    /// The paying account.
    pub account_id: String,
    /// Where it came from.
    pub kind: TransferKind,
    /// Base units.
    #[serde(serialize_with = "amount_text")]
    pub amount: u64,
    /// `sol` or a mint.
    pub currency: String,
    /// Who is paid (an address; for charges, the challenge's recipient).
    pub counterparty: String,
    /// Memo.
    pub memo: Option<String>,
    /// Category.
    pub category: Option<String>,
    /// The agent session it belongs to.
    pub session_id: Option<String>,
    /// The caller's idempotency key, unique per account.
    pub idempotency_key: String,
    /// The transaction signature, once known.
    pub signature: Option<String>,
    /// State.
    pub status: TransferStatus,
    /// The policy rule (or `operator`) that rejected it.
    pub rejection_rule: Option<String>,
    /// Why it was rejected or failed, for people.
    pub rejection_reason: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
    /// Unix seconds, once settled.
    pub settled_at: Option<i64>,
}

/// A transfer to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTransfer {
    /// The paying account.
    pub account_id: String,
    /// Where it came from.
    pub kind: TransferKind,
    /// Base units.
    pub amount: u64,
    /// `sol` or a mint.
    pub currency: String,
    /// Who is paid.
    pub counterparty: String,
    /// Memo.
    pub memo: Option<String>,
    /// Category.
    pub category: Option<String>,
    /// The agent session it belongs to.
    pub session_id: Option<String>,
    /// The caller's key.
    pub idempotency_key: String,
    /// SHA-256 of the canonical request: same key with another hash is a conflict.
    pub request_hash: [u8; 32],
    /// Known at once for receipts.
    pub signature: Option<String>,
}

/// An agent's session with a provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Session {
    /// `sess_…`.
    pub id: String,
    /// The paying account.
    pub account_id: String,
    /// The provider's endpoint.
    pub provider_endpoint: String,
    /// Most it may spend, base units.
    #[serde(serialize_with = "amount_text")]
    pub cap: u64,
    /// Spent so far, base units.
    #[serde(serialize_with = "amount_text")]
    pub running_total: u64,
    /// State.
    pub status: SessionStatus,
    /// The closing transaction.
    pub settlement_signature: Option<String>,
    /// The payment channel it pays through (`None`: recorded from plain receipts).
    pub channel_id: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

/// An API key (its secret is never stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKey {
    /// `key_…`, sent in every signed request.
    pub id: String,
    /// Owner.
    pub operator_id: String,
    /// What it may do.
    pub role: KeyRole,
    /// The one account an agent key may use.
    pub account_id: Option<String>,
    /// Usable or not.
    pub status: KeyStatus,
    /// The key that replaced it on rotation.
    pub replaced_by: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub revoked_at: Option<i64>,
}

/// A key to create. `sealed_verifier` is the request-signing key derived from the secret,
/// sealed with the master key.
#[derive(Clone, PartialEq, Eq)]
pub struct NewApiKey {
    /// Owner.
    pub operator_id: String,
    /// What it may do.
    pub role: KeyRole,
    /// Required for agent keys, absent for operator keys.
    pub account_id: Option<String>,
    /// The sealed verifier.
    pub sealed_verifier: Vec<u8>,
}

impl std::fmt::Debug for NewApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewApiKey")
            .field("operator_id", &self.operator_id)
            .field("role", &self.role)
            .field("account_id", &self.account_id)
            .finish_non_exhaustive()
    }
}

/// A business event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    /// `evt_…`, unique: receivers deduplicate on it.
    pub id: String,
    /// Owner.
    pub operator_id: String,
    /// The account concerned.
    pub account_id: Option<String>,
    /// What happened.
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// The transfer, session or account it is about.
    pub subject_id: String,
    /// The event body (JSON).
    pub payload: serde_json::Value,
    /// Unix seconds.
    pub created_at: i64,
}

/// One audit entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    /// Insertion order.
    pub id: i64,
    /// Owner.
    pub operator_id: String,
    /// The API key (or `system`) that acted.
    pub actor: String,
    /// What it did (`account.create`, `transfer.approve`, …).
    pub action: String,
    /// What it acted on.
    pub subject_id: String,
    /// Details (JSON).
    pub detail: serde_json::Value,
    /// Unix seconds.
    pub created_at: i64,
}

/// An outbox job, as the settlement worker will see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboxJob {
    /// Insertion order.
    pub id: i64,
    /// `settle_transfer` or `confirm_charge`.
    pub kind: String,
    /// The transfer it settles.
    pub transfer_id: String,
    /// `pending`, `in_progress`, `done` or `failed`.
    pub status: String,
    /// Tries so far.
    pub attempts: i64,
    /// Unix seconds.
    pub next_attempt_at: i64,
    /// The signature of the transaction stored for it, if any (for a charge: the account's
    /// own signature inside it).
    pub tx_signature: Option<String>,
}
