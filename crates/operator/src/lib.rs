//! # mppsol-operator: the operator service
//!
//! A JSON HTTP API (`/v1`, described at `/v1/openapi.json`) through which an operator manages
//! the wallets of its agents: accounts (custodial or not), spending policies, transfers with
//! escalation to a human, sessions, receipts reported by agents, and API keys. Custodial
//! accounts never expose their key: the agent sends a 402 challenge and gets back the
//! `Authorization` value, signed here after the policy and the on-chain balance allow it.
//!
//! ```text
//! HTTP ─▶ auth (HMAC signature, skew, replay) ─▶ api/<resource> ─▶ OperatorStore (one transaction:
//!          policy::decide + transfer + daily counter + outbox job + event + audit)
//!                                         └─▶ credentials: Ledger balance, SolanaChargeClient signs
//! ```
//!
//! | module | holds |
//! |---|---|
//! | [`auth`] | request-signature verification, roles |
//! | [`policy`] | the spending rules (pure) |
//! | [`policy_wallet`] | custodial accounts' wallets in the spending-policy program |
//! | [`crypto`] | the master key, sealing custodial keys and API-key verifiers |
//! | [`api`] | the handlers, one file per resource, and the OpenAPI document |
//! | [`error`] | `ApiError` → RFC 9457 problems |
//! | [`bootstrap`] | the first operator and its key |
//! | [`settlement`] | the settlement worker over `outbox_jobs` (exactly once across crashes): custodial transfers, agent-signed (non-custodial) transfers, custodial charges the payee broadcasts |
//! | [`webhooks`] | signed webhook delivery with backoff, from `events` |
//! | [`ops`] | `/metrics`, `/healthz`, `/readyz`, request ids |
//! | [`reconcile`] | store ↔ chain drift: counters, sessions, transfers |
//! | [`reconcile_channels`] | sessions' channels on chain vs their records |
//! | [`dashboard`] | the web dashboard under `/dashboard` (server-rendered HTML) |

pub mod api;
pub mod auth;
pub mod bootstrap;
pub mod crypto;
pub mod dashboard;
pub mod error;
pub mod ops;
pub mod policy;
pub mod policy_wallet;
pub mod reconcile;
pub mod reconcile_channels;
pub mod settlement;
pub mod webhooks;

use std::sync::Arc;

use mpp::Clock;
use mppsol_ledger::Ledger;
use mppsol_solana::network::Network;
use mppsol_store::OperatorStore;

pub use api::{router, router_with};
pub use bootstrap::{IssuedKey, bootstrap_operator};
pub use crypto::MasterKey;
pub use dashboard::DashboardOptions;
pub use error::ApiError;
pub use policy_wallet::PolicyPrograms;

/// What the service runs on.
pub struct OperatorConfig {
    /// Operator data.
    pub store: Arc<dyn OperatorStore>,
    /// The chain (balances; the charge client builds transactions through it).
    pub ledger: Arc<dyn Ledger>,
    /// The cluster custodial accounts pay on.
    pub network: Network,
    /// Seals custodial keys and API-key verifiers.
    pub master_key: MasterKey,
    /// The clock for signatures' freshness and records.
    pub clock: Arc<dyn Clock>,
}

/// Shared state of the handlers.
#[derive(Clone)]
pub struct AppState(
    Arc<OperatorConfig>,
    Option<PolicyPrograms>,
    Option<Arc<dyn mppsol_store::Store>>,
);

impl AppState {
    /// Wraps a configuration.
    pub fn new(config: OperatorConfig) -> Self {
        Self(Arc::new(config), None, None)
    }

    /// Custodial accounts may pay `solana`/`session` challenges: their channels (and every
    /// voucher amount signed, before it leaves) are kept in `store` — the same database,
    /// opened as the client-channel store.
    pub fn with_session_store(mut self, store: Arc<dyn mppsol_store::Store>) -> Self {
        self.2 = Some(store);
        self
    }

    /// The client-channel store of custodial sessions, if sessions are enabled.
    pub fn session_store(&self) -> Option<Arc<dyn mppsol_store::Store>> {
        self.2.clone()
    }

    /// Custodial token accounts created from now on pay through the spending-policy program
    /// (`policy_wallet`); without it (a cluster where the program is not deployed) they pay
    /// from their own token account.
    pub fn with_policy_programs(mut self, programs: PolicyPrograms) -> Self {
        self.1 = Some(programs);
        self
    }

    /// The policy programs, when custodial accounts pay through them.
    pub fn policy_programs(&self) -> Option<PolicyPrograms> {
        self.1
    }

    /// The store.
    pub fn store(&self) -> &dyn OperatorStore {
        self.0.store.as_ref()
    }

    /// The store, shared (the settlement worker and metrics hold it too).
    pub fn store_arc(&self) -> Arc<dyn OperatorStore> {
        Arc::clone(&self.0.store)
    }

    /// The ledger.
    pub fn ledger(&self) -> &Arc<dyn Ledger> {
        &self.0.ledger
    }

    /// The network.
    pub fn network(&self) -> Network {
        self.0.network
    }

    /// The master key.
    pub fn master_key(&self) -> &MasterKey {
        &self.0.master_key
    }

    /// Unix seconds now.
    pub fn now(&self) -> i64 {
        self.0.clock.now().unix()
    }
}
