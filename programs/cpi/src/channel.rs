//! CPI into the payment-channel program (`programs/channel`): `open` (disc 1) and `topUp`
//! (disc 3) with the caller's PDA (or a policy wallet) as the payer.
//!
//! `open` data: `1 || salt u64 || deposit u64 || grace_period u32 || open_slot u64 ||
//! splits preimage (count u32 || count × (recipient [32] || bps u16))`; write it with
//! [`open_data`]. Accounts (14): payer (s,w), rentPayer (s,w), payee, mint, authorizedSigner,
//! channel (w), payerTokenAccount (w), channelTokenAccount (w), tokenProgram, systemProgram,
//! rent, associatedTokenProgram, eventAuthority, channelProgram.
//!
//! `topUp` data: `3 || amount u64`. Accounts (6): payer (s), channel (w), payerTokenAccount (w),
//! channelTokenAccount (w), mint, tokenProgram.

use pinocchio::{
    AccountView, Address, ProgramResult,
    cpi::{Signer, invoke_signed},
    error::ProgramError,
    instruction::{InstructionAccount, InstructionView},
};

/// Channel `open` discriminator.
pub const OPEN: u8 = 1;
/// Channel `topUp` discriminator.
pub const TOP_UP: u8 = 3;
/// `open` data before the splits preimage.
pub const OPEN_HEADER_LEN: usize = 29;
/// Offset of `deposit` in `open` data (after the discriminator and salt).
pub const OPEN_DEPOSIT_OFFSET: usize = 9;
/// Offset of `Channel.payee` in the channel account.
pub const CHANNEL_PAYEE_OFFSET: usize = 120;
/// Size of the channel account.
pub const CHANNEL_LEN: usize = 256;
/// Split recipients [`open_data`] can encode (a stack buffer; the program allows 32).
pub const MAX_CPI_SPLITS: usize = 8;
/// Largest `open` data [`open_data`] writes.
pub const MAX_OPEN_DATA_LEN: usize = OPEN_HEADER_LEN + 4 + 34 * MAX_CPI_SPLITS;

/// `open`'s arguments.
pub struct OpenArgs<'a> {
    /// PDA disambiguator.
    pub salt: u64,
    /// Initial deposit, base units.
    pub deposit: u64,
    /// Forced-close grace period, seconds.
    pub grace_period: u32,
    /// A slot within the channel program's open window.
    pub open_slot: u64,
    /// `(recipient, bps)` splits, at most [`MAX_CPI_SPLITS`].
    pub splits: &'a [(Address, u16)],
}

/// Writes `open` data into `buf`; returns its length, or an error for too many splits.
#[inline(always)]
pub fn open_data(
    args: &OpenArgs,
    buf: &mut [u8; MAX_OPEN_DATA_LEN],
) -> Result<usize, ProgramError> {
    if args.splits.len() > MAX_CPI_SPLITS {
        return Err(ProgramError::InvalidArgument);
    }
    buf[0] = OPEN;
    buf[1..9].copy_from_slice(&args.salt.to_le_bytes());
    buf[9..17].copy_from_slice(&args.deposit.to_le_bytes());
    buf[17..21].copy_from_slice(&args.grace_period.to_le_bytes());
    buf[21..29].copy_from_slice(&args.open_slot.to_le_bytes());
    buf[29..33].copy_from_slice(&(args.splits.len() as u32).to_le_bytes());
    let mut o = 33;
    for (recipient, bps) in args.splits {
        buf[o..o + 32].copy_from_slice(recipient.as_ref());
        buf[o + 32..o + 34].copy_from_slice(&bps.to_le_bytes());
        o += 34;
    }
    Ok(o)
}

