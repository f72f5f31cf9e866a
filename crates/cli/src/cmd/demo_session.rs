//! `mppsol demo --session`: the agent opens a payment channel on its first 402, pays N requests
//! with off-chain vouchers, and closes; the chain sees two transactions.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context as _, bail};
use axum::Router;
use axum::routing::get;
use mpp::{Amount, ChallengeKeyring, PriceTag, ReceiptSigner};
use mppsol_client::{PayingClient, SolanaSessionClient, SpendingPolicy};
use mppsol_ledger::Ledger;
use mppsol_ledger::embedded::{EmbeddedConfig, EmbeddedLedger};
use mppsol_server::{Offer, Paid, PaidApi, PaymentConfig, SolanaSession, SolanaSessionConfig};
use mppsol_solana::channel::DEV_CHANNEL_PROGRAM_ID;
use mppsol_solana::network::Network;
use mppsol_solana::token::{TokenProgram, associated_token_address};
use solana_address::Address;
use solana_keypair::Keypair;
use solana_signer::Signer;

use super::common::{challenge_secret, units};

/// Runs the session demo: `requests` paid requests at `price` each.
pub async fn run(dir: &Path, price: u64, requests: u64) -> anyhow::Result<()> {
    let started = Instant::now();
    step(
        "1/5",
        "starting an embedded Solana ledger with the real SPL programs and mppsol's payment-channel program",
    );
    let ledger = EmbeddedLedger::new(EmbeddedConfig::default())
        .await
        .context("starting the embedded ledger")?;
    let usdc = ledger.dev_mints().usdc;
    let program = TokenProgram::from_id(&usdc.token_program).context("dev mint program")?;
    let (seller, agent) = (Arc::new(Keypair::new()), Arc::new(Keypair::new()));
    ledger.fund_sol(&seller.pubkey(), 2_000_000_000).await?;
    ledger
        .create_ata(&seller.pubkey(), &usdc.address, &usdc.token_program)
        .await?;
    ledger
        .mint_tokens(&usdc.address, &agent.pubkey(), 100_000_000)
        .await?;
    let deposit = price
        .checked_mul(requests)
        .and_then(|t| t.checked_add(t / 2))
        .context("price x requests overflows")?;
    detail(&format!("channel program: {DEV_CHANNEL_PROGRAM_ID}"));
    detail(&format!(
        "agent {} holds 100.000000 USDC and no SOL: the seller pays every fee and the channel rent",
        agent.pubkey()
    ));

    step(
        "2/5",
        "the seller meters GET /tokens per request with a session offer",
    );
    let path = |name: &str| -> anyhow::Result<String> {
        dir.join(name)
            .to_str()
            .map(str::to_owned)
            .context("the data directory path is not UTF-8")
    };
    let server_store = mppsol_store::open_store(&path("seller.db")?).await?;
    let agent_store = mppsol_store::open_store(&path("agent.db")?).await?;
    let ledger_dyn: Arc<dyn Ledger> = Arc::new(ledger.clone());
    let session = Arc::new(SolanaSession::new(
        SolanaSessionConfig::new(
            Network::Localnet,
            DEV_CHANNEL_PROGRAM_ID,
            seller.clone(),
            seller.clone(),
            vec![usdc.address],
        ),
        ledger_dyn.clone(),
        server_store.clone(),
    ));
    let config = PaymentConfig::new(
        "tokens.demo",
        ChallengeKeyring::new(challenge_secret(&dir.join("challenge.key"))?),
        server_store.clone(),
    )
    .with_receipt_signer(ReceiptSigner::from_seed(rand::random()));
    let api = PaidApi::new("Token stream (mppsol session demo)", config);
    let tag = PriceTag {
        amount: Amount::new(price),
        currency: usdc.address.to_string(),
        recipient: None,
        description: Some("One unit of service".into()),
        external_id: None,
    };
    let app = Router::new().route(
        "/tokens",
        get(unit).layer(api.layer("GET", "/tokens", vec![Offer::fixed(session, tag)])),
    );
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let url = format!("http://{}/tokens", listener.local_addr()?);
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    detail(&format!(
        "{url} costs {} USDC per request",
        units(price, usdc.decimals)
    ));

    let seller_addr = seller.pubkey();
    let agent_addr = agent.pubkey();
    let bal = |owner: Address| {
        let ledger = ledger.clone();
        async move {
            let ata = associated_token_address(&owner, &usdc.address, program);
            anyhow::Ok(ledger.token_balance(&ata).await?.map_or(0, |t| t.amount))
        }
    };
    let (agent_before, seller_before) = (bal(agent_addr).await?, bal(seller_addr).await?);
    let slot_before = ledger.slot().await?;

    step(
        "3/5",
        &format!(
            "the agent pays {requests} requests: one channel open, then one voucher per request"
        ),
    );
    let method = Arc::new(SolanaSessionClient::new(
        agent.clone(),
        ledger_dyn.clone(),
        agent_store.clone(),
        Network::Localnet,
        deposit,
    ));
    let client = PayingClient::new(
        reqwest::Client::new(),
        vec![method.clone()],
        SpendingPolicy {
            max_per_payment: Some(deposit),
            allowed_networks: vec!["localnet".into()],
            allowed_currencies: vec![usdc.address.to_string()],
            ..SpendingPolicy::default()
        },
    );
    let t = Instant::now();
    for i in 1..=requests {
        let r = client.get(&url).await.context("paying a request")?;
        if !r.response.status().is_success() {
            bail!("request {i}: {}", r.response.status());
        }
        if i == 1 || i % (requests / 4).max(1) == 0 || i == requests {
            let accepted = r
                .receipt
                .as_ref()
                .and_then(|r| r.extra.get("acceptedCumulative").and_then(|v| v.as_str()))
                .unwrap_or("-")
                .to_owned();
            detail(&format!(
                "request {i:>5}: 200, acceptedCumulative {accepted}"
            ));
        }
    }
    let secs = t.elapsed().as_secs_f64();
    detail(&format!(
        "{requests} paid requests in {secs:.2} s ({:.0} req/s), {} transaction(s) on chain so far",
        requests as f64 / secs,
        ledger.slot().await? - slot_before
    ));
    let channel = method
        .channels()
        .await
        .into_iter()
        .next()
        .context("no open channel")?;
    detail(&format!(
        "channel {}: deposit {} USDC",
        channel.channel_id,
        units(channel.deposit, usdc.decimals)
    ));

    step(
        "4/5",
        "the agent closes: settleAndSeal + distribute in one transaction",
    );
    let closed = client.close_session(&url).await.context("closing")?;
    let receipt = closed.receipt.context("no close receipt")?;
    let field = |k: &str| {
        receipt
            .extra
            .get(k)
            .and_then(|v| v.as_str())
            .unwrap_or("-")
            .to_owned()
    };
    let stored = agent_store
        .client_channel(&channel.channel_id)
        .await?
        .context("the agent lost its channel record")?;
    detail(&format!(
        "open  transaction: {}",
        stored.open_signature.as_deref().unwrap_or("-")
    ));
    detail(&format!("close transaction: {}", field("txHash")));
    detail(&format!(
        "settled {} USDC, refunded {} USDC",
        units(field("spent").parse().unwrap_or(0), usdc.decimals),
        units(field("refunded").parse().unwrap_or(0), usdc.decimals)
    ));

    step("5/5", "balances");
    let txs = ledger.slot().await? - slot_before;
    let (agent_after, seller_after) = (bal(agent_addr).await?, bal(seller_addr).await?);
    detail(&format!(
        "agent  USDC {} -> {}",
        units(agent_before, usdc.decimals),
        units(agent_after, usdc.decimals)
    ));
    detail(&format!(
        "seller USDC {} -> {}",
        units(seller_before, usdc.decimals),
        units(seller_after, usdc.decimals)
    ));
    let total = price * requests;
    if agent_before - agent_after != total || seller_after - seller_before != total {
        bail!("balances did not move by price x requests");
    }
    if txs != 2 {
        bail!("expected 2 transactions on chain, saw {txs}");
    }
    server.abort();
    println!(
        "\ndone in {:.1} s: {requests} paid requests, 2 transactions on chain, the unspent deposit refunded to the base unit.",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn unit(Paid(p): Paid) -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({"token": "ok", "spent": p.receipt.extra.get("spent")}))
}

fn step(n: &str, what: &str) {
    println!("\n[{n}] {what}");
}

fn detail(s: &str) {
    println!("      {s}");
}
