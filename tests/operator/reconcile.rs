//! The reconciler: drift between counters, sessions, transfers and the chain is reported, and
//! the safe cases are repaired.

use std::sync::Arc;

use mppsol_e2e::Backend;
use mppsol_operator::reconcile::Reconciler;
use mppsol_operator::settlement::{Settler, WorkerConfig};
use mppsol_store::operator::{Actor, TransferStatus};
use serde_json::json;
use solana_address::Address;

use crate::harness::{MASTER, OpStack, address, transfer};

fn actor(s: &OpStack) -> Actor {
    Actor {
        operator_id: s.operator_id.clone(),
        key_id: "test".into(),
    }
}

/// Runs SQL against the stack's database (to make drift happen).
pub(crate) async fn exec(s: &OpStack, sql: &str) {
    match s.backend {
        Backend::Sqlite => {
            use sqlx::Connection as _;
            let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", s.location))
                .await
                .unwrap();
            sqlx::query(sql).execute(&mut c).await.unwrap();
        }
        Backend::Postgres => {
            use sqlx::Connection as _;
            let mut c = sqlx::PgConnection::connect(&s.location).await.unwrap();
            sqlx::query(sql).execute(&mut c).await.unwrap();
        }
    }
}

pub async fn reconciler_reports_drift_and_repairs_counters_and_landed_transfers(backend: Backend) {
    let s = OpStack::spawn(backend).await;
    let a = s.custodial("recon", json!({})).await;
    let id = a["id"].as_str().unwrap().to_owned();
    let owner: Address = a["address"].as_str().unwrap().parse().unwrap();
    s.ledger.fund_sol(&owner, 5_000_000_000).await.unwrap();
    for i in 0..2 {
        let body = json!({"amount": "1000000", "counterparty": address(60)});
        let (status, v) = transfer(&s.operator, &id, &format!("r{i}"), body).await;
        assert_eq!(status, 201, "{v}");
    }
    let reconciler = Reconciler::new(s.state.store_arc(), Arc::new(s.ledger.clone()));
    let now = s.state.now();
    let clean = reconciler.run(0, 1000, false, now).await.unwrap();
    assert!(clean.is_clean(), "{clean:?}");

    // A worker sends the first transfer and dies before recording it.
    let w = Settler::new(
        s.state.store_arc(),
        Arc::new(s.ledger.clone()),
        mppsol_operator::MasterKey::from_bytes(&MASTER),
        Arc::new(mpp::SystemClock),
        WorkerConfig {
            batch: 1,
            ..WorkerConfig::default()
        },
    );
    let jobs = w.claim().await.unwrap();
    let sealed = jobs[0].sealed_key.clone().unwrap();
    let (tx, _) = w
        .sign_and_record(&jobs[0], &sealed, None)
        .await
        .unwrap()
        .unwrap();
    use mppsol_ledger::Ledger as _;
    s.ledger.send(&tx).await.unwrap();
    // And the counter is corrupted.
    exec(&s, "UPDATE account_daily_spend SET total = total + 7").await;

    let found = reconciler.run(0, 1000, false, now).await.unwrap();
    assert_eq!(found.counters.len(), 1, "{found:?}");
    assert_eq!(found.counters[0].stored, 2_000_007);
    assert_eq!(found.counters[0].computed, 2_000_000);
    assert_eq!(found.chain.len(), 1, "{found:?}");
    assert_eq!(found.chain[0].transfer_id, jobs[0].transfer.id);
    assert!(!found.chain[0].repaired);

    let repaired = reconciler.run(0, 1000, true, now).await.unwrap();
    assert_eq!(repaired.counters_repaired, 1);
    assert!(repaired.chain[0].repaired);
    let t = s
        .state
        .store()
        .get_transfer(&actor(&s), &jobs[0].transfer.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(t.status, TransferStatus::Settled);
    assert_eq!(
        s.state
            .store()
            .spent_on_day(&actor(&s), &id, now)
            .await
            .unwrap(),
        2_000_000
    );
    let after = reconciler.run(0, 1000, false, now).await.unwrap();
    assert!(after.is_clean(), "{after:?}");

    // A settled transfer whose signature is not on chain is reported, never "repaired".
    exec(
        &s,
        &format!(
            "UPDATE transfers SET signature = '{}' WHERE id = '{}'",
            solana_signature::Signature::from([9u8; 64]),
            jobs[0].transfer.id
        ),
    )
    .await;
    let bad = reconciler.run(0, 1000, true, now).await.unwrap();
    assert_eq!(bad.chain.len(), 1, "{bad:?}");
    assert!(bad.chain[0].problem.contains("not on chain"));
    assert!(!bad.chain[0].repaired);
}
