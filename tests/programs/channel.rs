#![allow(clippy::expect_used, clippy::unwrap_used)]
//! The channel program's committed ELF (`programs/bin/channel.so`) in LiteSVM, driven only by
//! the `mppsol_solana::channel` builders: every instruction's happy path, every refusal, and
//! balances to the base unit. Real SPL Token / Token-2022 / ATA programs, real Ed25519
//! precompile.
//!
//! Compute units per instruction: `cargo test -p mppsol-e2e --test channel_program
//! compute_units -- --nocapture`.

use litesvm::LiteSVM;
use mppsol_solana::channel::ix::{self, DistributeAccounts, OpenArgs, OpenParties, PayerAccounts};
use mppsol_solana::channel::splits::{self, DistributionSplit};
use mppsol_solana::channel::{
    ChannelErrorCode as E, ChannelState, ChannelStatus, DEV_CHANNEL_PROGRAM_ID, DEV_TREASURY_OWNER,
    OPEN_SLOT_WINDOW, Voucher, ed25519_voucher_instruction, escrow_address, find_channel_address,
};
use mppsol_solana::token::{TokenProgram, associated_token_address};
use solana_account::Account;
use solana_address::Address;
use solana_clock::Clock;
use solana_instruction::{AccountMeta, Instruction};
use solana_instruction_error::InstructionError;
use solana_keypair::Keypair;
use solana_message::{Message, VersionedMessage};
use solana_program_pack::Pack;
use solana_signer::Signer;
use solana_transaction::versioned::VersionedTransaction;
use solana_transaction_error::TransactionError;

const PROGRAM: Address = DEV_CHANNEL_PROGRAM_ID;
const ELF: &[u8] = include_bytes!("../../programs/bin/channel.so");
const START_SLOT: u64 = 100_000;
const START_TIME: i64 = 1_800_000_000;
const GRACE: u32 = 900;
const DEPOSIT: u64 = 1_000_000;
const SOL: u64 = 1_000_000_000;

/// The outcome of one transaction: compute units of the whole transaction, or the error.
type Sent = Result<Landed, TransactionError>;

struct Landed {
    cu: u64,
    inner_data: Vec<Vec<u8>>,
}

struct Env {
    svm: LiteSVM,
    tp: TokenProgram,
    mint: Address,
    payer: Keypair,
    payee: Keypair,
    operator: Keypair,
    slot: u64,
    unix: i64,
}

fn a(b: u8) -> Address {
    Address::new_from_array([b; 32])
}

impl Env {
    fn new(tp: TokenProgram) -> Env {
        Env::with_mint_data(tp, None)
    }

    /// `mint_tail`: Token-2022 bytes after the 82-byte base (padding, type, TLV), if any.
    fn with_mint_data(tp: TokenProgram, mint_tail: Option<Vec<u8>>) -> Env {
        let mut svm = LiteSVM::new();
        svm.add_program(PROGRAM, ELF).unwrap();
        // Fixed keys: compute units depend on how many bumps each PDA search tries, so the
        // figures are reproducible only with the same addresses.
        let operator = Keypair::new_from_array([3; 32]);
        svm.airdrop(&operator.pubkey(), 100 * SOL).unwrap();
        let mut env = Env {
            svm,
            tp,
            mint: Address::new_from_array([0x4d; 32]),
            payer: Keypair::new_from_array([1; 32]),
            payee: Keypair::new_from_array([2; 32]),
            operator,
            slot: 0,
            unix: 0,
        };
        env.set_clock(START_SLOT, START_TIME);
        let mut data = vec![0u8; spl_token_interface::state::Mint::LEN];
        spl_token_interface::state::Mint {
            mint_authority: Some(env.operator.pubkey()).into(),
            supply: u64::MAX / 2,
            decimals: 6,
            is_initialized: true,
            freeze_authority: None.into(),
        }
        .pack_into_slice(&mut data);
        if let Some(tail) = mint_tail {
            data.extend_from_slice(&tail);
        }
        env.put(env.mint, data, tp.id());
        let payer = env.payer.pubkey();
        env.token_account(&payer, 10 * DEPOSIT);
        env.token_account(&env.payee.pubkey(), 0);
        env.token_account(&DEV_TREASURY_OWNER, 0);
        env
    }

    fn put(&mut self, address: Address, data: Vec<u8>, owner: Address) {
        let lamports = self.svm.minimum_balance_for_rent_exemption(data.len());
        self.svm
            .set_account(
                address,
                Account {
                    lamports,
                    data,
                    owner,
                    executable: false,
                    rent_epoch: 0,
                },
            )
            .unwrap();
    }

    /// An initialised token account at `owner`'s ATA holding `amount`.
    fn token_account(&mut self, owner: &Address, amount: u64) -> Address {
        let address = associated_token_address(owner, &self.mint, self.tp);
        let mut data = vec![0u8; spl_token_interface::state::Account::LEN];
        spl_token_interface::state::Account {
            mint: self.mint,
            owner: *owner,
            amount,
            state: spl_token_interface::state::AccountState::Initialized,
            ..Default::default()
        }
        .pack_into_slice(&mut data);
        self.put(address, data, self.tp.id());
        address
    }

    /// Freezes `owner`'s ATA (token account state byte 108 = Frozen).
    fn freeze(&mut self, owner: &Address) {
        let address = associated_token_address(owner, &self.mint, self.tp);
        let mut acc = self.svm.get_account(&address).unwrap();
        acc.data[108] = 2;
        self.svm.set_account(address, acc).unwrap();
    }

    fn set_clock(&mut self, slot: u64, unix: i64) {
        self.slot = slot;
        self.unix = unix;
        let mut clock: Clock = self.svm.get_sysvar();
        clock.slot = slot;
        clock.unix_timestamp = unix;
        self.svm.set_sysvar(&clock);
        self.svm.warp_to_slot(slot);
        let mut clock: Clock = self.svm.get_sysvar();
        clock.unix_timestamp = unix;
        self.svm.set_sysvar(&clock);
    }

