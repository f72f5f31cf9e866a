//! The spending-policy program's layouts, and CPI helpers for a program whose PDA is the
//! *agent* of a policy wallet (`programs/policy`; README has the full table).
//!
//! Wallet PDA: `["wallet", owner, agent]`. Its token vaults are its ATAs.

use pinocchio::{
    AccountView, Address, ProgramResult,
    cpi::{Signer, invoke_signed},
    error::ProgramError,
    instruction::{InstructionAccount, InstructionView},
};

/// First seed of the wallet PDA.
pub const WALLET_SEED: &[u8] = b"wallet";
/// Wallet account size.
pub const WALLET_LEN: usize = 728;
/// Wallet account-type tag.
pub const WALLET_DISCRIMINATOR: u8 = 0x57;
/// Wallet layout version.
pub const WALLET_VERSION: u8 = 1;
/// Counterparty allow-list capacity.
pub const MAX_COUNTERPARTIES: usize = 16;
/// Longest memo `pay` forwards to SPL Memo.
pub const MAX_MEMO_LEN: usize = 566;
/// Length of the rolling-day window, seconds: spend is counted per `unix_timestamp / 86_400`.
pub const DAY_SECONDS: i64 = 86_400;
/// Policy blob bytes before the counterparty list.
pub const POLICY_HEADER_LEN: usize = 122;

/// Instruction discriminators.
pub mod disc {
    /// `createWallet`.
    pub const CREATE_WALLET: u8 = 1;
    /// `setPolicy`.
    pub const SET_POLICY: u8 = 2;
    /// `pay`.
    pub const PAY: u8 = 3;
    /// `payWithReceipt`.
    pub const PAY_WITH_RECEIPT: u8 = 4;
    /// `fundChannel`.
    pub const FUND_CHANNEL: u8 = 5;
    /// `topUpChannel`.
    pub const TOP_UP_CHANNEL: u8 = 6;
    /// `setPaused`.
    pub const SET_PAUSED: u8 = 7;
    /// `withdraw`.
    pub const WITHDRAW: u8 = 8;
    /// `closeWallet`.
    pub const CLOSE_WALLET: u8 = 9;
}

/// Policy flag bits.
pub mod flags {
    /// Every `pay` must carry a non-empty memo.
    pub const REQUIRE_MEMO: u8 = 1;
    /// Only listed counterparties may be paid (an empty list then allows nobody).
    pub const RESTRICT_COUNTERPARTIES: u8 = 2;
    /// Every bit the program knows.
    pub const ALL: u8 = REQUIRE_MEMO | RESTRICT_COUNTERPARTIES;
}

/// Wallet field offsets (little-endian).
pub mod wallet {
    /// u8 discriminator `0x57`, u8 version, u8 bump, u8 paused, u8 flags, u8 counterparty count,
    /// 2 bytes zero.
    pub const DISCRIMINATOR: usize = 0;
    /// u8 paused (0/1).
    pub const PAUSED: usize = 3;
    /// u8 flags.
    pub const FLAGS: usize = 4;
    /// u8 number of counterparties.
    pub const COUNTERPARTY_COUNT: usize = 5;
    /// Owner: sets the policy, pauses, withdraws, closes, co-signs above the threshold.
    pub const OWNER: usize = 8;
    /// Agent: signs payments.
    pub const AGENT: usize = 40;
    /// u64 largest single payment.
    pub const MAX_SINGLE: usize = 72;
    /// u64 largest total per day window.
    pub const MAX_DAILY: usize = 80;
    /// u64: payments above it need the owner's signature too.
    pub const ESCALATION_THRESHOLD: usize = 88;
    /// u64 day index (`unix / 86_400`) `SPENT_TODAY` counts.
    pub const DAY_INDEX: usize = 96;
    /// u64 spent in that day.
    pub const SPENT_TODAY: usize = 104;
    /// u64 last nonce used (0 = none yet).
    pub const LAST_NONCE: usize = 112;
    /// 256-bit bitmap of allowed categories (bit `c % 8` of byte `c / 8`).
    pub const CATEGORIES: usize = 120;
    /// The channel program `fundChannel`/`topUpChannel` may call (zero = disabled).
    pub const CHANNEL_PROGRAM: usize = 152;
    /// The payments program `payWithReceipt` may call (zero = disabled).
    pub const PAYMENTS_PROGRAM: usize = 184;
    /// `MAX_COUNTERPARTIES` × 32-byte addresses, the first `COUNTERPARTY_COUNT` used.
    pub const COUNTERPARTIES: usize = 216;
}

