//! Session channel metering: compare-and-set debits, idempotent retries, close gating, and the
//! client's own channel record.

use std::sync::Arc;

use mppsol_store::{
    ChannelRecord, ClientChannel, CloseStart, Debit, DebitOutcome, SessionStatus, Store,
};
use tokio::task::JoinSet;

fn channel(id: &str, escrowed: u64) -> ChannelRecord {
    ChannelRecord {
        channel_id: id.into(),
        network: "localnet".into(),
        channel_program: "Prog".into(),
        payer: "Payer".into(),
        payee: "Payee".into(),
        mint: "Mint".into(),
        token_program: "Tok".into(),
        authorized_signer: "Signer".into(),
        salt: u64::MAX,
        open_slot: 42,
        grace_period: 900,
        voucher_signer: "client".into(),
        proof_challenge_id: None,
        splits: "[]".into(),
        escrowed,
        accepted_cumulative: 0,
        spent: 0,
        settled_on_chain: 0,
        highest_voucher: None,
        status: SessionStatus::Open,
        closure_started_at: 0,
        idle_timeout: 600,
        last_activity_at: 1,
        created_at: 1,
        close_signature: None,
        refunded: None,
    }
}

fn debit<'a>(id: &'a str, from: u64, to: u64, key: Option<&'a str>, receipt: &'a str) -> Debit<'a> {
    Debit {
        channel_id: id,
        expected_accepted: from,
        expected_spent: from,
        new_accepted: to,
        new_spent: to,
        voucher: Some(receipt),
        idempotency_key: key,
        receipt,
        now: 2,
    }
}