    fn advance(&mut self, slots: u64, secs: i64) {
        self.set_clock(self.slot + slots, self.unix + secs);
    }

    /// Sends `ixs` with the operator as fee payer plus `signers`.
    fn send(&mut self, ixs: &[Instruction], signers: &[&Keypair]) -> Sent {
        self.svm.expire_blockhash();
        let mut all: Vec<&Keypair> = vec![&self.operator];
        all.extend(
            signers
                .iter()
                .copied()
                .filter(|k| k.pubkey() != self.operator.pubkey()),
        );
        let msg = Message::new_with_blockhash(
            ixs,
            Some(&self.operator.pubkey()),
            &self.svm.latest_blockhash(),
        );
        let tx = VersionedTransaction::try_new(VersionedMessage::Legacy(msg), &all).unwrap();
        match self.svm.send_transaction(tx) {
            Ok(meta) => Ok(Landed {
                cu: meta.compute_units_consumed,
                inner_data: meta
                    .inner_instructions
                    .iter()
                    .flatten()
                    .map(|i| i.instruction.data.clone())
                    .collect(),
            }),
            Err(f) => {
                // Shown only when a test fails (captured otherwise).
                eprintln!("{}", f.meta.pretty_logs());
                Err(f.err)
            }
        }
    }

    fn parties(&self) -> OpenParties {
        OpenParties {
            payer: self.payer.pubkey(),
            rent_payer: self.operator.pubkey(),
            payee: self.payee.pubkey(),
            mint: self.mint,
            authorized_signer: self.payer.pubkey(),
            token_program: self.tp,
        }
    }

    fn args(&self, splits: Vec<DistributionSplit>) -> OpenArgs {
        OpenArgs {
            salt: 1,
            deposit: DEPOSIT,
            grace_period: GRACE,
            open_slot: self.slot,
            splits,
        }
    }

    fn channel_of(&self, parties: &OpenParties, args: &OpenArgs) -> Address {
        find_channel_address(&PROGRAM, &parties.seeds(args)).0
    }

    /// Opens the default channel with `splits`; returns its address.
    fn open(&mut self, splits: Vec<DistributionSplit>) -> Address {
        let (parties, args) = (self.parties(), self.args(splits));
        let payer = self.payer.insecure_clone();
        self.send(&[ix::open(&PROGRAM, &parties, &args)], &[&payer])
            .expect("open");
        self.channel_of(&parties, &args)
    }

    fn balance(&self, owner: &Address) -> u64 {
        self.balance_at(&associated_token_address(owner, &self.mint, self.tp))
    }

    fn balance_at(&self, address: &Address) -> u64 {
        match self.svm.get_account(address) {
            Some(acc) if acc.data.len() >= 72 => {
                u64::from_le_bytes(acc.data[64..72].try_into().unwrap())
            }
            _ => 0,
        }
    }

    fn lamports(&self, address: &Address) -> u64 {
        self.svm.get_balance(address).unwrap_or(0)
    }

    fn state(&self, channel: &Address) -> ChannelState {
        let acc = self.svm.get_account(channel).expect("channel exists");
        assert_eq!(acc.owner, PROGRAM);
        ChannelState::decode(&acc.data).unwrap()
    }

    fn exists(&self, address: &Address) -> bool {
        self.svm
            .get_account(address)
            .is_some_and(|a| a.lamports > 0)
    }

    fn voucher(&self, channel: &Address, amount: u64) -> (Instruction, Voucher) {
        self.voucher_by(&self.payer, channel, amount, 0)
    }

    fn voucher_by(
        &self,
        signer: &Keypair,
        channel: &Address,
        amount: u64,
        expires_at: i64,
    ) -> (Instruction, Voucher) {
        let v = Voucher {
            channel_id: *channel,
            cumulative_amount: amount,
            expires_at,
        };
        (
            ed25519_voucher_instruction(&signer.pubkey(), &v.sign(signer), &v),
            v,
        )
    }

    fn settle(&mut self, channel: &Address, amount: u64) -> Sent {
        let (pre, _) = self.voucher(channel, amount);
        self.send(&[pre, ix::settle(&PROGRAM, channel)], &[])
    }

    fn payer_accounts(&self, channel: &Address) -> PayerAccounts {
        PayerAccounts {
            payer: self.payer.pubkey(),
            channel: *channel,
            mint: self.mint,
            token_program: self.tp,
        }
    }

    fn distribute_accounts(&self, channel: &Address) -> DistributeAccounts {
        DistributeAccounts {
            channel: *channel,
            payer: self.payer.pubkey(),
            payee: self.payee.pubkey(),
            rent_payer: self.operator.pubkey(),
            mint: self.mint,
            token_program: self.tp,
            treasury_owner: DEV_TREASURY_OWNER,
        }
    }

    fn distribute(&mut self, channel: &Address, splits: &[DistributionSplit]) -> Sent {
        let ix = ix::distribute(&PROGRAM, &self.distribute_accounts(channel), splits);
        self.send(&[ix], &[])
    }

    fn settle_and_seal(&mut self, channel: &Address, amount: Option<u64>) -> Sent {
        let payee = self.payee.insecure_clone();
        let seal = ix::settle_and_seal(&PROGRAM, &payee.pubkey(), channel, amount.is_some());
        match amount {
            Some(amount) => {
                let (pre, _) = self.voucher(channel, amount);
                self.send(&[pre, seal], &[&payee])
            }
            None => self.send(&[seal], &[&payee]),
        }
    }
}

/// The program's error code in a failed transaction.
fn code(r: Sent) -> E {
    match r {
        Err(TransactionError::InstructionError(_, InstructionError::Custom(c))) => {
            E::from_code(c).unwrap_or_else(|| panic!("unknown custom error {c}"))
        }
        Err(other) => panic!("expected a channel program error, got {other:?}"),
        Ok(_) => panic!("expected a refusal, the transaction landed"),
    }
}

