//! `mppsol demo`: an API seller prices a route, an AI agent pays it in USDC on Solana, and both
//! keep a durable record — on an embedded ledger, over real HTTP on loopback, in one process.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context as _, bail};
use axum::Router;
use axum::routing::get;
use mpp::{Amount, ChallengeKeyring, DiscoveryDocument, PriceTag, ReceiptSigner};
use mppsol_client::{PayingClient, SolanaChargeClient, SpendingPolicy};
use mppsol_ledger::Ledger;
use mppsol_ledger::embedded::{EmbeddedConfig, EmbeddedLedger};
use mppsol_server::{Offer, Paid, PaidApi, PaymentConfig, SolanaCharge, SolanaChargeConfig};
use mppsol_solana::network::Network;
use mppsol_solana::token::{TokenProgram, associated_token_address};
use solana_address::Address;
use solana_keypair::Keypair;
use solana_signer::Signer;

use super::common::{challenge_secret, units};

/// Arguments of `mppsol demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where the seller's and the agent's databases and keys go (a new temporary directory by
    /// default, printed at the end).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Price of the route in USDC base units (6 decimals); 10000 per charge, 1000 per session
    /// request by default.
    #[arg(long)]
    price: Option<u64>,
    /// Pay by session instead: one payment channel, one voucher per request, two transactions.
    #[arg(long)]
    session: bool,
    /// Requests paid in the session demo.
    #[arg(long, default_value_t = 1_000)]
    requests: u64,
}

