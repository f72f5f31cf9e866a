//! The reconciler: compares the store with itself and with the chain, reports drift, and
//! repairs what is safe to repair.
//!
//! | check | repaired with `repair` |
//! |---|---|
//! | a daily counter ≠ the sum of that day's pending and settled transfers | yes: set to the sum (compare-and-set, audited) |
//! | a session's running total ≠ its settled receipts | no (reported) |
//! | a session's channel on chain ≠ its record | see [`crate::reconcile_channels`] |
//! | a settled transfer whose signature is absent or failed on chain | no (reported: money question) |
//! | a pending transfer one of whose signed transactions landed | yes: settled with that signature |
//! | a failed transfer one of whose signed transactions landed | no (reported: money moved) |

use std::sync::Arc;

use mppsol_ledger::{Ledger, LedgerError};
use mppsol_store::operator::{ChainCheck, CounterDrift, SessionDrift};
use mppsol_store::{OperatorStore, StoreError};
use serde::Serialize;
use solana_signature::Signature;

pub use crate::reconcile_channels::ChannelDrift;
use crate::reconcile_channels::check_channels;

/// Why reconciling stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The database failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The chain failed.
    #[error("ledger: {0}")]
    Ledger(#[from] LedgerError),
}

/// A transfer whose record and chain disagree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainDrift {
    /// The transfer.
    pub transfer_id: String,
    /// Its recorded status.
    pub status: String,
    /// The signature concerned.
    pub signature: String,
    /// What is wrong.
    pub problem: String,
    /// Whether this run repaired it.
    pub repaired: bool,
}

/// What one run found (and repaired).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Counters that drifted.
    pub counters: Vec<CounterDrift>,
    /// How many of them were repaired.
    pub counters_repaired: usize,
    /// Sessions that drifted.
    pub sessions: Vec<SessionDrift>,
    /// Transfers whose chain state disagrees.
    pub chain: Vec<ChainDrift>,
    /// Transfers looked up on chain.
    pub transfers_checked: usize,
    /// Sessions whose channel on chain disagrees ([`crate::reconcile_channels`]).
    pub channels: Vec<ChannelDrift>,
}

impl Report {
    /// Nothing drifted.
    pub fn is_clean(&self) -> bool {
        self.counters.is_empty()
            && self.sessions.is_empty()
            && self.chain.is_empty()
            && self.channels.is_empty()
    }
}

/// The reconciler.
pub struct Reconciler {
    store: Arc<dyn OperatorStore>,
    ledger: Arc<dyn Ledger>,
}

impl Reconciler {
    /// Over `store` and `ledger`.
    pub fn new(store: Arc<dyn OperatorStore>, ledger: Arc<dyn Ledger>) -> Self {
        Self { store, ledger }
    }

    /// Checks transfers updated since `since` (at most `limit`) and every counter and
    /// session; repairs the safe cases when `repair`.
    pub async fn run(
        &self,
        since: i64,
        limit: u32,
        repair: bool,
        now: i64,
    ) -> Result<Report, ReconcileError> {
        let mut report = Report {
            counters: self.store.counter_drift().await?,
            sessions: self.store.session_drift().await?,
            ..Report::default()
        };
        if repair {
            for drift in &report.counters {
                if self.store.repair_counter(drift, now).await? {
                    report.counters_repaired += 1;
                }
            }
        }
        report.channels =
            check_channels(self.store.as_ref(), self.ledger.as_ref(), repair, now).await?;
        let checks = self.store.chain_checks(since, limit).await?;
        report.transfers_checked = checks.len();
        for check in &checks {
            if let Some(drift) = self.check(check, repair, now).await? {
                report.chain.push(drift);
            }
        }
        Ok(report)
    }

    async fn check(
        &self,
        c: &ChainCheck,
        repair: bool,
        now: i64,
    ) -> Result<Option<ChainDrift>, ReconcileError> {
        let drift = |signature: &str, problem: &str| ChainDrift {
            transfer_id: c.transfer_id.clone(),
            status: c.status.clone(),
            signature: signature.to_owned(),
            problem: problem.to_owned(),
            repaired: false,
        };
        for text in &c.signatures {
            let Ok(signature) = text.parse::<Signature>() else {
                return Ok(Some(drift(text, "the recorded signature does not parse")));
            };
            let status = self.ledger.signature_status(&signature).await?;
            let landed_ok = status.as_ref().is_some_and(|s| s.err.is_none());
            match c.status.as_str() {
                "settled" if status.is_none() => {
                    return Ok(Some(drift(
                        text,
                        "settled, but the signature is not on chain",
                    )));
                }
                "settled" if !landed_ok => {
                    return Ok(Some(drift(
                        text,
                        "settled, but the transaction failed on chain",
                    )));
                }
                "pending" if landed_ok => {
                    let mut d = drift(text, "pending, but its transaction landed");
                    if let (true, Some(job)) = (repair, c.job_id) {
                        self.store.complete_settlement(job, text, now).await?;
                        d.repaired = true;
                    }
                    return Ok(Some(d));
                }
                "failed" if landed_ok => {
                    return Ok(Some(drift(text, "failed, but its transaction landed")));
                }
                _ => {}
            }
        }
        Ok(None)
    }
}