fn split(b: u8, bps: u16) -> DistributionSplit {
    DistributionSplit {
        recipient: a(b),
        share_bps: bps,
    }
}

#[test]
fn open_creates_the_channel_funded_by_the_operator() {
    let mut env = Env::new(TokenProgram::Token);
    let operator_before = env.lamports(&env.operator.pubkey());
    let (parties, args) = (env.parties(), env.args(vec![split(7, 1_500)]));
    let payer = env.payer.insecure_clone();
    let landed = env
        .send(&[ix::open(&PROGRAM, &parties, &args)], &[&payer])
        .unwrap();
    let channel = env.channel_of(&parties, &args);

    let s = env.state(&channel);
    assert_eq!(s.status, ChannelStatus::Open);
    assert_eq!((s.deposit, s.settled, s.payout_watermark), (DEPOSIT, 0, 0));
    assert_eq!(
        (s.salt, s.open_slot, s.grace_period),
        (1, START_SLOT, GRACE)
    );
    assert_eq!(s.payer, env.payer.pubkey());
    assert_eq!(s.payee, env.payee.pubkey());
    assert_eq!(s.authorized_signer, env.payer.pubkey());
    assert_eq!(s.mint, env.mint);
    assert_eq!(s.rent_payer, env.operator.pubkey());
    assert_eq!(s.distribution_hash, splits::distribution_hash(&args.splits));
    assert_eq!((s.closure_started_at, s.payer_withdrawn_at), (0, 0));
    assert_eq!(
        find_channel_address(&PROGRAM, &parties.seeds(&args)).1,
        s.bump
    );

    assert_eq!(env.balance(&env.payer.pubkey()), 9 * DEPOSIT);
    assert_eq!(
        env.balance_at(&escrow_address(&channel, &env.mint, env.tp)),
        DEPOSIT
    );
    // The client never needs SOL: the operator paid the fee and both rents.
    assert_eq!(env.lamports(&env.payer.pubkey()), 0);
    let rents = env.lamports(&channel) + env.lamports(&escrow_address(&channel, &env.mint, env.tp));
    assert_eq!(
        operator_before - env.lamports(&env.operator.pubkey()),
        rents + 5_000 * 2
    );
    // `Opened { channel }` was emitted by self-CPI.
    let mut opened = vec![
        0xe4, 0x45, 0xa5, 0x2e, 0x51, 0xcb, 0x9a, 0x1d, 166, 172, 97, 9, 77, 76, 189, 109,
    ];
    opened.extend_from_slice(channel.as_ref());
    assert!(landed.inner_data.contains(&opened));
}

#[test]
fn cooperative_close_pays_everyone_to_the_base_unit_and_returns_rent() {
    let mut env = Env::new(TokenProgram::Token);
    let splits = vec![split(7, 1_500), split(8, 333)];
    env.token_account(&a(7), 0);
    env.token_account(&a(8), 0);
    let channel = env.open(splits.clone());
    let escrow = escrow_address(&channel, &env.mint, env.tp);
    let pda_rent = env.lamports(&channel);
    let escrow_rent = env.lamports(&escrow);

    env.settle(&channel, 12_345).unwrap();
    assert_eq!(env.state(&channel).settled, 12_345);
    env.distribute(&channel, &splits).unwrap();
    let first = splits::payout(12_345, 0, &splits);
    assert_eq!(env.balance(&a(7)), first.recipients[0]);
    assert_eq!(env.balance(&a(8)), first.recipients[1]);
    assert_eq!(env.balance(&env.payee.pubkey()), first.payee);
    assert_eq!(env.state(&channel).payout_watermark, 12_345);
    // Open-branch dust stays in escrow.
    assert_eq!(env.balance_at(&escrow), DEPOSIT - first.total());

    env.settle_and_seal(&channel, Some(700_001)).unwrap();
    let s = env.state(&channel);
    assert_eq!((s.status, s.settled), (ChannelStatus::Sealed, 700_001));
    let operator_before = env.lamports(&env.operator.pubkey());
    env.distribute(&channel, &splits).unwrap();
    // The escrow ATA's rent went back to the rent payer (minus this transaction's fee).
    assert_eq!(
        env.lamports(&env.operator.pubkey()),
        operator_before + escrow_rent - 5_000
    );
    let total = splits::payout(700_001, 0, &splits);
    assert_eq!(env.balance(&a(7)), total.recipients[0]);
    assert_eq!(env.balance(&a(8)), total.recipients[1]);
    assert_eq!(env.balance(&env.payee.pubkey()), total.payee);
    assert_eq!(
        env.balance(&DEV_TREASURY_OWNER),
        splits::final_dust(700_001, &splits)
    );
    assert_eq!(env.balance(&env.payer.pubkey()), 10 * DEPOSIT - 700_001);
    assert_eq!(
        total.total() + splits::final_dust(700_001, &splits) + (DEPOSIT - 700_001),
        DEPOSIT
    );
    assert!(!env.exists(&escrow), "escrow ATA closed");
    let s = env.state(&channel);
    assert_eq!(s.status, ChannelStatus::Distributed);
    assert_eq!(s.payer_withdrawn_at, env.unix);

    // Inert: everything but reclaim is refused; reclaim waits for the window.
    assert_eq!(
        code(env.distribute(&channel, &splits)),
        E::ChannelNotDistributable
    );
    assert_eq!(code(env.settle(&channel, 800_000)), E::InvalidChannelStatus);
    let reclaim = ix::reclaim(&PROGRAM, &channel, &env.operator.pubkey());
    assert_eq!(
        code(env.send(std::slice::from_ref(&reclaim), &[])),
        E::ChannelCloseTooEarly
    );
    let wrong = ix::reclaim(&PROGRAM, &channel, &env.payee.pubkey());
    env.advance(OPEN_SLOT_WINDOW + 1, 600);
    assert_eq!(code(env.send(&[wrong], &[])), E::InvalidRentPayer);
    let operator_before = env.lamports(&env.operator.pubkey());
    env.send(&[reclaim], &[]).unwrap();
    assert!(!env.exists(&channel), "channel deallocated");
    assert_eq!(
        env.lamports(&env.operator.pubkey()),
        operator_before + pda_rent - 5_000
    );
    assert!(pda_rent > 0 && escrow_rent > 0);
}

