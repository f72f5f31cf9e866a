//! `mppsol pay URL`: fetch a URL like curl, paying a `solana`/`charge` 402 within limits.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use mppsol_client::signer::{keypair_from_env, load_keypair_file};
use mppsol_client::{ChargeMode, PayingClient, PolicyWallet, SolanaChargeClient, SpendingPolicy};
use mppsol_solana::network::Network;
use solana_address::Address;

use super::common::rpc_ledger;

/// Arguments of `mppsol pay`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The URL to fetch.
    url: String,
    /// Refuse to pay more than this many base units.
    #[arg(long)]
    max_amount: u64,
    /// Keypair file of the payer (or set MPPSOL_KEYPAIR to a JSON array / base58 key).
    #[arg(long, env = "MPPSOL_KEYPAIR_FILE")]
    keypair: Option<PathBuf>,
    /// Solana JSON-RPC endpoint.
    #[arg(long, env = "MPPSOL_RPC_URL", default_value = "http://127.0.0.1:8899")]
    rpc_url: String,
    /// Network the challenge must be for.
    #[arg(long, default_value = "localnet")]
    network: String,
    /// HTTP method.
    #[arg(long, short = 'X', default_value = "GET")]
    request: String,
    /// Request body.
    #[arg(long, short = 'd')]
    data: Option<String>,
    /// Extra header, `Name: value` (repeatable).
    #[arg(long, short = 'H')]
    header: Vec<String>,
    /// Only pay these currencies (`sol` or mints; repeatable).
    #[arg(long)]
    currency: Vec<String>,
    /// Broadcast the payment ourselves and send its signature (unsponsored challenges only).
    #[arg(long)]
    push: bool,
    /// Pay from the policy wallet of this owner (the keypair is its agent); the wallet's
    /// on-chain policy applies on top of --max-amount.
    #[arg(long)]
    policy_owner: Option<Address>,
    /// The provider category declared to the wallet's policy (with --policy-owner).
    #[arg(long, default_value_t = 0)]
    policy_category: u8,
    /// The policy program (with --policy-owner).
    #[arg(long, default_value_t = mppsol_solana::policy::DEV_POLICY_PROGRAM_ID)]
    policy_program: Address,
    /// The payments program recording receipts (with --policy-owner).
    #[arg(long, default_value_t = mppsol_solana::policy::DEV_PAYMENTS_PROGRAM_ID)]
    payments_program: Address,
}

/// Runs `mppsol pay`.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let network: Network = args.network.parse()?;
    let payer = match &args.keypair {
        Some(p) => load_keypair_file(p).context("loading the keypair")?,
        None => keypair_from_env("MPPSOL_KEYPAIR")
            .context("no --keypair given and MPPSOL_KEYPAIR is not usable")?,
    };
    let ledger = rpc_ledger(&args.rpc_url, network.as_str())?;
    let mode = if args.push {
        ChargeMode::Push
    } else {
        ChargeMode::Pull
    };
    let mut method = SolanaChargeClient::new(Arc::new(payer), ledger, network).with_mode(mode);
    if let Some(owner) = args.policy_owner {
        let mut wallet = PolicyWallet::new(args.policy_program, args.payments_program, owner);
        wallet.category = args.policy_category;
        method = method.with_policy_wallet(wallet);
    }
    let client = PayingClient::new(
        reqwest::Client::new(),
        vec![Arc::new(method)],
        SpendingPolicy {
            max_per_payment: Some(args.max_amount),
            allowed_networks: vec![network.to_string()],
            allowed_currencies: args.currency.clone(),
            ..SpendingPolicy::default()
        },
    );
    let mut req = client
        .http()
        .request(args.request.parse().context("HTTP method")?, &args.url);
    for h in &args.header {
        let (k, v) = h.split_once(':').context("headers are `Name: value`")?;
        req = req.header(k.trim(), v.trim());
    }
    if let Some(d) = args.data {
        req = req.body(d);
    }
    let paid = client.execute(req.build()?).await?;
    let status = paid.response.status();
    if let Some(r) = &paid.receipt {
        eprintln!("paid: {} ({})", r.reference, r.method);
        if let Some(h) = paid.response.headers().get(mpp::field::PAYMENT_RECEIPT) {
            eprintln!("payment-receipt: {}", h.to_str().unwrap_or_default());
        }
    }
    let body = paid.response.bytes().await?;
    std::io::Write::write_all(&mut std::io::stdout(), &body)?;
    if !status.is_success() {
        bail!("HTTP {status}");
    }
    Ok(())
}
