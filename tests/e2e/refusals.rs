//! Refusals: each returns the spec's problem type and status, and nothing is recorded as paid.

use std::sync::Arc;

use mpp::{B64Json, ClientMethod, Credential};
use mppsol_client::{ChargeMode, SolanaChargeClient};
use mppsol_e2e::{Asset, Backend, StackOptions, TestStack, challenge, present};
use mppsol_ledger::{Commitment, Ledger};
use mppsol_server::PushBinding;
use mppsol_solana::charge::build::{BuildOptions, build_charge_transaction, sign_partial};
use mppsol_solana::charge::payload::ChargePayload;
use mppsol_solana::charge::request::ChargeRequest;
use mppsol_solana::network::Network;
use solana_signer::Signer;

fn payer(stack: &TestStack, mode: ChargeMode) -> SolanaChargeClient {
    let ledger: Arc<dyn Ledger> = Arc::new(stack.ledger.clone());
    SolanaChargeClient::new(stack.agent.clone(), ledger, Network::Localnet).with_mode(mode)
}

fn problem_type(body: &serde_json::Value) -> &str {
    body["type"]
        .as_str()
        .and_then(|t| t.strip_prefix("https://paymentauth.org/problems/"))
        .unwrap_or("")
}

async fn nothing_paid(stack: &TestStack) {
    assert!(
        stack
            .server_store
            .list_payments(10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// A transaction for `req` signed by the agent (the caller edits `req` first).
async fn credential_for(stack: &TestStack, ch: &mpp::Challenge, req: &ChargeRequest) -> Credential {
    let bh = stack.ledger.latest_blockhash().await.unwrap().blockhash;
    let mut opts = BuildOptions::new(bh);
    opts.token_program = stack
        .mint
        .as_ref()
        .and_then(|m| mppsol_solana::token::TokenProgram::from_id(&m.token_program));
    let mut tx = build_charge_transaction(req, &stack.agent.pubkey(), &opts).unwrap();
    sign_partial(&mut tx, stack.agent.as_ref()).unwrap();
    Credential::new(
        ch.clone(),
        ChargePayload::from_transaction(&tx).unwrap().to_json(),
    )
}

fn request_of(ch: &mpp::Challenge) -> ChargeRequest {
    ChargeRequest::from_json(ch.request_value()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_credential_twice_pays_once_and_returns_the_same_receipt() {
    let stack = TestStack::spawn(StackOptions::new(Backend::Sqlite, Asset::Usdc)).await;
    let url = format!("{}/paid", stack.base_url);
    let ch = challenge(&url).await;
    let cred = payer(&stack, ChargeMode::Pull)
        .create_credential(&ch)
        .await
        .unwrap();
    let before = stack.balance(&stack.agent.pubkey()).await;
    let (s1, _, r1) = present(&url, &cred).await;
    let (s2, _, r2) = present(&url, &cred).await;
    assert_eq!((s1, s2), (200, 200));
    assert_eq!(r1, r2, "the retry gets the original receipt");
    assert_eq!(
        before - stack.balance(&stack.agent.pubkey()).await,
        10_000,
        "paid once"
    );
    assert_eq!(stack.server_store.list_payments(10).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_credential_on_a_used_challenge_is_refused() {
    let stack = TestStack::spawn(StackOptions::new(Backend::Sqlite, Asset::Usdc)).await;
    let url = format!("{}/paid", stack.base_url);
    let ch = challenge(&url).await;
    let first = payer(&stack, ChargeMode::Pull)
        .create_credential(&ch)
        .await
        .unwrap();
    assert_eq!(present(&url, &first).await.0, 200);
    stack.ledger.expire_blockhash().await.unwrap();
    let second = credential_for(&stack, &ch, &request_of(&ch)).await;
    let (status, body, receipt) = present(&url, &second).await;
    assert_eq!((status, problem_type(&body)), (402, "invalid-challenge"));
    assert_eq!(receipt, None);
    assert_eq!(stack.server_store.list_payments(10).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_challenge_is_refused() {
    let opts = StackOptions::new(Backend::Sqlite, Asset::Usdc);
    let clock = opts.clock.clone();
    let stack = TestStack::spawn(opts).await;
    let url = format!("{}/paid", stack.base_url);
    let ch = challenge(&url).await;
    let cred = payer(&stack, ChargeMode::Pull)
        .create_credential(&ch)
        .await
        .unwrap();
    clock.advance(3600);
    let (status, body, _) = present(&url, &cred).await;
    assert_eq!((status, problem_type(&body)), (402, "payment-expired"));
    nothing_paid(&stack).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_challenge_is_refused() {
    let stack = TestStack::spawn(StackOptions::new(Backend::Sqlite, Asset::Usdc)).await;
    let url = format!("{}/paid", stack.base_url);
    let mut ch = challenge(&url).await;
    let mut req = request_of(&ch);
    req.amount = mpp::Amount::new(1);
    ch.request = B64Json::encode(req.to_json()).unwrap();
    let cred = credential_for(&stack, &ch, &req).await;
    let (status, body, _) = present(&url, &cred).await;
    assert_eq!((status, problem_type(&body)), (402, "invalid-challenge"));
    nothing_paid(&stack).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn challenge_from_another_route_is_refused() {
    let stack = TestStack::spawn(StackOptions::new(Backend::Sqlite, Asset::Usdc)).await;
    let ch = challenge(&format!("{}/paid", stack.base_url)).await;
    let cred = payer(&stack, ChargeMode::Pull)
        .create_credential(&ch)
        .await
        .unwrap();
    let (status, body, _) = present(&format!("{}/other", stack.base_url), &cred).await;
    assert_eq!((status, problem_type(&body)), (402, "invalid-challenge"));
    nothing_paid(&stack).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_amount_recipient_or_mint_is_refused() {
    let stack = TestStack::spawn(StackOptions::new(Backend::Sqlite, Asset::Usdc)).await;
    let url = format!("{}/paid", stack.base_url);
    let variants: [fn(&mut ChargeRequest, &TestStack); 3] = [
        |r, _| r.amount = mpp::Amount::new(r.amount.get() - 1),
        |r, _| r.recipient = mppsol_e2e::key(99).pubkey(),
        |r, s| r.currency = s.ledger.dev_mints().usdc_2022.address.to_string(),
    ];
    for (i, edit) in variants.iter().enumerate() {
        let ch = challenge(&url).await;
        let mut req = request_of(&ch);
        edit(&mut req, &stack);
        if i == 2 {
            req.method_details.token_program = None;
        }
        let cred = credential_for(&stack, &ch, &req).await;
        let (status, body, _) = present(&url, &cred).await;
        assert_eq!(
            (status, problem_type(&body)),
            (402, "verification-failed"),
            "variant {i}: {body}"
        );
    }
    nothing_paid(&stack).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fee_payer_drain_is_refused_and_costs_the_server_nothing() {
    let mut opts = StackOptions::new(Backend::Sqlite, Asset::Sol);
    opts.price = 2_000_000;
    let stack = TestStack::spawn(opts).await;
    let url = format!("{}/paid", stack.base_url);
    let ch = challenge(&url).await;
    let req = request_of(&ch);
    // The fee payer "pays" the merchant; the client signs nothing.
    let ix = solana_system_interface_transfer(&stack.fee_payer.pubkey(), &req.recipient, 2_000_000);
    let bh = stack.ledger.latest_blockhash().await.unwrap().blockhash;
    let msg =
        solana_message::Message::new_with_blockhash(&[ix], Some(&stack.fee_payer.pubkey()), &bh);
    let tx = solana_transaction::versioned::VersionedTransaction {
        signatures: vec![Default::default(); 1],
        message: solana_message::VersionedMessage::Legacy(msg),
    };
    let cred = Credential::new(ch, ChargePayload::from_transaction(&tx).unwrap().to_json());
    let before = stack
        .ledger
        .balance(&stack.fee_payer.pubkey())
        .await
        .unwrap();
    let (status, body, _) = present(&url, &cred).await;
    assert_eq!((status, problem_type(&body)), (402, "verification-failed"));
    assert!(
        body["detail"].as_str().unwrap().contains("fee payer"),
        "{body}"
    );
    assert_eq!(
        stack
            .ledger
            .balance(&stack.fee_payer.pubkey())
            .await
            .unwrap(),
        before
    );
    nothing_paid(&stack).await;
}

fn solana_system_interface_transfer(
    from: &solana_address::Address,
    to: &solana_address::Address,
    lamports: u64,
) -> solana_instruction::Instruction {
    let mut data = vec![2, 0, 0, 0];
    data.extend_from_slice(&lamports.to_le_bytes());
    solana_instruction::Instruction {
        program_id: mppsol_solana::token::SYSTEM_PROGRAM,
        accounts: vec![
            solana_instruction::AccountMeta::new(*from, true),
            solana_instruction::AccountMeta::new(*to, false),
        ],
        data,
    }
}

/// The agent's own transfer for a challenge's terms, sent and confirmed, without our reference.
async fn unmarked_push(stack: &TestStack, ch: &mpp::Challenge) -> solana_signature::Signature {
    let mut req = request_of(ch);
    req.method_details.reference = None;
    let cred = credential_for(stack, ch, &req).await;
    let tx = mppsol_solana::charge::payload::decode_transaction(
        cred.payload["transaction"].as_str().unwrap(),
    )
    .unwrap();
    let sig = stack.ledger.send(&tx).await.unwrap();
    stack
        .ledger
        .confirm(
            &sig,
            Commitment::Confirmed,
            std::time::Duration::from_secs(10),
        )
        .await
        .unwrap()
        .expect("landed");
    sig
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_without_the_reference_is_refused_by_default_and_accepted_in_spec_mode() {
    for (binding, expected) in [(PushBinding::Reference, 402), (PushBinding::Spec, 200)] {
        let mut opts = StackOptions::new(Backend::Sqlite, Asset::Usdc);
        opts.sponsored = false;
        opts.push_binding = binding;
        let stack = TestStack::spawn(opts).await;
        let url = format!("{}/paid", stack.base_url);
        let ch = challenge(&url).await;
        let sig = unmarked_push(&stack, &ch).await;
        let cred = Credential::new(ch, ChargePayload::from_signature(&sig).to_json());
        let (status, body, _) = present(&url, &cred).await;
        assert_eq!(status, expected, "{binding:?}: {body}");
        if expected == 402 {
            assert_eq!(problem_type(&body), "verification-failed");
            assert!(body["detail"].as_str().unwrap().contains("reference"));
            nothing_paid(&stack).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signature_pays_one_challenge_only() {
    let mut opts = StackOptions::new(Backend::Sqlite, Asset::Usdc);
    opts.sponsored = false;
    opts.push_binding = PushBinding::Spec;
    let stack = TestStack::spawn(opts).await;
    let url = format!("{}/paid", stack.base_url);
    let first = challenge(&url).await;
    let sig = unmarked_push(&stack, &first).await;
    let cred = Credential::new(first, ChargePayload::from_signature(&sig).to_json());
    assert_eq!(present(&url, &cred).await.0, 200);
    let second = challenge(&url).await;
    let replay = Credential::new(second, ChargePayload::from_signature(&sig).to_json());
    let (status, body, _) = present(&url, &replay).await;
    assert_eq!((status, problem_type(&body)), (402, "verification-failed"));
    assert!(
        body["detail"].as_str().unwrap().contains("consumed"),
        "{body}"
    );
    assert_eq!(stack.server_store.list_payments(10).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_presentations_on_two_instances_have_one_winner() {
    let mut opts = StackOptions::new(Backend::Postgres, Asset::Usdc);
    opts.sponsored = false;
    opts.push_binding = PushBinding::Spec;
    let stack = TestStack::spawn(opts).await;
    let second = stack.spawn_instance().await;
    let urls = [format!("{}/paid", stack.base_url), format!("{second}/paid")];
    let mut challenges = Vec::new();
    for i in 0..200 {
        challenges.push(challenge(&urls[i % 2]).await);
    }
    let sig = unmarked_push(&stack, &challenges[0]).await;
    let tasks = challenges.into_iter().enumerate().map(|(i, ch)| {
        let url = urls[i % 2].clone();
        async move {
            let cred = Credential::new(ch, ChargePayload::from_signature(&sig).to_json());
            present(&url, &cred).await.0
        }
    });
    let statuses = futures::future::join_all(tasks).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(statuses.iter().filter(|s| **s == 402).count(), 199);
    assert_eq!(
        stack.server_store.list_payments(500).await.unwrap().len(),
        1
    );
}
