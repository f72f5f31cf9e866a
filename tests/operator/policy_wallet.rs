//! Custodial token accounts paying through the spending-policy program: the wallet mirrors
//! the database policy, charges and settlements leave its vault through the program, and a
//! database row changed behind the service's back cannot make the chain pay beyond the rules
//! the owner key last signed.

use std::sync::Arc;

use mppsol_client::{OperatorSigner, PayingClient, SpendingPolicy};
use mppsol_e2e::{Asset, Backend, StackOptions, TestStack};
use mppsol_ledger::Ledger;
use mppsol_operator::settlement::JobOutcome;
use mppsol_solana::network::Network;
use mppsol_solana::policy::{
    DEV_PAYMENTS_PROGRAM_ID, DEV_POLICY_PROGRAM_ID, WalletState, challenge_hash,
    find_receipt_address,
};
use reqwest::Method;
use serde_json::{Value, json};
use solana_signer::Signer;

use crate::harness::{OpStack, WalletAccount, call, transfer};
use crate::reconcile::exec as tamper;
use crate::settlement::settler;

struct Setup {
    stack: TestStack,
    op: OpStack,
    a: WalletAccount,
}

/// The paid API (USDC, 10_000 per request) and the operator on its ledger with the policy
/// programs; one custodial USDC account with `policy` (see [`OpStack::wallet_account`]).
async fn setup(backend: Backend, policy: Value) -> Setup {
    let stack = TestStack::spawn(StackOptions::new(backend, Asset::Usdc)).await;
    let op = OpStack::spawn_with_policy_wallets(backend, stack.ledger.clone()).await;
    let a = op
        .wallet_account(&stack.mint.as_ref().unwrap().address, policy)
        .await;
    Setup { stack, op, a }
}

async fn wallet_state(s: &Setup) -> WalletState {
    let a = s
        .stack
        .ledger
        .get_account(&s.a.wallet)
        .await
        .unwrap()
        .unwrap();
    WalletState::decode(&a.data).unwrap()
}

async fn vault_balance(s: &Setup) -> u64 {
    s.op.token_balance(&s.a.vault).await
}

pub async fn custodial_charge_lands_through_the_policy_program(backend: Backend) {
    let s = setup(backend, json!({"max_single_transfer": "50000"})).await;
    let state = wallet_state(&s).await;
    assert_eq!(
        (
            state.owner,
            state.agent,
            state.policy.max_single,
            state.paused
        ),
        (s.a.owner, s.a.address, 50_000, false),
        "the wallet mirrors the account's policy, the account key is its agent"
    );
    let agent = s.op.agent_key(&s.a.id).await;
    let client = PayingClient::new(
        reqwest::Client::new(),
        vec![Arc::new(OperatorSigner::new(
            agent.clone(),
            s.a.id.clone(),
            Network::Localnet,
        ))],
        SpendingPolicy::default(),
    );
    let recipient = s.stack.recipient.pubkey();
    let before = s.stack.balance(&recipient).await;

    let paid = client
        .get(&format!("{}/paid", s.stack.base_url))
        .await
        .expect("paid");
    assert_eq!(paid.response.status(), 200);
    let price = s.stack.opts.price;
    assert_eq!(s.stack.balance(&recipient).await - before, price);
    assert_eq!(
        vault_balance(&s).await,
        100_000 - price,
        "paid from the vault"
    );
    assert_eq!(
        wallet_state(&s).await.spent_today,
        price,
        "counted on chain"
    );
    // The landed transaction invoked the policy program, which recorded the receipt.
    let receipt = paid.receipt.expect("receipt");
    let landed = s
        .stack
        .ledger
        .get_transaction(&receipt.reference.parse().unwrap())
        .await
        .unwrap()
        .expect("landed");
    assert!(
        landed
            .transaction
            .message
            .static_account_keys()
            .contains(&DEV_POLICY_PROGRAM_ID),
        "the payment went through the policy program"
    );
    let challenge = paid.paid_challenge.unwrap();
    let receipt_account =
        find_receipt_address(&DEV_PAYMENTS_PROGRAM_ID, &challenge_hash(&challenge.id)).0;
    assert!(
        s.stack
            .ledger
            .get_account(&receipt_account)
            .await
            .unwrap()
            .is_some()
    );
}

