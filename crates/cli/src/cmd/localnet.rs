//! `mppsol localnet`: the embedded ledger as a Solana JSON-RPC endpoint on loopback, for other
//! SDKs and wallets.

use std::net::{IpAddr, SocketAddr};

use anyhow::Context as _;
use mppsol_ledger::embedded::{EmbeddedConfig, EmbeddedLedger};
use mppsol_ledger::rpc_server::serve;

/// Arguments of `mppsol localnet`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 8899)]
    port: u16,
    /// Address to bind (loopback by default).
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Print the URL and dev mints as one JSON line (for scripts) instead of prose.
    #[arg(long)]
    json: bool,
}

/// Runs until interrupted.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let ledger = EmbeddedLedger::new(EmbeddedConfig::default())
        .await
        .context("starting the embedded ledger")?;
    let mints = ledger.dev_mints();
    let handle = serve(ledger, SocketAddr::new(args.host, args.port))
        .await
        .with_context(|| format!("binding {}:{}", args.host, args.port))?;
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "url": handle.url(),
                "usdc": mints.usdc.address.to_string(),
                "usdc2022": mints.usdc_2022.address.to_string(),
                "channelProgram": mppsol_ledger::programs::DEV_CHANNEL_PROGRAM_ID.to_string(),
                "policyProgram": mppsol_ledger::programs::DEV_POLICY_PROGRAM_ID.to_string(),
                "paymentsProgram": mppsol_ledger::programs::DEV_PAYMENTS_PROGRAM_ID.to_string(),
            })
        );
    } else {
        println!("Solana JSON-RPC (embedded ledger) on {}", handle.url());
        println!(
            "  dev USDC (SPL Token, 6 decimals):            {}",
            mints.usdc.address
        );
        println!(
            "  dev USDC (Token-2022, 6 decimals, 1% fee):  {}",
            mints.usdc_2022.address
        );
        println!(
            "  payment-channel program:                    {}",
            mppsol_ledger::programs::DEV_CHANNEL_PROGRAM_ID
        );
        println!(
            "  policy / payments programs:                 {} / {}",
            mppsol_ledger::programs::DEV_POLICY_PROGRAM_ID,
            mppsol_ledger::programs::DEV_PAYMENTS_PROGRAM_ID
        );
        println!("  SOL: requestAirdrop; tokens: mppsol_mintTokens [owner, mint, amount]");
        println!("Ctrl-C to stop.");
    }
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    handle.shutdown().await;
    Ok(())
}