#[test]
fn distribute_after_the_window_deallocates_in_place() {
    let mut env = Env::new(TokenProgram::Token);
    let mut args = env.args(vec![]);
    args.open_slot = START_SLOT - 1_400; // back-dated: the window ends 100 slots from now
    let parties = env.parties();
    let payer = env.payer.insecure_clone();
    env.send(&[ix::open(&PROGRAM, &parties, &args)], &[&payer])
        .unwrap();
    let channel = env.channel_of(&parties, &args);
    env.settle_and_seal(&channel, Some(250_000)).unwrap();
    env.advance(101, 60);
    let operator_before = env.lamports(&env.operator.pubkey());
    let rents = env.lamports(&channel) + env.lamports(&escrow_address(&channel, &env.mint, env.tp));
    env.distribute(&channel, &[]).unwrap();
    assert!(
        !env.exists(&channel),
        "fast path: no Distributed leftover, no reclaim"
    );
    assert_eq!(
        env.lamports(&env.operator.pubkey()),
        operator_before + rents - 5_000
    );
    assert_eq!(env.balance(&env.payee.pubkey()), 250_000);
    assert_eq!(env.balance(&env.payer.pubkey()), 10 * DEPOSIT - 250_000);
    assert_eq!(env.balance(&DEV_TREASURY_OWNER), 0);
    assert_eq!(code(env.distribute(&channel, &[])), E::InvalidChannelOwner);
    // The address is never reusable: its openSlot is now too stale to open again.
    assert_eq!(
        code(env.send(&[ix::open(&PROGRAM, &parties, &args)], &[&payer])),
        E::OpenSlotOutOfWindow
    );
}

#[test]
fn forced_close_grace_period_and_payer_withdrawal() {
    let mut env = Env::new(TokenProgram::Token);
    let channel = env.open(vec![]);
    let payer = env.payer.insecure_clone();
    let pa = env.payer_accounts(&channel);
    env.send(&[ix::top_up(&PROGRAM, &pa, 500)], &[&payer])
        .unwrap();
    assert_eq!(env.state(&channel).deposit, DEPOSIT + 500);
    assert_eq!(
        code(env.send(&[ix::top_up(&PROGRAM, &pa, 0)], &[&payer])),
        E::DepositMustBeNonZero
    );

    let rc = ix::request_close(&PROGRAM, &payer.pubkey(), &channel);
    let payee = env.payee.insecure_clone();
    assert_eq!(
        code(env.send(
            &[ix::request_close(&PROGRAM, &payee.pubkey(), &channel)],
            &[&payee]
        )),
        E::InvalidChannelPayer
    );
    env.send(std::slice::from_ref(&rc), &[&payer]).unwrap();
    let s = env.state(&channel);
    assert_eq!(
        (s.status, s.closure_started_at),
        (ChannelStatus::Closing, START_TIME)
    );
    assert_eq!(code(env.send(&[rc], &[&payer])), E::InvalidChannelStatus);
    assert_eq!(
        code(env.send(&[ix::top_up(&PROGRAM, &pa, 1)], &[&payer])),
        E::InvalidChannelStatus
    );
    assert_eq!(
        code(env.send(&[ix::seal(&PROGRAM, &channel)], &[])),
        E::GracePeriodNotElapsed
    );
    assert_eq!(
        code(env.distribute(&channel, &[])),
        E::ChannelNotDistributable
    );

    // The payee settles inside the grace period.
    env.advance(10, i64::from(GRACE) - 1);
    env.settle(&channel, 300_000).unwrap();
    env.advance(1, 1);
    assert_eq!(code(env.settle(&channel, 400_000)), E::GracePeriodElapsed);
    assert_eq!(
        code(env.settle_and_seal(&channel, None)),
        E::GracePeriodElapsed
    );
    assert_eq!(
        code(env.send(&[ix::withdraw_payer(&PROGRAM, &pa)], &[&payer])),
        E::InvalidChannelStatus
    );
    env.send(&[ix::seal(&PROGRAM, &channel)], &[]).unwrap();
    let s = env.state(&channel);
    assert_eq!(
        (s.status, s.closure_started_at, s.settled),
        (ChannelStatus::Sealed, 0, 300_000)
    );
    assert_eq!(code(env.settle(&channel, 400_000)), E::InvalidChannelStatus);

    env.send(&[ix::withdraw_payer(&PROGRAM, &pa)], &[&payer])
        .unwrap();
    assert_eq!(env.balance(&payer.pubkey()), 10 * DEPOSIT - 300_000);
    assert_eq!(
        env.state(&channel).status,
        ChannelStatus::Sealed,
        "withdrawPayer closes nothing"
    );
    assert_eq!(
        code(env.send(&[ix::withdraw_payer(&PROGRAM, &pa)], &[&payer])),
        E::PayerAlreadyWithdrawn
    );
    env.distribute(&channel, &[]).unwrap();
    assert_eq!(env.balance(&env.payee.pubkey()), 300_000);
    assert_eq!(
        env.balance(&payer.pubkey()),
        10 * DEPOSIT - 300_000,
        "no second refund"
    );
}

