//! Operator data cases: atomic transfer requests, refunds, concurrency on the daily counter,
//! nonces and key rotation.

use std::sync::Arc;

use mppsol_store::StoreError;
use mppsol_store::operator::{
    Actor, Decision, EventType, KeyRole, NewAccount, NewApiKey, NewTransfer, NonceOutcome,
    OperatorStore, Page, Policy, PolicyContext, TransferFilter, TransferKind, TransferOutcome,
    TransferStatus, Violation,
};

const NOW: i64 = 1_795_305_000;

/// A cap of 500 per day, nothing else.
fn capped(ctx: &PolicyContext<'_>) -> Decision {
    if ctx.spent_today + ctx.transfer.amount > 500 {
        Decision::Reject(Violation {
            rule: "max_daily_spend".into(),
            reason: "over 500".into(),
        })
    } else {
        Decision::Accept
    }
}

async fn account(store: &dyn OperatorStore) -> (Actor, String) {
    let op = store.create_operator("acme", NOW).await.unwrap();
    let actor = Actor {
        operator_id: op.id.clone(),
        key_id: "test".into(),
    };
    let account = store
        .create_account(
            &actor,
            &NewAccount {
                operator_id: op.id,
                handle: "bot".into(),
                address: "addr".into(),
                currency: "sol".into(),
                token_account: None,
                sealed_key: Some(vec![1, 2, 3]),
            },
            &Policy::default(),
            NOW,
        )
        .await
        .unwrap();
    (actor, account.id)
}

fn transfer(account_id: &str, key: &str, amount: u64) -> NewTransfer {
    NewTransfer {
        account_id: account_id.into(),
        kind: TransferKind::Transfer,
        amount,
        currency: "sol".into(),
        counterparty: "bob".into(),
        memo: None,
        category: None,
        session_id: None,
        idempotency_key: key.into(),
        request_hash: [7; 32],
        signature: None,
    }
}

pub async fn amounts_above_i64_max_are_refused_before_anything_is_written(
    store: Arc<dyn OperatorStore>,
) {
    let (actor, id) = account(&*store).await;
    let r = store
        .request_transfer(&actor, &transfer(&id, "k", u64::MAX), capped, NOW)
        .await;
    assert!(
        matches!(r, Err(StoreError::AmountTooLarge(u64::MAX))),
        "{r:?}"
    );
    let page = Page {
        after: None,
        limit: 10,
    };
    let listed = store
        .list_transfers(&actor, &TransferFilter::default(), &page)
        .await
        .unwrap();
    assert_eq!(listed, vec![]);
}

pub async fn failed_transfer_gives_its_amount_back_and_emits_transfer_failed(
    store: Arc<dyn OperatorStore>,
) {
    let (actor, id) = account(&*store).await;
    let TransferOutcome::Created(t) = store
        .request_transfer(&actor, &transfer(&id, "k", 300), capped, NOW)
        .await
        .unwrap()
    else {
        panic!("expected a new transfer");
    };
    assert_eq!(t.status, TransferStatus::Pending);
    assert_eq!(store.spent_on_day(&actor, &id, NOW).await.unwrap(), 300);
    let failed = store
        .fail_transfer(&actor, &t.id, "blockhash expired", NOW)
        .await
        .unwrap();
    assert_eq!(failed.status, TransferStatus::Failed);
    assert_eq!(
        failed.rejection_reason.as_deref(),
        Some("blockhash expired")
    );
    assert_eq!(store.spent_on_day(&actor, &id, NOW).await.unwrap(), 0);
    assert_eq!(
        store.outbox_job(&t.id).await.unwrap().unwrap().status,
        "failed"
    );
    let events = store
        .list_events(&actor, Some(EventType::TransferFailed))
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].subject_id, t.id);
    let again = store.fail_transfer(&actor, &t.id, "twice", NOW).await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    assert_eq!(
        store.spent_on_day(&actor, &id, NOW).await.unwrap(),
        0,
        "refunded once"
    );
}

pub async fn concurrent_requests_never_pass_the_daily_cap(
    a: Arc<dyn OperatorStore>,
    b: Arc<dyn OperatorStore>,
) {
    let (actor, id) = account(&*a).await;
    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let store = if i % 2 == 0 { a.clone() } else { b.clone() };
            let (actor, id) = (actor.clone(), id.clone());
            tokio::spawn(async move {
                store
                    .request_transfer(&actor, &transfer(&id, &format!("k{i}"), 100), capped, NOW)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut accepted = 0;
    for t in tasks {
        match t.await.unwrap() {
            TransferOutcome::Created(t) if t.status == TransferStatus::Pending => accepted += 1,
            TransferOutcome::Created(t) => assert_eq!(t.status, TransferStatus::Rejected),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(accepted, 5);
    assert_eq!(a.spent_on_day(&actor, &id, NOW).await.unwrap(), 500);
    let violations = b
        .list_events(&actor, Some(EventType::PolicyViolation))
        .await
        .unwrap();
    assert_eq!(violations.len(), 7);
}

pub async fn nonces_are_single_use_until_they_expire(store: Arc<dyn OperatorStore>) {
    let fresh = store
        .record_nonce("key_a", "n1", NOW + 300, NOW)
        .await
        .unwrap();
    assert_eq!(fresh, NonceOutcome::Fresh);
    let again = store
        .record_nonce("key_a", "n1", NOW + 300, NOW + 10)
        .await
        .unwrap();
    assert_eq!(again, NonceOutcome::Replayed);
    let other_key = store
        .record_nonce("key_b", "n1", NOW + 300, NOW)
        .await
        .unwrap();
    assert_eq!(other_key, NonceOutcome::Fresh);
    // Past its window the row is pruned (the timestamp check refuses such requests anyway).
    let later = store
        .record_nonce("key_a", "n1", NOW + 700, NOW + 301)
        .await
        .unwrap();
    assert_eq!(later, NonceOutcome::Fresh);
}

pub async fn rotation_replaces_a_key_once(store: Arc<dyn OperatorStore>) {
    let (actor, id) = account(&*store).await;
    let key = store
        .create_api_key(
            &actor,
            &NewApiKey {
                operator_id: actor.operator_id.clone(),
                role: KeyRole::Agent,
                account_id: Some(id.clone()),
                sealed_verifier: vec![9; 40],
            },
            NOW,
        )
        .await
        .unwrap();
    let new = store
        .rotate_api_key(&actor, &key.id, &[8; 40], NOW)
        .await
        .unwrap();
    assert_eq!(
        (new.role, new.account_id.as_deref()),
        (KeyRole::Agent, Some(id.as_str()))
    );
    let (old, _) = store.api_key_for_auth(&key.id).await.unwrap().unwrap();
    assert_eq!(old.replaced_by.as_deref(), Some(new.id.as_str()));
    let (_, verifier) = store.api_key_for_auth(&new.id).await.unwrap().unwrap();
    assert_eq!(verifier, vec![8; 40]);
    let twice = store.rotate_api_key(&actor, &key.id, &[7; 40], NOW).await;
    assert!(matches!(twice, Err(StoreError::NotFound(_))), "{twice:?}");
    let other = Actor {
        operator_id: "op_other".into(),
        key_id: "x".into(),
    };
    let foreign = store.revoke_api_key(&other, &new.id, NOW).await;
    assert!(
        matches!(foreign, Err(StoreError::NotFound(_))),
        "{foreign:?}"
    );
}
