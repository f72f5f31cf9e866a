//! Operator sessions fed by the session method: a non-custodial agent paying with its own
//! `SolanaSessionClient` reports each receipt, so the operator's session follows the real
//! channel (open, running total, settled with the closing signature); the reconciler then
//! compares the session with the channel account on chain and repairs drift made on purpose.

use std::sync::Arc;

use mpp::{ClientMethod as _, format_authorization};
use mppsol_client::{
    OperatorSigner, PayingClient, SessionReporter, SolanaSessionClient, SpendingPolicy,
};
use mppsol_e2e::Backend;
use mppsol_e2e::session::SessionStack;
use mppsol_ledger::Ledger;
use mppsol_operator::reconcile::Reconciler;
use mppsol_solana::channel::DEV_CHANNEL_PROGRAM_ID;
use mppsol_solana::network::Network;
use reqwest::Method;
use serde_json::{Value, json};
use solana_signer::Signer;

use crate::harness::{OpStack, call};
use crate::reconcile::exec;

const PRICE: u64 = 1_000;
const DEPOSIT: u64 = 50_000;
const REQUESTS: u64 = 5;

async fn sessions(op: &OpStack) -> Vec<Value> {
    let (status, v) = call(&op.operator, Method::GET, "/v1/sessions", None).await;
    assert_eq!(status, 200, "{v}");
    v["data"].as_array().unwrap().clone()
}

async fn events(op: &OpStack, kind: &str) -> usize {
    let (_, v) = call(
        &op.operator,
        Method::GET,
        &format!("/v1/events?type={kind}"),
        None,
    )
    .await;
    v["data"].as_array().unwrap().len()
}

/// Closes the session behind `url`; the operator's session is settled with the closing
/// signature and `REQUESTS × PRICE`, each event once. Returns the sessions.
async fn close_and_check(op: &OpStack, client: &PayingClient, url: &str) -> Vec<Value> {
    let closed = client.close_session(url).await.unwrap();
    let receipt = closed.receipt.expect("close receipt");
    let settled = sessions(op).await;
    assert_eq!(settled[0]["status"], "settled", "{settled:?}");
    assert_eq!(settled[0]["running_total"], (REQUESTS * PRICE).to_string());
    assert_eq!(settled[0]["settlement_signature"], receipt.extra["txHash"]);
    assert_eq!(
        (
            events(op, "session.opened").await,
            events(op, "session.settled").await
        ),
        (1, 1)
    );
    settled
}

