//! One chain with the programs at their dev ids, a 6-decimal mint, and a policy wallet whose
//! vault holds `VAULT_START` base units.

use litesvm::LiteSVM;
use mppsol_solana::channel::DEV_CHANNEL_PROGRAM_ID;
use mppsol_solana::policy::ix::{self, Payment, WalletKeys};
use mppsol_solana::policy::receipt::PayAccounts;
use mppsol_solana::policy::state::CategorySet;
use mppsol_solana::policy::{
    Counterparties, DEV_EXAMPLE_VAULT_PROGRAM_ID, DEV_PAYMENTS_PROGRAM_ID, DEV_POLICY_PROGRAM_ID,
    PaymentsErrorCode, PolicyConfig, PolicyErrorCode, WalletState,
};
use mppsol_solana::token::{TokenProgram, associated_token_address};
use solana_account::Account;
use solana_address::Address;
use solana_clock::Clock;
use solana_instruction::Instruction;
use solana_instruction::error::InstructionError;
use solana_keypair::Keypair;
use solana_message::Message;
use solana_program_pack::Pack;
use solana_signer::Signer;
use solana_transaction::Transaction;
use solana_transaction_error::TransactionError;
use spl_token_interface::state::{Account as TokenAccount, AccountState, Mint};

/// Base units in the wallet's vault at the start.
pub const VAULT_START: u64 = 1_000_000;
/// A unix time well inside a UTC day (day index `DAY0 / 86_400`).
pub const DAY0: i64 = 1_790_000_000 / 86_400 * 86_400 + 3_600;
/// The slot the clock starts at (the channel program wants a recent `openSlot`).
pub const SLOT0: u64 = 5_000;

pub struct Env {
    pub svm: LiteSVM,
    pub mint: Address,
    pub tp: TokenProgram,
    pub owner: Keypair,
    pub agent: Keypair,
    pub k: WalletKeys,
    /// With `Some`, every key this harness makes comes from this counter, so PDA bump searches
    /// (and compute units) reproduce run to run.
    seq: Option<u8>,
}

/// The policy most tests start from: 1 000 per payment, 3 000 a day, owner co-signs above 500,
/// anyone, any category, no memo required, the dev channel and payments programs.
pub fn default_policy() -> PolicyConfig {
    PolicyConfig {
        max_single: 1_000,
        max_daily: 3_000,
        escalation_threshold: 500,
        require_memo: false,
        counterparties: Counterparties::Any,
        categories: CategorySet::all(),
        channel_program: Some(DEV_CHANNEL_PROGRAM_ID),
        payments_program: Some(DEV_PAYMENTS_PROGRAM_ID),
    }
}

fn program_bytes(name: &str) -> Vec<u8> {
    let path = format!("{}/../programs/bin/{name}.so", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e} (run scripts/build-programs.sh)"))
}

impl Env {
    /// A chain with the programs and a mint, no wallet yet.
    pub fn bare() -> Env {
        Env::bare_with(TokenProgram::Token)
    }

    /// As [`Env::bare`], with the mint under `tp`.
    pub fn bare_with(tp: TokenProgram) -> Env {
        Env::build(tp, None)
    }

    /// As [`Env::bare`], with fixed keys (for compute-unit figures).
    pub fn deterministic() -> Env {
        Env::build(TokenProgram::Token, Some(1))
    }

    fn next_key(seq: &mut Option<u8>) -> Keypair {
        match seq {
            Some(n) => {
                *n += 1;
                Keypair::new_from_array([*n; 32])
            }
            None => Keypair::new(),
        }
    }