#[test]
fn settle_refuses_every_bad_voucher() {
    let mut env = Env::new(TokenProgram::Token);
    let channel = env.open(vec![]);
    let settle = ix::settle(&PROGRAM, &channel);
    let payee = env.payee.insecure_clone();

    // Wrong signer: a valid signature, by someone other than the authorized signer.
    let (pre, _) = env.voucher_by(&payee, &channel, 10, 0);
    assert_eq!(
        code(env.send(&[pre, settle.clone()], &[])),
        E::VoucherSignerMismatch
    );
    // Bad magic: the authorized signer signed 50 bytes that are not a voucher.
    let (mut pre, v) = env.voucher(&channel, 10);
    let mut bytes = v.to_bytes();
    bytes[1] = 0x02;
    let sig = env.payer.sign_message(&bytes);
    pre.data[48..112].copy_from_slice(sig.as_ref());
    pre.data[112..].copy_from_slice(&bytes);
    assert_eq!(
        code(env.send(&[pre, settle.clone()], &[])),
        E::VoucherBadMagic
    );
    // A voucher for another channel.
    let (pre, _) = env.voucher(&a(9), 10);
    assert_eq!(
        code(env.send(&[pre, settle.clone()], &[])),
        E::VoucherChannelMismatch
    );
    // Over the deposit.
    assert_eq!(
        code(env.settle(&channel, DEPOSIT + 1)),
        E::VoucherOverDeposit
    );
    // Expired (expiresAt == now) and not yet expired.
    let (pre, _) = env.voucher_by(&env.payer.insecure_clone(), &channel, 10, START_TIME);
    assert_eq!(
        code(env.send(&[pre, settle.clone()], &[])),
        E::VoucherExpired
    );
    let (pre, _) = env.voucher_by(&env.payer.insecure_clone(), &channel, 10, START_TIME + 1);
    env.send(&[pre, settle.clone()], &[]).unwrap();
    // Not increasing.
    assert_eq!(
        code(env.settle(&channel, 10)),
        E::VoucherWatermarkNotMonotonic
    );
    assert_eq!(
        code(env.settle(&channel, 9)),
        E::VoucherWatermarkNotMonotonic
    );
    env.settle(&channel, DEPOSIT).unwrap();
    assert_eq!(env.state(&channel).settled, DEPOSIT);

    // No precompile instruction at all; one that is not immediately before.
    assert_eq!(
        code(env.send(std::slice::from_ref(&settle), &[])),
        E::MissingEd25519Verification
    );
    let (pre, _) = env.voucher(&channel, 5);
    let spacer =
        solana_compute_budget_interface::ComputeBudgetInstruction::set_compute_unit_limit(400_000);
    assert_eq!(
        code(env.send(&[pre, spacer, settle.clone()], &[])),
        E::MissingEd25519Verification
    );
    // A non-canonical precompile layout (message offset moved, verified but elsewhere).
    let (mut pre, v) = env.voucher(&channel, 5);
    pre.data.extend_from_slice(&v.to_bytes());
    pre.data[10..12].copy_from_slice(&162u16.to_le_bytes());
    assert_eq!(
        code(env.send(&[pre, settle.clone()], &[])),
        E::MalformedEd25519Instruction
    );
    // A forged signature never reaches the program: the precompile fails the transaction.
    let (mut pre, _) = env.voucher(&channel, 5);
    pre.data[50] ^= 1;
    assert!(matches!(
        env.send(&[pre, settle], &[]),
        Err(TransactionError::InstructionError(0, _))
    ));
}

#[test]
fn open_refuses_bad_parameters() {
    let mut env = Env::new(TokenProgram::Token);
    let payer = env.payer.insecure_clone();
    let parties = env.parties();
    let try_open = |env: &mut Env, parties: &OpenParties, args: &OpenArgs| {
        env.send(&[ix::open(&PROGRAM, parties, args)], &[&payer])
    };
    let base = env.args(vec![]);
    let future = OpenArgs {
        open_slot: START_SLOT + 1,
        ..base.clone()
    };
    assert_eq!(
        code(try_open(&mut env, &parties, &future)),
        E::OpenSlotOutOfWindow
    );
    let stale = OpenArgs {
        open_slot: START_SLOT - OPEN_SLOT_WINDOW - 1,
        ..base.clone()
    };
    assert_eq!(
        code(try_open(&mut env, &parties, &stale)),
        E::OpenSlotOutOfWindow
    );
    let oldest = OpenArgs {
        open_slot: START_SLOT - OPEN_SLOT_WINDOW,
        salt: 2,
        ..base.clone()
    };
    try_open(&mut env, &parties, &oldest).expect("the window is inclusive");
    let zero = OpenArgs {
        deposit: 0,
        ..base.clone()
    };
    assert_eq!(
        code(try_open(&mut env, &parties, &zero)),
        E::DepositMustBeNonZero
    );
    let no_grace = OpenArgs {
        grace_period: 0,
        ..base.clone()
    };
    assert_eq!(
        code(try_open(&mut env, &parties, &no_grace)),
        E::GracePeriodMustBeNonZero
    );
    let dup = OpenArgs {
        splits: vec![split(7, 1), split(7, 2)],
        ..base.clone()
    };
    assert_eq!(
        code(try_open(&mut env, &parties, &dup)),
        E::DuplicateRecipient
    );
    let over = OpenArgs {
        splits: vec![split(7, 6_000), split(8, 4_001)],
        ..base.clone()
    };
    assert_eq!(
        code(try_open(&mut env, &parties, &over)),
        E::InvalidSplitConfig
    );
    let zero_share = OpenArgs {
        splits: vec![split(7, 0)],
        ..base.clone()
    };
    assert_eq!(
        code(try_open(&mut env, &parties, &zero_share)),
        E::InvalidSplitConfig
    );
    let channel = env.channel_of(&parties, &base);
    let to_self = OpenArgs {
        splits: vec![DistributionSplit {
            recipient: channel,
            share_bps: 1,
        }],
        ..base.clone()
    };
    assert_eq!(
        code(try_open(&mut env, &parties, &to_self)),
        E::InvalidSplitConfig
    );
    let same = OpenParties {
        payee: parties.payer,
        ..parties
    };
    assert_eq!(
        code(try_open(&mut env, &same, &base)),
        E::PayerPayeeMustDiffer
    );
    let pda_signer = OpenParties {
        authorized_signer: channel,
        ..parties
    };
    assert_eq!(
        code(try_open(&mut env, &pda_signer, &base)),
        E::InvalidAuthorizedSigner
    );

    // The channel account must be the PDA of the parameters.
    let mut wrong_pda = ix::open(&PROGRAM, &parties, &base);
    wrong_pda.accounts[5].pubkey = env.channel_of(
        &parties,
        &OpenArgs {
            salt: 99,
            ..base.clone()
        },
    );
    assert_eq!(
        code(env.send(&[wrong_pda], &[&payer])),
        E::ChannelAddressMismatch
    );
    // Exact account lists.
    let mut extra = ix::open(&PROGRAM, &parties, &base);
    extra.accounts.push(AccountMeta::new_readonly(a(3), false));
    assert_eq!(code(env.send(&[extra], &[&payer])), E::TooManyAccountKeys);
    let mut missing = ix::open(&PROGRAM, &parties, &base);
    missing.accounts.pop();
    assert_eq!(
        code(env.send(&[missing], &[&payer])),
        E::NotEnoughAccountKeys
    );
    // Not the payer's ATA as the source.
    let mut not_ata = ix::open(&PROGRAM, &parties, &base);
    not_ata.accounts[6].pubkey = associated_token_address(&env.payee.pubkey(), &env.mint, env.tp);
    assert_eq!(
        code(env.send(&[not_ata], &[&payer])),
        E::PayerAccountMismatch
    );

    // Opening the same seeds twice while the first is live.
    try_open(&mut env, &parties, &base).unwrap();
    assert_eq!(
        code(try_open(&mut env, &parties, &base)),
        E::ChannelAlreadyInitialized
    );
}