pub async fn agent_session_is_recorded_from_the_channel_and_reconciled_with_it(backend: Backend) {
    let stack = SessionStack::spawn(backend, PRICE, DEPOSIT).await;
    let server = stack.instance().await;
    let op = OpStack::spawn_on(backend, stack.ledger.clone()).await;
    let account = op
        .account(
            json!({"handle": "own-key-agent", "custody_mode": "non_custodial",
            "address": stack.agent.pubkey().to_string(),
            "currency": stack.mint.address.to_string()}),
        )
        .await;
    let id = account["id"].as_str().unwrap().to_owned();
    let agent_api = op.agent_key(&id).await;

    let mut session = SolanaSessionClient::new(
        stack.agent.clone(),
        Arc::new(stack.ledger.clone()),
        stack.agent_store.clone(),
        Network::Localnet,
        DEPOSIT,
    )
    .with_operator_reports(SessionReporter::new(agent_api, id.clone()));
    session.expected_programs = vec![DEV_CHANNEL_PROGRAM_ID];
    let client = PayingClient::new(
        reqwest::Client::new(),
        vec![Arc::new(session)],
        SpendingPolicy {
            max_per_payment: Some(1_000_000_000),
            ..SpendingPolicy::default()
        },
    );
    for i in 1..=REQUESTS {
        let r = client.get(&server.url).await.unwrap();
        assert_eq!(r.response.status(), 200, "request {i}");
    }
    let open = sessions(&op).await;
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(
        (
            open[0]["status"].as_str(),
            open[0]["running_total"].as_str()
        ),
        (Some("open"), Some("5000")),
        "every accepted voucher moved the running total"
    );
    let channel = open[0]["channel_id"].as_str().unwrap().to_owned();
    assert_eq!(open[0]["cap"], DEPOSIT.to_string());
    // Money is in escrow: only the channel's close settles the session, not an operator's click.
    let refused = op
        .state
        .store()
        .close_agent_session(
            &mppsol_store::operator::Actor {
                operator_id: op.operator_id.clone(),
                key_id: "test".into(),
            },
            open[0]["id"].as_str().unwrap(),
            0,
        )
        .await;
    assert!(
        matches!(refused, Err(mppsol_store::StoreError::Conflict(ref m)) if m.contains(&channel)),
        "{refused:?}"
    );

    let settled = close_and_check(&op, &client, &server.url).await;
    let sid = settled[0]["id"].as_str().unwrap().to_owned();
    let closing = settled[0]["settlement_signature"].clone();
    assert!(closing.is_string(), "the close recorded its signature");
    let (_, txns) = call(
        &op.operator,
        Method::GET,
        &format!("/v1/transfers?session_id={sid}"),
        None,
    )
    .await;
    let amounts: Vec<&str> = txns["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["amount"].as_str().unwrap())
        .collect();
    assert_eq!(amounts, vec!["1000"; REQUESTS as usize]);

    let reconciler = Reconciler::new(op.state.store_arc(), Arc::new(stack.ledger.clone()));
    let now = op.state.now();
    let clean = reconciler.run(0, 1_000, false, now).await.unwrap();
    assert!(
        clean.is_clean(),
        "the record agrees with the channel: {clean:?}"
    );

    // Drift on purpose: the close and the last two vouchers' reports were lost, and the
    // session believes in a smaller deposit.
    for sql in [
        format!(
            "UPDATE agent_sessions SET status = 'open', settlement_signature = NULL, \
             running_total = 3000, cap = 40000 WHERE id = '{sid}'"
        ),
        format!(
            "DELETE FROM transfers WHERE session_id = '{sid}' \
             AND idempotency_key IN ('session:{channel}:4000', 'session:{channel}:5000')"
        ),
        format!("UPDATE account_daily_spend SET total = total - 2000 WHERE account_id = '{id}'"),
    ] {
        exec(&op, &sql).await;
    }
    let found = reconciler.run(0, 1_000, false, now).await.unwrap();
    let mut problems: Vec<(&str, &str, &str)> = found
        .channels
        .iter()
        .map(|d| (d.problem.as_str(), d.stored.as_str(), d.chain.as_str()))
        .collect();
    problems.sort();
    assert_eq!(
        problems,
        [
            ("deposit", "40000", "50000"),
            ("settled_amount", "3000", "5000"),
            ("status", "open", "distributed"),
        ],
        "{found:?}"
    );
    assert!(found.channels.iter().all(|d| !d.repaired));

    let repaired = reconciler.run(0, 1_000, true, now).await.unwrap();
    assert!(repaired.channels.iter().all(|d| d.repaired), "{repaired:?}");
    let after = sessions(&op).await;
    assert_eq!(
        (
            after[0]["status"].as_str(),
            after[0]["running_total"].as_str(),
            after[0]["cap"].as_str()
        ),
        (Some("settled"), Some("5000"), Some("50000"))
    );
    assert_eq!(
        after[0]["settlement_signature"], closing,
        "the repair finds the closing transaction on chain"
    );
    assert_eq!(events(&op, "session.settled").await, 2);
    let again = reconciler.run(0, 1_000, false, now).await.unwrap();
    assert!(again.is_clean(), "repaired for good: {again:?}");
    // The channel itself is untouched by any of this.
    let on_chain = stack
        .ledger
        .get_account(&channel.parse().unwrap())
        .await
        .unwrap()
        .map(|a| {
            mppsol_solana::channel::ChannelState::decode(&a.data)
                .unwrap()
                .settled
        });
    assert_eq!(on_chain, Some(REQUESTS * PRICE));
}

pub async fn custodial_agent_pays_a_session_through_the_operator(backend: Backend) {
    let stack = SessionStack::spawn(backend, PRICE, DEPOSIT).await;
    let server = stack.instance().await;
    let op = OpStack::spawn_with_policy_wallets(backend, stack.ledger.clone()).await;
    let a = op
        .wallet_account(&stack.mint.address, json!({"max_single_transfer": "30000"}))
        .await;
    let id = a.id.clone();
    let vault_balance = || op.token_balance(&a.vault);
    let agent = op.agent_key(&id).await;
    let paying = |deposit: u64| {
        PayingClient::new(
            reqwest::Client::new(),
            vec![Arc::new(
                OperatorSigner::new(agent.clone(), id.clone(), Network::Localnet)
                    .with_session_deposit(deposit),
            )],
            SpendingPolicy {
                max_per_payment: Some(1_000_000_000),
                ..SpendingPolicy::default()
            },
        )
    };
    let client = paying(20_000);
    let payee_before = stack.token_balance(&stack.payee.pubkey()).await;
    for i in 1..=REQUESTS {
        let r = client.get(&server.url).await.unwrap();
        assert_eq!(r.response.status(), 200, "request {i}");
        assert_eq!(
            r.receipt.unwrap().extra["acceptedCumulative"],
            json!((i * PRICE).to_string())
        );
    }
    assert_eq!(
        vault_balance().await,
        80_000,
        "the deposit left the wallet's vault"
    );
    let open = sessions(&op).await;
    assert_eq!(
        (
            open[0]["status"].as_str(),
            open[0]["running_total"].as_str(),
            open[0]["cap"].as_str()
        ),
        (Some("open"), Some("5000"), Some("20000")),
        "{open:?}"
    );

    // Asked twice for the next voucher (say the agent crashed before presenting it): the same
    // bytes both times, and the amount is stored before it leaves.
    let challenge = mppsol_e2e::challenge(&server.url).await;
    let signer = OperatorSigner::new(agent.clone(), id.clone(), Network::Localnet);
    let first = signer.create_credential(&challenge).await.unwrap();
    let again = signer.create_credential(&challenge).await.unwrap();
    assert_eq!(format_authorization(&first), format_authorization(&again));
    let channel = open[0]["channel_id"].as_str().unwrap();
    let stored = op
        .state
        .session_store()
        .unwrap()
        .client_channel(channel)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (stored.signed_cumulative, stored.accepted),
        ((REQUESTS + 1) * PRICE, REQUESTS * PRICE)
    );
    // A receipt claiming more than was ever signed is refused (it would make the next voucher
    // overpay).
    let forged = mpp::Receipt::success(
        mpp::MethodName::solana(),
        mpp::Timestamp::from_unix(op.state.now()).unwrap(),
        channel.to_owned(),
    )
    .with_field("intent", "session")
    .with_field("acceptedCumulative", "999000");
    let (status, problem) = call(
        &agent,
        Method::POST,
        &format!("/v1/accounts/{id}/receipts"),
        Some(json!({"receipt": mpp::format_payment_receipt(&forged),
            "counterparty": stack.payee.pubkey().to_string(),
            "credential": format_authorization(&first),
            "session": {"provider_endpoint": challenge.realm}})),
    )
    .await;
    assert_eq!(
        (status, problem["field"].as_str()),
        (422, Some("receipt")),
        "{problem}"
    );

    close_and_check(&op, &client, &server.url).await;
    assert_eq!(
        vault_balance().await,
        100_000 - REQUESTS * PRICE,
        "the refund went back to the vault"
    );
    assert_eq!(
        stack.token_balance(&stack.payee.pubkey()).await - payee_before,
        REQUESTS * PRICE
    );

    // A deposit above the single-payment limit is refused before anything is sent.
    let err = paying(40_000)
        .get(&server.url)
        .await
        .expect_err("the open is refused");
    assert!(err.to_string().contains("max_single_transfer"), "{err}");
    let (_, refused) = call(
        &op.operator,
        Method::GET,
        "/v1/events?type=policy.violation",
        None,
    )
    .await;
    assert_eq!(refused["data"][0]["payload"]["rule"], "max_single_transfer");
    assert_eq!(refused["data"][0]["payload"]["amount"], "40000");
    assert_eq!(vault_balance().await, 100_000 - REQUESTS * PRICE);
}
