//! `mppsol`: the Machine Payments Protocol on Solana. Parses arguments and dispatches; each
//! subcommand lives in `cmd/`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;

/// The Machine Payments Protocol (HTTP 402, `Payment` auth scheme) on Solana.
#[derive(Debug, Parser)]
#[command(
    name = "mppsol",
    version,
    about = "mppsol: the Machine Payments Protocol (HTTP 402, `Payment` auth) on Solana",
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the whole story in one process: embedded Solana ledger, a priced API, a paying agent.
    Demo(cmd::demo::Args),
    /// Serve an embedded Solana ledger as a JSON-RPC endpoint on loopback.
    Localnet(cmd::localnet::Args),
    /// Put prices on the routes of an upstream HTTP API (a paying reverse proxy).
    Serve(cmd::serve::Args),
    /// Run the operator service (accounts, policies, transfers, custodial signing) over HTTP.
    Operator(cmd::operator::Args),
    /// Fetch a URL, paying its 402 challenge within a spending limit (like curl).
    Pay(cmd::pay::Args),
    /// Load-test a paid URL: many payers, N connections, paid requests/s and latency.
    Bench(cmd::bench::Args),
    /// Create or show keypairs.
    #[command(subcommand)]
    Keys(cmd::keys::Command),
    /// Work with receipts.
    #[command(subcommand)]
    Receipt(cmd::receipt::Command),
    /// Deploy the bundled on-chain programs.
    #[command(subcommand)]
    Programs(cmd::programs::Command),
    /// An agent's on-chain policy wallet: create, set the policy, fund, pause, withdraw, show.
    #[command(subcommand)]
    Wallet(cmd::wallet::Command),
    /// Adapter for the public MPP conformance harness.
    ///
    /// With no argument, reads one JSON request `{"schema":1,"op":…,"input":…}` on stdin and
    /// writes one JSON response on stdout. With a legacy command name (for example
    /// `parse-www-authenticate`), reads that command's raw input instead. Always exits 0 once a
    /// response is written, including error responses.
    Conformance(cmd::conformance::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MPPSOL_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Conformance(args) => cmd::conformance::run(args),
        Command::Keys(c) => cmd::keys::run(c),
        other => runtime().and_then(|rt| {
            rt.block_on(async move {
                match other {
                    Command::Demo(a) => cmd::demo::run(a).await,
                    Command::Localnet(a) => cmd::localnet::run(a).await,
                    Command::Serve(a) => cmd::serve::run(a).await,
                    Command::Operator(a) => cmd::operator::run(a).await,
                    Command::Pay(a) => cmd::pay::run(a).await,
                    Command::Bench(a) => cmd::bench::run(a).await,
                    Command::Receipt(c) => cmd::receipt::run(c).await,
                    Command::Programs(c) => cmd::programs::run(c).await,
                    Command::Wallet(c) => cmd::wallet::run(c).await,
                    Command::Conformance(_) | Command::Keys(_) => Ok(()),
                }
            })
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mppsol: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
