//! `mppsol wallet create|policy|fund|pause|withdraw|show`: an agent's policy wallet
//! (`programs/policy`, `docs/005-policy-wallets.md`) over JSON-RPC. Amounts are base units.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use mppsol_client::signer::load_keypair_file;
use mppsol_ledger::Ledger;
use mppsol_solana::policy::ix::{self, WalletKeys};
use mppsol_solana::policy::state::CategorySet;
use mppsol_solana::policy::{
    Counterparties, DEV_PAYMENTS_PROGRAM_ID, DEV_POLICY_PROGRAM_ID, PolicyConfig, WalletState,
};
use mppsol_solana::token::{TokenProgram, associated_token_address};
use solana_address::Address;
use solana_instruction::Instruction;
use solana_keypair::Keypair;
use solana_signer::Signer;
use spl_token_2022_interface::extension::StateWithExtensions;
use spl_token_2022_interface::state::Mint;

use super::common::rpc_ledger;
use super::programs::submit;

/// `mppsol wallet …`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create the wallet of (owner, agent) with a policy; prints the wallet address.
    Create(PolicyArgs),
    /// Replace the wallet's policy (today's spend and the nonce are kept).
    Policy(PolicyArgs),
    /// Deposit tokens from a funder's account into the wallet's vault.
    Fund(FundArgs),
    /// Pause (or with --resume, resume) the agent's payments.
    Pause(PauseArgs),
    /// Move tokens from the vault to the owner (not subject to the policy).
    Withdraw(WithdrawArgs),
    /// Print the wallet's state (and a vault balance) as JSON.
    Show(ShowArgs),
}

/// Where the wallet lives.
#[derive(Debug, clap::Args)]
pub struct Target {
    /// JSON-RPC endpoint.
    #[arg(long)]
    rpc_url: String,
    /// The agent's address (the key that signs payments).
    #[arg(long)]
    agent: Address,
    /// The policy program (default: its dev id, as loaded by `mppsol localnet`).
    #[arg(long, default_value_t = DEV_POLICY_PROGRAM_ID)]
    program: Address,
}

/// A wallet the owner acts on.
#[derive(Debug, clap::Args)]
pub struct Owned {
    #[command(flatten)]
    target: Target,
    /// The owner's keypair file (signs and pays fees).
    #[arg(long)]
    owner: PathBuf,
}

/// The owner's rules.
#[derive(Debug, clap::Args)]
pub struct PolicyArgs {
    #[command(flatten)]
    wallet: Owned,
    /// Largest single payment.
    #[arg(long)]
    max_single: u64,
    /// Largest total per UTC day.
    #[arg(long)]
    max_daily: u64,
    /// Payments above this also need the owner's signature (default: never).
    #[arg(long, default_value_t = u64::MAX)]
    escalation_threshold: u64,
    /// Every payment must carry a memo.
    #[arg(long)]
    require_memo: bool,
    /// Only these recipients (repeat; none: anyone).
    #[arg(long = "counterparty")]
    counterparties: Vec<Address>,
    /// Only these category ids (repeat; none: all).
    #[arg(long = "category")]
    categories: Vec<u8>,
    /// The channel program sessions may be funded through (default: the dev id; `none` to
    /// disable).
    #[arg(long, default_value_t = mppsol_solana::channel::DEV_CHANNEL_PROGRAM_ID.to_string())]
    channel_program: String,
    /// The payments program charges with receipts go through (default: the dev id; `none` to
    /// disable).
    #[arg(long, default_value_t = DEV_PAYMENTS_PROGRAM_ID.to_string())]
    payments_program: String,
}

/// Arguments of `wallet fund`.
#[derive(Debug, clap::Args)]
pub struct FundArgs {
    #[command(flatten)]
    target: Target,
    /// The wallet's owner (address).
    #[arg(long)]
    owner: Address,
    /// The funder's keypair file (pays fees, owns the source token account).
    #[arg(long)]
    from: PathBuf,
    /// The mint.
    #[arg(long)]
    mint: Address,
    /// Base units.
    #[arg(long)]
    amount: u64,
}

/// Arguments of `wallet pause`.
#[derive(Debug, clap::Args)]
pub struct PauseArgs {
    #[command(flatten)]
    wallet: Owned,
    /// Resume instead of pausing.
    #[arg(long)]
    resume: bool,
}

/// Arguments of `wallet withdraw`.
#[derive(Debug, clap::Args)]
pub struct WithdrawArgs {
    #[command(flatten)]
    wallet: Owned,
    /// The mint.
    #[arg(long)]
    mint: Address,
    /// Base units.
    #[arg(long)]
    amount: u64,
}

/// Arguments of `wallet show`.
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    #[command(flatten)]
    target: Target,
    /// The wallet's owner (address).
    #[arg(long)]
    owner: Address,
    /// Also print the vault balance of this mint.
    #[arg(long)]
    mint: Option<Address>,
}

fn optional_program(s: &str) -> anyhow::Result<Option<Address>> {
    if s.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    Ok(Some(
        s.parse()
            .with_context(|| format!("{s} is not an address"))?,
    ))
}

impl PolicyArgs {
    fn config(&self) -> anyhow::Result<PolicyConfig> {
        Ok(PolicyConfig {
            max_single: self.max_single,
            max_daily: self.max_daily,
            escalation_threshold: self.escalation_threshold,
            require_memo: self.require_memo,
            counterparties: if self.counterparties.is_empty() {
                Counterparties::Any
            } else {
                Counterparties::Only(self.counterparties.clone())
            },
            categories: if self.categories.is_empty() {
                CategorySet::all()
            } else {
                CategorySet::of(&self.categories)
            },
            channel_program: optional_program(&self.channel_program)?,
            payments_program: optional_program(&self.payments_program)?,
        })
    }
}

