//! Custodial accounts paying through the spending-policy program (`programs/policy`).
//!
//! A custodial token account gets a wallet, the PDA `["wallet", owner, agent]`: the agent is
//! the account's own (sealed) key, the owner the operator's policy-owner key (one per
//! operator, sealed with the master key the same way). The wallet's on-chain rules mirror the
//! account's policy in the database, so money leaves the vault only within limits the chain
//! itself enforces: a database that was tampered with (or a bug in the service's own rules)
//! cannot make the chain pay more than the last policy the owner key signed.
//!
//! Every change goes to the chain first and to the database only once it landed (see
//! [`mirror_policy`]); a chain failure leaves both unchanged and the caller is told.

use std::str::FromStr;
use std::time::Duration;

use mppsol_ledger::Commitment;
use mppsol_solana::network::Network;
use mppsol_solana::policy::ix::{WalletKeys, create_vault, create_wallet, set_paused, set_policy};
use mppsol_solana::policy::state::CategorySet;
use mppsol_solana::policy::{
    Counterparties, DEV_PAYMENTS_PROGRAM_ID, DEV_POLICY_PROGRAM_ID, MAX_COUNTERPARTIES,
    PolicyConfig, PolicyErrorCode,
};
use mppsol_solana::token::TokenProgram;
use mppsol_store::operator::{
    Account, AccountStatus, Policy, PolicyOwner, PolicyWalletRecord, Violation,
};
use solana_address::Address;
use solana_instruction::Instruction;
use solana_keypair::Keypair;
use solana_message::{Message, VersionedMessage};
use solana_signature::Signature;
use solana_signer::Signer;
use solana_transaction::versioned::VersionedTransaction;

use crate::AppState;
use crate::error::ApiError;

/// How long an owner transaction may take to confirm.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(30);

/// The programs custodial accounts pay through on this cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolicyPrograms {
    /// The spending-policy program.
    pub policy: Address,
    /// The payments program charges record their receipts in (`payWithReceipt`).
    pub payments: Address,
    /// The channel program wallets may fund (`None`: sessions cannot be funded).
    pub channel: Option<Address>,
}

impl PolicyPrograms {
    /// The bundled programs at their development ids (the embedded ledger loads them there).
    pub fn dev() -> Self {
        Self {
            policy: DEV_POLICY_PROGRAM_ID,
            payments: DEV_PAYMENTS_PROGRAM_ID,
            channel: Some(mppsol_solana::channel::DEV_CHANNEL_PROGRAM_ID),
        }
    }
}

/// The violation a policy-program denial stands for: rule `onchain:<ProgramError>`.
pub fn refusal(code: PolicyErrorCode) -> Violation {
    Violation {
        rule: format!("onchain:{}", code.name()),
        reason: format!(
            "the wallet's on-chain policy refused the payment ({}, {})",
            code.message(),
            code.code()
        ),
    }
}

/// The context an operator's policy-owner key is sealed under.
pub fn owner_key_context(address: &str) -> String {
    format!("mppsol/policy-owner-key/{address}")
}

/// The wallet rules that mirror `policy`. Escalation stays off chain (the service holds both
/// keys, so an owner co-signature would prove nothing), and so do categories (names here,
/// numeric ids on chain): the limits, the allow-list, the memo rule and the pause are what the
/// chain enforces.
pub fn onchain_policy(
    policy: &Policy,
    programs: &PolicyPrograms,
) -> Result<PolicyConfig, ApiError> {
    let counterparties = match &policy.allowed_counterparties {
        None => Counterparties::Any,
        Some(list) if list.len() > MAX_COUNTERPARTIES => {
            return Err(ApiError::invalid(
                "allowed_counterparties",
                format!(
                    "an account paying through the policy program allows at most \
                     {MAX_COUNTERPARTIES} counterparties"
                ),
            ));
        }
        Some(list) => Counterparties::Only(
            list.iter()
                .map(|a| Address::from_str(a))
                .collect::<Result<_, _>>()
                .map_err(|_| ApiError::invalid("allowed_counterparties", "not an address"))?,
        ),
    };
    Ok(PolicyConfig {
        max_single: policy.max_single_transfer.unwrap_or(u64::MAX),
        max_daily: policy.max_daily_spend.unwrap_or(u64::MAX),
        escalation_threshold: u64::MAX,
        require_memo: policy.require_memo,
        counterparties,
        categories: CategorySet::all(),
        channel_program: programs.channel,
        payments_program: Some(programs.payments),
    })
}

/// Whether the wallet must be paused: the policy's pause or a paused account.
pub fn paused(policy: &Policy, status: AccountStatus) -> bool {
    policy.paused || status == AccountStatus::Paused
}