#[test]
fn open_tolerates_a_prefunded_channel_address() {
    let mut env = Env::new(TokenProgram::Token);
    let (parties, args) = (env.parties(), env.args(vec![]));
    let channel = env.channel_of(&parties, &args);
    let donation =
        solana_system_interface::instruction::transfer(&env.operator.pubkey(), &channel, 1_000_000);
    env.send(&[donation], &[]).unwrap();
    let payer = env.payer.insecure_clone();
    env.send(&[ix::open(&PROGRAM, &parties, &args)], &[&payer])
        .unwrap();
    assert_eq!(
        env.lamports(&channel),
        env.svm.minimum_balance_for_rent_exemption(256)
    );
    assert_eq!(env.state(&channel).deposit, DEPOSIT);
}

#[test]
fn distribute_refuses_wrong_accounts_and_splits() {
    let mut env = Env::new(TokenProgram::Token);
    let splits = vec![split(7, 1_000)];
    env.token_account(&a(7), 0);
    let channel = env.open(splits.clone());
    assert_eq!(
        code(env.distribute(&channel, &splits)),
        E::NothingToDistribute
    );
    env.settle(&channel, 5_000).unwrap();
    assert_eq!(
        code(env.distribute(&channel, &[split(7, 1_001)])),
        E::InvalidDistributionHash
    );
    assert_eq!(
        code(env.distribute(&channel, &[])),
        E::InvalidDistributionHash
    );
    let mut short = ix::distribute(&PROGRAM, &env.distribute_accounts(&channel), &splits);
    short.accounts.pop();
    assert_eq!(
        code(env.send(&[short], &[])),
        E::RecipientAccountCountMismatch
    );
    let mut wrong_rent = env.distribute_accounts(&channel);
    wrong_rent.rent_payer = env.payee.pubkey();
    assert_eq!(
        code(env.send(&[ix::distribute(&PROGRAM, &wrong_rent, &splits)], &[])),
        E::InvalidRentPayer
    );
    let mut wrong_treasury = env.distribute_accounts(&channel);
    wrong_treasury.treasury_owner = a(5);
    assert_eq!(
        code(env.send(&[ix::distribute(&PROGRAM, &wrong_treasury, &splits)], &[])),
        E::TreasuryAccountMismatch
    );
    let mut wrong_recipient = ix::distribute(&PROGRAM, &env.distribute_accounts(&channel), &splits);
    wrong_recipient.accounts[11].pubkey = associated_token_address(&a(8), &env.mint, env.tp);
    assert_eq!(
        code(env.send(&[wrong_recipient], &[])),
        E::RecipientAccountMismatch
    );
    env.distribute(&channel, &splits).unwrap();
    assert_eq!(env.balance(&a(7)), 500);
    assert_eq!(env.balance(&env.payee.pubkey()), 4_500);
    assert_eq!(
        code(env.distribute(&channel, &splits)),
        E::NothingToDistribute
    );
}

#[test]
fn unusable_recipient_ata_forfeits_its_share_to_the_treasury() {
    let mut env = Env::new(TokenProgram::Token);
    let splits = vec![split(7, 2_000)]; // a(7) has no token account
    let channel = env.open(splits.clone());
    env.settle(&channel, 10_000).unwrap();
    let landed = env.distribute(&channel, &splits).unwrap();
    assert_eq!(env.balance(&a(7)), 0);
    assert_eq!(env.balance(&DEV_TREASURY_OWNER), 2_000);
    assert_eq!(env.balance(&env.payee.pubkey()), 8_000);
    assert_eq!(
        env.state(&channel).payout_watermark,
        10_000,
        "the watermark still advances"
    );
    // PayoutRedirected { channel, owner, amount, beneficiary: Recipient, reason: NotInitialized }.
    let mut event = vec![
        0xe4, 0x45, 0xa5, 0x2e, 0x51, 0xcb, 0x9a, 0x1d, 209, 22, 185, 215, 84, 167, 84, 80,
    ];
    event.extend_from_slice(channel.as_ref());
    event.extend_from_slice(a(7).as_ref());
    event.extend_from_slice(&2_000u64.to_le_bytes());
    event.extend_from_slice(&[0, 2]);
    assert!(landed.inner_data.contains(&event));
    // Repairing the ATA later does not bring the share back.
    env.token_account(&a(7), 0);
    env.settle(&channel, 20_000).unwrap();
    env.distribute(&channel, &splits).unwrap();
    assert_eq!(env.balance(&a(7)), 2_000);
    assert_eq!(env.balance(&DEV_TREASURY_OWNER), 2_000);
}