/// The accounts of a channel `open` CPI.
pub struct OpenChannel<'a> {
    /// The depositor, owner of `payer_token_account` (a PDA signs through `signers`).
    pub payer: &'a AccountView,
    /// Funds the channel and escrow accounts (a system-owned signer).
    pub rent_payer: &'a AccountView,
    /// The paid server.
    pub payee: &'a AccountView,
    /// The mint.
    pub mint: &'a AccountView,
    /// The voucher signer.
    pub authorized_signer: &'a AccountView,
    /// The channel PDA.
    pub channel: &'a AccountView,
    /// `ATA(payer, mint)`.
    pub payer_token_account: &'a AccountView,
    /// `ATA(channel, mint)`.
    pub channel_token_account: &'a AccountView,
    /// SPL Token or Token-2022.
    pub token_program: &'a AccountView,
    /// The system program.
    pub system_program: &'a AccountView,
    /// The Rent sysvar.
    pub rent: &'a AccountView,
    /// The ATA program.
    pub ata_program: &'a AccountView,
    /// The channel program's event-authority PDA.
    pub event_authority: &'a AccountView,
    /// The channel program.
    pub channel_program: &'a AccountView,
    /// The full `open` data, discriminator first (see [`open_data`]).
    pub data: &'a [u8],
}

impl OpenChannel<'_> {
    /// Invokes `open` after checking the channel program is `expected_program`.
    #[inline(always)]
    pub fn invoke_signed(&self, expected_program: &Address, signers: &[Signer]) -> ProgramResult {
        crate::util::check_program(self.channel_program, expected_program)?;
        if self.data.first() != Some(&OPEN) {
            return Err(ProgramError::InvalidInstructionData);
        }
        let metas = [
            InstructionAccount::writable_signer(self.payer.address()),
            InstructionAccount::writable_signer(self.rent_payer.address()),
            InstructionAccount::readonly(self.payee.address()),
            InstructionAccount::readonly(self.mint.address()),
            InstructionAccount::readonly(self.authorized_signer.address()),
            InstructionAccount::writable(self.channel.address()),
            InstructionAccount::writable(self.payer_token_account.address()),
            InstructionAccount::writable(self.channel_token_account.address()),
            InstructionAccount::readonly(self.token_program.address()),
            InstructionAccount::readonly(self.system_program.address()),
            InstructionAccount::readonly(self.rent.address()),
            InstructionAccount::readonly(self.ata_program.address()),
            InstructionAccount::readonly(self.event_authority.address()),
            InstructionAccount::readonly(self.channel_program.address()),
        ];
        let ix = InstructionView {
            program_id: expected_program,
            accounts: &metas,
            data: self.data,
        };
        invoke_signed(
            &ix,
            &[
                self.payer,
                self.rent_payer,
                self.payee,
                self.mint,
                self.authorized_signer,
                self.channel,
                self.payer_token_account,
                self.channel_token_account,
                self.token_program,
                self.system_program,
                self.rent,
                self.ata_program,
                self.event_authority,
                self.channel_program,
            ],
            signers,
        )
    }
}

/// The accounts of a channel `topUp` CPI.
pub struct TopUpChannel<'a> {
    /// The channel payer (a PDA signs through `signers`).
    pub payer: &'a AccountView,
    /// The channel PDA.
    pub channel: &'a AccountView,
    /// `ATA(payer, mint)`.
    pub payer_token_account: &'a AccountView,
    /// `ATA(channel, mint)`.
    pub channel_token_account: &'a AccountView,
    /// The mint.
    pub mint: &'a AccountView,
    /// SPL Token or Token-2022.
    pub token_program: &'a AccountView,
    /// The channel program.
    pub channel_program: &'a AccountView,
    /// Amount added to the deposit, base units.
    pub amount: u64,
}

impl TopUpChannel<'_> {
    /// Invokes `topUp` after checking the channel program is `expected_program`.
    #[inline(always)]
    pub fn invoke_signed(&self, expected_program: &Address, signers: &[Signer]) -> ProgramResult {
        crate::util::check_program(self.channel_program, expected_program)?;
        let metas = [
            InstructionAccount::writable_signer(self.payer.address()),
            InstructionAccount::writable(self.channel.address()),
            InstructionAccount::writable(self.payer_token_account.address()),
            InstructionAccount::writable(self.channel_token_account.address()),
            InstructionAccount::readonly(self.mint.address()),
            InstructionAccount::readonly(self.token_program.address()),
        ];
        let mut data = [0u8; 9];
        data[0] = TOP_UP;
        data[1..9].copy_from_slice(&self.amount.to_le_bytes());
        let ix = InstructionView {
            program_id: expected_program,
            accounts: &metas,
            data: &data,
        };
        invoke_signed(
            &ix,
            &[
                self.payer,
                self.channel,
                self.payer_token_account,
                self.channel_token_account,
                self.mint,
                self.token_program,
            ],
            signers,
        )
    }
}
