//! Custodial accounts: keys sealed at rest, and an agent holding only an API key paying a
//! priced route of the real server stack through the operator.

use std::sync::Arc;

use base64::Engine as _;
use mpp::ClientMethod as _;
use mppsol_client::{OperatorSigner, PayingClient, SpendingPolicy};
use mppsol_e2e::{Asset, Backend, StackOptions, TestStack};
use mppsol_operator::MasterKey;
use mppsol_operator::crypto::account_key_context;
use mppsol_solana::network::Network;
use reqwest::Method;
use serde_json::json;
use solana_address::Address;
use solana_keypair::Keypair;
use solana_signer::Signer;
use sqlx::{Connection, Row};

use crate::harness::{MASTER, OpStack, call};

/// Every table of the database as text (PostgreSQL renders BYTEA as `\x` hex), or the raw
/// bytes of the SQLite file and its WAL.
async fn storage_bytes(s: &OpStack) -> Vec<u8> {
    match s.backend {
        Backend::Sqlite => {
            let mut all = Vec::new();
            for suffix in ["", "-wal"] {
                if let Ok(bytes) = std::fs::read(format!("{}{suffix}", s.location)) {
                    all.extend(bytes);
                }
            }
            all
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&s.location).await.unwrap();
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'",
            )
            .fetch_all(&mut c)
            .await
            .unwrap();
            let mut all = String::new();
            for t in tables {
                let dump: Option<String> = sqlx::query_scalar(&format!(
                    r#"SELECT string_agg(row_to_json(x)::text, '') FROM "{t}" x"#
                ))
                .fetch_one(&mut c)
                .await
                .unwrap();
                all.push_str(&dump.unwrap_or_default());
            }
            all.into_bytes()
        }
    }
}