/// The accounts and arguments of a policy `pay` / `payWithReceipt` CPI, signed by the agent.
pub struct PayViaPolicy<'a> {
    /// The wallet's agent (a PDA of the caller signs through `signers`); with a receipt it also
    /// funds the receipt account, so it must then be a system-owned account holding lamports.
    pub agent: &'a AccountView,
    /// The wallet's owner (must sign above the escalation threshold).
    pub owner: &'a AccountView,
    /// The wallet PDA.
    pub wallet: &'a AccountView,
    /// `ATA(wallet, mint)`.
    pub vault: &'a AccountView,
    /// The counterparty (owner of `recipient_token_account`).
    pub recipient: &'a AccountView,
    /// `ATA(recipient, mint)`.
    pub recipient_token_account: &'a AccountView,
    /// The mint.
    pub mint: &'a AccountView,
    /// SPL Token or Token-2022.
    pub token_program: &'a AccountView,
    /// SPL Memo.
    pub memo_program: &'a AccountView,
    /// The policy program.
    pub policy_program: &'a AccountView,
    /// With a receipt: (payments program, receipt PDA, system program, challenge hash).
    pub receipt: Option<ReceiptAccounts<'a>>,
    /// Amount, base units.
    pub amount: u64,
    /// Strictly greater than the wallet's last nonce.
    pub nonce: u64,
    /// The provider's category id.
    pub category: u8,
    /// Memo (may be empty unless the policy requires one).
    pub memo: &'a [u8],
}

/// The extra accounts of `payWithReceipt`.
pub struct ReceiptAccounts<'a> {
    /// The payments program.
    pub payments_program: &'a AccountView,
    /// `["receipt", challenge_hash]` under the payments program.
    pub receipt: &'a AccountView,
    /// The system program.
    pub system_program: &'a AccountView,
    /// `sha256(challenge id)`.
    pub challenge_hash: &'a [u8; 32],
}

impl PayViaPolicy<'_> {
    /// Invokes `pay` (or `payWithReceipt`) after checking the policy program is
    /// `expected_program`.
    #[inline(always)]
    pub fn invoke_signed(&self, expected_program: &Address, signers: &[Signer]) -> ProgramResult {
        crate::util::check_program(self.policy_program, expected_program)?;
        if self.memo.len() > MAX_MEMO_LEN {
            return Err(ProgramError::InvalidArgument);
        }
        let mut data = [0u8; 50 + MAX_MEMO_LEN];
        data[1..9].copy_from_slice(&self.amount.to_le_bytes());
        data[9..17].copy_from_slice(&self.nonce.to_le_bytes());
        data[17] = self.category;
        let mut len = 18;
        if let Some(r) = &self.receipt {
            data[0] = disc::PAY_WITH_RECEIPT;
            data[18..50].copy_from_slice(r.challenge_hash);
            len = 50;
        } else {
            data[0] = disc::PAY;
        }
        data[len..len + self.memo.len()].copy_from_slice(self.memo);
        len += self.memo.len();
        let agent_meta = if self.receipt.is_some() {
            InstructionAccount::writable_signer(self.agent.address())
        } else {
            InstructionAccount::readonly_signer(self.agent.address())
        };
        let head = [
            agent_meta,
            InstructionAccount::new(self.owner.address(), false, self.owner.is_signer()),
            InstructionAccount::writable(self.wallet.address()),
            InstructionAccount::writable(self.vault.address()),
            InstructionAccount::readonly(self.recipient.address()),
            InstructionAccount::writable(self.recipient_token_account.address()),
            InstructionAccount::readonly(self.mint.address()),
            InstructionAccount::readonly(self.token_program.address()),
            InstructionAccount::readonly(self.memo_program.address()),
        ];
        let views = [
            self.agent,
            self.owner,
            self.wallet,
            self.vault,
            self.recipient,
            self.recipient_token_account,
            self.mint,
            self.token_program,
            self.memo_program,
        ];
        match &self.receipt {
            None => {
                let ix = InstructionView {
                    program_id: expected_program,
                    accounts: &head,
                    data: &data[..len],
                };
                invoke_signed(&ix, &views, signers)
            }
            Some(r) => {
                let metas = [
                    head[0].clone(),
                    head[1].clone(),
                    head[2].clone(),
                    head[3].clone(),
                    head[4].clone(),
                    head[5].clone(),
                    head[6].clone(),
                    head[7].clone(),
                    head[8].clone(),
                    InstructionAccount::readonly(r.payments_program.address()),
                    InstructionAccount::writable(r.receipt.address()),
                    InstructionAccount::readonly(r.system_program.address()),
                ];
                let ix = InstructionView {
                    program_id: expected_program,
                    accounts: &metas,
                    data: &data[..len],
                };
                invoke_signed(
                    &ix,
                    &[
                        views[0],
                        views[1],
                        views[2],
                        views[3],
                        views[4],
                        views[5],
                        views[6],
                        views[7],
                        views[8],
                        r.payments_program,
                        r.receipt,
                        r.system_program,
                    ],
                    signers,
                )
            }
        }
    }
}

