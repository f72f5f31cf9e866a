//! What an operator does in the browser: sign in, create an account and its policy, see an
//! agent's paid request among the transfers, approve an escalated transfer and see it settle,
//! and get an invalid policy edit refused with its error. Each saves a screenshot.

use std::sync::Arc;
use std::time::Duration;

use mpp::SystemClock;
use mppsol_client::{OperatorSigner, PayingClient, SpendingPolicy};
use mppsol_e2e::{Asset, Backend, StackOptions, TestStack};
use mppsol_operator::MasterKey;
use mppsol_operator::settlement::{JobOutcome, Settler, WorkerConfig};
use mppsol_solana::network::Network;
use serde_json::json;
use solana_address::Address;
use solana_signer::Signer;

use crate::browser::Browser;
use crate::harness::{MASTER, OpStack, address, transfer};

pub async fn sign_in_shows_the_overview() {
    let s = OpStack::spawn(Backend::Sqlite).await;
    let b = Browser::start(&s.base_url).await;
    b.sign_in(&s.operator_key).await;
    assert_eq!(b.text("h1").await, "Overview");
    assert!(b.text(".who .operator").await.contains("acme"));
    let rpc = b.text(".stat.good .value").await;
    assert!(
        rpc.contains("Healthy"),
        "the embedded ledger answers: {rpc}"
    );
    assert!(
        b.text(".card .empty")
            .await
            .contains("No spend in the last 30 days"),
        "an empty chart says what to do next"
    );
    b.screenshot("sign_in_shows_the_overview").await;
    // Signing out ends the session: pages send to the sign-in form again.
    b.click("#sign-out").await;
    assert_eq!(b.path().await, "/dashboard/sign-in");
    b.open("/dashboard/accounts").await;
    assert_eq!(b.path().await, "/dashboard/sign-in");
    b.close().await;
}

pub async fn account_and_policy_are_created_through_the_forms() {
    let s = OpStack::spawn(Backend::Sqlite).await;
    let b = Browser::start(&s.base_url).await;
    b.sign_in(&s.operator_key).await;
    b.open("/dashboard/accounts").await;
    assert!(b.text(".empty").await.contains("No accounts yet"));
    b.fill("#handle", "research-agent").await;
    b.click("#create").await;
    assert!(b.path().await.starts_with("/dashboard/accounts/acct_"));
    assert!(b.text(".alert.ok").await.contains("Account created"));

    b.fill("#max_single_transfer", "0.5").await;
    b.fill("#max_daily_spend", "2").await;
    b.fill("#escalation_threshold", "0.25").await;
    b.fill("#categories", "api, search").await;
    b.fill("#allowed_counterparties", &address(7)).await;
    b.click("#require_memo").await;
    b.click("#save-policy").await;
    assert!(b.text(".alert.ok").await.contains("Policy saved"));
    b.screenshot("account_and_policy_are_created_through_the_forms")
        .await;

    // The policy is stored in base units, exactly.
    let id = b.path().await.rsplit('/').next().unwrap().to_owned();
    let actor = mppsol_store::operator::Actor {
        operator_id: s.operator_id.clone(),
        key_id: "test".into(),
    };
    let policy = s.state.store().get_policy(&actor, &id).await.unwrap();
    assert_eq!(policy.max_single_transfer, Some(500_000_000));
    assert_eq!(policy.max_daily_spend, Some(2_000_000_000));
    assert_eq!(policy.escalation_threshold, Some(250_000_000));
    assert_eq!(policy.categories, Some(vec!["api".into(), "search".into()]));
    assert_eq!(policy.allowed_counterparties, Some(vec![address(7)]));
    assert!(policy.require_memo);
    // Written to the audit log as the signed-in key.
    let audit = s.state.store().list_audit(&actor).await.unwrap();
    let by_key: Vec<&str> = audit
        .iter()
        .filter(|e| e.actor == s.operator_key.key.id)
        .map(|e| e.action.as_str())
        .collect();
    assert_eq!(
        by_key,
        ["dashboard.sign_in", "account.create", "policy.put"],
        "{audit:?}"
    );
    b.close().await;
}

pub async fn invalid_policy_edit_shows_the_error() {
    let s = OpStack::spawn(Backend::Sqlite).await;
    let a = s
        .custodial("capped", json!({"max_single_transfer": "1000000000"}))
        .await;
    let id = a["id"].as_str().unwrap();
    let b = Browser::start(&s.base_url).await;
    b.sign_in(&s.operator_key).await;
    b.open(&format!("/dashboard/accounts/{id}")).await;
    assert_eq!(
        b.value("#max_single_transfer").await.as_deref(),
        Some("1"),
        "amounts show in SOL"
    );
    // A single transfer above the daily limit could never happen: refused.
    b.fill("#max_daily_spend", "0.5").await;
    b.click("#save-policy").await;
    let error = b.text("#policy-error").await;
    assert!(
        error.contains("max_single_transfer") && error.contains("above max_daily_spend"),
        "{error}"
    );
    // What was typed is kept for correction.
    assert_eq!(b.value("#max_daily_spend").await.as_deref(), Some("0.5"));
    b.screenshot("invalid_policy_edit_shows_the_error").await;
    // Not a number in SOL: refused too, and nothing was stored.
    b.fill("#max_daily_spend", "lots").await;
    b.click("#save-policy").await;
    assert!(
        b.text("#policy-error")
            .await
            .contains("not an amount of SOL")
    );
    let actor = mppsol_store::operator::Actor {
        operator_id: s.operator_id.clone(),
        key_id: "test".into(),
    };
    let policy = s.state.store().get_policy(&actor, id).await.unwrap();
    assert_eq!(policy.max_daily_spend, None);
    b.close().await;
}

