//! Policy wallets and program payments (`docs/005-policy-wallets.md`): an agent pays from its
//! policy wallet by pull and push; its on-chain policy refuses what its host policy let
//! through; a program (the example vault) pays through the payments program and a keeper
//! presents the signature.

use std::sync::Arc;

use mppsol_client::{
    ChargeMode, PayError, PayingClient, PolicyRule, PolicyWallet, SolanaChargeClient,
    SpendingPolicy,
};
use mppsol_e2e::{Asset, Backend, StackOptions, TestStack, challenge, key, present};
use mppsol_ledger::Ledger;
use mppsol_ledger::embedded::EmbeddedLedger;
use mppsol_solana::charge::payload::ChargePayload;
use mppsol_solana::network::Network;
use mppsol_solana::policy::ix::{self, WalletKeys};
use mppsol_solana::policy::state::CategorySet;
use mppsol_solana::policy::{
    Counterparties, DEV_EXAMPLE_VAULT_PROGRAM_ID as VAULT, DEV_PAYMENTS_PROGRAM_ID as PAYMENTS,
    DEV_POLICY_PROGRAM_ID as POLICY, PaymentReceipt, PolicyConfig, PolicyErrorCode, WalletState,
    challenge_hash, example_vault_authority, find_receipt_address,
};
use mppsol_solana::token::{TokenProgram, associated_token_address};
use solana_address::Address;
use solana_instruction::Instruction;
use solana_keypair::Keypair;
use solana_message::{Message, VersionedMessage};
use solana_signature::Signature;
use solana_signer::Signer;
use solana_transaction::versioned::VersionedTransaction;

fn policy(max_single: u64) -> PolicyConfig {
    PolicyConfig {
        max_single,
        max_daily: 1_000_000,
        escalation_threshold: u64::MAX,
        require_memo: false,
        counterparties: Counterparties::Any,
        categories: CategorySet::all(),
        channel_program: Some(mppsol_solana::channel::DEV_CHANNEL_PROGRAM_ID),
        payments_program: Some(PAYMENTS),
    }
}

async fn send(ledger: &EmbeddedLedger, ixs: &[Instruction], signers: &[&Keypair]) -> Signature {
    let blockhash = ledger.latest_blockhash().await.unwrap().blockhash;
    let msg = Message::new_with_blockhash(ixs, Some(&signers[0].pubkey()), &blockhash);
    let tx = VersionedTransaction::try_new(VersionedMessage::Legacy(msg), signers).unwrap();
    ledger.send(&tx).await.unwrap()
}

/// Creates `agent`'s wallet owned by `key(owner_seed)` with `max_single`, funds its vault with
/// 100_000 of `mint`; returns the keys and the vault.
async fn create_wallet(
    ledger: &EmbeddedLedger,
    owner_seed: u8,
    agent: Address,
    mint: Address,
    max_single: u64,
) -> (WalletKeys, Address) {
    let owner = key(owner_seed);
    ledger
        .fund_sol(&owner.pubkey(), 1_000_000_000)
        .await
        .unwrap();
    let k = WalletKeys {
        program: POLICY,
        owner: owner.pubkey(),
        agent,
    };
    send(
        ledger,
        &[ix::create_wallet(&k, &policy(max_single)).unwrap()],
        &[&owner],
    )
    .await;
    let vault = ledger
        .mint_tokens(&mint, &k.wallet(), 100_000)
        .await
        .unwrap();
    assert_eq!(vault, k.vault(&mint, TokenProgram::Token));
    (k, vault)
}

/// The charge agent's wallet (owner `key(40)`); returns (owner, wallet, vault).
async fn wallet(stack: &TestStack, max_single: u64) -> (Address, Address, Address) {
    let mint = stack.mint.as_ref().unwrap().address;
    let (k, vault) = create_wallet(&stack.ledger, 40, stack.agent.pubkey(), mint, max_single).await;
    (k.owner, k.wallet(), vault)
}

fn wallet_method(stack: &TestStack, owner: Address, mode: ChargeMode) -> SolanaChargeClient {
    SolanaChargeClient::new(
        stack.agent.clone(),
        Arc::new(stack.ledger.clone()),
        Network::Localnet,
    )
    .with_mode(mode)
    .with_policy_wallet(PolicyWallet::new(POLICY, PAYMENTS, owner))
}