/// The accounts of a policy `topUpChannel` CPI, signed by the agent.
pub struct TopUpChannelViaPolicy<'a> {
    /// The wallet's agent (a PDA of the caller signs through `signers`).
    pub agent: &'a AccountView,
    /// The wallet's owner (must sign above the escalation threshold).
    pub owner: &'a AccountView,
    /// The wallet PDA (the channel's payer).
    pub wallet: &'a AccountView,
    /// The channel program the wallet's policy names.
    pub channel_program: &'a AccountView,
    /// The channel PDA.
    pub channel: &'a AccountView,
    /// `ATA(wallet, mint)`.
    pub vault: &'a AccountView,
    /// `ATA(channel, mint)`.
    pub escrow: &'a AccountView,
    /// The mint.
    pub mint: &'a AccountView,
    /// SPL Token or Token-2022.
    pub token_program: &'a AccountView,
    /// The policy program.
    pub policy_program: &'a AccountView,
    /// Strictly greater than the wallet's last nonce.
    pub nonce: u64,
    /// Amount added to the deposit.
    pub amount: u64,
}

impl TopUpChannelViaPolicy<'_> {
    /// Invokes `topUpChannel` after checking the policy program is `expected_program`.
    #[inline(always)]
    pub fn invoke_signed(&self, expected_program: &Address, signers: &[Signer]) -> ProgramResult {
        crate::util::check_program(self.policy_program, expected_program)?;
        let mut data = [0u8; 18];
        data[0] = disc::TOP_UP_CHANNEL;
        data[1..9].copy_from_slice(&self.nonce.to_le_bytes());
        data[9] = crate::channel::TOP_UP;
        data[10..18].copy_from_slice(&self.amount.to_le_bytes());
        let metas = [
            InstructionAccount::readonly_signer(self.agent.address()),
            InstructionAccount::new(self.owner.address(), false, self.owner.is_signer()),
            InstructionAccount::writable(self.wallet.address()),
            InstructionAccount::readonly(self.channel_program.address()),
            InstructionAccount::writable(self.channel.address()),
            InstructionAccount::writable(self.vault.address()),
            InstructionAccount::writable(self.escrow.address()),
            InstructionAccount::readonly(self.mint.address()),
            InstructionAccount::readonly(self.token_program.address()),
        ];
        let ix = InstructionView {
            program_id: expected_program,
            accounts: &metas,
            data: &data,
        };
        invoke_signed(
            &ix,
            &[
                self.agent,
                self.owner,
                self.wallet,
                self.channel_program,
                self.channel,
                self.vault,
                self.escrow,
                self.mint,
                self.token_program,
            ],
            signers,
        )
    }
}