pub async fn paid_request_by_the_agent_shows_up_in_transfers() {
    let stack = TestStack::spawn(StackOptions::new(Backend::Sqlite, Asset::Sol)).await;
    let op = OpStack::spawn_on(Backend::Sqlite, stack.ledger.clone()).await;
    let a = op.custodial("shopper", json!({})).await;
    let id = a["id"].as_str().unwrap().to_owned();
    let payer: Address = a["address"].as_str().unwrap().parse().unwrap();
    stack.ledger.fund_sol(&payer, 1_000_000_000).await.unwrap();
    let agent = op.agent_key(&id).await;
    let client = PayingClient::new(
        reqwest::Client::new(),
        vec![Arc::new(
            OperatorSigner::new(agent, id.clone(), Network::Localnet).with_memo("weather lookup"),
        )],
        SpendingPolicy::default(),
    );
    let paid = client
        .get(&format!("{}/paid", stack.base_url))
        .await
        .expect("paid");
    assert_eq!(paid.response.status(), 200);

    let b = Browser::start(&op.base_url).await;
    b.sign_in(&op.operator_key).await;
    b.open("/dashboard/transfers").await;
    let row = b.text("table.table tbody tr").await;
    assert!(row.contains("shopper"), "{row}");
    // 10,000 lamports in SOL with the mint's decimals.
    assert!(row.contains("0.00001 SOL"), "{row}");
    assert!(row.contains("charge"), "{row}");
    assert!(row.contains("weather lookup"), "{row}");
    let recipient = stack.recipient.pubkey().to_string();
    assert!(row.contains(&recipient[..4]), "{row}");
    b.screenshot("paid_request_by_the_agent_shows_up_in_transfers")
        .await;
    // Filtering on another status hides it; the CSV of the filtered set carries it.
    b.open("/dashboard/transfers?status=settled").await;
    assert!(b.text(".empty").await.contains("No transfer matches"));
    let csv = reqwest::Client::new()
        .get(format!(
            "{}/dashboard/transfers.csv?account={id}",
            op.base_url
        ))
        .header(
            "cookie",
            format!(
                "{}={}",
                mppsol_operator::dashboard::COOKIE_NAME,
                b.c.get_named_cookie(mppsol_operator::dashboard::COOKIE_NAME)
                    .await
                    .unwrap()
                    .value()
            ),
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(lines[0].starts_with("id,created_at,account_id,kind,amount"));
    assert!(lines[1].contains(",charge,10000,sol,"), "{csv}");
    b.close().await;
}

pub async fn approved_transfer_settles() {
    let s = OpStack::spawn(Backend::Sqlite).await;
    let a = s
        .custodial("big-spender", json!({"escalation_threshold": "100000000"}))
        .await;
    let id = a["id"].as_str().unwrap();
    let payer: Address = a["address"].as_str().unwrap().parse().unwrap();
    s.ledger.fund_sol(&payer, 2_000_000_000).await.unwrap();
    let to = address(9);
    let (status, t) = transfer(
        &s.operator,
        id,
        "k1",
        json!({"amount": "250000000", "counterparty": to, "memo": "quarterly data licence"}),
    )
    .await;
    assert_eq!(status, 202, "{t}");
    let txn = t["id"].as_str().unwrap().to_owned();

    let b = Browser::start(&s.base_url).await;
    b.sign_in(&s.operator_key).await;
    assert!(b.text(".stat.attention .value").await.contains('1'));
    b.open("/dashboard/approvals").await;
    let row = b.text(&format!("#approval-{txn}")).await;
    assert!(
        row.contains("0.25 SOL") && row.contains("big-spender"),
        "{row}"
    );
    b.screenshot("approved_transfer_settles_queue").await;
    b.click(&format!("#approval-{txn} button.approve")).await;
    assert!(b.text("#notice").await.contains("Approved"));
    assert!(b.text(".empty").await.contains("Nothing is waiting"));

    // The settlement worker, in process, sends it.
    let worker = Settler::new(
        s.state.store_arc(),
        Arc::new(s.ledger.clone()),
        MasterKey::from_bytes(&MASTER),
        Arc::new(SystemClock),
        WorkerConfig {
            confirm_timeout: Duration::from_secs(5),
            ..WorkerConfig::default()
        },
    );
    let outcomes = worker.run_once().await.unwrap();
    assert!(
        matches!(outcomes.as_slice(), [JobOutcome::Settled { .. }]),
        "{outcomes:?}"
    );
    b.open(&format!("/dashboard/transfers/{txn}")).await;
    assert_eq!(b.text("#transfer-status").await, "settled");
    let signature = b.text("#signature").await;
    assert!(
        signature.len() > 80,
        "the landed signature is shown: {signature}"
    );
    assert!(b.text(".receipt").await.contains("\"status\": \"settled\""));
    b.screenshot("approved_transfer_settles").await;
    // Counted today: the overview's figures and its chart show it.
    b.open("/dashboard").await;
    assert_eq!(b.text("#spent-today").await, "0.25 SOL");
    let bars =
        b.c.find_all(fantoccini::Locator::Css("svg.chart rect.bar"))
            .await
            .unwrap();
    assert_eq!(bars.len(), 30, "one bar per day");
    b.screenshot("approved_transfer_settles_overview").await;
    b.close().await;
}
