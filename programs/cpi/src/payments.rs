//! The payments program: `pay` (disc 1) moves tokens with `TransferChecked` and creates the
//! receipt PDA `["receipt", challenge_hash]`, so one payment satisfies exactly one challenge
//! (a second `pay` for the same hash fails with `ReceiptAlreadyExists`).
//!
//! Data: `1 || amount u64 LE || challenge_hash [32]` (41 bytes), where `challenge_hash =
//! sha256(challenge id)`.
//!
//! Accounts: 0 authority (signer; owner of `source`), 1 rentPayer (signer, writable; funds the
//! receipt), 2 source (w), 3 destination (w), 4 mint, 5 receipt (w), 6 tokenProgram,
//! 7 systemProgram.

use pinocchio::{
    AccountView, Address, ProgramResult,
    cpi::{Signer, invoke_signed},
    instruction::{InstructionAccount, InstructionView},
};

/// `pay`'s discriminator.
pub const PAY: u8 = 1;
/// `pay`'s data length.
pub const PAY_DATA_LEN: usize = 41;
/// First seed of the receipt PDA.
pub const RECEIPT_SEED: &[u8] = b"receipt";
/// Receipt account size.
pub const RECEIPT_LEN: usize = 192;
/// Receipt account-type tag.
pub const RECEIPT_DISCRIMINATOR: u8 = 0x52;
/// Receipt layout version.
pub const RECEIPT_VERSION: u8 = 1;

/// Receipt field offsets (`RECEIPT_LEN` bytes, little-endian).
pub mod receipt {
    /// u8 discriminator (`0x52`), u8 version, u8 bump, 5 bytes zero.
    pub const DISCRIMINATOR: usize = 0;
    /// `sha256(challenge id)` the payment is for.
    pub const CHALLENGE_HASH: usize = 8;
    /// The authority that signed the payment (the source's owner).
    pub const PAYER: usize = 40;
    /// The destination token account's owner.
    pub const RECIPIENT: usize = 72;
    /// The destination token account.
    pub const DESTINATION: usize = 104;
    /// The mint.
    pub const MINT: usize = 136;
    /// u64 amount, base units.
    pub const AMOUNT: usize = 168;
    /// u64 slot the payment landed in.
    pub const SLOT: usize = 176;
    /// i64 unix timestamp of that slot.
    pub const UNIX_TIMESTAMP: usize = 184;
}

/// `pay` data.
#[inline(always)]
pub fn pay_data(amount: u64, challenge_hash: &[u8; 32]) -> [u8; PAY_DATA_LEN] {
    let mut d = [0u8; PAY_DATA_LEN];
    d[0] = PAY;
    d[1..9].copy_from_slice(&amount.to_le_bytes());
    d[9..41].copy_from_slice(challenge_hash);
    d
}

/// The accounts and arguments of a payments `pay` CPI.
pub struct PayCharge<'a> {
    /// Owner of `source`; a PDA of the caller signs through `signers`.
    pub authority: &'a AccountView,
    /// Funds the receipt account (a system-owned signer).
    pub rent_payer: &'a AccountView,
    /// Token account paid from.
    pub source: &'a AccountView,
    /// The recipient's token account.
    pub destination: &'a AccountView,
    /// The mint.
    pub mint: &'a AccountView,
    /// `["receipt", challenge_hash]` under the payments program.
    pub receipt: &'a AccountView,
    /// SPL Token or Token-2022.
    pub token_program: &'a AccountView,
    /// The system program.
    pub system_program: &'a AccountView,
    /// The payments program.
    pub payments_program: &'a AccountView,
    /// Amount, base units.
    pub amount: u64,
    /// `sha256(challenge id)`.
    pub challenge_hash: &'a [u8; 32],
}

impl PayCharge<'_> {
    /// Invokes `pay` after checking the payments program is `expected_program`; PDA signers
    /// (the authority and/or the rent payer) sign through `signers`.
    #[inline(always)]
    pub fn invoke_signed(&self, expected_program: &Address, signers: &[Signer]) -> ProgramResult {
        crate::util::check_program(self.payments_program, expected_program)?;
        let metas = [
            InstructionAccount::readonly_signer(self.authority.address()),
            InstructionAccount::writable_signer(self.rent_payer.address()),
            InstructionAccount::writable(self.source.address()),
            InstructionAccount::writable(self.destination.address()),
            InstructionAccount::readonly(self.mint.address()),
            InstructionAccount::writable(self.receipt.address()),
            InstructionAccount::readonly(self.token_program.address()),
            InstructionAccount::readonly(self.system_program.address()),
        ];
        let data = pay_data(self.amount, self.challenge_hash);
        let ix = InstructionView {
            program_id: expected_program,
            accounts: &metas,
            data: &data,
        };
        invoke_signed(
            &ix,
            &[
                self.authority,
                self.rent_payer,
                self.source,
                self.destination,
                self.mint,
                self.receipt,
                self.token_program,
                self.system_program,
            ],
            signers,
        )
    }
}