/// Runs the demo.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let started = Instant::now();
    let dir = match args.data_dir {
        Some(d) => d,
        None => std::env::temp_dir().join(format!("mppsol-demo-{}", rand::random::<u32>())),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    if args.session {
        let price = args.price.unwrap_or(1_000);
        return super::demo_session::run(&dir, price, args.requests).await;
    }
    let price = args.price.unwrap_or(10_000);

    step(
        "1/6",
        "starting an embedded Solana ledger (LiteSVM with the real SPL Token, Token-2022, ATA and Memo programs)",
    );
    let ledger = EmbeddedLedger::new(EmbeddedConfig::default())
        .await
        .context("starting the embedded ledger")?;
    let usdc = ledger.dev_mints().usdc;
    let program = TokenProgram::from_id(&usdc.token_program).context("dev mint program")?;
    let seller = Arc::new(Keypair::new());
    let agent = Arc::new(Keypair::new());
    ledger
        .fund_sol(&seller.pubkey(), 2_000_000_000)
        .await
        .context("funding the seller")?;
    ledger
        .fund_sol(&agent.pubkey(), 1_000_000_000)
        .await
        .context("funding the agent")?;
    ledger
        .create_ata(&seller.pubkey(), &usdc.address, &usdc.token_program)
        .await
        .context("creating the seller's USDC account")?;
    ledger
        .mint_tokens(&usdc.address, &agent.pubkey(), 100_000_000)
        .await
        .context("giving the agent 100 USDC")?;
    detail(&format!("USDC (dev mint, 6 decimals): {}", usdc.address));
    detail(&format!(
        "seller: {}  (pays the network fees: feePayer sponsorship)",
        seller.pubkey()
    ));
    detail(&format!(
        "agent:  {}  holds 100.000000 USDC",
        agent.pubkey()
    ));

    step(
        "2/6",
        "the seller puts a price on GET /weather and serves it on loopback",
    );
    let server_db = dir.join("seller.db");
    let agent_db = dir.join("agent.db");
    let server_store = mppsol_store::open_store(path_str(&server_db)?)
        .await
        .context("opening the seller's store")?;
    let agent_store = mppsol_store::open_store(path_str(&agent_db)?)
        .await
        .context("opening the agent's store")?;
    let ledger_dyn: Arc<dyn Ledger> = Arc::new(ledger.clone());
    let charge = SolanaCharge::new(
        SolanaChargeConfig::new(Network::Localnet, seller.pubkey()).with_fee_payer(seller.clone()),
        ledger_dyn.clone(),
        server_store.clone(),
    );
    let receipt_signer = ReceiptSigner::from_seed(rand::random());
    let config = PaymentConfig::new(
        "weather.demo",
        ChallengeKeyring::new(challenge_secret(&dir.join("challenge.key"))?),
        server_store.clone(),
    )
    .with_receipt_signer(receipt_signer);
    let api = PaidApi::new("Weather API (mppsol demo)", config);
    let tag = PriceTag {
        amount: Amount::new(price),
        currency: usdc.address.to_string(),
        recipient: None,
        description: Some("Current weather".into()),
        external_id: None,
    };
    let app = Router::new()
        .route(
            "/weather",
            get(weather).layer(api.layer(
                "GET",
                "/weather",
                vec![Offer::fixed(Arc::new(charge), tag)],
            )),
        )
        .route("/openapi.json", get(api.handler()));
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .context("binding the API on loopback")?;
    let base = format!("http://{}", listener.local_addr()?);
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    detail(&format!(
        "{base}/weather costs {} USDC",
        units(price, usdc.decimals)
    ));

    step("3/6", "the agent asks without paying");
    let http = reqwest::Client::new();
    let first = http
        .get(format!("{base}/weather"))
        .send()
        .await
        .context("calling the API")?;
    let www = first
        .headers()
        .get_all("www-authenticate")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect::<Vec<_>>();
    let challenges = mpp::parse_www_authenticate_fields(www.iter().map(String::as_str))?;
    let ch = challenges.first().context("the 402 carried no challenge")?;
    detail(&format!(
        "{} {}",
        first.status().as_u16(),
        first.status().canonical_reason().unwrap_or("")
    ));
    let req = mppsol_solana::charge::request::ChargeRequest::from_json(ch.request_value())?;
    detail(&format!(
        "WWW-Authenticate: Payment id=\"{}\", method=\"{}\", intent=\"{}\", expires=\"{}\"",
        ch.id,
        ch.method,
        ch.intent,
        ch.expires.as_deref().unwrap_or("-")
    ));
    detail(&format!(
        "request: {} base units of {} to {} on {}, fee payer {}",
        req.amount,
        req.currency,
        req.recipient,
        req.network(),
        req.sponsor()
            .map_or_else(|| "the agent".into(), |k| k.to_string())
    ));

    step(
        "4/6",
        "the agent's paying client repeats the request, checks its spending policy on the fresh challenge, signs, and retries with the credential",
    );
    let before_agent = token_balance(&ledger, &agent.pubkey(), &usdc.address, program).await?;
    let before_seller = token_balance(&ledger, &seller.pubkey(), &usdc.address, program).await?;
    let client = PayingClient::new(
        http.clone(),
        vec![Arc::new(SolanaChargeClient::new(
            agent.clone(),
            ledger_dyn.clone(),
            Network::Localnet,
        ))],
        SpendingPolicy {
            max_per_payment: Some(1_000_000),
            allowed_networks: vec!["localnet".into()],
            allowed_currencies: vec![usdc.address.to_string()],
            daily_budget: Some(5_000_000),
            store: Some(agent_store.clone()),
            ..SpendingPolicy::default()
        },
    )
    .with_records(agent_store.clone());
    detail(
        "policy: at most 1.000000 USDC per payment, 5.000000 USDC per day, localnet, dev USDC only",
    );
    let paid = client
        .get(&format!("{base}/weather"))
        .await
        .context("paying")?;
    if let Some(c) = &paid.paid_challenge {
        detail(&format!("paid challenge {}", c.id));
    }
    let status = paid.response.status();
    let receipt = paid
        .receipt
        .clone()
        .context("the server returned no receipt")?;
    let body = paid.response.text().await.context("reading the body")?;
    if !status.is_success() {
        bail!("expected 200, got {status}: {body}");
    }

    step("5/6", "200 OK with the resource and a Payment-Receipt");
    detail(&format!("body: {body}"));
    detail(&format!(
        "receipt: status={} method={} challengeId={} timestamp={}",
        receipt.status,
        receipt.method,
        receipt
            .extra
            .get("challengeId")
            .and_then(|v| v.as_str())
            .unwrap_or("-"),
        receipt.timestamp
    ));
    detail(&format!("transaction signature: {}", receipt.reference));
    let sig = mppsol_solana::charge::payload::decode_signature(&receipt.reference)?;
    let landed = ledger
        .get_transaction(&sig)
        .await?
        .context("the transaction is not on the ledger")?;
    detail(&format!(
        "on chain: slot {}, fee {} lamports paid by the seller, error: {}",
        landed.slot,
        landed.fee,
        landed.err.as_deref().unwrap_or("none")
    ));
    let doc: DiscoveryDocument = http
        .get(format!("{base}/openapi.json"))
        .send()
        .await?
        .json()
        .await
        .context("reading the discovery document")?;
    let key = doc
        .receipt_keys()
        .into_iter()
        .next()
        .context("no receipt key published")?;
    key.verify(&receipt).context("receipt signature")?;
    detail(&format!(
        "receipt signature verified with the key published in /openapi.json ({key})"
    ));

    step("6/6", "balances and records");
    let after_agent = token_balance(&ledger, &agent.pubkey(), &usdc.address, program).await?;
    let after_seller = token_balance(&ledger, &seller.pubkey(), &usdc.address, program).await?;
    detail(&format!(
        "agent  USDC {} -> {}",
        units(before_agent, usdc.decimals),
        units(after_agent, usdc.decimals)
    ));
    detail(&format!(
        "seller USDC {} -> {}",
        units(before_seller, usdc.decimals),
        units(after_seller, usdc.decimals)
    ));
    if before_agent - after_agent != price || after_seller - before_seller != price {
        bail!("balances did not move by the price");
    }
    let s = server_store.list_payments(10).await?;
    let a = agent_store.list_payments(10).await?;
    detail(&format!(
        "seller's record ({}): {} payment(s), reference {}",
        server_db.display(),
        s.len(),
        s.first().map_or("-", |p| p.reference.as_str())
    ));
    detail(&format!(
        "agent's record  ({}): {} payment(s), reference {}",
        agent_db.display(),
        a.len(),
        a.first().map_or("-", |p| p.reference.as_str())
    ));
    if s.len() != 1 || a.len() != 1 {
        bail!("each side should hold exactly one payment record");
    }
    server.abort();
    println!(
        "\ndone in {:.1} s: 402 -> pay -> 200, one USDC transfer on chain, receipts on both sides.",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn weather(Paid(p): Paid) -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({
        "city": "Lisbon", "temperature_c": 21, "conditions": "clear",
        "paid_with": p.receipt.reference,
    }))
}

async fn token_balance(
    ledger: &EmbeddedLedger,
    owner: &Address,
    mint: &Address,
    program: TokenProgram,
) -> anyhow::Result<u64> {
    let ata = associated_token_address(owner, mint, program);
    Ok(ledger.token_balance(&ata).await?.map_or(0, |t| t.amount))
}

fn path_str(p: &std::path::Path) -> anyhow::Result<&str> {
    p.to_str().context("the data directory path is not UTF-8")
}

fn step(n: &str, what: &str) {
    println!("\n[{n}] {what}");
}

fn detail(s: &str) {
    println!("      {s}");
}