pub async fn channel_debits_are_compare_and_set_and_idempotent(store: &dyn Store) {
    let c = channel("ch1", 1_000);
    assert!(store.insert_channel(&c).await.unwrap());
    assert!(!store.insert_channel(&c).await.unwrap(), "duplicate id");
    let back = store.channel("ch1").await.unwrap().unwrap();
    assert_eq!(back, c, "round trip, including a u64::MAX salt");

    assert_eq!(
        store
            .debit(&debit("ch1", 0, 100, Some("k1"), "r1"))
            .await
            .unwrap(),
        DebitOutcome::Applied
    );
    // A retry with the same key gets the same receipt and changes nothing.
    assert_eq!(
        store
            .debit(&debit("ch1", 100, 200, Some("k1"), "r2"))
            .await
            .unwrap(),
        DebitOutcome::Replayed {
            receipt: "r1".into()
        }
    );
    assert_eq!(
        store
            .idempotent_receipt("ch1", "k1")
            .await
            .unwrap()
            .as_deref(),
        Some("r1")
    );
    // Computed from an old state: refused, current state returned.
    match store
        .debit(&debit("ch1", 0, 100, Some("k2"), "r3"))
        .await
        .unwrap()
    {
        DebitOutcome::Stale(Some(cur)) => assert_eq!(cur.accepted_cumulative, 100),
        other => panic!("expected stale, got {other:?}"),
    }
    // The refused step left no idempotency row behind.
    assert_eq!(store.idempotent_receipt("ch1", "k2").await.unwrap(), None);
    // Beyond the deposit: refused.
    assert!(matches!(
        store
            .debit(&debit("ch1", 100, 1_001, None, "r4"))
            .await
            .unwrap(),
        DebitOutcome::Stale(_)
    ));
    let cur = store.channel("ch1").await.unwrap().unwrap();
    assert_eq!((cur.accepted_cumulative, cur.spent), (100, 100));
    assert_eq!(cur.highest_voucher.as_deref(), Some("r1"));

    // Top-up only raises the deposit.
    assert!(store.set_escrowed("ch1", 2_000, 3).await.unwrap());
    assert!(!store.set_escrowed("ch1", 1_500, 4).await.unwrap());

    // Closing stops metering; an aborted close resumes it.
    assert!(matches!(
        store.begin_close("ch1").await.unwrap(),
        CloseStart::Started(_)
    ));
    assert!(matches!(
        store.begin_close("ch1").await.unwrap(),
        CloseStart::NotOpen(Some(_))
    ));
    assert!(matches!(
        store
            .debit(&debit("ch1", 100, 200, None, "r5"))
            .await
            .unwrap(),
        DebitOutcome::Stale(_)
    ));
    store.abort_close("ch1").await.unwrap();
    assert_eq!(
        store
            .debit(&debit("ch1", 100, 200, None, "r6"))
            .await
            .unwrap(),
        DebitOutcome::Applied
    );
    assert!(matches!(
        store.begin_close("ch1").await.unwrap(),
        CloseStart::Started(_)
    ));
    store.finish_close("ch1", "sig", 200, 1_800).await.unwrap();
    let closed = store.channel("ch1").await.unwrap().unwrap();
    assert_eq!(closed.status, SessionStatus::Closed);
    assert_eq!(
        (closed.settled_on_chain, closed.refunded),
        (200, Some(1_800))
    );
    assert!(
        store
            .channels_with_status(SessionStatus::Open, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(matches!(
        store.begin_close("nope").await.unwrap(),
        CloseStart::NotOpen(None)
    ));
}

pub async fn forced_close_stops_metering(store: &dyn Store) {
    store.insert_channel(&channel("ch2", 500)).await.unwrap();
    store.set_closure_started("ch2", 77).await.unwrap();
    let c = store.channel("ch2").await.unwrap().unwrap();
    assert_eq!(
        (c.status, c.closure_started_at),
        (SessionStatus::Closing, 77)
    );
    assert!(matches!(
        store.debit(&debit("ch2", 0, 10, None, "r")).await.unwrap(),
        DebitOutcome::Stale(_)
    ));
    // A forced close cannot be "aborted" back to metering.
    store.abort_close("ch2").await.unwrap();
    assert_eq!(
        store.channel("ch2").await.unwrap().unwrap().status,
        SessionStatus::Closing
    );
    store.set_settled("ch2", 10).await.unwrap();
    store.set_settled("ch2", 5).await.unwrap();
    assert_eq!(
        store
            .channel("ch2")
            .await
            .unwrap()
            .unwrap()
            .settled_on_chain,
        10
    );
}

pub async fn client_channels_only_move_forward(store: &dyn Store) {
    let mut c = ClientChannel {
        channel_id: "cc".into(),
        scope: "http://127.0.0.1:1 realm".into(),
        network: "localnet".into(),
        channel_program: "Prog".into(),
        payer: "P".into(),
        payee: "Q".into(),
        mint: "M".into(),
        token_program: "T".into(),
        authorized_signer: "P".into(),
        salt: 9,
        open_slot: 3,
        deposit: 1_000,
        signed_cumulative: 0,
        accepted: 0,
        status: "opening".into(),
        open_signature: None,
        close_signature: None,
        proof_challenge_id: Some("ch_1".into()),
    };
    store.save_client_channel(&c).await.unwrap();
    c.status = "open".into();
    c.open_signature = Some("sig-open".into());
    store.save_client_channel(&c).await.unwrap();
    store.raise_client_amounts("cc", 300, 200).await.unwrap();
    store.raise_client_amounts("cc", 100, 100).await.unwrap();
    let back = store.client_channel("cc").await.unwrap().unwrap();
    assert_eq!((back.signed_cumulative, back.accepted), (300, 200));
    assert_eq!(back.status, "open");
    assert_eq!(back.proof_challenge_id.as_deref(), Some("ch_1"));
    assert_eq!(back.open_signature.as_deref(), Some("sig-open"));
    assert_eq!(
        store
            .client_channels("http://127.0.0.1:1 realm")
            .await
            .unwrap()
            .len(),
        1
    );
    c.status = "closed".into();
    c.signed_cumulative = 300;
    c.accepted = 300;
    store.save_client_channel(&c).await.unwrap();
    assert!(
        store
            .client_channels("http://127.0.0.1:1 realm")
            .await
            .unwrap()
            .is_empty()
    );
}

/// 200 concurrent metered requests through two pools: each reads, computes the next step and
/// compare-and-sets; the final accepted amount is exactly the sum of the steps that applied.
pub async fn concurrent_debits_never_over_count(a: Arc<dyn Store>, b: Arc<dyn Store>) {
    const PRICE: u64 = 7;
    a.insert_channel(&channel("hot", 1_000_000)).await.unwrap();
    let stores = [a, b];
    let mut tasks = JoinSet::new();
    for i in 0..200usize {
        let store = Arc::clone(&stores[i % 2]);
        tasks.spawn(async move {
            let cur = store.channel("hot").await.unwrap().unwrap();
            let key = format!("req-{i}");
            let to = cur.accepted_cumulative + PRICE;
            let d = Debit {
                channel_id: "hot",
                expected_accepted: cur.accepted_cumulative,
                expected_spent: cur.spent,
                new_accepted: to,
                new_spent: cur.spent + PRICE,
                voucher: None,
                idempotency_key: Some(&key),
                receipt: "r",
                now: 5,
            };
            matches!(store.debit(&d).await.unwrap(), DebitOutcome::Applied)
        });
    }
    let mut applied = 0u64;
    while let Some(j) = tasks.join_next().await {
        if j.unwrap() {
            applied += 1;
        }
    }
    assert!(applied >= 1);
    let cur = stores[0].channel("hot").await.unwrap().unwrap();
    assert_eq!(cur.accepted_cumulative, applied * PRICE);
    assert_eq!(cur.spent, applied * PRICE);
}

/// Many channels metered at once (on a file database their debits share group commits): each
/// step gets its own outcome, a repeated key replays, and everything is there after reopening.
pub async fn concurrent_debits_on_many_channels_each_apply_and_persist(
    db: &crate::harness::TestDb,
) {
    const CHANNELS: usize = 48;
    const STEPS: u64 = 4;
    const PRICE: u64 = 5;
    let store = db.open().await;
    let mut tasks = JoinSet::new();
    for c in 0..CHANNELS {
        let store = Arc::clone(&store);
        tasks.spawn(async move {
            let id = format!("many-{c}");
            assert!(store.insert_channel(&channel(&id, 1_000)).await.unwrap());
            for s in 0..STEPS {
                let (key, receipt) = (format!("k{s}"), format!("r{c}-{s}"));
                let step = debit(&id, s * PRICE, (s + 1) * PRICE, Some(&key), &receipt);
                assert_eq!(store.debit(&step).await.unwrap(), DebitOutcome::Applied);
            }
            // The last request again, with its key: the stored receipt, nothing charged.
            let (last_key, last) = (format!("k{}", STEPS - 1), format!("r{c}-{}", STEPS - 1));
            let again = debit(
                &id,
                STEPS * PRICE,
                (STEPS + 1) * PRICE,
                Some(&last_key),
                "other",
            );
            assert_eq!(
                store.debit(&again).await.unwrap(),
                DebitOutcome::Replayed { receipt: last }
            );
        });
    }
    while let Some(j) = tasks.join_next().await {
        j.unwrap();
    }
    drop(store);

    let reopened = db.open().await;
    for c in 0..CHANNELS {
        let id = format!("many-{c}");
        let cur = reopened.channel(&id).await.unwrap().unwrap();
        assert_eq!(
            (cur.accepted_cumulative, cur.spent),
            (STEPS * PRICE, STEPS * PRICE)
        );
        let last = format!("r{c}-{}", STEPS - 1);
        assert_eq!(cur.highest_voucher.as_deref(), Some(last.as_str()));
        assert_eq!(
            reopened.idempotent_receipt(&id, "k0").await.unwrap(),
            Some(format!("r{c}-0"))
        );
    }
}
