//! The settlement worker: transfers land exactly once, whatever point a worker dies at.
//!
//! A crash is a worker that stops between two steps and whose lease runs out: the next worker
//! runs with a clock a minute ahead, so the dead one's claim has expired.

use std::sync::Arc;
use std::time::Duration;

use mpp::{Clock, Timestamp};
use mppsol_e2e::Backend;
use mppsol_ledger::{Commitment, Ledger};
use mppsol_operator::settlement::{JobOutcome, Settler, WorkerConfig};
use mppsol_store::operator::{Actor, EventType, TransferFilter, TransferStatus};
use serde_json::json;
use solana_address::Address;

use crate::harness::{MASTER, OpStack, address, transfer};

/// The system clock shifted by a number of seconds.
pub struct Shifted(pub i64);

impl Clock for Shifted {
    fn now(&self) -> Timestamp {
        let now = mpp::SystemClock.now().unix();
        Timestamp::from_unix(now + self.0).expect("time")
    }
}

pub(crate) fn settler(s: &OpStack, name: &str, ahead: i64) -> Settler {
    Settler::new(
        s.state.store_arc(),
        Arc::new(s.ledger.clone()),
        mppsol_operator::MasterKey::from_bytes(&MASTER),
        Arc::new(Shifted(ahead)),
        WorkerConfig {
            worker_id: name.into(),
            lease: Duration::from_secs(30),
            confirm_timeout: Duration::from_secs(5),
            ..WorkerConfig::default()
        },
    )
}

fn actor(s: &OpStack) -> Actor {
    Actor {
        operator_id: s.operator_id.clone(),
        key_id: "test".into(),
    }
}

/// A funded custodial SOL account and `n` accepted transfers of `amount` each to `to`.
async fn funded_with_transfers(s: &OpStack, n: usize, amount: u64, to: &str) -> String {
    let a = s.custodial("payer", json!({})).await;
    let id = a["id"].as_str().unwrap().to_owned();
    let owner: Address = a["address"].as_str().unwrap().parse().unwrap();
    s.ledger.fund_sol(&owner, 10_000_000_000).await.unwrap();
    for i in 0..n {
        let body = json!({"amount": amount.to_string(), "counterparty": to});
        let (status, v) = transfer(&s.operator, &id, &format!("k{i}"), body).await;
        assert_eq!(status, 201, "{v}");
    }
    id
}

async fn transfers_in(s: &OpStack, status: TransferStatus) -> usize {
    let filter = TransferFilter {
        status: Some(status),
        ..TransferFilter::default()
    };
    let page = mppsol_store::operator::Page {
        after: None,
        limit: 200,
    };
    s.state
        .store()
        .list_transfers(&actor(s), &filter, &page)
        .await
        .unwrap()
        .len()
}

async fn settled_events(s: &OpStack) -> usize {
    s.state
        .store()
        .list_events(&actor(s), Some(EventType::TransferSettled))
        .await
        .unwrap()
        .len()
}

/// Runs workers until nothing is left to claim.
async fn drain(w: &Settler) {
    for _ in 0..50 {
        if w.run_once().await.unwrap().is_empty() {
            return;
        }
    }
    panic!("the queue did not drain");
}

pub async fn worker_settles_each_transfer_once_and_the_chain_agrees(backend: Backend) {
    let s = OpStack::spawn(backend).await;
    let to = address(31);
    funded_with_transfers(&s, 12, 1_000_000, &to).await;
    let w = settler(&s, "w1", 0);
    let first = w.run_once().await.unwrap();
    assert_eq!(first.len(), 12);
    assert!(
        first
            .iter()
            .all(|o| matches!(o, JobOutcome::Settled { .. })),
        "{first:?}"
    );
    drain(&w).await;
    let to: Address = to.parse().unwrap();
    assert_eq!(s.ledger.balance(&to).await.unwrap(), 12_000_000);
    assert_eq!(transfers_in(&s, TransferStatus::Settled).await, 12);
    assert_eq!(settled_events(&s).await, 12);
    let depth = s.state.store().outbox_depth().await.unwrap();
    assert_eq!((depth.pending, depth.in_progress), (0, 0));
}

/// Where the first worker dies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Crash {
    /// Signed and stored, never sent.
    BeforeSend,
    /// Sent, never confirmed.
    AfterSend,
    /// Confirmed on chain, never written to the database.
    AfterConfirm,
    /// Stored, never sent, and its blockhash expired before the next worker came.
    BeforeSendThenExpiry,
    /// Sent, and its blockhash expired before the next worker came.
    AfterSendThenExpiry,
}

