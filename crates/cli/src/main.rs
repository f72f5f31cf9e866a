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
    let result = match cli.command {
        Command::Conformance(args) => cmd::conformance::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mppsol: {e:#}");
            ExitCode::FAILURE
        }
    }
}
