//! Sessions end to end: a channel opened from the agent's first 402, 1,000 paid requests by
//! voucher, a cooperative close — two transactions on chain; a forced close answered by the
//! watchtower; a server crash between persisting a voucher and responding; concurrent vouchers
//! across two instances on one PostgreSQL.

use std::sync::Arc;
use std::time::Duration;

use mpp::{Challenge, Credential, format_authorization};
use mppsol_e2e::Backend;
use mppsol_e2e::session::SessionStack;
use mppsol_ledger::Ledger;
use mppsol_server::solana_session::watch::{self, WatchConfig};
use mppsol_solana::channel::{ChannelState, ChannelStatus, DEV_CHANNEL_PROGRAM_ID, ix};
use mppsol_solana::session::{SessionPayload, VoucherAction, VoucherData};
use mppsol_store::SessionStatus;
use solana_address::Address;
use solana_message::{Message, VersionedMessage};
use solana_signer::Signer;
use solana_transaction::versioned::VersionedTransaction;

const PRICE: u64 = 1_000;
const DEPOSIT: u64 = 2_000_000;

async fn thousand_requests_settle_in_two_transactions(backend: Backend) {
    let stack = SessionStack::spawn(backend, PRICE, DEPOSIT).await;
    let server = stack.instance().await;
    let (client, session) = stack.client();
    let agent = stack.agent.pubkey();
    let payee = stack.payee.pubkey();
    let (agent_before, payee_before) = (
        stack.token_balance(&agent).await,
        stack.token_balance(&payee).await,
    );
    let slot_before = stack.ledger.slot().await.unwrap();
    for i in 1..=1_000u64 {
        let r = client.get(&server.url).await.unwrap();
        assert_eq!(r.response.status(), 200, "request {i}");
        let receipt = r.receipt.expect("receipt");
        assert_eq!(
            receipt.extra["acceptedCumulative"],
            serde_json::json!((i * PRICE).to_string()),
            "request {i}"
        );
        let body: serde_json::Value = r.response.json().await.unwrap();
        assert_eq!(body["ok"], true);
    }
    // Mid-session: only the open has landed, and the payer's money sits in escrow.
    assert_eq!(stack.ledger.slot().await.unwrap() - slot_before, 1);
    assert_eq!(stack.token_balance(&agent).await, agent_before - DEPOSIT);
    let closed = client.close_session(&server.url).await.unwrap();
    let receipt = closed.receipt.expect("close receipt");
    assert_eq!(
        receipt.extra["refunded"],
        serde_json::json!((DEPOSIT - 1_000 * PRICE).to_string())
    );
    // Exactly two transactions: the open and the close (one slot per landed transaction).
    assert_eq!(stack.ledger.slot().await.unwrap() - slot_before, 2);
    assert_eq!(
        stack.token_balance(&payee).await,
        payee_before + 1_000 * PRICE
    );
    assert_eq!(
        stack.token_balance(&agent).await,
        agent_before - 1_000 * PRICE
    );
    let ch = session.channels().await;
    assert!(
        ch.is_empty(),
        "the client forgot its closed channel: {ch:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_thousand_requests_settle_in_two_transactions() {
    thousand_requests_settle_in_two_transactions(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_thousand_requests_settle_in_two_transactions() {
    thousand_requests_settle_in_two_transactions(Backend::Postgres).await;
}

/// The client's one live channel.
async fn live_channel(stack: &SessionStack) -> Address {
    let rows = stack
        .agent_store
        .client_channels(&scope_of(stack))
        .await
        .unwrap();
    rows.first()
        .expect("a live channel")
        .channel_id
        .parse()
        .unwrap()
}

fn scope_of(stack: &SessionStack) -> String {
    format!(
        "{}|session.e2e|{}|{}|{}",
        stack.agent.pubkey(),
        stack.payee.pubkey(),
        stack.mint.address,
        DEV_CHANNEL_PROGRAM_ID
    )
}

async fn wait_closed(stack: &SessionStack, channel: &Address) {
    for _ in 0..300 {
        let rec = stack.channel_record(channel).await;
        if rec.status == SessionStatus::Closed {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the channel was not closed in time");
}

async fn forced_close_is_settled_by_the_watchtower(backend: Backend) {
    let stack = SessionStack::spawn(backend, PRICE, DEPOSIT).await;
    let server = stack.instance().await;
    let (client, _session) = stack.client();
    let agent = stack.agent.pubkey();
    let payee = stack.payee.pubkey();
    let (agent_before, payee_before) = (
        stack.token_balance(&agent).await,
        stack.token_balance(&payee).await,
    );
    for _ in 0..500 {
        assert_eq!(
            client.get(&server.url).await.unwrap().response.status(),
            200
        );
    }
    let channel = live_channel(&stack).await;
    // The payer forces a close on chain itself and walks away.
    let bh = stack.ledger.latest_blockhash().await.unwrap();
    let ixr = ix::request_close(&DEV_CHANNEL_PROGRAM_ID, &agent, &channel);
    let msg = Message::new_with_blockhash(&[ixr], Some(&agent), &bh.blockhash);
    let tx = VersionedTransaction::try_new(VersionedMessage::Legacy(msg), &[stack.agent.as_ref()])
        .unwrap();
    let sig = stack.ledger.send(&tx).await.unwrap();
    let landed = stack
        .ledger
        .confirm(
            &sig,
            mppsol_ledger::Commitment::Confirmed,
            Duration::from_secs(10),
        )
        .await
        .unwrap()
        .expect("requestClose landed");
    assert!(landed.err.is_none(), "{:?}", landed.err);
    let acct = stack.ledger.get_account(&channel).await.unwrap().unwrap();
    let state = ChannelState::decode(&acct.data).unwrap();
    assert_eq!(state.status, ChannelStatus::Closing);
    let deadline = state.closure_started_at + i64::from(state.grace_period);

    // The watchtower notices, stops metering and lands settleAndSeal + distribute.
    let mut cfg = WatchConfig::new(Arc::new(mpp::SystemClock));
    cfg.interval = Duration::from_millis(50);
    let tower = watch::spawn(server.method.clone(), cfg);
    wait_closed(&stack, &channel).await;
    tower.stop().await;
    assert!(
        stack.ledger.unix_timestamp().await.unwrap() < deadline,
        "settled within the grace period"
    );
    assert_eq!(
        stack.token_balance(&payee).await,
        payee_before + 500 * PRICE
    );
    assert_eq!(
        stack.token_balance(&agent).await,
        agent_before - 500 * PRICE
    );
    let rec = stack.channel_record(&channel).await;
    assert_eq!(rec.settled_on_chain, 500 * PRICE);
    assert_eq!(rec.refunded, Some(DEPOSIT - 500 * PRICE));
    // A metered request now gets a fresh channel, not service on the closed one.
    let after = stack.channel_record(&channel).await;
    assert_eq!(after.accepted_cumulative, 500 * PRICE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_forced_close_is_settled_by_the_watchtower() {
    forced_close_is_settled_by_the_watchtower(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_forced_close_is_settled_by_the_watchtower() {
    forced_close_is_settled_by_the_watchtower(Backend::Postgres).await;
}

async fn crash_between_accepting_and_responding(backend: Backend) {
    let stack = SessionStack::spawn(backend, PRICE, DEPOSIT).await;
    let hang = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let a = stack
        .instance_with(stack.server_store.clone(), Some(hang.clone()))
        .await;
    let (client, _) = stack.client();
    for _ in 0..10 {
        assert_eq!(client.get(&a.url).await.unwrap().response.status(), 200);
    }
    let channel = live_channel(&stack).await;
    // The 11th voucher is accepted and persisted, then the server dies before responding.
    hang.store(true, std::sync::atomic::Ordering::SeqCst);
    let short = reqwest::Client::builder()
        .timeout(Duration::from_millis(1_500))
        .build()
        .unwrap();
    let (_, session) = stack.client();
    let c2 = mppsol_client::PayingClient::new(
        short,
        vec![session.clone()],
        mppsol_client::SpendingPolicy::default(),
    );
    assert!(
        c2.get(&a.url).await.is_err(),
        "no response from the dying server"
    );
    a.kill();
    let rec = stack.channel_record(&channel).await;
    assert_eq!(
        rec.accepted_cumulative,
        11 * PRICE,
        "persisted before the response"
    );

    // Restart: a new process (new pool) on the same database, and a restarted client.
    let store = stack.reopen_server_store().await;
    let b = stack.instance_on(store).await;
    let url_b = b.url.clone();
    let (client, _) = stack.client();
    let r = client.get(&url_b).await.unwrap();
    assert_eq!(r.response.status(), 200);
    let body: serde_json::Value = r.response.json().await.unwrap();
    assert_eq!(body["ok"], true, "the restarted client gets content");
    // The lost response's voucher counted once; this request paid the next one.
    let rec = stack.channel_record(&channel).await;
    assert_eq!(rec.accepted_cumulative, 12 * PRICE);
    assert_eq!(rec.spent, 12 * PRICE);
    let mine = stack
        .agent_store
        .client_channel(&channel.to_string())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        mine.accepted, rec.accepted_cumulative,
        "client and server agree"
    );
    assert_eq!(mine.signed_cumulative, rec.accepted_cumulative);
    // Close settles exactly what was accepted.
    let payee_before = stack.token_balance(&stack.payee.pubkey()).await;
    client.close_session(&url_b).await.unwrap();
    assert_eq!(
        stack.token_balance(&stack.payee.pubkey()).await,
        payee_before + 12 * PRICE
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_crash_between_accepting_and_responding() {
    crash_between_accepting_and_responding(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_crash_between_accepting_and_responding() {
    crash_between_accepting_and_responding(Backend::Postgres).await;
}

async fn send(url: &str, credential: &Credential, key: &str) -> (u16, serde_json::Value) {
    let r = reqwest::Client::new()
        .get(url)
        .header("authorization", format_authorization(credential))
        .header("idempotency-key", key)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(serde_json::Value::Null))
}

fn voucher_credential(
    stack: &SessionStack,
    challenge: &Challenge,
    channel: Address,
    cum: u64,
) -> Credential {
    let voucher = VoucherData {
        channel_id: channel,
        cumulative_amount: cum,
        expires_at: None,
    }
    .sign(&stack.agent);
    let payload = SessionPayload::Voucher(VoucherAction {
        channel_id: channel,
        voucher,
    })
    .to_json();
    Credential::new(challenge.clone(), payload.as_object().unwrap().clone())
}

/// Two instances on one PostgreSQL, 200 concurrent vouchers on one channel: the accepted amount
/// is exactly the price times the requests that got content, never more; and one voucher
/// presented 50 times at once buys content once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_concurrent_vouchers_across_two_instances_never_over_count() {
    let stack = SessionStack::spawn(Backend::Postgres, PRICE, DEPOSIT).await;
    let a = stack.instance().await;
    let b = stack.instance().await;
    let (client, _) = stack.client();
    assert_eq!(client.get(&a.url).await.unwrap().response.status(), 200);
    let channel = live_channel(&stack).await;
    let challenge = mppsol_e2e::challenge(&a.url).await;

    let mut tasks = tokio::task::JoinSet::new();
    for i in 1..=200u64 {
        let url = if i % 2 == 0 {
            a.url.clone()
        } else {
            b.url.clone()
        };
        let cred = voucher_credential(&stack, &challenge, channel, PRICE * (1 + i));
        tasks.spawn(async move { send(&url, &cred, &format!("k{i}")).await });
    }
    let mut served = 0u64;
    while let Some(j) = tasks.join_next().await {
        let (status, body) = j.unwrap();
        if status == 200 && body["ok"] == true {
            served += 1;
        }
    }
    let rec = stack.channel_record(&channel).await;
    assert!(served >= 1);
    assert_eq!(rec.accepted_cumulative, PRICE * (1 + served));
    assert_eq!(rec.spent, rec.accepted_cumulative);

    // One voucher (same idempotency key) presented 50 times at once: content once.
    let next = rec.accepted_cumulative + PRICE;
    let cred = voucher_credential(&stack, &challenge, channel, next);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..50 {
        let url = if i % 2 == 0 {
            a.url.clone()
        } else {
            b.url.clone()
        };
        let cred = cred.clone();
        tasks.spawn(async move { send(&url, &cred, "same-key").await });
    }
    let mut content = 0;
    while let Some(j) = tasks.join_next().await {
        let (status, body) = j.unwrap();
        if status == 200 && body["ok"] == true {
            content += 1;
        }
    }
    assert_eq!(content, 1, "a replayed voucher buys no additional service");
    let rec = stack.channel_record(&channel).await;
    assert_eq!(rec.accepted_cumulative, next);
}

/// Operator-signed vouchers: the agent presents its bearer proof; the server signs each
/// cumulative voucher; close settles with the operator's highest voucher.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_operator_vouchers_meter_and_settle() {
    let mut stack = SessionStack::spawn(Backend::Sqlite, PRICE, DEPOSIT).await;
    stack.operator_vouchers = true;
    let server = stack.instance().await;
    let (client, _) = stack.client();
    let payee_before = stack.token_balance(&stack.payee.pubkey()).await;
    for i in 1..=50u64 {
        let r = client.get(&server.url).await.unwrap();
        assert_eq!(r.response.status(), 200);
        assert_eq!(
            r.receipt.unwrap().extra["spent"],
            serde_json::json!((i * PRICE).to_string())
        );
    }
    let channel = live_channel(&stack).await;
    let rec = stack.channel_record(&channel).await;
    assert_eq!(rec.voucher_signer, "operator");
    assert_eq!(rec.authorized_signer, stack.operator.pubkey().to_string());
    // A proof for another channel (or by another key) buys nothing.
    let challenge = mppsol_e2e::challenge(&server.url).await;
    let forged = mppsol_solana::session::BearerProof::sign(&stack.payee, &channel, &challenge.id);
    let cred = Credential::new(
        challenge.clone(),
        SessionPayload::Use(mppsol_solana::session::UseAction {
            channel_id: channel,
            authentication: forged,
        })
        .to_json()
        .as_object()
        .unwrap()
        .clone(),
    );
    let (status, _) = send(&server.url, &cred, "forged").await;
    assert_eq!(status, 402);
    client.close_session(&server.url).await.unwrap();
    assert_eq!(
        stack.token_balance(&stack.payee.pubkey()).await,
        payee_before + 50 * PRICE
    );
}

/// A small deposit: the client tops up when the next voucher would exceed it, and keeps paying.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_client_tops_up_when_the_deposit_runs_low() {
    let stack = SessionStack::spawn(Backend::Sqlite, PRICE, 5 * PRICE).await;
    let server = stack.instance().await;
    let (client, _) = stack.client();
    let agent_before = stack.token_balance(&stack.agent.pubkey()).await;
    for _ in 0..12 {
        assert_eq!(
            client.get(&server.url).await.unwrap().response.status(),
            200
        );
    }
    let channel = live_channel(&stack).await;
    let rec = stack.channel_record(&channel).await;
    assert_eq!(rec.accepted_cumulative, 12 * PRICE);
    assert_eq!(
        rec.escrowed,
        15 * PRICE,
        "open + two top-ups of the deposit size"
    );
    assert_eq!(
        stack.token_balance(&stack.agent.pubkey()).await,
        agent_before - 15 * PRICE
    );
    client.close_session(&server.url).await.unwrap();
    assert_eq!(
        stack.token_balance(&stack.agent.pubkey()).await,
        agent_before - 12 * PRICE,
        "the unspent deposit comes back"
    );
}

/// The watchtower settles large unsettled amounts early, several channels per transaction, and
/// closes channels idle past their timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_watchtower_settles_in_batches_and_closes_idle_channels() {
    let stack = SessionStack::spawn(Backend::Sqlite, PRICE, DEPOSIT).await;
    let server = stack.instance().await;
    // Three agents, three channels.
    let mut channels = Vec::new();
    for n in 0..3u8 {
        let agent = std::sync::Arc::new(mppsol_e2e::key(60 + n));
        stack
            .ledger
            .mint_tokens(&stack.mint.address, &agent.pubkey(), 100_000_000)
            .await
            .unwrap();
        let store = mppsol_store::open_store("sqlite::memory:").await.unwrap();
        let ledger: Arc<dyn Ledger> = Arc::new(stack.ledger.clone());
        let method = Arc::new(mppsol_client::SolanaSessionClient::new(
            agent,
            ledger,
            store,
            mppsol_solana::network::Network::Localnet,
            DEPOSIT,
        ));
        let client = mppsol_client::PayingClient::new(
            reqwest::Client::new(),
            vec![method.clone()],
            mppsol_client::SpendingPolicy::default(),
        );
        for _ in 0..(5 + u64::from(n)) {
            assert_eq!(
                client.get(&server.url).await.unwrap().response.status(),
                200
            );
        }
        channels.push(method.channels().await.remove(0).channel_id);
    }
    let mut cfg = WatchConfig::new(Arc::new(mpp::SystemClock));
    cfg.settle_threshold = Some(3 * PRICE);
    cfg.close_idle = false;
    let slot = stack.ledger.slot().await.unwrap();
    let report = watch::pass(&server.method, &cfg).await.unwrap();
    assert_eq!(report.settled, 3);
    assert_eq!(
        stack.ledger.slot().await.unwrap() - slot,
        1,
        "one transaction for three settles"
    );
    for (n, id) in channels.iter().enumerate() {
        let acct = stack
            .ledger
            .get_account(&id.parse().unwrap())
            .await
            .unwrap()
            .unwrap();
        let state = ChannelState::decode(&acct.data).unwrap();
        assert_eq!(state.settled, (5 + n as u64) * PRICE);
        let rec = stack.server_store.channel(id).await.unwrap().unwrap();
        assert_eq!(rec.settled_on_chain, state.settled);
    }
    // Nothing more to settle: a second pass lands nothing.
    let slot = stack.ledger.slot().await.unwrap();
    assert_eq!(watch::pass(&server.method, &cfg).await.unwrap().settled, 0);
    assert_eq!(stack.ledger.slot().await.unwrap(), slot);

    // An hour later every channel is idle: closed cooperatively, payouts and refunds made.
    let later = Arc::new(mppsol_e2e::TestClock::default());
    later.advance(3_601);
    let mut cfg = WatchConfig::new(later);
    cfg.close_idle = true;
    let payee_before = stack.token_balance(&stack.payee.pubkey()).await;
    let report = watch::pass(&server.method, &cfg).await.unwrap();
    assert_eq!(report.idle_closes, 3);
    assert_eq!(report.errors, 0);
    assert_eq!(
        stack.token_balance(&stack.payee.pubkey()).await,
        payee_before + (5 + 6 + 7) * PRICE
    );
    for id in &channels {
        let rec = stack.server_store.channel(id).await.unwrap().unwrap();
        assert_eq!(rec.status, SessionStatus::Closed);
    }
}