#[test]
fn a_frozen_payer_ata_blocks_payer_instructions_and_forfeits_the_sealed_refund() {
    let mut env = Env::new(TokenProgram::Token);
    let channel = env.open(vec![]);
    let payer = env.payer.insecure_clone();
    env.freeze(&payer.pubkey());
    let pa = env.payer_accounts(&channel);
    assert_eq!(
        code(env.send(&[ix::top_up(&PROGRAM, &pa, 1)], &[&payer])),
        E::InvalidPayerTokenAccount
    );
    env.settle_and_seal(&channel, Some(100)).unwrap();
    assert_eq!(
        code(env.send(&[ix::withdraw_payer(&PROGRAM, &pa)], &[&payer])),
        E::InvalidPayerTokenAccount
    );
    // distribute cannot wait for the payer: the refund goes to the treasury, with an event.
    let landed = env.distribute(&channel, &[]).unwrap();
    assert_eq!(env.balance(&env.payee.pubkey()), 100);
    assert_eq!(env.balance(&DEV_TREASURY_OWNER), DEPOSIT - 100);
    assert_eq!(env.balance(&payer.pubkey()), 9 * DEPOSIT);
    let mut event = vec![
        0xe4, 0x45, 0xa5, 0x2e, 0x51, 0xcb, 0x9a, 0x1d, 209, 22, 185, 215, 84, 167, 84, 80,
    ];
    event.extend_from_slice(channel.as_ref());
    event.extend_from_slice(payer.pubkey().as_ref());
    event.extend_from_slice(&(DEPOSIT - 100).to_le_bytes());
    event.extend_from_slice(&[2, 2]); // beneficiary Payer, reason NotInitialized (frozen)
    assert!(landed.inner_data.contains(&event));
    assert_eq!(env.state(&channel).status, ChannelStatus::Distributed);
}

#[test]
fn only_the_payee_seals_and_only_the_payer_closes_or_withdraws() {
    let mut env = Env::new(TokenProgram::Token);
    let channel = env.open(vec![]);
    let payer = env.payer.insecure_clone();
    let seal_as_payer = ix::settle_and_seal(&PROGRAM, &payer.pubkey(), &channel, false);
    assert_eq!(
        code(env.send(&[seal_as_payer], &[&payer])),
        E::InvalidChannelPayee
    );
    let mut unsigned = ix::settle_and_seal(&PROGRAM, &env.payee.pubkey(), &channel, false);
    unsigned.accounts[0].is_signer = false;
    assert_eq!(
        code(env.send(&[unsigned], &[])),
        E::MissingRequiredSignature
    );
    let mut extra = ix::seal(&PROGRAM, &channel);
    extra.accounts.push(AccountMeta::new_readonly(a(1), false));
    assert_eq!(code(env.send(&[extra], &[])), E::TooManyAccountKeys);
    assert_eq!(
        code(env.send(&[ix::seal(&PROGRAM, &channel)], &[])),
        E::InvalidChannelStatus
    );
    env.settle_and_seal(&channel, None).unwrap();
    assert_eq!(env.state(&channel).status, ChannelStatus::Sealed);
    // Sealed with nothing settled: distribute refunds the whole deposit.
    env.distribute(&channel, &[]).unwrap();
    assert_eq!(env.balance(&payer.pubkey()), 10 * DEPOSIT);
    assert_eq!(env.balance(&env.payee.pubkey()), 0);
}

#[test]
fn token_2022_channels_work_and_disallowed_extensions_are_refused() {
    let mut env = Env::new(TokenProgram::Token2022);
    let channel = env.open(vec![]);
    // The escrow ATA created by the ATA program carries ImmutableOwner (allowed).
    let escrow = env
        .svm
        .get_account(&escrow_address(&channel, &env.mint, env.tp))
        .unwrap();
    assert!(escrow.data.len() > 165);
    env.settle_and_seal(&channel, Some(123_456)).unwrap();
    env.distribute(&channel, &[]).unwrap();
    assert_eq!(env.balance(&env.payee.pubkey()), 123_456);
    assert_eq!(env.balance(&env.payer.pubkey()), 10 * DEPOSIT - 123_456);

    // A mint with an allowed extension (MetadataPointer, type 18) opens and settles.
    let mut meta_env = Env::with_mint_data(TokenProgram::Token2022, Some(mint_extension(18, 64)));
    let channel = meta_env.open(vec![]);
    meta_env.settle_and_seal(&channel, Some(7)).unwrap();
    meta_env.distribute(&channel, &[]).unwrap();
    assert_eq!(meta_env.balance(&meta_env.payee.pubkey()), 7);

    // A mint with TransferFeeConfig (type 1) is refused at open.
    let mut fee_env = Env::with_mint_data(TokenProgram::Token2022, Some(mint_extension(1, 108)));
    let (parties, args) = (fee_env.parties(), fee_env.args(vec![]));
    let payer = fee_env.payer.insecure_clone();
    assert_eq!(
        code(fee_env.send(&[ix::open(&PROGRAM, &parties, &args)], &[&payer])),
        E::UnsupportedMintExtension
    );
    // A mint under one token program with the other program's id is refused.
    let mut wrong_tp = ix::open(&PROGRAM, &parties, &args);
    wrong_tp.accounts[8].pubkey = TokenProgram::Token.id();
    assert_eq!(
        code(fee_env.send(&[wrong_tp], &[&payer])),
        E::MintAccountMismatch
    );
}

/// The Token-2022 bytes after an 82-byte mint base: padding to 165, the Mint account type, one
/// zero-valued TLV extension of `ty` with `len` bytes.
fn mint_extension(ty: u16, len: u16) -> Vec<u8> {
    let mut tail = vec![0u8; 165 - 82];
    tail.push(1);
    tail.extend_from_slice(&ty.to_le_bytes());
    tail.extend_from_slice(&len.to_le_bytes());
    tail.extend(std::iter::repeat_n(0u8, usize::from(len)));
    tail
}

