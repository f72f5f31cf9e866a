//! Successful payments: SOL, SPL Token and Token-2022, pull and push, with splits; balances are
//! read back from the chain and both sides keep a record.

use mppsol_client::ChargeMode;
use mppsol_e2e::{Asset, Backend, StackOptions, TestStack, key};
use solana_signer::Signer;

async fn pays(opts: StackOptions, mode: ChargeMode) {
    let stack = TestStack::spawn(opts.clone()).await;
    let agent = stack.agent.pubkey();
    let recipient = stack.recipient.pubkey();
    let splits: Vec<_> = opts
        .splits
        .iter()
        .map(|(s, a, _)| (key(*s).pubkey(), *a))
        .collect();
    let before_agent = stack.balance(&agent).await;
    let before_recipient = stack.balance(&recipient).await;
    let mut before_splits = Vec::new();
    for (s, _) in &splits {
        before_splits.push(stack.balance(s).await);
    }

    let paid = stack
        .client(mode)
        .get(&format!("{}/paid", stack.base_url))
        .await
        .expect("payment");
    assert_eq!(paid.response.status(), 200);
    assert_eq!(
        paid.response.headers().get("cache-control").unwrap(),
        "private"
    );
    let receipt = paid.receipt.expect("receipt");
    assert_eq!(receipt.status, "success");
    assert_eq!(receipt.method, "solana");
    assert_eq!(
        receipt.extra["challengeId"],
        paid.paid_challenge.as_ref().unwrap().id.as_str()
    );
    assert_eq!(stack.receipt_signer.public_key().verify(&receipt), Ok(()));

    // The reference is a landed transaction.
    let sig = mppsol_solana::charge::payload::decode_signature(&receipt.reference).unwrap();
    let landed = mppsol_ledger::Ledger::get_transaction(&stack.ledger, &sig)
        .await
        .unwrap()
        .expect("landed");
    assert_eq!(landed.err, None);

    let price = opts.price;
    let split_total: u64 = splits.iter().map(|(_, a)| a).sum();
    assert_eq!(
        stack.balance(&recipient).await - before_recipient,
        price - split_total,
        "primary recipient received the remainder"
    );
    for (i, (s, a)) in splits.iter().enumerate() {
        assert_eq!(stack.balance(s).await - before_splits[i], *a, "split {i}");
    }
    let spent = before_agent - stack.balance(&agent).await;
    match (opts.asset, opts.sponsored) {
        // Sponsored: the agent pays exactly the price, the server the fees.
        (Asset::Sol, true) | (Asset::Usdc, _) => assert_eq!(spent, price),
        // Unsponsored SOL: the price plus the agent's own fee.
        (Asset::Sol, false) => assert!(spent > price && spent < price + 1_000_000, "{spent}"),
        // Token-2022 with a 1% fee: grossed up so the recipients got exactly their legs.
        (Asset::Usdc2022, _) => {
            assert!(spent > price && spent <= price + price / 50 + 2, "{spent}")
        }
    }

    let server_records = stack.server_store.list_payments(10).await.unwrap();
    assert_eq!(server_records.len(), 1);
    assert_eq!(server_records[0].reference, receipt.reference);
    assert_eq!(server_records[0].amount, price);
    let agent_records = stack.agent_store.list_payments(10).await.unwrap();
    assert_eq!(agent_records.len(), 1);
    assert_eq!(agent_records[0].role, "client");
    assert_eq!(agent_records[0].reference, receipt.reference);
}

macro_rules! both_backends {
    ($name:ident, $asset:expr, $mode:expr, |$o:ident| $tweak:block) => {
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let mut $o = StackOptions::new(Backend::Sqlite, $asset);
                $tweak;
                pays($o, $mode).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let mut $o = StackOptions::new(Backend::Postgres, $asset);
                $tweak;
                pays($o, $mode).await;
            }
        }
    };
}

both_backends!(
    sol_pull_sponsored_with_splits,
    Asset::Sol,
    ChargeMode::Pull,
    |o| {
        o.price = 5_000_000;
        o.splits = vec![(31, 1_000_000, false), (32, 500_000, false)];
    }
);
both_backends!(
    usdc_pull_sponsored_with_split_ata_creation,
    Asset::Usdc,
    ChargeMode::Pull,
    |o| {
        o.price = 1_050_000;
        o.splits = vec![(33, 50_000, true)];
    }
);
both_backends!(usdc_pull_unsponsored, Asset::Usdc, ChargeMode::Pull, |o| {
    o.sponsored = false;
});
both_backends!(
    token_2022_pull_with_transfer_fee_and_split,
    Asset::Usdc2022,
    ChargeMode::Pull,
    |o| {
        o.price = 2_000_000;
        o.splits = vec![(34, 100_000, false)];
    }
);
both_backends!(sol_push_with_split, Asset::Sol, ChargeMode::Push, |o| {
    o.sponsored = false;
    o.price = 3_000_000;
    o.splits = vec![(35, 1_000_000, false)];
});
both_backends!(usdc_push, Asset::Usdc, ChargeMode::Push, |o| {
    o.sponsored = false;
});
both_backends!(token_2022_push, Asset::Usdc2022, ChargeMode::Push, |o| {
    o.sponsored = false;
});
