//! The shapes a sponsored transaction could use to make the server's fee payer pay for more
//! than the fees, and a challenge presented on the wrong network: each refused over HTTP with
//! `verification-failed`, the fee payer's balance untouched and nothing recorded.

use std::sync::Arc;

use mpp::{ClientMethod, Credential};
use mppsol_client::{ChargeMode, SolanaChargeClient};
use mppsol_e2e::{Asset, Backend, StackOptions, TestStack, challenge, present};
use mppsol_ledger::Ledger;
use mppsol_solana::charge::build::{BuildOptions, build_charge_transaction, sign_partial};
use mppsol_solana::charge::payload::{ChargePayload, decode_transaction};
use mppsol_solana::charge::request::ChargeRequest;
use mppsol_solana::network::Network;
use solana_message::{VersionedMessage, v0};
use solana_signer::Signer;
use solana_transaction::versioned::VersionedTransaction;

fn problem(body: &serde_json::Value) -> &str {
    body["type"]
        .as_str()
        .and_then(|t| t.strip_prefix("https://paymentauth.org/problems/"))
        .unwrap_or("")
}

/// Presents a credential carrying `tx` and checks the refusal leaves no trace.
async fn refused(
    stack: &TestStack,
    url: &str,
    ch: mpp::Challenge,
    tx: &VersionedTransaction,
    why: &str,
) {
    let fee_payer_before = stack
        .ledger
        .balance(&stack.fee_payer.pubkey())
        .await
        .unwrap();
    let cred = Credential::new(ch, ChargePayload::from_transaction(tx).unwrap().to_json());
    let (status, body, receipt) = present(url, &cred).await;
    assert_eq!(
        (status, problem(&body)),
        (402, "verification-failed"),
        "{why}: {body}"
    );
    assert_eq!(receipt, None, "{why}");
    assert_eq!(
        stack
            .ledger
            .balance(&stack.fee_payer.pubkey())
            .await
            .unwrap(),
        fee_payer_before,
        "{why}: the fee payer paid something"
    );
    assert!(
        stack
            .server_store
            .list_payments(10)
            .await
            .unwrap()
            .is_empty(),
        "{why}"
    );
}

async fn built(
    stack: &TestStack,
    req: &ChargeRequest,
    tweak: impl FnOnce(&mut BuildOptions),
) -> VersionedTransaction {
    let mut opts = BuildOptions::new(stack.ledger.latest_blockhash().await.unwrap().blockhash);
    opts.token_program = stack
        .mint
        .as_ref()
        .and_then(|m| mppsol_solana::token::TokenProgram::from_id(&m.token_program));
    tweak(&mut opts);
    let mut tx = build_charge_transaction(req, &stack.agent.pubkey(), &opts).unwrap();
    sign_partial(&mut tx, stack.agent.as_ref()).unwrap();
    tx
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sponsored_transaction_drain_shapes_are_refused() {
    let stack = TestStack::spawn(StackOptions::new(Backend::Sqlite, Asset::Usdc)).await;
    let url = format!("{}/paid", stack.base_url);

    // The client names itself fee payer although the challenge sponsors (fee payer not at 0).
    let ch = challenge(&url).await;
    let mut req = ChargeRequest::from_json(ch.request_value()).unwrap();
    req.method_details.fee_payer = false;
    req.method_details.fee_payer_key = None;
    let tx = built(&stack, &req, |_| {}).await;
    refused(&stack, &url, ch, &tx, "fee payer not the sponsor").await;

    // A priority fee above the server's cap, paid by the sponsor.
    let ch = challenge(&url).await;
    let req = ChargeRequest::from_json(ch.request_value()).unwrap();
    let tx = built(&stack, &req, |o| o.compute_unit_price = Some(50_000_000)).await;
    refused(&stack, &url, ch, &tx, "priority fee above the cap").await;

    // An extra instruction the challenge did not ask for (a second transfer to someone else).
    let ch = challenge(&url).await;
    let mut req = ChargeRequest::from_json(ch.request_value()).unwrap();
    req.method_details
        .splits
        .push(mppsol_solana::charge::request::Split {
            recipient: stack.agent.pubkey(),
            amount: mpp::Amount::new(1),
            memo: None,
            ata_creation_required: false,
        });
    req.amount = mpp::Amount::new(req.amount.get() + 1);
    let tx = built(&stack, &req, |_| {}).await;
    refused(&stack, &url, ch, &tx, "extra transfer").await;

    // An address lookup table, which could hide accounts from the checks.
    let ch = challenge(&url).await;
    let req = ChargeRequest::from_json(ch.request_value()).unwrap();
    let legacy = built(&stack, &req, |_| {}).await;
    let VersionedMessage::Legacy(m) = legacy.message.clone() else {
        unreachable!()
    };
    let mut tx = VersionedTransaction {
        signatures: legacy.signatures.clone(),
        message: VersionedMessage::V0(v0::Message {
            header: m.header,
            account_keys: m.account_keys,
            recent_blockhash: m.recent_blockhash,
            instructions: m.instructions,
            address_table_lookups: vec![v0::MessageAddressTableLookup {
                account_key: mppsol_e2e::key(77).pubkey(),
                writable_indexes: vec![0],
                readonly_indexes: vec![],
            }],
        }),
    };
    sign_partial(&mut tx, stack.agent.as_ref()).unwrap();
    refused(&stack, &url, ch, &tx, "lookup table").await;

    // Sanity: an honest transaction for the same route is paid (the refusals were not noise).
    let ch = challenge(&url).await;
    let ledger: Arc<dyn Ledger> = Arc::new(stack.ledger.clone());
    let honest = SolanaChargeClient::new(stack.agent.clone(), ledger, Network::Localnet)
        .with_mode(ChargeMode::Pull)
        .create_credential(&ch)
        .await
        .unwrap();
    let tx = decode_transaction(honest.payload["transaction"].as_str().unwrap()).unwrap();
    let (status, _, _) = present(
        &url,
        &Credential::new(ch, ChargePayload::from_transaction(&tx).unwrap().to_json()),
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn challenge_for_another_network_is_refused() {
    let stack = TestStack::spawn(StackOptions::new(Backend::Sqlite, Asset::Usdc)).await;
    // Same realm and secret, but this instance settles on devnet: a localnet challenge (and a
    // localnet transaction) must not unlock it.
    let devnet = stack.spawn_instance_on(Network::Devnet).await;
    let ch = challenge(&format!("{}/paid", stack.base_url)).await;
    let ledger: Arc<dyn Ledger> = Arc::new(stack.ledger.clone());
    let cred = SolanaChargeClient::new(stack.agent.clone(), ledger, Network::Localnet)
        .create_credential(&ch)
        .await
        .unwrap();
    let (status, body, _) = present(&format!("{devnet}/paid"), &cred).await;
    assert_eq!(
        (status, problem(&body)),
        (402, "verification-failed"),
        "{body}"
    );
    assert!(
        body["detail"].as_str().unwrap().contains("network"),
        "{body}"
    );
    assert!(
        stack
            .server_store
            .list_payments(10)
            .await
            .unwrap()
            .is_empty()
    );
}