/// The host-side policy is off on purpose: only the on-chain policy stands.
fn client_without_host_policy(method: SolanaChargeClient) -> PayingClient {
    PayingClient::new(
        reqwest::Client::new(),
        vec![Arc::new(method)],
        SpendingPolicy::default(),
    )
}

/// The paying client's typed denial naming the on-chain rule.
fn assert_over_single_limit(err: &PayError) {
    assert!(
        matches!(
            err,
            PayError::PolicyDenied {
                rule: PolicyRule::OnChain(PolicyErrorCode::OverSingleLimit)
            }
        ),
        "{err:?}"
    );
}

async fn token_balance(ledger: &EmbeddedLedger, account: &Address) -> u64 {
    ledger
        .token_balance(account)
        .await
        .unwrap()
        .map_or(0, |t| t.amount)
}

async fn pays_from_the_wallet(sponsored: bool, mode: ChargeMode) {
    let mut opts = StackOptions::new(Backend::Sqlite, Asset::Usdc);
    opts.sponsored = sponsored;
    let stack = TestStack::spawn(opts).await;
    let (owner, wallet, vault) = wallet(&stack, 50_000).await;
    let recipient = stack.recipient.pubkey();
    let agent_tokens = stack.balance(&stack.agent.pubkey()).await;
    let before = stack.balance(&recipient).await;

    let paid = client_without_host_policy(wallet_method(&stack, owner, mode))
        .get(&format!("{}/paid", stack.base_url))
        .await
        .expect("paid from the policy wallet");
    assert_eq!(paid.response.status(), 200);
    let challenge = paid.paid_challenge.expect("paid challenge");
    assert_eq!(stack.balance(&recipient).await - before, 10_000);
    assert_eq!(token_balance(&stack.ledger, &vault).await, 90_000);
    assert_eq!(
        stack.balance(&stack.agent.pubkey()).await,
        agent_tokens,
        "the agent's own tokens are untouched"
    );
    let receipt = stack
        .ledger
        .get_account(&find_receipt_address(&PAYMENTS, &challenge_hash(&challenge.id)).0)
        .await
        .unwrap()
        .expect("receipt account");
    let r = PaymentReceipt::decode(&receipt.data).unwrap();
    assert_eq!(r.payer, wallet);
    assert_eq!(r.amount, 10_000);
    let state = stack.ledger.get_account(&wallet).await.unwrap().unwrap();
    assert_eq!(
        WalletState::decode(&state.data).unwrap().spent_today,
        10_000
    );
}

#[test]
fn the_ledger_loads_the_programs_at_the_interface_crate_ids() {
    use mppsol_ledger::programs as p;
    assert_eq!(p::DEV_POLICY_PROGRAM_ID, POLICY);
    assert_eq!(p::DEV_PAYMENTS_PROGRAM_ID, PAYMENTS);
    assert_eq!(p::DEV_EXAMPLE_VAULT_PROGRAM_ID, VAULT);
}

#[tokio::test]
async fn agent_pays_a_sponsored_charge_from_its_policy_wallet() {
    pays_from_the_wallet(true, ChargeMode::Pull).await;
}

#[tokio::test]
async fn agent_pushes_a_charge_from_its_policy_wallet() {
    pays_from_the_wallet(false, ChargeMode::Push).await;
}

#[tokio::test]
async fn nonces_continue_from_the_chain_not_from_the_clock() {
    let mut opts = StackOptions::new(Backend::Sqlite, Asset::Usdc);
    opts.sponsored = false;
    let stack = TestStack::spawn(opts).await;
    let (owner, wallet, _) = wallet(&stack, 50_000).await;
    // An earlier run (or another process of this agent) used a nonce far beyond the clock.
    let far = u64::MAX / 2;
    let k = WalletKeys {
        program: POLICY,
        owner,
        agent: stack.agent.pubkey(),
    };
    let mint = stack.mint.as_ref().unwrap().address;
    let earlier = ix::pay_with_receipt(
        &k,
        &ix::Payment {
            recipient: stack.recipient.pubkey(),
            mint,
            token_program: TokenProgram::Token,
            amount: 1_000,
            nonce: far,
            category: 0,
            memo: Vec::new(),
            owner_signs: false,
        },
        &PAYMENTS,
        &challenge_hash("an earlier payment"),
    );
    send(&stack.ledger, &[earlier], &[stack.agent.as_ref()]).await;
    let paid = client_without_host_policy(wallet_method(&stack, owner, ChargeMode::Push))
        .get(&format!("{}/paid", stack.base_url))
        .await
        .expect("paid with a nonce above the chain's");
    assert_eq!(paid.response.status(), 200);
    let state = stack.ledger.get_account(&wallet).await.unwrap().unwrap();
    assert_eq!(
        WalletState::decode(&state.data).unwrap().last_nonce,
        far + 1
    );
}

