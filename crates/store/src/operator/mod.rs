//! Operator service data: operators, accounts, policies, transfers, agent sessions, the
//! settlement outbox, events, API keys, request nonces and the append-only audit log
//! (`migrations/*/0003_operator.sql`).
//!
//! Every mutation that touches money runs in one database transaction together with its
//! daily counter, outbox job, audit entry and event, so a crash never leaves half of it. The
//! spending rules themselves are not here: the caller passes them in as a [`PolicyCheck`],
//! which the store runs inside the transaction on freshly locked state.
//!
//! | file | holds |
//! |---|---|
//! | `model.rs` | row types and the text enums of the `CHECK`ed columns |
//! | `backend.rs` | the SQL, written once and expanded for SQLite and PostgreSQL: the trait impl |
//! | `backend_helpers.rs` | locking, lookups, counters, events, audit, outbox, paging |
//! | `backend_money.rs` | the transactions that move money (request, approve, reject, fail, settle, receipts) |
//! | `rows.rs` | row → type mappings |
//! | `settlement.rs` | the settlement worker's claims, signed attempts and completions |
//! | `webhooks.rs` | webhook endpoints, event fan-out and the delivery queue/log |
//! | `policy_wallets.rs` | operators' policy-wallet owner keys and accounts' wallets |
//! | `session_channels.rs` | sessions paying through a channel: reports, chain repairs |
//! | `reconcile.rs` | counters, sessions and transfers the reconciler compares |
//! | `dashboard.rs` | the web dashboard's sessions, searches, overview figures and actions |

mod backend;
pub(crate) mod backend_helpers;
pub(crate) mod backend_money;
pub(crate) mod dashboard;
pub mod model;
pub mod policy_wallets;
pub mod reconcile;
pub(crate) mod rows;
pub mod session_channels;
pub mod settlement;
pub mod webhooks;

pub(crate) use backend::operator_store_impl;

use async_trait::async_trait;
use rand::RngCore;
use serde::Serialize;

use crate::StoreError;
pub use dashboard::{
    COUNT_CAP, CurrencyAmount, DailySpend, DashboardSession, NewDashboardSession, Overview,
    TransferSearch,
};
pub use model::*;
pub use policy_wallets::{PolicyOwner, PolicyWalletRecord};
pub use reconcile::{ChainCheck, CounterDrift, SessionDrift};
pub use session_channels::{ChannelSession, SessionRepair, SessionReport};
pub use settlement::{QueueDepth, SettledOutcome, SettlementJob, SignedAttempt};
pub use webhooks::{DeliveryResult, DueDelivery, NewWebhook, WebhookDelivery, WebhookEndpoint};

/// A fresh random id `prefix_` + 22 URL-safe characters (128 bits).
pub fn new_id(prefix: &str) -> String {
    use base64::Engine as _;
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!(
        "{prefix}_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// Who is acting, for the audit log and for operator isolation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// Every read and write is confined to this operator's rows.
    pub operator_id: String,
    /// The API key id (or `system`).
    pub key_id: String,
}

/// Keyset paging, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    /// Continue after this `(created_at, id)` (the last row of the previous page).
    pub after: Option<(i64, String)>,
    /// Rows per page (the store caps it at [`MAX_PAGE`]).
    pub limit: u32,
}

/// The most rows one page returns.
pub const MAX_PAGE: u32 = 200;

/// Which transfers to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransferFilter {
    /// Only this account's.
    pub account_id: Option<String>,
    /// Only in this state.
    pub status: Option<TransferStatus>,
    /// Only of this session.
    pub session_id: Option<String>,
}

/// What the spending rules see, read inside the transaction.
#[derive(Debug, Clone, Copy)]
pub struct PolicyContext<'a> {
    /// The paying account.
    pub account: &'a Account,
    /// Its policy.
    pub policy: &'a Policy,
    /// Already counted today, base units.
    pub spent_today: u64,
    /// The transfer asked for.
    pub transfer: &'a NewTransfer,
    /// An operator is approving an escalated transfer (the threshold no longer applies).
    pub approving: bool,
}

