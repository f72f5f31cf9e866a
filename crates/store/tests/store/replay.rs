//! Replay protection cases: challenge reservations and consumed proofs.

use mppsol_store::{ConsumeOutcome, Reservation, Store, StoreError};

const ALICE: [u8; 32] = [0xa1; 32];
const BOB: [u8; 32] = [0xb0; 32];
const EXPIRES: i64 = 2_000_000_000;

fn assert_conflict(result: Result<(), StoreError>) {
    assert!(
        matches!(result, Err(StoreError::Conflict(_))),
        "expected Conflict, got {result:?}"
    );
}

pub async fn reservation_outcomes_follow_credential_and_status(store: &dyn Store) {
    let reserve = |digest: &'static [u8; 32]| store.reserve_challenge("ch_1", digest, EXPIRES);
    assert_eq!(reserve(&ALICE).await.unwrap(), Reservation::Fresh);
    assert_eq!(reserve(&ALICE).await.unwrap(), Reservation::InFlight);
    assert_eq!(
        reserve(&BOB).await.unwrap(),
        Reservation::TakenByOtherCredential
    );
    store
        .complete_challenge("ch_1", &ALICE, "receipt-1")
        .await
        .unwrap();
    assert_eq!(
        reserve(&ALICE).await.unwrap(),
        Reservation::Completed {
            receipt: "receipt-1".into()
        }
    );
    assert_eq!(
        reserve(&BOB).await.unwrap(),
        Reservation::TakenByOtherCredential
    );
    // Other challenges are independent.
    assert_eq!(
        store
            .reserve_challenge("ch_2", &BOB, EXPIRES)
            .await
            .unwrap(),
        Reservation::Fresh
    );
}

pub async fn completed_challenge_retry_returns_the_receipt(store: &dyn Store) {
    assert_eq!(
        store
            .reserve_challenge("ch_r", &ALICE, EXPIRES)
            .await
            .unwrap(),
        Reservation::Fresh
    );
    store
        .complete_challenge("ch_r", &ALICE, "Payment-Receipt: abc")
        .await
        .unwrap();
    for _ in 0..2 {
        assert_eq!(
            store
                .reserve_challenge("ch_r", &ALICE, EXPIRES)
                .await
                .unwrap(),
            Reservation::Completed {
                receipt: "Payment-Receipt: abc".into()
            }
        );
    }
    // Completing twice, or releasing a completed reservation, changes nothing.
    assert_conflict(store.complete_challenge("ch_r", &ALICE, "other").await);
    store.release_challenge("ch_r", &ALICE).await.unwrap();
    assert_eq!(
        store
            .reserve_challenge("ch_r", &ALICE, EXPIRES)
            .await
            .unwrap(),
        Reservation::Completed {
            receipt: "Payment-Receipt: abc".into()
        }
    );
}

pub async fn complete_needs_the_pending_reservation_of_the_same_credential(store: &dyn Store) {
    assert_conflict(store.complete_challenge("ch_none", &ALICE, "r").await);
    store
        .reserve_challenge("ch_c", &ALICE, EXPIRES)
        .await
        .unwrap();
    assert_conflict(store.complete_challenge("ch_c", &BOB, "r").await);
    assert_eq!(
        store
            .reserve_challenge("ch_c", &ALICE, EXPIRES)
            .await
            .unwrap(),
        Reservation::InFlight
    );
}

pub async fn released_challenge_can_be_reserved_by_another_credential(store: &dyn Store) {
    store
        .reserve_challenge("ch_x", &ALICE, EXPIRES)
        .await
        .unwrap();
    // Only the holder can release.
    store.release_challenge("ch_x", &BOB).await.unwrap();
    assert_eq!(
        store
            .reserve_challenge("ch_x", &BOB, EXPIRES)
            .await
            .unwrap(),
        Reservation::TakenByOtherCredential
    );
    store.release_challenge("ch_x", &ALICE).await.unwrap();
    assert_eq!(
        store
            .reserve_challenge("ch_x", &BOB, EXPIRES)
            .await
            .unwrap(),
        Reservation::Fresh
    );
    assert_eq!(
        store
            .reserve_challenge("ch_x", &ALICE, EXPIRES)
            .await
            .unwrap(),
        Reservation::TakenByOtherCredential
    );
    // Releasing something that was never reserved is a no-op.
    store.release_challenge("ch_never", &ALICE).await.unwrap();
}

pub async fn proof_is_consumed_once_and_names_the_first_challenge(store: &dyn Store) {
    assert_eq!(
        store.consume_proof("sig_1", "ch_a").await.unwrap(),
        ConsumeOutcome::Fresh
    );
    let again = ConsumeOutcome::AlreadyConsumed {
        challenge_id: "ch_a".into(),
    };
    assert_eq!(store.consume_proof("sig_1", "ch_b").await.unwrap(), again);
    assert_eq!(store.consume_proof("sig_1", "ch_a").await.unwrap(), again);
    assert_eq!(
        store.consume_proof("sig_2", "ch_b").await.unwrap(),
        ConsumeOutcome::Fresh
    );
}

pub async fn release_proof_by_the_wrong_challenge_does_nothing(store: &dyn Store) {
    store.consume_proof("sig_w", "ch_a").await.unwrap();
    store.release_proof("sig_w", "ch_b").await.unwrap();
    assert_eq!(
        store.consume_proof("sig_w", "ch_c").await.unwrap(),
        ConsumeOutcome::AlreadyConsumed {
            challenge_id: "ch_a".into()
        }
    );
    store.release_proof("sig_w", "ch_a").await.unwrap();
    assert_eq!(
        store.consume_proof("sig_w", "ch_c").await.unwrap(),
        ConsumeOutcome::Fresh
    );
    // Releasing an unknown proof is a no-op.
    store.release_proof("sig_unknown", "ch_a").await.unwrap();
}

pub async fn prune_deletes_expired_reservations_and_keeps_proofs(store: &dyn Store) {
    for (id, expires_at) in [("ch_old", 100), ("ch_edge", 200), ("ch_new", 300)] {
        store
            .reserve_challenge(id, &ALICE, expires_at)
            .await
            .unwrap();
    }
    store
        .complete_challenge("ch_old", &ALICE, "r-old")
        .await
        .unwrap();
    store.consume_proof("sig_p", "ch_old").await.unwrap();

    // Strictly before `now`: the reservation expiring at 200 stays.
    assert_eq!(store.prune_expired(200).await.unwrap(), 1);
    assert_eq!(store.prune_expired(200).await.unwrap(), 0);
    assert_eq!(
        store
            .reserve_challenge("ch_old", &BOB, EXPIRES)
            .await
            .unwrap(),
        Reservation::Fresh
    );
    assert_eq!(
        store.reserve_challenge("ch_edge", &BOB, 200).await.unwrap(),
        Reservation::TakenByOtherCredential
    );
    // Proofs are never pruned.
    assert_eq!(
        store.consume_proof("sig_p", "ch_other").await.unwrap(),
        ConsumeOutcome::AlreadyConsumed {
            challenge_id: "ch_old".into()
        }
    );
    // ch_edge (200) and ch_new (300) expire before 1000; ch_old now expires at EXPIRES.
    assert_eq!(store.prune_expired(1_000).await.unwrap(), 2);
    assert_eq!(
        store.consume_proof("sig_p", "ch_other").await.unwrap(),
        ConsumeOutcome::AlreadyConsumed {
            challenge_id: "ch_old".into()
        }
    );
}