/// The operator's policy-owner key, created (and sealed) on first use.
pub async fn owner_key(state: &AppState, operator_id: &str) -> Result<Keypair, ApiError> {
    let owner = match state.store().policy_owner(operator_id).await? {
        Some(owner) => owner,
        None => {
            let keypair = Keypair::new();
            let address = keypair.pubkey().to_string();
            let fresh = PolicyOwner {
                sealed_key: state
                    .master_key()
                    .seal(&keypair.to_bytes(), &owner_key_context(&address)),
                address,
            };
            state
                .store()
                .insert_policy_owner(operator_id, &fresh, state.now())
                .await?
        }
    };
    let bytes = state
        .master_key()
        .open(&owner.sealed_key, &owner_key_context(&owner.address))
        .map_err(|e| ApiError::Unexpected(Box::new(e)))?;
    Keypair::try_from(bytes.as_slice())
        .map_err(|_| ApiError::Unexpected("sealed policy owner is not a keypair".into()))
}

/// The wallet keys of a recorded wallet whose agent is `agent`.
pub fn wallet_keys(record: &PolicyWalletRecord, agent: &str) -> Result<WalletKeys, ApiError> {
    let parse = |text: &str| {
        Address::from_str(text)
            .map_err(|_| ApiError::Unexpected("stored policy wallet does not parse".into()))
    };
    Ok(WalletKeys {
        program: parse(&record.program)?,
        owner: parse(&record.owner)?,
        agent: parse(agent)?,
    })
}

/// Creates `agent`'s wallet (rules from `policy`, paused if `paused`) and its vault for
/// `mint`, paid by the owner key; returns the record to store. Idempotent: a wallet that
/// already exists on chain (an earlier attempt landed) is kept and its rules set again.
pub async fn create(
    state: &AppState,
    programs: &PolicyPrograms,
    owner: &Keypair,
    agent: &Address,
    mint: (&Address, TokenProgram),
    policy: &PolicyConfig,
    paused: bool,
) -> Result<PolicyWalletRecord, ApiError> {
    let k = WalletKeys {
        program: programs.policy,
        owner: owner.pubkey(),
        agent: *agent,
    };
    fund_owner_on_localnet(state, owner).await?;
    let exists = state
        .ledger()
        .get_account(&k.wallet())
        .await
        .map_err(chain)?
        .is_some();
    let rules = if exists {
        set_policy(&k, policy)
    } else {
        create_wallet(&k, policy)
    }
    .map_err(|e| ApiError::invalid("policy", e.to_string()))?;
    send_as_owner(
        state,
        owner,
        &[
            rules,
            set_paused(&k, paused),
            create_vault(&k, &owner.pubkey(), mint.0, mint.1),
        ],
    )
    .await?;
    Ok(PolicyWalletRecord {
        program: programs.policy.to_string(),
        owner: owner.pubkey().to_string(),
        wallet: k.wallet().to_string(),
    })
}

/// Sets the wallet's rules to `policy` and its pause to `paused`, if `account` has a wallet.
/// Called before the database is changed: when the chain refuses or cannot be reached the
/// request fails and nothing changed anywhere.
pub async fn mirror_policy(
    state: &AppState,
    account: &Account,
    policy: &Policy,
    status: AccountStatus,
) -> Result<(), ApiError> {
    let Some(record) = state.store().account_policy_wallet(&account.id).await? else {
        return Ok(());
    };
    let programs = state.policy_programs().ok_or_else(|| {
        ApiError::Chain("this account pays through the policy program, which this service is not configured for".into())
    })?;
    let owner = owner_key(state, &account.operator_id).await?;
    if owner.pubkey().to_string() != record.owner {
        return Err(ApiError::Unexpected(
            "the wallet's owner is not the operator's owner key".into(),
        ));
    }
    let k = wallet_keys(&record, &account.address)?;
    let rules = set_policy(&k, &onchain_policy(policy, &programs)?)
        .map_err(|e| ApiError::invalid("policy", e.to_string()))?;
    send_as_owner(
        state,
        &owner,
        &[rules, set_paused(&k, paused(policy, status))],
    )
    .await?;
    Ok(())
}

