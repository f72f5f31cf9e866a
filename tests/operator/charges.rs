//! `confirm_charge`: the worker settles a custodial charge the payee broadcast, by finding the
//! landed transaction under the challenge's reference key — without the agent's receipt — and
//! fails one that can no longer land. The receipt and the worker settle a charge once.

use std::sync::Arc;

use mpp::ClientMethod as _;
use mppsol_client::{OperatorApi, OperatorSigner, PayingClient, SpendingPolicy};
use mppsol_e2e::{Backend, TestStack};
use mppsol_operator::settlement::JobOutcome;
use mppsol_solana::network::Network;
use mppsol_store::operator::EventType;
use reqwest::Method;
use serde_json::{Value, json};
use solana_signer::Signer as _;

use crate::custodial::paying_setup;
use crate::harness::{OpStack, call};
use crate::settlement::{actor, settler};

async fn events(op: &OpStack, kind: EventType) -> usize {
    op.state
        .store()
        .list_events(&actor(op), Some(kind))
        .await
        .unwrap()
        .len()
}

async fn spent(op: &OpStack, account_id: &str) -> u64 {
    op.state
        .store()
        .spent_on_day(&actor(op), account_id, op.state.now())
        .await
        .unwrap()
}

/// The agent pays the paid route through the operator (sponsored by the payee); its receipt.
async fn pay(stack: &TestStack, agent: &OperatorApi, account_id: &str) -> mpp::Receipt {
    let signer = OperatorSigner::new(agent.clone(), account_id, Network::Localnet);
    let client = PayingClient::new(
        reqwest::Client::new(),
        vec![Arc::new(signer)],
        SpendingPolicy::default(),
    );
    let paid = client
        .get(&format!("{}/paid", stack.base_url))
        .await
        .expect("paid");
    assert_eq!(paid.response.status(), 200);
    paid.receipt.expect("receipt")
}

/// The agent posts the receipt to the operator.
async fn report(
    stack: &TestStack,
    agent: &OperatorApi,
    account_id: &str,
    receipt: &mpp::Receipt,
) -> (u16, Value) {
    let body = json!({"receipt": mpp::format_payment_receipt(receipt),
        "amount": stack.opts.price.to_string(), "counterparty": stack.recipient.pubkey().to_string()});
    let path = format!("/v1/accounts/{account_id}/receipts");
    call(agent, Method::POST, &path, Some(body)).await
}

async fn only_transfer(agent: &OperatorApi) -> Value {
    let (status, list) = call(agent, Method::GET, "/v1/transfers", None).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["data"].as_array().unwrap().len(), 1, "{list}");
    list["data"][0].clone()
}

pub async fn worker_settles_a_sponsored_charge_without_the_receipt(backend: Backend) {
    let (stack, op, id, _, agent) = paying_setup(backend, json!({}), 1_000_000_000).await;
    let receipt = pay(&stack, &agent, &id).await;
    let t = only_transfer(&agent).await;
    assert_eq!(
        (t["status"].as_str(), &t["signature"]),
        (Some("pending"), &Value::Null)
    );
    let txn = t["id"].as_str().unwrap().to_owned();
    let job = op.state.store().outbox_job(&txn).await.unwrap().unwrap();
    assert_eq!(job.kind, "confirm_charge");
    let own = job
        .tx_signature
        .expect("the account's signature is on the job");
    assert_ne!(
        own, receipt.reference,
        "sponsored: it lands under the payee's signature"
    );

    let outcomes = settler(&op, "w1", 0).run_once().await.unwrap();
    assert_eq!(
        outcomes,
        vec![JobOutcome::Settled {
            signature: receipt.reference.clone()
        }]
    );
    let (_, got) = call(&agent, Method::GET, &format!("/v1/transfers/{txn}"), None).await;
    assert_eq!(got["status"], "settled");
    assert_eq!(got["signature"], receipt.reference.as_str());
    assert!(got["settled_at"].as_i64().is_some(), "{got}");
    assert_eq!(events(&op, EventType::TransferSettled).await, 1);

    // The receipt arriving afterwards is a no-op: the same transfer, no second count or event.
    let (status, again) = report(&stack, &agent, &id, &receipt).await;
    assert_eq!(
        (status, &again["id"], &again["status"]),
        (200, &got["id"], &got["status"])
    );
    assert_eq!(events(&op, EventType::TransferSettled).await, 1);
    assert_eq!(spent(&op, &id).await, stack.opts.price, "counted once");
    assert_eq!(settler(&op, "w1", 0).run_once().await.unwrap(), vec![]);
}

pub async fn receipt_first_leaves_the_worker_nothing_to_do(backend: Backend) {
    let (stack, op, id, _, agent) = paying_setup(backend, json!({}), 1_000_000_000).await;
    let receipt = pay(&stack, &agent, &id).await;
    let (status, settled) = report(&stack, &agent, &id, &receipt).await;
    assert_eq!(
        (status, settled["status"].as_str()),
        (200, Some("settled")),
        "{settled}"
    );
    assert_eq!(settler(&op, "w1", 0).run_once().await.unwrap(), vec![]);
    let t = only_transfer(&agent).await;
    assert_eq!(t["signature"], receipt.reference.as_str());
    assert_eq!(events(&op, EventType::TransferSettled).await, 1);
}

pub async fn unbroadcast_charge_fails_once_its_blockhash_expires(backend: Backend) {
    let (stack, op, id, _, agent) = paying_setup(backend, json!({}), 1_000_000_000).await;
    let challenge = mppsol_e2e::challenge(&format!("{}/paid", stack.base_url)).await;
    // Signed by the operator, never sent to the payee.
    OperatorSigner::new(agent.clone(), id.clone(), Network::Localnet)
        .create_credential(&challenge)
        .await
        .expect("signed");
    assert_eq!(spent(&op, &id).await, stack.opts.price);
    let worker = settler(&op, "w1", 0);
    assert_eq!(
        worker.run_once().await.unwrap(),
        vec![JobOutcome::Retry {
            reason: "the charge has not landed yet".into()
        }]
    );
    assert_eq!(only_transfer(&agent).await["status"], "pending");

    stack.ledger.expire_blockhash().await.unwrap();
    let reason = "the charge's transaction did not land before its blockhash expired";
    assert_eq!(
        worker.run_once().await.unwrap(),
        vec![JobOutcome::Failed {
            reason: reason.into()
        }]
    );
    let t = only_transfer(&agent).await;
    assert_eq!(
        (t["status"].as_str(), t["rejection_reason"].as_str()),
        (Some("failed"), Some(reason))
    );
    assert_eq!(
        spent(&op, &id).await,
        0,
        "the day's counter gave the amount back"
    );
    assert_eq!(events(&op, EventType::TransferFailed).await, 1);
    assert_eq!(worker.run_once().await.unwrap(), vec![]);
}
