//! `mppsol programs deploy`: deploys a bundled on-chain program through the upgradeable loader
//! (loader-v3: create a buffer, write it in chunks, deploy with a max data length) over JSON-RPC.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use mppsol_client::signer::load_keypair_file;
use mppsol_ledger::{Commitment, Ledger};
use solana_address::Address;
use solana_instruction::Instruction;
use solana_keypair::Keypair;
use solana_loader_v3_interface::instruction as loader;
use solana_loader_v3_interface::state::UpgradeableLoaderState;
use solana_message::{Message, VersionedMessage};
use solana_signer::Signer;
use solana_transaction::versioned::VersionedTransaction;

use super::common::rpc_ledger;

/// Bytes of program data per `Write` transaction (keeps the transaction under 1232 bytes).
const CHUNK: usize = 900;
/// How long to wait for each transaction to be confirmed.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(60);

/// `mppsol programs …`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Deploy a bundled program (upgradeable loader); the payer becomes its upgrade authority.
    Deploy(DeployArgs),
}

/// The programs this binary carries.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Program {
    /// The payment-channel (settlement) program of `draft-solana-session-00`.
    Channel,
}

impl Program {
    fn elf(self) -> &'static [u8] {
        match self {
            Program::Channel => mppsol_ledger::programs::CHANNEL_PROGRAM_ELF,
        }
    }
}

/// Arguments of `mppsol programs deploy`.
#[derive(Debug, clap::Args)]
pub struct DeployArgs {
    /// JSON-RPC endpoint.
    #[arg(long)]
    url: String,
    /// Which program.
    #[arg(long, value_enum)]
    program: Program,
    /// Keypair file whose address becomes the program id (a fresh one when omitted).
    #[arg(long)]
    program_keypair: Option<PathBuf>,
    /// Keypair file paying fees and rent; becomes the upgrade authority.
    #[arg(long)]
    payer: PathBuf,
    /// Room for upgrades: the program data account holds this many bytes (default: twice the
    /// program size).
    #[arg(long)]
    max_len: Option<usize>,
}

/// Deploys and prints the program id.
pub async fn run(c: Command) -> anyhow::Result<()> {
    let Command::Deploy(args) = c;
    let payer = load_keypair_file(&args.payer).context("reading the payer keypair")?;
    let program = match &args.program_keypair {
        Some(p) => load_keypair_file(p).context("reading the program keypair")?,
        None => Keypair::new(),
    };
    let ledger = rpc_ledger(&args.url, "localnet")?;
    let elf = args.program.elf();
    let max_len = args.max_len.unwrap_or(elf.len() * 2);
    if max_len < elf.len() {
        bail!(
            "--max-len {max_len} is smaller than the program ({} bytes)",
            elf.len()
        );
    }
    if ledger.get_account(&program.pubkey()).await?.is_some() {
        bail!("an account already exists at {}", program.pubkey());
    }
    deploy(&ledger, &payer, &program, elf, max_len).await?;
    println!("{}", program.pubkey());
    Ok(())
}

async fn deploy(
    ledger: &Arc<dyn Ledger>,
    payer: &Keypair,
    program: &Keypair,
    elf: &[u8],
    max_len: usize,
) -> anyhow::Result<()> {
    let buffer = Keypair::new();
    let authority = payer.pubkey();
    let buffer_rent = ledger
        .minimum_balance_for_rent_exemption(UpgradeableLoaderState::size_of_buffer(elf.len()))
        .await?;
    let create = loader::create_buffer(
        &authority,
        &buffer.pubkey(),
        &authority,
        buffer_rent,
        elf.len(),
    )
    .context("building the buffer instructions")?;
    submit(ledger, &create, &[payer, &buffer])
        .await
        .context("creating the buffer")?;

    for (i, chunk) in elf.chunks(CHUNK).enumerate() {
        let offset = u32::try_from(i * CHUNK).context("program too large")?;
        let write = loader::write(&buffer.pubkey(), &authority, offset, chunk.to_vec());
        submit(ledger, &[write], &[payer])
            .await
            .with_context(|| format!("writing bytes {offset}.."))?;
    }

    let program_rent = ledger
        .minimum_balance_for_rent_exemption(UpgradeableLoaderState::size_of_program())
        .await?;
    let deploy = loader::deploy_with_max_program_len(
        &authority,
        &program.pubkey(),
        &buffer.pubkey(),
        &authority,
        program_rent,
        max_len,
    )
    .context("building the deploy instructions")?;
    submit(ledger, &deploy, &[payer, program])
        .await
        .context("deploying")?;
    Ok(())
}

/// Signs with a fresh blockhash, sends, and waits for confirmation; a failed transaction is an
/// error.
pub(crate) async fn submit(
    ledger: &Arc<dyn Ledger>,
    ixs: &[Instruction],
    signers: &[&Keypair],
) -> anyhow::Result<()> {
    let fee_payer: Address = signers.first().context("no signer")?.pubkey();
    let blockhash = ledger.latest_blockhash().await?.blockhash;
    let message = Message::new_with_blockhash(ixs, Some(&fee_payer), &blockhash);
    let tx = VersionedTransaction::try_new(VersionedMessage::Legacy(message), signers)
        .context("signing")?;
    let sig = ledger.send(&tx).await?;
    match ledger
        .confirm(&sig, Commitment::Confirmed, CONFIRM_TIMEOUT)
        .await?
    {
        Some(status) => match status.err {
            None => Ok(()),
            Some(err) => bail!("transaction {sig} failed: {err}"),
        },
        None => bail!("transaction {sig} was not confirmed within {CONFIRM_TIMEOUT:?}"),
    }
}
