//! Concurrency claims, each fired through two stores (two pools) on one database.

use std::collections::BTreeSet;
use std::sync::Arc;

use mppsol_store::{ConsumeOutcome, Reservation, SpendOutcome, Store};
use tokio::task::JoinSet;

/// Alternates between the two stores so both pools are contending.
fn pick(stores: &[Arc<dyn Store>; 2], i: usize) -> Arc<dyn Store> {
    Arc::clone(&stores[i % 2])
}

pub async fn concurrent_consumes_of_one_proof_have_exactly_one_winner(
    a: Arc<dyn Store>,
    b: Arc<dyn Store>,
) {
    let stores = [a, b];
    let mut tasks = JoinSet::new();
    for i in 0..200 {
        let store = pick(&stores, i);
        tasks.spawn(async move {
            let challenge_id = format!("ch_{i}");
            let outcome = store.consume_proof("sig_contended", &challenge_id).await;
            (challenge_id, outcome.unwrap())
        });
    }
    let mut winners = Vec::new();
    let mut named = BTreeSet::new();
    let mut losers = 0;
    while let Some(joined) = tasks.join_next().await {
        match joined.unwrap() {
            (challenge_id, ConsumeOutcome::Fresh) => winners.push(challenge_id),
            (_, ConsumeOutcome::AlreadyConsumed { challenge_id }) => {
                losers += 1;
                named.insert(challenge_id);
            }
        }
    }
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    assert_eq!(losers, 199);
    // Every loser names the one winner.
    assert_eq!(named, BTreeSet::from([winners[0].clone()]));
}

pub async fn concurrent_adds_never_pass_the_cap(a: Arc<dyn Store>, b: Arc<dyn Store>) {
    let stores = [a, b];
    let mut tasks = JoinSet::new();
    for i in 0..100 {
        let store = pick(&stores, i);
        tasks.spawn(async move { store.add_spend("agent", "2025-06-01", 10, 500).await });
    }
    let mut accepted_totals = BTreeSet::new();
    let mut refused = 0;
    while let Some(joined) = tasks.join_next().await {
        match joined.unwrap().unwrap() {
            SpendOutcome::Accepted { total } => {
                assert!(accepted_totals.insert(total), "total {total} seen twice");
            }
            SpendOutcome::OverBudget { total } => {
                // Refused only once the budget is full, and it never shrinks here.
                assert_eq!(total, 500);
                refused += 1;
            }
        }
    }
    // Each accepted add saw a distinct predecessor: totals 10, 20, …, 500.
    assert_eq!(
        accepted_totals,
        (1..=50).map(|n| n * 10).collect::<BTreeSet<u64>>()
    );
    assert_eq!(refused, 50);
    assert_eq!(
        stores[0]
            .add_spend("agent", "2025-06-01", 0, 500)
            .await
            .unwrap(),
        SpendOutcome::Accepted { total: 500 }
    );
}

pub async fn concurrent_reservations_of_one_challenge_have_exactly_one_holder(
    a: Arc<dyn Store>,
    b: Arc<dyn Store>,
) {
    let stores = [a, b];
    let mut tasks = JoinSet::new();
    for i in 0..50u8 {
        let store = pick(&stores, usize::from(i));
        tasks.spawn(async move {
            let digest = [i; 32];
            store
                .reserve_challenge("ch_contended", &digest, 2_000_000_000)
                .await
                .unwrap()
        });
    }
    let mut fresh = 0;
    let mut taken = 0;
    while let Some(joined) = tasks.join_next().await {
        match joined.unwrap() {
            Reservation::Fresh => fresh += 1,
            Reservation::TakenByOtherCredential => taken += 1,
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!((fresh, taken), (1, 49));
}

/// Many writes at once (a batching backend commits them together) are each answered with their
/// own outcome, and every answered write is there for a new pool on the same database.
pub async fn concurrent_writes_each_get_their_outcome_and_all_persist(db: &crate::harness::TestDb) {
    const N: usize = 150;
    let store = db.open().await;
    let mut tasks = JoinSet::new();
    for i in 0..N {
        let store = Arc::clone(&store);
        tasks.spawn(async move {
            let ch = format!("ch_{i}");
            let digest = [u8::try_from(i % 256).unwrap(); 32];
            let reserved = store.reserve_challenge(&ch, &digest, 2_000_000_000).await;
            assert_eq!(reserved.unwrap(), Reservation::Fresh);
            // Every second task also contends for one shared proof.
            let proof = if i % 2 == 0 {
                "sig_shared".to_string()
            } else {
                format!("sig_{i}")
            };
            let consumed = store.consume_proof(&proof, &ch).await.unwrap();
            store
                .complete_challenge(&ch, &digest, &format!("receipt_{i}"))
                .await
                .unwrap();
            (i, consumed)
        });
    }
    let mut shared_winners = 0;
    while let Some(joined) = tasks.join_next().await {
        let (i, consumed) = joined.unwrap();
        match (i % 2, consumed) {
            (0, ConsumeOutcome::Fresh) => shared_winners += 1,
            (0, ConsumeOutcome::AlreadyConsumed { .. }) => {}
            (_, outcome) => assert_eq!(outcome, ConsumeOutcome::Fresh, "own proof of task {i}"),
        }
    }
    assert_eq!(shared_winners, 1);
    drop(store);

    let reopened = db.open().await;
    for i in 0..N {
        let digest = [u8::try_from(i % 256).unwrap(); 32];
        assert_eq!(
            reopened
                .reserve_challenge(&format!("ch_{i}"), &digest, 2_000_000_000)
                .await
                .unwrap(),
            Reservation::Completed {
                receipt: format!("receipt_{i}")
            }
        );
        if i % 2 == 1 {
            assert_eq!(
                reopened
                    .consume_proof(&format!("sig_{i}"), "ch_other")
                    .await
                    .unwrap(),
                ConsumeOutcome::AlreadyConsumed {
                    challenge_id: format!("ch_{i}")
                }
            );
        }
    }
}