/// A rule that refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// The rule's name (`max_single_transfer`, `max_daily_spend`, `counterparty`, `category`,
    /// `require_memo`, `paused`, `currency`).
    pub rule: String,
    /// Why, for people.
    pub reason: String,
}

/// What the rules decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Count it and settle it.
    Accept,
    /// Hold it for an operator.
    Escalate,
    /// Refuse it.
    Reject(Violation),
}

/// The spending rules, run inside the transaction (pure: no I/O).
pub type PolicyCheck = fn(&PolicyContext<'_>) -> Decision;

/// What requesting a transfer found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferOutcome {
    /// New; its status says whether it was accepted, escalated or rejected.
    Created(Transfer),
    /// The same key and the same request were seen before: the original transfer.
    Replayed(Transfer),
    /// The key was used before for a different request.
    KeyConflict(Transfer),
}

/// What approving an escalated transfer found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApprovalOutcome {
    /// Now pending settlement.
    Approved(Transfer),
    /// Not waiting for approval (already approved, rejected, …).
    NotPending(Transfer),
    /// The rules refuse it now (daily limit reached, account paused…); it keeps waiting.
    Refused(Transfer, Violation),
}

/// What rejecting an escalated transfer found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RejectOutcome {
    /// Rejected.
    Rejected(Transfer),
    /// Not waiting for approval.
    NotPending(Transfer),
}

/// A session an ingested receipt belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRef {
    /// The provider's endpoint (the open session for it is used, or one is opened).
    pub provider_endpoint: String,
    /// The cap of a session opened by this receipt.
    pub cap: u64,
}

/// What ingesting a receipt found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReceiptOutcome {
    /// Recorded as a settled transfer (and added to its session).
    Recorded(Transfer),
    /// This receipt was ingested before: the original transfer.
    Duplicate(Transfer),
    /// Adding it would take the session past its cap; nothing was recorded.
    OverSessionCap(Session),
}

/// What recording a request nonce found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceOutcome {
    /// First use.
    Fresh,
    /// Seen before within its window: a replay.
    Replayed,
}

/// Operator data, on both backends.
#[async_trait]
pub trait OperatorStore: Send + Sync {
    /// Creates an operator.
    async fn create_operator(&self, name: &str, now: i64) -> Result<Operator, StoreError>;

    /// An operator by id.
    async fn get_operator(&self, id: &str) -> Result<Option<Operator>, StoreError>;

    /// How many operators exist (zero on a fresh database).
    async fn count_operators(&self) -> Result<u64, StoreError>;

    /// Creates an API key. An agent key's account must belong to the same operator.
    async fn create_api_key(
        &self,
        actor: &Actor,
        key: &NewApiKey,
        now: i64,
    ) -> Result<ApiKey, StoreError>;

    /// A key and its sealed verifier, by id, whatever its operator (authentication reads it
    /// before it knows the caller).
    async fn api_key_for_auth(&self, id: &str) -> Result<Option<(ApiKey, Vec<u8>)>, StoreError>;

    /// The actor's operator's keys, newest first.
    async fn list_api_keys(&self, actor: &Actor) -> Result<Vec<ApiKey>, StoreError>;

    /// Revokes `id` and creates its replacement (same role and account) in one transaction.
    /// `NotFound` if the key is not the actor's operator's or is already revoked.
    async fn rotate_api_key(
        &self,
        actor: &Actor,
        id: &str,
        sealed_verifier: &[u8],
        now: i64,
    ) -> Result<ApiKey, StoreError>;

    /// Revokes a key of the actor's operator. `NotFound` if it is not theirs.
    async fn revoke_api_key(&self, actor: &Actor, id: &str, now: i64)
    -> Result<ApiKey, StoreError>;