    fn build(tp: TokenProgram, mut seq: Option<u8>) -> Env {
        let mut svm = LiteSVM::new();
        for (id, name) in [
            (DEV_POLICY_PROGRAM_ID, "policy"),
            (DEV_PAYMENTS_PROGRAM_ID, "payments"),
            (DEV_EXAMPLE_VAULT_PROGRAM_ID, "example_vault"),
            (DEV_CHANNEL_PROGRAM_ID, "channel"),
        ] {
            svm.add_program(id, &program_bytes(name))
                .expect("load program");
        }
        let mint = Env::next_key(&mut seq).pubkey();
        let mut data = vec![0u8; Mint::LEN];
        Mint {
            mint_authority: None.into(),
            supply: u64::MAX / 2,
            decimals: 6,
            is_initialized: true,
            freeze_authority: None.into(),
        }
        .pack_into_slice(&mut data);
        let lamports = svm.minimum_balance_for_rent_exemption(Mint::LEN);
        svm.set_account(
            mint,
            Account {
                lamports,
                data,
                owner: tp.id(),
                executable: false,
                rent_epoch: 0,
            },
        )
        .unwrap();
        let owner = Env::next_key(&mut seq);
        let agent = Env::next_key(&mut seq);
        svm.airdrop(&owner.pubkey(), 10_000_000_000).unwrap();
        svm.airdrop(&agent.pubkey(), 10_000_000_000).unwrap();
        let k = WalletKeys {
            program: DEV_POLICY_PROGRAM_ID,
            owner: owner.pubkey(),
            agent: agent.pubkey(),
        };
        let mut env = Env {
            svm,
            mint,
            tp,
            owner,
            agent,
            k,
            seq,
        };
        env.set_time(DAY0);
        env
    }

    /// A chain with a wallet under `policy` and a funded vault.
    pub fn new(policy: &PolicyConfig) -> Env {
        Env::new_with(policy, TokenProgram::Token)
    }

    /// As [`Env::new`], with the mint under `tp`.
    pub fn new_with(policy: &PolicyConfig, tp: TokenProgram) -> Env {
        let mut env = Env::bare_with(tp);
        let create = ix::create_wallet(&env.k, policy).unwrap();
        env.send(&[create], &[&env.owner.insecure_clone()])
            .expect("create wallet");
        // The vault: created by the real ATA program for the wallet PDA, funded by a real
        // TransferChecked from the owner's account.
        let owner = env.owner.insecure_clone();
        let source = env.token_account(&owner.pubkey(), VAULT_START);
        let vault = env.vault();
        let deposit = mppsol_solana::token::transfer_checked(
            env.tp,
            &source,
            &env.mint,
            &vault,
            &owner.pubkey(),
            VAULT_START,
            6,
        );
        let create = ix::create_vault(&env.k, &owner.pubkey(), &env.mint, env.tp);
        env.send(&[create, deposit], &[&owner])
            .expect("create and fund the vault");
        env
    }

    /// Sets the clock's unix time (slot stays at `SLOT0`).
    pub fn set_time(&mut self, unix: i64) {
        self.svm.set_sysvar(&Clock {
            slot: SLOT0,
            epoch_start_timestamp: unix,
            epoch: 0,
            leader_schedule_epoch: 0,
            unix_timestamp: unix,
        });
    }

    /// Sends one transaction (fee payer: the first signer); the compute units or the error.
    pub fn send(
        &mut self,
        ixs: &[Instruction],
        signers: &[&Keypair],
    ) -> Result<u64, TransactionError> {
        self.send_logged(ixs, signers).map(|(cu, _)| cu)
    }

    /// As [`Env::send`], with the program logs.
    pub fn send_logged(
        &mut self,
        ixs: &[Instruction],
        signers: &[&Keypair],
    ) -> Result<(u64, Vec<String>), TransactionError> {
        let msg = Message::new(ixs, Some(&signers[0].pubkey()));
        let tx = Transaction::new(signers, msg, self.svm.latest_blockhash());
        let out = self.svm.send_transaction(tx);
        self.svm.expire_blockhash();
        match out {
            Ok(meta) => Ok((meta.compute_units_consumed, meta.logs)),
            Err(failed) => {
                // Shown only when the test fails (captured otherwise).
                eprintln!("{}", failed.meta.logs.join("\n"));
                Err(failed.err)
            }
        }
    }