async fn sealed_key_of(s: &OpStack, account_id: &str) -> Vec<u8> {
    let sql = "SELECT sealed_key FROM accounts WHERE id = $1";
    match s.backend {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", s.location))
                .await
                .unwrap();
            sqlx::query(sql)
                .bind(account_id)
                .fetch_one(&mut c)
                .await
                .unwrap()
                .get(0)
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&s.location).await.unwrap();
            sqlx::query(sql)
                .bind(account_id)
                .fetch_one(&mut c)
                .await
                .unwrap()
                .get(0)
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

pub async fn custodial_keys_are_never_stored_in_plain_text(backend: Backend) {
    let s = OpStack::spawn(backend).await;
    let a = s.custodial("vault", json!({})).await;
    let (id, address) = (a["id"].as_str().unwrap(), a["address"].as_str().unwrap());
    let sealed = sealed_key_of(&s, id).await;
    let opened = MasterKey::from_bytes(&MASTER)
        .open(&sealed, &account_key_context(address))
        .expect("the master key opens it");
    let keypair = Keypair::try_from(opened.as_slice()).unwrap();
    assert_eq!(keypair.pubkey().to_string(), address);
    assert!(
        MasterKey::from_bytes(&[1; 32])
            .open(&sealed, &account_key_context(address))
            .is_err()
    );

    let stored = storage_bytes(&s).await;
    assert!(
        contains(&stored, address.as_bytes()),
        "the scan sees the account row"
    );
    let secret = keypair.secret_bytes();
    let forms: Vec<Vec<u8>> = vec![
        secret.to_vec(),
        keypair.to_bytes().to_vec(),
        hex_lower(secret).into_bytes(),
        bs58_of(&keypair.to_bytes()).into_bytes(),
        base64::engine::general_purpose::STANDARD
            .encode(secret)
            .into_bytes(),
        s.operator_key.secret.clone().into_bytes(),
    ];
    for form in forms {
        assert!(
            !contains(&stored, &form),
            "a secret is stored in plain text"
        );
    }
    // Never in the API either.
    let (_, got) = call(
        &s.operator,
        Method::GET,
        &format!("/v1/accounts/{id}"),
        None,
    )
    .await;
    assert!(!contains(
        got.to_string().as_bytes(),
        hex_lower(secret).as_bytes()
    ));
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn bs58_of(bytes: &[u8]) -> String {
    solana_signature::Signature::from(<[u8; 64]>::try_from(bytes).unwrap()).to_string()
}

/// The paid API, the operator on its ledger, and a funded custodial account with an agent key.
pub(crate) async fn paying_setup(
    backend: Backend,
    policy: serde_json::Value,
    fund: u64,
) -> (
    TestStack,
    OpStack,
    String,
    Address,
    mppsol_client::OperatorApi,
) {
    let stack = TestStack::spawn(StackOptions::new(backend, Asset::Sol)).await;
    let op = OpStack::spawn_on(backend, stack.ledger.clone()).await;
    let a = op.custodial("payer", policy).await;
    let id = a["id"].as_str().unwrap().to_owned();
    let address: Address = a["address"].as_str().unwrap().parse().unwrap();
    if fund > 0 {
        stack.ledger.fund_sol(&address, fund).await.unwrap();
    }
    let agent = op.agent_key(&id).await;
    (stack, op, id, address, agent)
}

pub async fn agent_with_only_an_api_key_pays_a_priced_route(backend: Backend) {
    let (stack, op, id, address, agent) = paying_setup(
        backend,
        json!({"max_single_transfer": "50000", "categories": ["api"], "require_memo": true}),
        1_000_000_000,
    )
    .await;
    let signer =
        OperatorSigner::new(agent.clone(), id.clone(), Network::Localnet).with_category("api");
    let client = PayingClient::new(
        reqwest::Client::new(),
        vec![Arc::new(signer)],
        SpendingPolicy::default(),
    );
    let recipient = stack.recipient.pubkey();
    let (before_payer, before_recipient) = (
        stack.balance(&address).await,
        stack.balance(&recipient).await,
    );

    let paid = client
        .get(&format!("{}/paid", stack.base_url))
        .await
        .expect("paid");
    assert_eq!(paid.response.status(), 200);
    let receipt = paid.receipt.expect("receipt");
    assert_eq!(receipt.status, "success");
    assert_eq!(
        stack.balance(&recipient).await - before_recipient,
        stack.opts.price
    );
    assert_eq!(
        before_payer - stack.balance(&address).await,
        stack.opts.price,
        "the server sponsored the fee"
    );

    let (status, list) = call(&agent, Method::GET, "/v1/transfers", None).await;
    assert_eq!(status, 200);
    let t = &list["data"][0];
    assert_eq!(t["kind"], "charge");
    assert_eq!(t["amount"], stack.opts.price.to_string());
    assert_eq!(t["counterparty"], recipient.to_string());
    assert_eq!(
        (t["category"].as_str(), t["memo"].as_str()),
        (Some("api"), Some("e2e.local"))
    );
    // Sponsored: the transaction id is the payee's fee-payer signature, unknown when signing.
    assert_eq!(t["signature"], serde_json::Value::Null);
    assert_eq!(t["status"], "pending");
    let txn = t["id"].as_str().unwrap().to_owned();
    let job = op.state.store().outbox_job(&txn).await.unwrap().unwrap();
    assert_eq!(
        (job.kind.as_str(), job.status.as_str()),
        ("confirm_charge", "pending")
    );

    // The agent reports the receipt: the charge settles with the landed signature.
    let report = json!({"receipt": mpp::format_payment_receipt(&receipt),
        "amount": stack.opts.price.to_string(), "counterparty": recipient.to_string()});
    let (status, settled) = call(
        &agent,
        Method::POST,
        &format!("/v1/accounts/{id}/receipts"),
        Some(report.clone()),
    )
    .await;
    assert_eq!(status, 200, "{settled}");
    assert_eq!(settled["id"], txn.as_str());
    assert_eq!(settled["status"], "settled");
    assert_eq!(settled["signature"], receipt.reference.as_str());
    let (status, again) = call(
        &agent,
        Method::POST,
        &format!("/v1/accounts/{id}/receipts"),
        Some(report),
    )
    .await;
    assert_eq!(
        (status, &again),
        (200, &settled),
        "reporting twice changes nothing"
    );
    let job = op.state.store().outbox_job(&txn).await.unwrap().unwrap();
    assert_eq!(job.status, "done");
    let (_, events) = call(
        &op.operator,
        Method::GET,
        "/v1/events?type=transfer.settled",
        None,
    )
    .await;
    assert_eq!(events["data"].as_array().unwrap().len(), 1);

    // The same challenge is never signed twice.
    let challenge = paid.paid_challenge.unwrap();
    let again = OperatorSigner::new(agent, id, Network::Localnet)
        .create_credential(&challenge)
        .await
        .expect_err("second signature for one challenge");
    assert!(again.detail.contains("409"), "{}", again.detail);
}

pub async fn custodial_signing_checks_balance_and_policy_first(backend: Backend) {
    let (stack, op, id, address, agent) =
        paying_setup(backend, json!({"max_single_transfer": "5000"}), 0).await;
    let url = format!("{}/paid", stack.base_url);
    let www = mpp::format_www_authenticate(&mppsol_e2e::challenge(&url).await).unwrap();
    let path = format!("/v1/accounts/{id}/credentials");
    let body = json!({"www_authenticate": [www], "request_url": url});

    let (status, problem) = call(&agent, Method::POST, &path, Some(body.clone())).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["type"], "urn:mppsol:problem:insufficient-balance");
    let (_, none) = call(&agent, Method::GET, "/v1/transfers", None).await;
    assert_eq!(
        none["data"],
        json!([]),
        "nothing recorded before the balance is there"
    );

    stack
        .ledger
        .fund_sol(&address, 1_000_000_000)
        .await
        .unwrap();
    let (status, problem) = call(&agent, Method::POST, &path, Some(body)).await;
    assert_eq!(
        (status, problem["rule"].as_str()),
        (422, Some("max_single_transfer")),
        "{problem}"
    );
    let (_, events) = call(
        &op.operator,
        Method::GET,
        "/v1/events?type=policy.violation",
        None,
    )
    .await;
    assert_eq!(events["data"][0]["payload"]["rule"], "max_single_transfer");

    let (status, problem) = call(
        &agent,
        Method::POST,
        &path,
        Some(json!({"www_authenticate": ["Basic realm=x"]})),
    )
    .await;
    assert_eq!(
        (status, problem["field"].as_str()),
        (422, Some("www_authenticate")),
        "{problem}"
    );
    let other = op
        .account(json!({"handle": "own-key", "custody_mode": "non_custodial", "address": crate::harness::address(40)}))
        .await;
    let (status, problem) = call(
        &op.operator,
        Method::POST,
        &format!("/v1/accounts/{}/credentials", other["id"].as_str().unwrap()),
        Some(json!({"www_authenticate": ["Payment id=\"x\""]})),
    )
    .await;
    assert_eq!(
        (status, problem["field"].as_str()),
        (422, Some("account")),
        "{problem}"
    );
    assert_eq!(
        stack.balance(&address).await,
        1_000_000_000,
        "nothing was paid"
    );
}

pub async fn escalated_charge_is_signed_once_after_approval(backend: Backend) {
    let (stack, op, id, address, agent) = paying_setup(
        backend,
        json!({"escalation_threshold": "5000"}),
        1_000_000_000,
    )
    .await;
    let url = format!("{}/paid", stack.base_url);
    let challenge = mppsol_e2e::challenge(&url).await;
    let www = mpp::format_www_authenticate(&challenge).unwrap();
    let path = format!("/v1/accounts/{id}/credentials");
    let body = json!({"www_authenticate": [www]});

    let (status, waiting) = call(&agent, Method::POST, &path, Some(body.clone())).await;
    assert_eq!(status, 202, "{waiting}");
    assert_eq!(waiting["transfer"]["status"], "pending_approval");
    assert!(waiting.get("authorization").is_none());
    let txn = waiting["transfer"]["id"].as_str().unwrap();
    let (status, again) = call(&agent, Method::POST, &path, Some(body.clone())).await;
    assert_eq!(status, 202, "still waiting: {again}");

    let approve = format!("/v1/transfers/{txn}/approve");
    let (status, _) = call(&op.operator, Method::POST, &approve, None).await;
    assert_eq!(status, 200);
    let (status, signed) = call(&agent, Method::POST, &path, Some(body.clone())).await;
    assert_eq!(status, 200, "{signed}");
    assert_eq!(signed["transfer"]["id"], txn);
    let authorization = signed["authorization"].as_str().unwrap();
    let (status, again) = call(&agent, Method::POST, &path, Some(body)).await;
    assert_eq!(status, 409, "signed once: {again}");

    let credential = mpp::parse_authorization(authorization).unwrap();
    let before = stack.balance(&address).await;
    let (status, _, receipt) = mppsol_e2e::present(&url, &credential).await;
    assert_eq!(status, 200);
    assert!(receipt.is_some());
    assert_eq!(before - stack.balance(&address).await, stack.opts.price);
}