/// On a local cluster the owner key gets SOL from the faucet when it runs low, so
/// `mppsol operator` works with no setup; elsewhere the operator funds it (an error names it).
async fn fund_owner_on_localnet(state: &AppState, owner: &Keypair) -> Result<(), ApiError> {
    const LOW: u64 = 100_000_000;
    if state.network() != Network::Localnet
        || state
            .ledger()
            .balance(&owner.pubkey())
            .await
            .map_err(chain)?
            >= LOW
    {
        return Ok(());
    }
    let signature = state
        .ledger()
        .airdrop(&owner.pubkey(), 10 * LOW)
        .await
        .map_err(chain)?;
    state
        .ledger()
        .confirm(&signature, Commitment::Confirmed, CONFIRM_TIMEOUT)
        .await
        .map_err(chain)?;
    Ok(())
}

fn chain(e: mppsol_ledger::LedgerError) -> ApiError {
    ApiError::Chain(format!("the chain did not answer: {e}"))
}

/// Sends `ixs` signed and paid by the owner key and waits for `confirmed`.
async fn send_as_owner(
    state: &AppState,
    owner: &Keypair,
    ixs: &[Instruction],
) -> Result<Signature, ApiError> {
    let blockhash = state.ledger().latest_blockhash().await.map_err(chain)?;
    let message = Message::new_with_blockhash(ixs, Some(&owner.pubkey()), &blockhash.blockhash);
    let tx = VersionedTransaction::try_new(VersionedMessage::Legacy(message), &[owner])
        .map_err(|e| ApiError::Unexpected(Box::new(e)))?;
    let signature = match state.ledger().send(&tx).await {
        Ok(s) => s,
        Err(mppsol_ledger::LedgerError::TransactionFailed { err, .. }) => {
            return Err(ApiError::Chain(format!(
                "the policy program refused the owner's transaction (the owner {} needs SOL \
                 for fees and rent): {err}",
                owner.pubkey()
            )));
        }
        Err(e) => return Err(chain(e)),
    };
    match state
        .ledger()
        .confirm(&signature, Commitment::Confirmed, CONFIRM_TIMEOUT)
        .await
        .map_err(chain)?
    {
        Some(s) if s.err.is_none() => Ok(signature),
        Some(s) => Err(ApiError::Chain(format!(
            "the owner's transaction failed on chain: {}",
            s.err.unwrap_or_default()
        ))),
        None => Err(ApiError::Chain(format!(
            "the owner's transaction {signature} was not confirmed in time; retry"
        ))),
    }
}

/// Why a transaction failed on chain, naming the policy program's rule when it refused.
pub fn failure_reason(err: &str) -> String {
    match PolicyErrorCode::from_error_text(err) {
        Some(code) if code.is_denial() => {
            let v = refusal(code);
            format!("{}: {}", v.rule, v.reason)
        }
        _ => format!("the transaction failed on chain: {err}"),
    }
}

/// Whether a refused transaction is a policy denial that will not change by retrying (a
/// replayed nonce is a race between two payments of one wallet: rebuilt later, it passes).
pub fn is_final_denial(err: &str) -> bool {
    PolicyErrorCode::from_error_text(err)
        .is_some_and(|c| c.is_denial() && c != PolicyErrorCode::NonceReplayed)
}

/// A settlement's `pay` from `agent`'s wallet to `recipient`'s associated account, with a
/// nonce above the wallet's last one on chain.
pub async fn pay_instruction(
    ledger: &dyn mppsol_ledger::Ledger,
    record: &PolicyWalletRecord,
    agent: &Address,
    payment: PaymentTo<'_>,
) -> Result<Instruction, String> {
    let k = wallet_keys(record, &agent.to_string()).map_err(|e| e.to_string())?;
    // `pay` needs no payments program; the wallet value only supplies the nonce.
    let wallet = mppsol_client::PolicyWallet::new(k.program, Address::default(), k.owner);
    wallet
        .sync_nonce(ledger, agent)
        .await
        .map_err(|e| e.detail)?;
    Ok(mppsol_solana::policy::ix::pay(
        &k,
        &mppsol_solana::policy::ix::Payment {
            recipient: *payment.recipient,
            mint: *payment.mint,
            token_program: payment.token_program,
            amount: payment.amount,
            nonce: wallet.next_nonce(),
            category: 0,
            memo: payment
                .memo
                .map(|m| m.as_bytes().to_vec())
                .unwrap_or_default(),
            owner_signs: false,
        },
    ))
}

/// What a settlement pays.
#[derive(Debug, Clone, Copy)]
pub struct PaymentTo<'a> {
    /// The counterparty (owner of the credited token account).
    pub recipient: &'a Address,
    /// The mint.
    pub mint: &'a Address,
    /// Its token program.
    pub token_program: TokenProgram,
    /// Base units.
    pub amount: u64,
    /// The transfer's memo (the wallet's memo rule reads it).
    pub memo: Option<&'a str>,
}