async fn crash_then_recover(backend: Backend, crash: Crash) {
    let s = OpStack::spawn(backend).await;
    let to = address(32);
    funded_with_transfers(&s, 1, 2_500_000, &to).await;
    let dead = settler(&s, "dead", 0);
    let jobs = dead.claim().await.unwrap();
    assert_eq!(jobs.len(), 1);
    let sealed = jobs[0].sealed_key.clone().unwrap();
    let (tx, signature) = dead
        .sign_and_record(&jobs[0], &sealed, None)
        .await
        .unwrap()
        .expect("recorded");
    if matches!(
        crash,
        Crash::AfterSend | Crash::AfterConfirm | Crash::AfterSendThenExpiry
    ) {
        s.ledger.send(&tx).await.unwrap();
    }
    if crash == Crash::AfterConfirm {
        let status = s
            .ledger
            .confirm(&signature, Commitment::Confirmed, Duration::from_secs(5))
            .await
            .unwrap();
        assert!(status.is_some());
    }
    if matches!(
        crash,
        Crash::BeforeSendThenExpiry | Crash::AfterSendThenExpiry
    ) {
        s.ledger.expire_blockhash().await.unwrap();
    }

    // The dead worker's lease has run out for the next one (a minute later).
    let next = settler(&s, "next", 60);
    let outcomes = next.run_once().await.unwrap();
    assert_eq!(outcomes.len(), 1, "{crash:?}");
    let JobOutcome::Settled { signature: landed } = &outcomes[0] else {
        panic!("{crash:?}: {outcomes:?}");
    };
    let transfer_id = &jobs[0].transfer.id;
    let signed = s
        .state
        .store()
        .settlement_signatures(transfer_id)
        .await
        .unwrap();
    if crash == Crash::BeforeSendThenExpiry {
        // Certainly expired and absent: a new transaction, the old one kept on record.
        assert_ne!(landed, &signature.to_string());
        assert_eq!(signed.len(), 2, "{signed:?}");
    } else {
        assert_eq!(landed, &signature.to_string(), "{crash:?}");
        assert_eq!(signed, vec![signature.to_string()], "{crash:?}");
    }
    // The dead worker wakes up: its writes are fenced off, and it has nothing to claim.
    assert!(
        dead.sign_and_record(&jobs[0], &sealed, Some(&signature.to_string()))
            .await
            .unwrap()
            .is_none()
    );
    assert!(next.run_once().await.unwrap().is_empty());
    let to: Address = to.parse().unwrap();
    assert_eq!(s.ledger.balance(&to).await.unwrap(), 2_500_000, "{crash:?}");
    let t = s
        .state
        .store()
        .get_transfer(&actor(&s), transfer_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(t.status, TransferStatus::Settled);
    assert_eq!(t.signature.as_deref(), Some(landed.as_str()));
    assert_eq!(settled_events(&s).await, 1);
}

pub async fn crash_before_send_resends_the_stored_transaction(backend: Backend) {
    crash_then_recover(backend, Crash::BeforeSend).await;
}

pub async fn crash_after_send_finds_it_landed(backend: Backend) {
    crash_then_recover(backend, Crash::AfterSend).await;
}

pub async fn crash_after_confirm_settles_without_sending(backend: Backend) {
    crash_then_recover(backend, Crash::AfterConfirm).await;
}

pub async fn expired_unsent_transaction_is_rebuilt(backend: Backend) {
    crash_then_recover(backend, Crash::BeforeSendThenExpiry).await;
}

pub async fn expired_but_landed_transaction_is_not_rebuilt(backend: Backend) {
    crash_then_recover(backend, Crash::AfterSendThenExpiry).await;
}

pub async fn unpayable_transfer_fails_after_its_attempts_and_gives_the_amount_back(
    backend: Backend,
) {
    let s = OpStack::spawn(backend).await;
    let a = s.custodial("broke", json!({})).await;
    let id = a["id"].as_str().unwrap().to_owned();
    // Never funded: every send is refused by preflight.
    let (status, t) = transfer(
        &s.operator,
        &id,
        "k",
        json!({"amount": "5000", "counterparty": address(33)}),
    )
    .await;
    assert_eq!(status, 201, "{t}");
    let mut failed = false;
    for step in 0..6i64 {
        // Each retry waits out its backoff and its blockhash.
        s.ledger.expire_blockhash().await.unwrap();
        let w = Settler::new(
            s.state.store_arc(),
            Arc::new(s.ledger.clone()),
            mppsol_operator::MasterKey::from_bytes(&MASTER),
            Arc::new(Shifted(step * 120)),
            WorkerConfig {
                worker_id: format!("w{step}"),
                max_attempts: 2,
                ..WorkerConfig::default()
            },
        );
        let outcomes = w.run_once().await.unwrap();
        if outcomes
            .iter()
            .any(|o| matches!(o, JobOutcome::Failed { .. }))
        {
            failed = true;
            break;
        }
    }
    assert!(failed, "the transfer never failed");
    let t = s
        .state
        .store()
        .get_transfer(&actor(&s), t["id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(t.status, TransferStatus::Failed);
    let spent = s
        .state
        .store()
        .spent_on_day(&actor(&s), &id, s.state.now())
        .await
        .unwrap();
    assert_eq!(spent, 0);
}

pub async fn two_workers_share_the_queue_and_pay_each_transfer_once(backend: Backend) {
    let s = OpStack::spawn(backend).await;
    let to = address(34);
    funded_with_transfers(&s, 60, 1_000_000, &to).await;
    let a = settler(&s, "a", 0);
    let b = settler(&s, "b", 0);
    tokio::join!(drain(&a), drain(&b));
    let to: Address = to.parse().unwrap();
    assert_eq!(s.ledger.balance(&to).await.unwrap(), 60_000_000);
    assert_eq!(transfers_in(&s, TransferStatus::Settled).await, 60);
    assert_eq!(settled_events(&s).await, 60);
}
