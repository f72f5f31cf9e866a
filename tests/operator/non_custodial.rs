//! Non-custodial accounts: the policy decides as for any transfer, the service offers the exact
//! transaction to sign, accepts back only that transaction signed by the account, and the
//! worker sends it on the crash-safe path; one that expires unsent waits for a new signature.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use mppsol_e2e::Backend;
use mppsol_ledger::Ledger as _;
use mppsol_operator::settlement::JobOutcome;
use reqwest::Method;
use serde_json::{Value, json};
use solana_address::Address;
use solana_keypair::Keypair;
use solana_message::{Message, VersionedMessage};
use solana_signer::Signer as _;
use solana_transaction::versioned::VersionedTransaction;

use crate::harness::{OpStack, address, call, transfer};
use crate::settlement::{settled_events, settler};

const SOL: u64 = 1_000_000_000;

/// A funded non-custodial account whose key the agent holds, and the agent's API client.
async fn own_key_account(s: &OpStack) -> (Keypair, String, mppsol_client::OperatorApi) {
    let key = Keypair::new();
    s.ledger.fund_sol(&key.pubkey(), SOL).await.unwrap();
    let a = s
        .account(
            json!({"handle": "self-signer", "custody_mode": "non_custodial",
            "address": key.pubkey().to_string(), "policy": {"max_single_transfer": "5000000"}}),
        )
        .await;
    let id = a["id"].as_str().unwrap().to_owned();
    let agent = s.agent_key(&id).await;
    (key, id, agent)
}

async fn submit(
    agent: &mppsol_client::OperatorApi,
    txn: &str,
    tx: &VersionedTransaction,
) -> (u16, Value) {
    let body = json!({"transaction": STANDARD.encode(bincode::serialize(tx).unwrap())});
    call(
        agent,
        Method::POST,
        &format!("/v1/transfers/{txn}/signed"),
        Some(body),
    )
    .await
}

fn decode(b64: &str) -> VersionedTransaction {
    bincode::deserialize(&STANDARD.decode(b64).unwrap()).unwrap()
}