impl Owned {
    fn open(&self) -> anyhow::Result<(Arc<dyn Ledger>, Keypair, WalletKeys)> {
        let owner = load_keypair_file(&self.owner).context("reading the owner keypair")?;
        let keys = self.target.keys(owner.pubkey());
        Ok((self.target.ledger()?, owner, keys))
    }
}

impl Target {
    fn ledger(&self) -> anyhow::Result<Arc<dyn Ledger>> {
        rpc_ledger(&self.rpc_url, "localnet")
    }

    fn keys(&self, owner: Address) -> WalletKeys {
        WalletKeys {
            program: self.program,
            owner,
            agent: self.agent,
        }
    }
}

/// The mint's token program and decimals.
async fn mint_info(ledger: &Arc<dyn Ledger>, mint: &Address) -> anyhow::Result<(TokenProgram, u8)> {
    let account = ledger
        .get_account(mint)
        .await?
        .with_context(|| format!("mint {mint} does not exist"))?;
    let program = TokenProgram::from_id(&account.owner)
        .with_context(|| format!("{mint} is not a token mint"))?;
    let state = StateWithExtensions::<Mint>::unpack(&account.data)
        .with_context(|| format!("{mint} is not a token mint"))?;
    Ok((program, state.base.decimals))
}

fn create_ata(payer: &Address, owner: &Address, mint: &Address, tp: TokenProgram) -> Instruction {
    spl_associated_token_account_interface::instruction::create_associated_token_account_idempotent(
        payer,
        owner,
        mint,
        &tp.id(),
    )
}

/// Runs a `wallet` subcommand.
pub async fn run(c: Command) -> anyhow::Result<()> {
    match c {
        Command::Create(a) => {
            let (ledger, owner, keys) = a.wallet.open()?;
            let ix = ix::create_wallet(&keys, &a.config()?)?;
            submit(&ledger, &[ix], &[&owner])
                .await
                .context("creating the wallet")?;
            println!("{}", keys.wallet());
        }
        Command::Policy(a) => {
            let (ledger, owner, keys) = a.wallet.open()?;
            let ix = ix::set_policy(&keys, &a.config()?)?;
            submit(&ledger, &[ix], &[&owner])
                .await
                .context("setting the policy")?;
        }
        Command::Fund(a) => {
            let ledger = a.target.ledger()?;
            let from = load_keypair_file(&a.from).context("reading the funder keypair")?;
            let keys = a.target.keys(a.owner);
            let (tp, decimals) = mint_info(&ledger, &a.mint).await?;
            let wallet = keys.wallet();
            if ledger.get_account(&wallet).await?.is_none() {
                bail!("no wallet at {wallet}; create it first");
            }
            let transfer = spl_token_2022_interface::instruction::transfer_checked(
                &tp.id(),
                &associated_token_address(&from.pubkey(), &a.mint, tp),
                &a.mint,
                &keys.vault(&a.mint, tp),
                &from.pubkey(),
                &[],
                a.amount,
                decimals,
            )?;
            let ixs = [create_ata(&from.pubkey(), &wallet, &a.mint, tp), transfer];
            submit(&ledger, &ixs, &[&from])
                .await
                .context("funding the vault")?;
        }
        Command::Pause(a) => {
            let (ledger, owner, keys) = a.wallet.open()?;
            submit(&ledger, &[ix::set_paused(&keys, !a.resume)], &[&owner])
                .await
                .context("pausing")?;
        }
        Command::Withdraw(a) => {
            let (ledger, owner, keys) = a.wallet.open()?;
            let (tp, _) = mint_info(&ledger, &a.mint).await?;
            let destination = associated_token_address(&owner.pubkey(), &a.mint, tp);
            let ixs = [
                create_ata(&owner.pubkey(), &owner.pubkey(), &a.mint, tp),
                ix::withdraw(&keys, &a.mint, tp, &destination, a.amount),
            ];
            submit(&ledger, &ixs, &[&owner])
                .await
                .context("withdrawing")?;
        }
        Command::Show(a) => {
            let ledger = a.target.ledger()?;
            let keys = a.target.keys(a.owner);
            let wallet = keys.wallet();
            let account = ledger
                .get_account(&wallet)
                .await?
                .with_context(|| format!("no wallet at {wallet}"))?;
            let s = WalletState::decode(&account.data)?;
            let p = &s.policy;
            let mut out = serde_json::json!({
                "wallet": wallet.to_string(),
                "owner": s.owner.to_string(),
                "agent": s.agent.to_string(),
                "paused": s.paused,
                "maxSingle": p.max_single,
                "maxDaily": p.max_daily,
                "escalationThreshold": p.escalation_threshold,
                "requireMemo": p.require_memo,
                "counterparties": match &p.counterparties {
                    Counterparties::Any => serde_json::Value::Null,
                    Counterparties::Only(l) => l.iter().map(ToString::to_string).collect(),
                },
                "dayIndex": s.day_index,
                "spentToday": s.spent_today,
                "lastNonce": s.last_nonce,
                "channelProgram": p.channel_program.map(|a| a.to_string()),
                "paymentsProgram": p.payments_program.map(|a| a.to_string()),
            });
            if let Some(mint) = a.mint {
                let (tp, _) = mint_info(&ledger, &mint).await?;
                let vault = keys.vault(&mint, tp);
                let balance = ledger.token_balance(&vault).await?.map_or(0, |t| t.amount);
                out["vault"] = serde_json::json!(vault.to_string());
                out["vaultBalance"] = serde_json::json!(balance);
            }
            println!("{out}");
        }
    }
    Ok(())
}