#[tokio::test]
async fn on_chain_policy_refuses_what_the_host_policy_let_through() {
    let stack = TestStack::spawn(StackOptions::new(Backend::Sqlite, Asset::Usdc)).await;
    // The route asks 10_000; the wallet allows 5_000 per payment.
    let (owner, _, vault) = wallet(&stack, 5_000).await;
    let recipient = stack.recipient.pubkey();
    let before = stack.balance(&recipient).await;
    let url = format!("{}/paid", stack.base_url);

    // The server's answer, seen raw: 402 naming the on-chain rule.
    let c = challenge(&url).await;
    let credential =
        mpp::ClientMethod::create_credential(&wallet_method(&stack, owner, ChargeMode::Pull), &c)
            .await
            .expect("the client signs (its host policy is off)");
    let (status, body, receipt) = present(&url, &credential).await;
    assert_eq!(status, 402);
    assert!(receipt.is_none());
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("OverSingleLimit (6103)"), "{body}");
    assert!(
        body["type"]
            .as_str()
            .unwrap_or_default()
            .ends_with("verification-failed"),
        "{body}"
    );

    // The paying client reports it as a typed denial.
    let err = client_without_host_policy(wallet_method(&stack, owner, ChargeMode::Pull))
        .get(&url)
        .await
        .expect_err("refused on chain");
    assert_over_single_limit(&err);
    assert_eq!(stack.balance(&recipient).await, before, "nothing was paid");
    assert_eq!(token_balance(&stack.ledger, &vault).await, 100_000);
    assert!(
        stack
            .server_store
            .list_payments(10)
            .await
            .unwrap()
            .is_empty(),
        "the server recorded no payment"
    );
}

#[tokio::test]
async fn push_client_names_the_on_chain_rule_itself() {
    let mut opts = StackOptions::new(Backend::Sqlite, Asset::Usdc);
    opts.sponsored = false;
    let stack = TestStack::spawn(opts).await;
    let (owner, _, vault) = wallet(&stack, 5_000).await;
    let err = client_without_host_policy(wallet_method(&stack, owner, ChargeMode::Push))
        .get(&format!("{}/paid", stack.base_url))
        .await
        .expect_err("refused on chain");
    assert_over_single_limit(&err);
    assert_eq!(token_balance(&stack.ledger, &vault).await, 100_000);
}

#[tokio::test]
async fn example_vault_pays_by_cpi_and_a_keeper_presents_it_once() {
    let mut opts = StackOptions::new(Backend::Sqlite, Asset::Usdc);
    opts.sponsored = false;
    let stack = TestStack::spawn(opts).await;
    let keeper = key(41);
    stack
        .ledger
        .fund_sol(&keeper.pubkey(), 1_000_000_000)
        .await
        .unwrap();
    let mint = stack.mint.as_ref().unwrap().address;
    let authority = example_vault_authority(&VAULT, &keeper.pubkey(), &PAYMENTS);
    let vault = stack
        .ledger
        .mint_tokens(&mint, &authority, 50_000)
        .await
        .unwrap();
    let recipient = stack.recipient.pubkey();
    let before = stack.balance(&recipient).await;
    let url = format!("{}/paid", stack.base_url);

    let first = challenge(&url).await;
    let buy = ix::example_buy_quote(&ix::ExampleQuote {
        program: VAULT,
        payments_program: PAYMENTS,
        owner: keeper.pubkey(),
        rent_payer: keeper.pubkey(),
        oracle: recipient,
        mint,
        token_program: TokenProgram::Token,
        amount: 10_000,
        challenge_hash: challenge_hash(&first.id),
    });
    let sig = send(&stack.ledger, &[buy], &[&keeper]).await;
    stack
        .ledger
        .confirm(
            &sig,
            mppsol_ledger::Commitment::Confirmed,
            std::time::Duration::from_secs(10),
        )
        .await
        .unwrap()
        .expect("landed");
    let payload = ChargePayload::from_signature(&sig).to_json();

    let (status, body, receipt) =
        present(&url, &mpp::Credential::new(first.clone(), payload.clone())).await;
    assert_eq!(status, 200, "{body}");
    assert!(receipt.is_some());
    assert_eq!(stack.balance(&recipient).await - before, 10_000);
    assert_eq!(token_balance(&stack.ledger, &vault).await, 40_000);
    assert_eq!(
        associated_token_address(&recipient, &mint, TokenProgram::Token),
        PaymentReceipt::decode(
            &stack
                .ledger
                .get_account(&find_receipt_address(&PAYMENTS, &challenge_hash(&first.id)).0)
                .await
                .unwrap()
                .unwrap()
                .data
        )
        .unwrap()
        .destination
    );

    // The same on-chain payment for another challenge: refused.
    let second = challenge(&url).await;
    let (status, body, receipt) = present(&url, &mpp::Credential::new(second, payload)).await;
    assert_eq!(status, 402, "{body}");
    assert!(receipt.is_none());
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("consumed"),
        "{body}"
    );
}