pub async fn agent_signed_transfer_is_checked_then_settled_once(backend: Backend) {
    let s = OpStack::spawn(backend).await;
    let (key, id, agent) = own_key_account(&s).await;
    let to = address(61);

    // The policy decides first, as for custodial accounts.
    let (status, problem) = transfer(
        &agent,
        &id,
        "big",
        json!({"amount": "5000001", "counterparty": to}),
    )
    .await;
    assert_eq!(
        (status, problem["rule"].as_str()),
        (422, Some("max_single_transfer")),
        "{problem}"
    );

    let (status, t) = transfer(
        &agent,
        &id,
        "k1",
        json!({"amount": "2500000", "counterparty": to, "memo": "invoice 7"}),
    )
    .await;
    assert_eq!(
        (status, t["status"].as_str()),
        (201, Some("pending")),
        "{t}"
    );
    let txn = t["id"].as_str().unwrap().to_owned();
    let unsigned = t["unsigned_transaction"]
        .as_str()
        .expect("offered to sign")
        .to_owned();
    let offered = decode(&unsigned);
    assert_eq!(
        offered.message.static_account_keys()[0],
        key.pubkey(),
        "the account pays the fee"
    );
    let (_, replay) = transfer(
        &agent,
        &id,
        "k1",
        json!({"amount": "2500000", "counterparty": to, "memo": "invoice 7"}),
    )
    .await;
    assert_eq!(replay["id"], txn.as_str(), "idempotent");
    let worker = settler(&s, "w1", 0);
    assert_eq!(
        worker.run_once().await.unwrap(),
        vec![],
        "nothing to send before the signature"
    );

    // Refused with 422: unsigned, signed by another key, or another transfer.
    let (status, problem) = submit(&agent, &txn, &offered).await;
    assert_eq!(
        (status, problem["field"].as_str()),
        (422, Some("transaction")),
        "{problem}"
    );
    let mut forged = offered.clone();
    forged.signatures[0] = Keypair::new().sign_message(&offered.message.serialize());
    let (status, problem) = submit(&agent, &txn, &forged).await;
    assert_eq!(status, 422, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("signature"),
        "{problem}"
    );
    let blockhash = *offered.message.recent_blockhash();
    let other = Message::new_with_blockhash(
        &[solana_system_interface::instruction::transfer(
            &key.pubkey(),
            &to.parse::<Address>().unwrap(),
            2_500_001,
        )],
        Some(&key.pubkey()),
        &blockhash,
    );
    let other = VersionedTransaction::try_new(VersionedMessage::Legacy(other), &[&key]).unwrap();
    let (status, problem) = submit(&agent, &txn, &other).await;
    assert_eq!(status, 422, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("not this transfer"),
        "{problem}"
    );

    // The helper signs the offered transaction and submits it.
    let r = agent.sign_transfer(&txn, &unsigned, &key).await.unwrap();
    assert_eq!(r.status(), 202);
    let accepted: Value = r.json().await.unwrap();
    let signature = accepted["signature"].as_str().unwrap().to_owned();
    let again = agent.sign_transfer(&txn, &unsigned, &key).await.unwrap();
    assert_eq!(
        again.status(),
        409,
        "one transaction per transfer at a time"
    );
    let (_, got) = call(&agent, Method::GET, &format!("/v1/transfers/{txn}"), None).await;
    assert_eq!(
        got["unsigned_transaction"],
        Value::Null,
        "no longer waiting: {got}"
    );

    let before = s.ledger.balance(&to.parse().unwrap()).await.unwrap();
    assert_eq!(
        worker.run_once().await.unwrap(),
        vec![JobOutcome::Settled {
            signature: signature.clone()
        }]
    );
    assert_eq!(
        s.ledger.balance(&to.parse().unwrap()).await.unwrap() - before,
        2_500_000
    );
    let (_, got) = call(&agent, Method::GET, &format!("/v1/transfers/{txn}"), None).await;
    assert_eq!(
        (got["status"].as_str(), got["signature"].as_str()),
        (Some("settled"), Some(signature.as_str()))
    );
    assert_eq!(settled_events(&s).await, 1);
    assert_eq!(worker.run_once().await.unwrap(), vec![]);
    let (status, _) = submit(&agent, &txn, &other).await;
    assert_eq!(status, 409, "a settled transfer takes no transaction");

    // A custodial account's transfer is signed by the service.
    let c = s.custodial("vault", json!({})).await;
    let cid = c["id"].as_str().unwrap();
    s.ledger
        .fund_sol(&c["address"].as_str().unwrap().parse().unwrap(), SOL)
        .await
        .unwrap();
    let (status, ct) = transfer(
        &s.operator,
        cid,
        "c1",
        json!({"amount": "5", "counterparty": to}),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(ct["unsigned_transaction"], Value::Null);
    let (status, problem) = submit(&s.operator, ct["id"].as_str().unwrap(), &other).await;
    assert_eq!(status, 409, "{problem}");
}

pub async fn expired_agent_transaction_waits_for_a_new_signature(backend: Backend) {
    let s = OpStack::spawn(backend).await;
    let (key, id, agent) = own_key_account(&s).await;
    let to = address(62);
    let (_, t) = transfer(
        &agent,
        &id,
        "k1",
        json!({"amount": "1500000", "counterparty": to}),
    )
    .await;
    let txn = t["id"].as_str().unwrap().to_owned();
    let r = agent
        .sign_transfer(&txn, t["unsigned_transaction"].as_str().unwrap(), &key)
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let first: Value = r.json().await.unwrap();

    // Stored, never sent, and now it can never land.
    s.ledger.expire_blockhash().await.unwrap();
    let worker = settler(&s, "w1", 0);
    assert_eq!(
        worker.run_once().await.unwrap(),
        vec![JobOutcome::AwaitingSignature]
    );
    let (_, waiting) = call(&agent, Method::GET, &format!("/v1/transfers/{txn}"), None).await;
    assert_eq!(waiting["status"], "pending");
    let fresh = waiting["unsigned_transaction"]
        .as_str()
        .expect("a fresh one to sign");
    assert_ne!(
        decode(fresh).message.recent_blockhash(),
        decode(t["unsigned_transaction"].as_str().unwrap())
            .message
            .recent_blockhash()
    );
    assert_eq!(
        worker.run_once().await.unwrap(),
        vec![],
        "nothing to send meanwhile"
    );

    let r = agent.sign_transfer(&txn, fresh, &key).await.unwrap();
    assert_eq!(r.status(), 202);
    let second: Value = r.json().await.unwrap();
    assert_ne!(first["signature"], second["signature"]);
    let outcomes = worker.run_once().await.unwrap();
    assert_eq!(
        outcomes,
        vec![JobOutcome::Settled {
            signature: second["signature"].as_str().unwrap().to_owned()
        }]
    );
    assert_eq!(
        s.ledger.balance(&to.parse().unwrap()).await.unwrap(),
        1_500_000
    );
    assert_eq!(
        s.state
            .store()
            .settlement_signatures(&txn)
            .await
            .unwrap()
            .len(),
        2,
        "both transactions are on record"
    );
    assert_eq!(settled_events(&s).await, 1);
}

pub async fn agent_transaction_sent_before_a_crash_is_found_landed(backend: Backend) {
    let s = OpStack::spawn(backend).await;
    let (key, id, agent) = own_key_account(&s).await;
    let to = address(63);
    let (_, t) = transfer(
        &agent,
        &id,
        "k1",
        json!({"amount": "1200000", "counterparty": to}),
    )
    .await;
    let txn = t["id"].as_str().unwrap().to_owned();
    let offered = decode(t["unsigned_transaction"].as_str().unwrap());
    let signed = VersionedTransaction::try_new(offered.message, &[&key]).unwrap();
    let (status, accepted) = submit(&agent, &txn, &signed).await;
    assert_eq!(status, 202, "{accepted}");

    // A worker claims it, sends it, and dies before recording anything.
    let dead = settler(&s, "dead", 0);
    assert_eq!(dead.claim().await.unwrap().len(), 1);
    s.ledger.send(&signed).await.unwrap();

    // The next one, once the lease ran out, finds it landed and settles it.
    let next = settler(&s, "next", 60);
    assert_eq!(
        next.run_once().await.unwrap(),
        vec![JobOutcome::Settled {
            signature: signed.signatures[0].to_string()
        }]
    );
    assert_eq!(accepted["signature"], signed.signatures[0].to_string());
    assert_eq!(
        s.ledger.balance(&to.parse().unwrap()).await.unwrap(),
        1_200_000
    );
    assert_eq!(settled_events(&s).await, 1);
}
