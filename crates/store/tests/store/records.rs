//! Payment record and daily budget cases.

use mppsol_store::{PaymentRecord, SpendOutcome, Store, StoreError};

fn payment(challenge_id: &str, role: &str, created_at: i64) -> PaymentRecord {
    PaymentRecord {
        challenge_id: challenge_id.into(),
        role: role.into(),
        method: "solana".into(),
        intent: "charge".into(),
        reference: format!("sig-{challenge_id}"),
        amount: 10_000,
        currency: "sol".into(),
        recipient: "7xKXtg2CW87d97TXJSDpbD5jBkheTqA83TZRuJosgAsU".into(),
        payer: None,
        realm: "api.example.com".into(),
        receipt: format!("receipt-{challenge_id}"),
        created_at,
    }
}

pub async fn payments_round_trip_newest_first(store: &dyn Store) {
    assert_eq!(store.list_payments(10).await.unwrap(), vec![]);
    let first = payment("ch_1", "server", 100);
    let third = PaymentRecord {
        payer: Some("payer-pubkey".into()),
        amount: i64::MAX as u64,
        ..payment("ch_3", "client", 300)
    };
    let second = payment("ch_2", "server", 200);
    // Same second as `second`, recorded later: newer.
    let second_b = payment("ch_2b", "server", 200);
    for p in [&first, &third, &second, &second_b] {
        store.record_payment(p).await.unwrap();
    }
    assert_eq!(
        store.list_payments(10).await.unwrap(),
        vec![
            third.clone(),
            second_b.clone(),
            second.clone(),
            first.clone()
        ]
    );
    assert_eq!(store.list_payments(2).await.unwrap(), vec![third, second_b]);
    assert_eq!(store.list_payments(0).await.unwrap(), vec![]);
}

pub async fn duplicate_payment_for_role_and_challenge_conflicts(store: &dyn Store) {
    let original = payment("ch_d", "server", 100);
    store.record_payment(&original).await.unwrap();
    let duplicate = PaymentRecord {
        reference: "another-sig".into(),
        ..payment("ch_d", "server", 150)
    };
    let result = store.record_payment(&duplicate).await;
    assert!(
        matches!(result, Err(StoreError::Conflict(_))),
        "expected Conflict, got {result:?}"
    );
    // The other side of the same challenge is a different record.
    let client_side = payment("ch_d", "client", 120);
    store.record_payment(&client_side).await.unwrap();
    assert_eq!(
        store.list_payments(10).await.unwrap(),
        vec![client_side, original]
    );
}

pub async fn payment_amount_above_i64_max_is_refused(store: &dyn Store) {
    let huge = PaymentRecord {
        amount: u64::MAX,
        ..payment("ch_big", "server", 1)
    };
    assert!(matches!(
        store.record_payment(&huge).await,
        Err(StoreError::AmountTooLarge(u64::MAX))
    ));
    let just_over = PaymentRecord {
        amount: 1 << 63,
        ..payment("ch_big", "server", 1)
    };
    assert!(matches!(
        store.record_payment(&just_over).await,
        Err(StoreError::AmountTooLarge(a)) if a == 1 << 63
    ));
    assert_eq!(store.list_payments(10).await.unwrap(), vec![]);
}

pub async fn spend_accepts_up_to_the_cap_then_refuses_with_the_current_total(store: &dyn Store) {
    let add = |amount| store.add_spend("agent", "2025-01-01", amount, 500);
    assert_eq!(
        add(200).await.unwrap(),
        SpendOutcome::Accepted { total: 200 }
    );
    assert_eq!(
        add(300).await.unwrap(),
        SpendOutcome::Accepted { total: 500 }
    );
    assert_eq!(
        add(1).await.unwrap(),
        SpendOutcome::OverBudget { total: 500 }
    );
    assert_eq!(add(0).await.unwrap(), SpendOutcome::Accepted { total: 500 });

    // Scopes and days are separate budgets; an amount alone over the cap never lands.
    assert_eq!(
        store
            .add_spend("agent", "2025-01-02", 501, 500)
            .await
            .unwrap(),
        SpendOutcome::OverBudget { total: 0 }
    );
    assert_eq!(
        store
            .add_spend("other", "2025-01-01", 500, 500)
            .await
            .unwrap(),
        SpendOutcome::Accepted { total: 500 }
    );

    store
        .refund_spend("agent", "2025-01-01", 100)
        .await
        .unwrap();
    assert_eq!(
        add(101).await.unwrap(),
        SpendOutcome::OverBudget { total: 400 }
    );
    assert_eq!(
        add(100).await.unwrap(),
        SpendOutcome::Accepted { total: 500 }
    );
}

pub async fn refund_never_goes_below_zero(store: &dyn Store) {
    // Unknown scope: nothing to refund, nothing created.
    store.refund_spend("ghost", "2025-01-01", 50).await.unwrap();
    assert_eq!(
        store
            .add_spend("ghost", "2025-01-01", 10, 100)
            .await
            .unwrap(),
        SpendOutcome::Accepted { total: 10 }
    );
    store
        .refund_spend("ghost", "2025-01-01", 1_000)
        .await
        .unwrap();
    assert_eq!(
        store
            .add_spend("ghost", "2025-01-01", 100, 100)
            .await
            .unwrap(),
        SpendOutcome::Accepted { total: 100 }
    );
}

pub async fn spend_amounts_above_i64_max_are_refused(store: &dyn Store) {
    assert!(matches!(
        store.add_spend("s", "2025-01-01", u64::MAX, u64::MAX).await,
        Err(StoreError::AmountTooLarge(u64::MAX))
    ));
    assert!(matches!(
        store.refund_spend("s", "2025-01-01", u64::MAX).await,
        Err(StoreError::AmountTooLarge(u64::MAX))
    ));
    // The largest storable amount fits, and a further add is refused rather than overflowing.
    let max = i64::MAX as u64;
    assert_eq!(
        store
            .add_spend("s", "2025-01-01", max, u64::MAX)
            .await
            .unwrap(),
        SpendOutcome::Accepted { total: max }
    );
    assert_eq!(
        store
            .add_spend("s", "2025-01-01", 1, u64::MAX)
            .await
            .unwrap(),
        SpendOutcome::OverBudget { total: max }
    );
}
