//! `mppsol keys`: create and inspect Solana keypair files (Solana CLI format).

use std::path::PathBuf;

use anyhow::Context as _;
use mppsol_client::signer::{load_keypair_file, write_keypair_file};
use solana_keypair::Keypair;
use solana_signer::Signer;

/// `mppsol keys …`
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create a new keypair file (never overwrites; readable by you only).
    New {
        /// Where to write it.
        #[arg(long, short)]
        out: PathBuf,
    },
    /// Print a keypair file's public key.
    Show {
        /// The keypair file.
        path: PathBuf,
    },
}

/// Runs `mppsol keys`.
pub fn run(c: Command) -> anyhow::Result<()> {
    match c {
        Command::New { out } => {
            let k = Keypair::new();
            write_keypair_file(&out, &k).context("writing the keypair")?;
            println!("{}", k.pubkey());
            eprintln!("wrote {}", out.display());
        }
        Command::Show { path } => {
            let k = load_keypair_file(&path).context("reading the keypair")?;
            println!("{}", k.pubkey());
        }
    }
    Ok(())
}