mod session {
    use super::*;
    use mppsol_client::SolanaSessionClient;
    use mppsol_e2e::session::SessionStack;

    const PRICE: u64 = 1_000;
    const DEPOSIT: u64 = 20_000;

    /// The session agent's wallet (owner `key(42)`), vault funded with 100_000.
    async fn session_wallet(stack: &SessionStack, max_single: u64) -> (Address, WalletKeys) {
        let (k, vault) = create_wallet(
            &stack.ledger,
            42,
            stack.agent.pubkey(),
            stack.mint.address,
            max_single,
        )
        .await;
        (vault, k)
    }

    fn client(stack: &SessionStack, owner: Address) -> PayingClient {
        let mut c = SolanaSessionClient::new(
            stack.agent.clone(),
            Arc::new(stack.ledger.clone()),
            stack.agent_store.clone(),
            Network::Localnet,
            DEPOSIT,
        )
        .with_policy_wallet(PolicyWallet::new(POLICY, PAYMENTS, owner));
        c.expected_programs = vec![mppsol_solana::channel::DEV_CHANNEL_PROGRAM_ID];
        PayingClient::new(
            reqwest::Client::new(),
            vec![Arc::new(c)],
            SpendingPolicy::default(),
        )
    }

    async fn balance(stack: &SessionStack, account: &Address) -> u64 {
        token_balance(&stack.ledger, account).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn policy_wallet_funds_a_session_tops_it_up_and_gets_the_refund() {
        let stack = SessionStack::spawn(Backend::Sqlite, PRICE, DEPOSIT).await;
        let (vault, k) = session_wallet(&stack, 50_000).await;
        let server = stack.instance().await;
        let client = client(&stack, k.owner);
        let agent_tokens = stack.token_balance(&stack.agent.pubkey()).await;
        let payee_before = stack.token_balance(&stack.payee.pubkey()).await;
        // 30 requests at 1_000 from a 20_000 deposit: one topUpChannel on the way.
        for i in 1..=30u64 {
            let r = client.get(&server.url).await.unwrap();
            assert_eq!(r.response.status(), 200, "request {i}");
        }
        let state = stack
            .ledger
            .get_account(&k.wallet())
            .await
            .unwrap()
            .unwrap();
        let spent = WalletState::decode(&state.data).unwrap().spent_today;
        assert!(
            spent > DEPOSIT,
            "the top-up went through the policy too: {spent}"
        );
        assert_eq!(balance(&stack, &vault).await, 100_000 - spent);
        let closed = client.close_session(&server.url).await.unwrap();
        assert!(closed.receipt.is_some());
        assert_eq!(
            balance(&stack, &vault).await,
            100_000 - 30 * PRICE,
            "the unspent deposit went back to the wallet's vault"
        );
        assert_eq!(
            stack.token_balance(&stack.payee.pubkey()).await,
            payee_before + 30 * PRICE
        );
        assert_eq!(
            stack.token_balance(&stack.agent.pubkey()).await,
            agent_tokens,
            "the agent's own tokens are untouched"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn over_limit_deposit_is_refused_on_chain_and_named() {
        let stack = SessionStack::spawn(Backend::Sqlite, PRICE, DEPOSIT).await;
        // The deposit (20_000) is above the wallet's single-payment limit.
        let (vault, k) = session_wallet(&stack, 5_000).await;
        let server = stack.instance().await;
        let err = client(&stack, k.owner)
            .get(&server.url)
            .await
            .expect_err("refused on chain");
        assert_over_single_limit(&err);
        assert_eq!(balance(&stack, &vault).await, 100_000);
    }
}