    /// Records a request nonce of a key; a second use while its row lives is a replay. Rows
    /// past `expires_at` are pruned on the way.
    async fn record_nonce(
        &self,
        key_id: &str,
        nonce: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<NonceOutcome, StoreError>;

    /// Creates an account with the given policy. A duplicate handle is a `Conflict`.
    async fn create_account(
        &self,
        actor: &Actor,
        account: &NewAccount,
        policy: &Policy,
        now: i64,
    ) -> Result<Account, StoreError>;

    /// One of the actor's operator's accounts.
    async fn get_account(&self, actor: &Actor, id: &str) -> Result<Option<Account>, StoreError>;

    /// The actor's operator's accounts, newest first.
    async fn list_accounts(&self, actor: &Actor, page: &Page) -> Result<Vec<Account>, StoreError>;

    /// Pauses or resumes an account. `NotFound` if it is not the actor's operator's.
    async fn set_account_status(
        &self,
        actor: &Actor,
        id: &str,
        status: AccountStatus,
        now: i64,
    ) -> Result<Account, StoreError>;

    /// A custodial account's sealed secret key (`None` for non-custodial or foreign ones).
    async fn sealed_account_key(
        &self,
        actor: &Actor,
        account_id: &str,
    ) -> Result<Option<Vec<u8>>, StoreError>;

    /// An account's policy. `NotFound` if the account is not the actor's operator's.
    async fn get_policy(&self, actor: &Actor, account_id: &str) -> Result<Policy, StoreError>;

    /// Replaces an account's policy. `NotFound` if the account is not the actor's operator's.
    async fn put_policy(
        &self,
        actor: &Actor,
        account_id: &str,
        policy: &Policy,
        now: i64,
    ) -> Result<Policy, StoreError>;

    /// Checks the rules and records the transfer, in one transaction: accepted ones are
    /// counted against the day and get an outbox job; escalated ones an event; rejected ones a
    /// `policy.violation` event. `NotFound` if the account is not the actor's operator's.
    async fn request_transfer(
        &self,
        actor: &Actor,
        transfer: &NewTransfer,
        check: PolicyCheck,
        now: i64,
    ) -> Result<TransferOutcome, StoreError>;

    /// Approves an escalated transfer: the rules run again (without the threshold) and, if they
    /// pass, it is counted and gets its outbox job.
    async fn approve_transfer(
        &self,
        actor: &Actor,
        id: &str,
        check: PolicyCheck,
        now: i64,
    ) -> Result<ApprovalOutcome, StoreError>;

    /// Rejects an escalated transfer.
    async fn reject_transfer(
        &self,
        actor: &Actor,
        id: &str,
        reason: &str,
        now: i64,
    ) -> Result<RejectOutcome, StoreError>;

    /// Claims the right to sign a pending custodial charge: true exactly once per charge (the
    /// first caller signs; an approved escalated charge is signed when the agent asks again).
    async fn claim_signing(&self, actor: &Actor, id: &str, now: i64) -> Result<bool, StoreError>;

    /// Stores the signature of a pending transfer once it is signed.
    async fn set_transfer_signature(
        &self,
        actor: &Actor,
        id: &str,
        signature: &str,
        now: i64,
    ) -> Result<(), StoreError>;

    /// Marks a pending transfer failed, gives its amount back to its day and emits
    /// `transfer.failed`, in one transaction.
    async fn fail_transfer(
        &self,
        actor: &Actor,
        id: &str,
        reason: &str,
        now: i64,
    ) -> Result<Transfer, StoreError>;

    /// Settles a custodial charge from its receipt: the pending `charge` transfer of
    /// `account_id` recorded under `idempotency_key` gets the landed `signature` (a sponsored
    /// charge's transaction id is the payee's fee-payer signature, unknown when we sign), its
    /// outbox job is done and `transfer.settled` is emitted. `None` when there is no such
    /// charge; an already settled one is returned as it is.
    async fn settle_charge(
        &self,
        actor: &Actor,
        account_id: &str,
        idempotency_key: &str,
        signature: &str,
        now: i64,
    ) -> Result<Option<Transfer>, StoreError>;

    /// One of the actor's operator's transfers.
    async fn get_transfer(&self, actor: &Actor, id: &str) -> Result<Option<Transfer>, StoreError>;

    /// The actor's operator's transfers matching `filter`, newest first.
    async fn list_transfers(
        &self,
        actor: &Actor,
        filter: &TransferFilter,
        page: &Page,
    ) -> Result<Vec<Transfer>, StoreError>;

    /// Records a payment the agent made itself, as a settled transfer counted against the day
    /// (it already happened, so no limit applies), and adds it to its session.
    async fn ingest_receipt(
        &self,
        actor: &Actor,
        transfer: &NewTransfer,
        session: Option<&SessionRef>,
        now: i64,
    ) -> Result<ReceiptOutcome, StoreError>;

    /// The actor's operator's sessions, optionally of one account, newest first.
    async fn list_sessions(
        &self,
        actor: &Actor,
        account_id: Option<&str>,
        page: &Page,
    ) -> Result<Vec<Session>, StoreError>;

    /// What the account has counted on the UTC day of `now`.
    async fn spent_on_day(
        &self,
        actor: &Actor,
        account_id: &str,
        now: i64,
    ) -> Result<u64, StoreError>;

    /// The actor's operator's events, optionally of one type, oldest first.
    async fn list_events(
        &self,
        actor: &Actor,
        event_type: Option<EventType>,
    ) -> Result<Vec<Event>, StoreError>;

    /// The actor's operator's audit log, oldest first.
    async fn list_audit(&self, actor: &Actor) -> Result<Vec<AuditEntry>, StoreError>;

    /// The outbox job of a transfer, if it has one.
    async fn outbox_job(&self, transfer_id: &str) -> Result<Option<OutboxJob>, StoreError>;

    // The settlement worker (`settlement.rs`).

    /// Claims up to `limit` due `settle_transfer` jobs of pending transfers (and jobs whose
    /// lease ran out) for `worker` until `lease_until`.
    async fn claim_settlements(
        &self,
        worker: &str,
        limit: u32,
        lease_until: i64,
        now: i64,
    ) -> Result<Vec<SettlementJob>, StoreError>;

    /// Stores the signed transaction of a job before it is sent, if `worker` still holds the
    /// job and its current transaction is `previous`; false otherwise (send nothing then).
    async fn record_settlement_attempt(
        &self,
        job_id: i64,
        worker: &str,
        previous: Option<&str>,
        attempt: &SignedAttempt,
        now: i64,
    ) -> Result<bool, StoreError>;

    /// The job's transaction landed under `signature`: the transfer is settled, the job done
    /// and `transfer.settled` emitted, in one transaction.
    async fn complete_settlement(
        &self,
        job_id: i64,
        signature: &str,
        now: i64,
    ) -> Result<SettledOutcome, StoreError>;

    /// Gives a job back to the queue, to be tried again at `next_attempt_at`; false if
    /// `worker` no longer holds it.
    async fn release_settlement(
        &self,
        job_id: i64,
        worker: &str,
        error: &str,
        next_attempt_at: i64,
        now: i64,
    ) -> Result<bool, StoreError>;

    /// Stores a transaction signed outside the worker in the transfer's waiting job, if it has
    /// none yet: a custodial charge's partly signed transaction (`watch_address`: where it will
    /// show up on chain) or a non-custodial account's transaction signed by its agent
    /// (`watch_address` `None`: `attempt.signature` is the id it lands under). False when the
    /// transfer is not pending, not the actor's operator's, or its job already holds one.
    async fn store_job_transaction(
        &self,
        actor: &Actor,
        transfer_id: &str,
        attempt: &SignedAttempt,
        watch_address: Option<&str>,
        now: i64,
    ) -> Result<bool, StoreError>;

    /// Drops a job's transaction that expired without landing (an agent-signed one the
    /// service cannot rebuild) and puts the job back to wait for a new one; false if `worker`
    /// no longer holds the job or its transaction is not `signature` any more.
    async fn clear_settlement_attempt(
        &self,
        job_id: i64,
        worker: &str,
        signature: &str,
        reason: &str,
        now: i64,
    ) -> Result<bool, StoreError>;

    /// Outbox jobs waiting and held.
    async fn outbox_depth(&self) -> Result<QueueDepth, StoreError>;

    /// Every signature ever signed for a transfer's settlement, oldest first.
    async fn settlement_signatures(&self, transfer_id: &str) -> Result<Vec<String>, StoreError>;

    // Webhooks (`webhooks.rs`).

    /// Registers an endpoint of the actor's operator; it receives events from now on.
    async fn create_webhook(
        &self,
        actor: &Actor,
        hook: &NewWebhook,
        now: i64,
    ) -> Result<WebhookEndpoint, StoreError>;

    /// The actor's operator's endpoints.
    async fn list_webhooks(&self, actor: &Actor) -> Result<Vec<WebhookEndpoint>, StoreError>;

    /// An endpoint's delivery log, oldest first. `NotFound` if it is not the actor's.
    async fn webhook_deliveries(
        &self,
        actor: &Actor,
        endpoint_id: &str,
    ) -> Result<Vec<WebhookDelivery>, StoreError>;

    /// Creates the deliveries of events newer than each endpoint's cursor (at most `limit`
    /// events per endpoint); returns how many were created.
    async fn fan_out_events(&self, limit: u32, now: i64) -> Result<u64, StoreError>;

    /// Claims up to `limit` due deliveries for `worker` until `lease_until`.
    async fn claim_deliveries(
        &self,
        worker: &str,
        limit: u32,
        lease_until: i64,
        now: i64,
    ) -> Result<Vec<DueDelivery>, StoreError>;

    /// Records how a claimed delivery went; false if `worker` no longer holds it.
    async fn finish_delivery(
        &self,
        delivery_id: i64,
        worker: &str,
        result: &DeliveryResult,
        now: i64,
    ) -> Result<bool, StoreError>;

    // The reconciler (`reconcile.rs`).

    /// Daily counters that differ from the sum of their pending and settled transfers.
    async fn counter_drift(&self) -> Result<Vec<CounterDrift>, StoreError>;

    /// Sets a drifted counter to its computed value if it still holds `drift.stored`
    /// (audited); false if it changed meanwhile.
    async fn repair_counter(&self, drift: &CounterDrift, now: i64) -> Result<bool, StoreError>;

    /// The operator's sealed policy-wallet owner key, if it has one.
    async fn policy_owner(&self, operator_id: &str) -> Result<Option<PolicyOwner>, StoreError>;

    /// Stores the operator's owner key unless it has one already; returns the one kept.
    async fn insert_policy_owner(
        &self,
        operator_id: &str,
        owner: &PolicyOwner,
        now: i64,
    ) -> Result<PolicyOwner, StoreError>;

    /// Records a custodial account's policy wallet (once; the caller checked the account is
    /// the operator's).
    async fn set_account_policy_wallet(
        &self,
        account_id: &str,
        wallet: &PolicyWalletRecord,
        now: i64,
    ) -> Result<(), StoreError>;

    /// A custodial account's policy wallet, if it pays through the policy program.
    async fn account_policy_wallet(
        &self,
        account_id: &str,
    ) -> Result<Option<PolicyWalletRecord>, StoreError>;

    /// Records a session receipt of a channel in one transaction: opens the account's session
    /// for the channel on first sight (`session.opened`), records the rise of the accepted
    /// cumulative amount as a settled transfer of the difference (lower or equal amounts are
    /// no-ops), grows the cap with the deposit, and settles it on a close
    /// (`session.settled`). A settled session does not change again.
    async fn report_session(
        &self,
        actor: &Actor,
        account_id: &str,
        report: &SessionReport,
        now: i64,
    ) -> Result<Session, StoreError>;

    /// Records a refusal of something that is not a transfer (a session deposit or voucher
    /// step): a `policy.violation` event about the account and an audit entry.
    async fn record_violation(
        &self,
        actor: &Actor,
        asked: &NewTransfer,
        violation: &Violation,
        now: i64,
    ) -> Result<(), StoreError>;

    /// Every session that names a channel (any operator), for the reconciler.
    async fn channel_sessions(&self) -> Result<Vec<ChannelSession>, StoreError>;

    /// Applies what the chain proves about a session, if its row is still as read.
    async fn repair_session(&self, repair: &SessionRepair, now: i64) -> Result<bool, StoreError>;

    /// Sessions whose running total differs from their settled receipts.
    async fn session_drift(&self) -> Result<Vec<SessionDrift>, StoreError>;

    /// Transfers updated since `since` with signatures to look up on chain, oldest first.
    async fn chain_checks(&self, since: i64, limit: u32) -> Result<Vec<ChainCheck>, StoreError>;

    // The web dashboard (`dashboard.rs`).

    /// Stores a signed-in dashboard session of the actor (operator and key); expired ones are
    /// pruned on the way. Audited.
    async fn create_dashboard_session(
        &self,
        actor: &Actor,
        session: &NewDashboardSession,
        now: i64,
    ) -> Result<(), StoreError>;

    /// The unexpired session whose token hashes to `token_hash`, while its key is active.
    async fn dashboard_session(
        &self,
        token_hash: &str,
        now: i64,
    ) -> Result<Option<DashboardSession>, StoreError>;

    /// Ends a session of the actor's operator (sign-out). Audited.
    async fn delete_dashboard_session(
        &self,
        actor: &Actor,
        token_hash: &str,
        now: i64,
    ) -> Result<(), StoreError>;

    /// The actor's operator's transfers matching `search`, newest first (keyset paging).
    async fn search_transfers(
        &self,
        actor: &Actor,
        search: &TransferSearch,
        page: &Page,
    ) -> Result<Vec<Transfer>, StoreError>;

    /// The actor's operator's accounts whose handle contains `query` (any case) or whose
    /// address or id is `query`, newest first; all of them for an empty query.
    async fn search_accounts(
        &self,
        actor: &Actor,
        query: &str,
        page: &Page,
    ) -> Result<Vec<Account>, StoreError>;

    /// The overview's figures; daily spend from the UTC day `since_day` on.
    async fn dashboard_overview(
        &self,
        actor: &Actor,
        since_day: &str,
        now: i64,
    ) -> Result<Overview, StoreError>;

    /// Closes an agent session of the actor's operator (`settled`, `session.settled` event,
    /// audited). `NotFound` if not theirs, `Conflict` if already settled or if it pays through a
    /// channel (those settle when the channel closes on chain).
    async fn close_agent_session(
        &self,
        actor: &Actor,
        id: &str,
        now: i64,
    ) -> Result<Session, StoreError>;

    /// Queues a webhook delivery of the actor's operator again, due now (audited); returns its
    /// endpoint id. `NotFound` if not theirs.
    async fn redeliver_webhook(
        &self,
        actor: &Actor,
        delivery_id: i64,
        now: i64,
    ) -> Result<String, StoreError>;
}

/// `YYYY-MM-DD` (UTC) of a Unix time: the key of the daily counters.
pub fn utc_day(unix: i64) -> String {
    let date = time::OffsetDateTime::from_unix_timestamp(unix)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .date();
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_prefixed_url_safe_and_distinct() {
        let a = new_id("acct");
        let b = new_id("acct");
        assert_ne!(a, b);
        assert!(a.starts_with("acct_"));
        assert_eq!(a.len(), "acct_".len() + 22);
        assert!(
            a[5..]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
    }

    #[test]
    fn utc_days_roll_at_midnight() {
        assert_eq!(utc_day(0), "1970-01-01");
        assert_eq!(utc_day(1_795_305_599), "2026-11-21");
        assert_eq!(utc_day(1_795_305_600), "2026-11-22");
    }
}