pub async fn onchain_policy_refuses_what_a_tampered_database_allows(backend: Backend) {
    let s = setup(backend, json!({"max_single_transfer": "5000"})).await;
    let to = s.stack.recipient.pubkey().to_string();
    let worker = settler(&s.op, "w1", 0);

    // Within the rules: the worker pays it from the vault through the program.
    let (status, v) = transfer(
        &s.op.operator,
        &s.a.id,
        "small",
        json!({"amount": "4000", "counterparty": to}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let outcomes = worker.run_once().await.unwrap();
    assert!(
        matches!(outcomes.as_slice(), [JobOutcome::Settled { .. }]),
        "{outcomes:?}"
    );
    assert_eq!(vault_balance(&s).await, 96_000);
    assert_eq!(wallet_state(&s).await.spent_today, 4_000);

    // Someone raises the limit in the database only.
    tamper(
        &s.op,
        &format!(
            "UPDATE account_policies SET max_single_transfer = 1000000 WHERE account_id = '{}'",
            s.a.id
        ),
    )
    .await;
    let (status, v) = transfer(
        &s.op.operator,
        &s.a.id,
        "big",
        json!({"amount": "20000", "counterparty": to}),
    )
    .await;
    assert_eq!(status, 201, "the tampered database accepts it: {v}");
    let txn = v["id"].as_str().unwrap().to_owned();
    let outcomes = worker.run_once().await.unwrap();
    match outcomes.as_slice() {
        [JobOutcome::Failed { reason }] => {
            assert!(reason.starts_with("onchain:OverSingleLimit"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    let (_, t) = call(
        &s.op.operator,
        Method::GET,
        &format!("/v1/transfers/{txn}"),
        None,
    )
    .await;
    assert_eq!(t["status"], "failed");
    assert!(
        t["rejection_reason"]
            .as_str()
            .unwrap()
            .contains("onchain:OverSingleLimit"),
        "{t}"
    );
    assert_eq!(vault_balance(&s).await, 96_000, "nothing left the vault");

    // A custodial charge of 10_000 is refused at signing by a dry run on chain.
    let url = format!("{}/paid", s.stack.base_url);
    let www = mpp::format_www_authenticate(&mppsol_e2e::challenge(&url).await).unwrap();
    let (status, problem) = call(
        &s.op.operator,
        Method::POST,
        &format!("/v1/accounts/{}/credentials", s.a.id),
        Some(json!({"www_authenticate": [www]})),
    )
    .await;
    assert_eq!(
        (status, problem["rule"].as_str()),
        (422, Some("onchain:OverSingleLimit")),
        "{problem}"
    );
    let (_, events) = call(
        &s.op.operator,
        Method::GET,
        "/v1/events?type=policy.violation",
        None,
    )
    .await;
    assert_eq!(
        events["data"][0]["payload"]["rule"], "onchain:OverSingleLimit",
        "{events}"
    );
    let charge = problem["transfer_id"].as_str().unwrap();
    let (_, t) = call(
        &s.op.operator,
        Method::GET,
        &format!("/v1/transfers/{charge}"),
        None,
    )
    .await;
    assert_eq!(t["status"], "failed", "{t}");

    // Setting the policy through the API changes the chain first; then it pays.
    let (status, v) = call(
        &s.op.operator,
        Method::PUT,
        &format!("/v1/accounts/{}/policy", s.a.id),
        Some(json!({"max_single_transfer": "50000"})),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(wallet_state(&s).await.policy.max_single, 50_000);
    let (status, _) = transfer(
        &s.op.operator,
        &s.a.id,
        "big-again",
        json!({"amount": "20000", "counterparty": to}),
    )
    .await;
    assert_eq!(status, 201);
    let outcomes = worker.run_once().await.unwrap();
    assert!(
        matches!(outcomes.as_slice(), [JobOutcome::Settled { .. }]),
        "{outcomes:?}"
    );
    assert_eq!(vault_balance(&s).await, 76_000);

    // Pausing the account pauses the wallet.
    let (status, v) = call(
        &s.op.operator,
        Method::PATCH,
        &format!("/v1/accounts/{}", s.a.id),
        Some(json!({"status": "paused"})),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert!(wallet_state(&s).await.paused);
    // The database un-paused behind the service's back: the chain still refuses.
    tamper(
        &s.op,
        &format!(
            "UPDATE accounts SET status = 'active' WHERE id = '{}'",
            s.a.id
        ),
    )
    .await;
    let (status, _) = transfer(
        &s.op.operator,
        &s.a.id,
        "while-paused",
        json!({"amount": "1000", "counterparty": to}),
    )
    .await;
    assert_eq!(status, 201);
    let outcomes = worker.run_once().await.unwrap();
    match outcomes.as_slice() {
        [JobOutcome::Failed { reason }] => {
            assert!(reason.starts_with("onchain:Paused"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(vault_balance(&s).await, 76_000);
}