    /// Creates `owner`'s ATA for the mint holding `amount`; returns its address.
    pub fn token_account(&mut self, owner: &Address, amount: u64) -> Address {
        let ata = associated_token_address(owner, &self.mint, self.tp);
        let mut data = vec![0u8; TokenAccount::LEN];
        TokenAccount {
            mint: self.mint,
            owner: *owner,
            amount,
            delegate: None.into(),
            state: AccountState::Initialized,
            is_native: None.into(),
            delegated_amount: 0,
            close_authority: None.into(),
        }
        .pack_into_slice(&mut data);
        let lamports = self
            .svm
            .minimum_balance_for_rent_exemption(TokenAccount::LEN);
        self.svm
            .set_account(
                ata,
                Account {
                    lamports,
                    data,
                    owner: self.tp.id(),
                    executable: false,
                    rent_epoch: 0,
                },
            )
            .unwrap();
        ata
    }

    /// A token account's balance (0 when absent).
    pub fn balance(&self, ata: &Address) -> u64 {
        self.svm
            .get_account(ata)
            .filter(|a| a.data.len() >= TokenAccount::LEN)
            .map(|a| {
                TokenAccount::unpack_from_slice(&a.data[..TokenAccount::LEN])
                    .unwrap()
                    .amount
            })
            .unwrap_or(0)
    }

    pub fn vault(&self) -> Address {
        self.k.vault(&self.mint, self.tp)
    }

    pub fn wallet_state(&self) -> WalletState {
        let acct = self
            .svm
            .get_account(&self.k.wallet())
            .expect("wallet exists");
        assert_eq!(acct.owner, DEV_POLICY_PROGRAM_ID);
        WalletState::decode(&acct.data).unwrap()
    }

    /// A payment of `amount` to `recipient` with `nonce`, category 0, no memo, agent only.
    pub fn payment(&self, recipient: &Address, amount: u64, nonce: u64) -> Payment {
        Payment {
            recipient: *recipient,
            mint: self.mint,
            token_program: self.tp,
            amount,
            nonce,
            category: 0,
            memo: Vec::new(),
            owner_signs: false,
        }
    }

    /// Sends `pay` signed by the agent (and the owner when `p.owner_signs`).
    pub fn pay(&mut self, p: &Payment) -> Result<u64, TransactionError> {
        let agent = self.agent.insecure_clone();
        let owner = self.owner.insecure_clone();
        let ix = ix::pay(&self.k, p);
        if p.owner_signs {
            self.send(&[ix], &[&agent, &owner])
        } else {
            self.send(&[ix], &[&agent])
        }
    }

    /// A funded keypair holding `balance` in its ATA, and the accounts of a direct payments
    /// `pay` from it to a fresh server (returned too) that signs alone and funds the receipt.
    pub fn direct_payer(&mut self, balance: u64) -> (Keypair, PayAccounts, Address) {
        let payer = Env::next_key(&mut self.seq);
        self.svm.airdrop(&payer.pubkey(), 1_000_000_000).unwrap();
        let source = self.token_account(&payer.pubkey(), balance);
        let (server, destination) = self.recipient();
        let a = PayAccounts {
            authority: payer.pubkey(),
            rent_payer: payer.pubkey(),
            source,
            destination,
            mint: self.mint,
            token_program: self.tp,
        };
        (payer, a, server)
    }

    /// A fresh recipient with an empty ATA.
    pub fn recipient(&mut self) -> (Address, Address) {
        let who = Env::next_key(&mut self.seq).pubkey();
        let ata = self.token_account(&who, 0);
        (who, ata)
    }
}

/// The `Custom(n)` code of a failed transaction.
pub fn custom(err: &TransactionError) -> Option<u32> {
    match err {
        TransactionError::InstructionError(_, InstructionError::Custom(n)) => Some(*n),
        _ => None,
    }
}

/// The policy error a transaction failed with (panics on success or another error).
pub fn policy_err(r: Result<u64, TransactionError>) -> PolicyErrorCode {
    let err = r.expect_err("the program should refuse");
    custom(&err)
        .and_then(PolicyErrorCode::from_code)
        .unwrap_or_else(|| panic!("not a policy error: {err:?}"))
}

/// The payments error a transaction failed with.
pub fn payments_err(r: Result<u64, TransactionError>) -> PaymentsErrorCode {
    let err = r.expect_err("the program should refuse");
    custom(&err)
        .and_then(PaymentsErrorCode::from_code)
        .unwrap_or_else(|| panic!("not a payments error: {err:?}"))
}