#[test]
fn host_error_codes_match_the_program_source() {
    let src = include_str!("../../programs/channel/src/error.rs");
    let mut seen = 0;
    for line in src.lines().map(str::trim) {
        let Some((name, rest)) = line.split_once(" = ") else {
            continue;
        };
        let Some(num) = rest.strip_suffix(',') else {
            continue;
        };
        let Ok(num) = num.parse::<u32>() else {
            continue;
        };
        let host =
            E::from_code(num).unwrap_or_else(|| panic!("{name} = {num} missing on the host"));
        assert_eq!(host.name(), name);
        seen += 1;
    }
    assert_eq!(
        seen,
        E::ALL.len(),
        "the host knows codes the program does not define"
    );
}

#[test]
fn compute_units() {
    let mut env = Env::new(TokenProgram::Token);
    let splits = vec![split(7, 1_500)];
    env.token_account(&a(7), 0);
    let (parties, args) = (env.parties(), env.args(splits.clone()));
    let payer = env.payer.insecure_clone();
    let mut rows = Vec::new();
    rows.push((
        "open (1 split)",
        env.send(&[ix::open(&PROGRAM, &parties, &args)], &[&payer])
            .unwrap()
            .cu,
    ));
    let channel = env.channel_of(&parties, &args);
    let pa = env.payer_accounts(&channel);
    rows.push((
        "topUp",
        env.send(&[ix::top_up(&PROGRAM, &pa, 10)], &[&payer])
            .unwrap()
            .cu,
    ));
    rows.push((
        "settle (+ ed25519 precompile)",
        env.settle(&channel, 100_000).unwrap().cu,
    ));
    rows.push((
        "distribute, Open (1 split)",
        env.distribute(&channel, &splits).unwrap().cu,
    ));
    rows.push((
        "settleAndSeal (+ voucher)",
        env.settle_and_seal(&channel, Some(200_000)).unwrap().cu,
    ));
    rows.push((
        "withdrawPayer",
        env.send(&[ix::withdraw_payer(&PROGRAM, &pa)], &[&payer])
            .unwrap()
            .cu,
    ));
    rows.push((
        "distribute, Sealed -> Distributed",
        env.distribute(&channel, &splits).unwrap().cu,
    ));
    env.advance(OPEN_SLOT_WINDOW + 1, 700);
    let reclaim = ix::reclaim(&PROGRAM, &channel, &env.operator.pubkey());
    rows.push(("reclaim", env.send(&[reclaim], &[]).unwrap().cu));
    let channel2 = env.open(vec![]);
    rows.push((
        "requestClose",
        env.send(
            &[ix::request_close(&PROGRAM, &payer.pubkey(), &channel2)],
            &[&payer],
        )
        .unwrap()
        .cu,
    ));
    env.advance(1, i64::from(GRACE));
    rows.push((
        "seal",
        env.send(&[ix::seal(&PROGRAM, &channel2)], &[]).unwrap().cu,
    ));
    env.advance(OPEN_SLOT_WINDOW + 1, 60);
    rows.push((
        "distribute, Sealed fast path (dealloc)",
        env.distribute(&channel2, &[]).unwrap().cu,
    ));
    // Eight splits (a legacy transaction still fits 19 distribute accounts; 32 recipients need a
    // v0 transaction with a lookup table, spec "distribute").
    let many: Vec<_> = (0..8)
        .map(|i| split(0x60 + i, 100 + u16::from(i)))
        .collect();
    for s in &many {
        env.token_account(&s.recipient, 0);
    }
    let wide = {
        let args = OpenArgs {
            salt: 8,
            ..env.args(many.clone())
        };
        env.send(&[ix::open(&PROGRAM, &parties, &args)], &[&payer])
            .unwrap();
        env.channel_of(&parties, &args)
    };
    env.settle_and_seal(&wide, Some(999_999)).unwrap();
    let budget =
        solana_compute_budget_interface::ComputeBudgetInstruction::set_compute_unit_limit(400_000);
    let dist = ix::distribute(&PROGRAM, &env.distribute_accounts(&wide), &many);
    rows.push((
        "distribute, Sealed (8 splits)",
        env.send(&[budget, dist], &[]).unwrap().cu,
    ));
    println!("| instruction | compute units (whole transaction) |\n|---|---|");
    for (name, cu) in &rows {
        println!("| {name} | {cu} |");
        assert!(*cu > 0 && *cu < 200_000, "{name}: {cu}");
    }
}

#[test]
fn the_embedded_ledger_loads_the_same_program_at_the_same_id() {
    assert_eq!(
        mppsol_ledger::programs::DEV_CHANNEL_PROGRAM_ID,
        DEV_CHANNEL_PROGRAM_ID
    );
    assert_eq!(mppsol_ledger::programs::CHANNEL_PROGRAM_ELF, ELF);
}

#[test]
fn a_delegated_signer_replaces_the_payer_for_vouchers() {
    let mut env = Env::new(TokenProgram::Token);
    let delegate = Keypair::new_from_array([9; 32]);
    let parties = OpenParties {
        authorized_signer: delegate.pubkey(),
        ..env.parties()
    };
    let args = env.args(vec![]);
    let payer = env.payer.insecure_clone();
    env.send(&[ix::open(&PROGRAM, &parties, &args)], &[&payer])
        .unwrap();
    let channel = env.channel_of(&parties, &args);
    assert_eq!(env.state(&channel).authorized_signer, delegate.pubkey());
    let settle = ix::settle(&PROGRAM, &channel);
    let (by_payer, _) = env.voucher_by(&payer, &channel, 10, 0);
    assert_eq!(
        code(env.send(&[by_payer, settle.clone()], &[])),
        E::VoucherSignerMismatch
    );
    let (by_delegate, _) = env.voucher_by(&delegate, &channel, 10, 0);
    env.send(&[by_delegate, settle], &[]).unwrap();
    assert_eq!(env.state(&channel).settled, 10);
}
