//! Typed program errors, surfaced as `ProgramError::Custom(code)`.
//!
//! Codes follow the reference program (solana-foundation/payment-channels) where it and the spec
//! agree; `VoucherBadMagic` is 238 as the spec states (the reference moved it to 239). Codes
//! marked "mppsol" have no reference counterpart.

use pinocchio::error::ProgramError;

/// Every refusal the channel program can return.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelError {
    /// A required signer did not sign.
    MissingRequiredSignature = 1,
    /// The channel is not in the status the instruction needs.
    InvalidChannelStatus = 2,
    /// The channel account does not carry the `Channel` tag.
    InvalidAccountDiscriminator = 3,
    /// Unknown account-layout version.
    UnsupportedChannelVersion = 4,
    /// `payer` does not equal `Channel.payer`.
    InvalidChannelPayer = 5,
    /// `payee` does not equal `Channel.payee`.
    InvalidChannelPayee = 6,
    /// `mint` does not equal `Channel.mint`.
    InvalidChannelMint = 7,
    /// `event_authority` is not the program's event-authority PDA.
    InvalidEventAuthority = 8,
    /// Fewer accounts than the instruction takes.
    NotEnoughAccountKeys = 9,
    /// mppsol: more accounts than the instruction takes.
    TooManyAccountKeys = 10,
    /// mppsol: `rentPayer` does not equal `Channel.rentPayer`.
    InvalidRentPayer = 11,
    /// mppsol: an account that must be writable is not.
    AccountNotWritable = 12,
    /// mppsol: a program or sysvar account is not the expected one.
    InvalidProgramAccount = 13,
    /// mppsol: the channel account is not owned by this program.
    InvalidChannelOwner = 14,
    /// mppsol: instruction data has the wrong length or an unknown discriminator.
    InvalidInstructionData = 15,

    /// The channel account is not the PDA of its stored seeds.
    ChannelAccountMismatch = 50,
    /// The escrow account is not `ATA(channel, mint, token_program)` or is unusable.
    InvalidChannelTokenAccount = 51,
    /// The escrow account carries a Token-2022 extension outside the allow-list.
    InvalidChannelTokenExtensions = 52,
    /// The mint cannot be parsed for the given token program.
    MintAccountMismatch = 53,
    /// The token program is neither SPL Token nor Token-2022.
    InvalidMintTokenProgram = 54,
    /// A token account's base layout or TLV trailer is malformed.
    MalformedMintTokenAccountData = 55,
    /// A mint's TLV trailer is malformed.
    MalformedMintTokenExtensions = 56,
    /// The payer token account is not `ATA(payer, mint, token_program)`.
    PayerAccountMismatch = 57,
    /// The payer token account fails state/owner/mint checks.
    InvalidPayerTokenAccount = 58,
    /// The payer token account carries an extension outside the allow-list.
    InvalidPayerTokenExtensions = 59,
    /// The payee token account is not `ATA(payee, mint, token_program)`.
    PayeeAccountMismatch = 60,
    /// The payee token account fails state/owner/mint checks.
    InvalidPayeeTokenAccount = 61,
    /// The payee token account carries an extension outside the allow-list.
    InvalidPayeeTokenExtensions = 62,
    /// mppsol: the mint carries a Token-2022 extension outside the allow-list.
    UnsupportedMintExtension = 63,

    /// `deposit` (open) or `amount` (topUp) is zero.
    DepositMustBeNonZero = 200,
    /// `grace_period` is zero.
    GracePeriodMustBeNonZero = 201,

    /// No Ed25519 precompile instruction immediately before this one.
    MissingEd25519Verification = 230,
    /// The Ed25519 instruction is not the canonical single-signature layout.
    MalformedEd25519Instruction = 231,
    /// The voucher's `channelId` is not this channel.
    VoucherChannelMismatch = 232,
    /// The voucher has expired.
    VoucherExpired = 233,
    /// `cumulativeAmount <= settled`.
    VoucherWatermarkNotMonotonic = 234,
    /// `cumulativeAmount > deposit`.
    VoucherOverDeposit = 235,
    /// The voucher signer is not `Channel.authorizedSigner`.
    VoucherSignerMismatch = 237,
    /// The voucher does not start with `0x56 0x01`.
    VoucherBadMagic = 238,

    /// More than `MAX_DISTRIBUTION_RECIPIENTS` entries.
    InvalidRecipientCount = 260,
    /// A zero share, a total above 10 000 bps, or the channel PDA as a recipient.
    InvalidSplitConfig = 261,
    /// Overflow while summing shares.
    DistributionPartsOverflow = 262,
    /// The same recipient twice.
    DuplicateRecipient = 263,
    /// Overflow in share arithmetic.
    DistributionAmountOverflow = 264,
    /// The preimage length does not match its count.
    DistributionPreimageLengthOverflow = 265,

    /// The channel account is not the PDA of the open parameters.
    ChannelAddressMismatch = 2000,
    /// `payer == payee`.
    PayerPayeeMustDiffer = 2001,
    /// `authorized_signer` is not a valid Ed25519 public key.
    InvalidAuthorizedSigner = 2002,
    /// `open_slot` is in the future or older than `OPEN_SLOT_WINDOW`.
    OpenSlotOutOfWindow = 2003,
    /// mppsol: the channel PDA already holds a channel.
    ChannelAlreadyInitialized = 2004,

    /// `deposit + amount` overflows.
    TopUpDepositOverflow = 2100,

    /// `closureStartedAt + gracePeriod` overflows.
    SealDeadlineOverflow = 2200,
    /// mppsol: `seal` before the grace period has elapsed.
    GracePeriodNotElapsed = 2201,
    /// mppsol: `settle`/`settleAndSeal` on a `Closing` channel after the grace deadline.
    GracePeriodElapsed = 2202,

    /// The payer refund was already paid.
    PayerAlreadyWithdrawn = 2300,
    /// `deposit - settled` underflows.
    RefundCalculationOverflow = 2301,

    /// The channel is neither `Open` nor `Sealed`.
    ChannelNotDistributable = 2400,
    /// The treasury account is not `ATA(TREASURY_OWNER, mint, token_program)`.
    TreasuryAccountMismatch = 2401,
    /// The treasury account fails state/owner/mint checks.
    InvalidTreasuryTokenAccount = 2402,
    /// The treasury account carries an extension outside the allow-list.
    InvalidTreasuryTokenExtensions = 2403,
    /// A recipient token account is not its canonical ATA.
    RecipientAccountMismatch = 2404,
    /// A recipient token account's data is malformed.
    InvalidRecipientTokenAccount = 2405,
    /// The splits preimage does not hash to `distributionHash`.
    InvalidDistributionHash = 2407,
    /// `Open` channel with nothing newly settled.
    NothingToDistribute = 2408,
    /// The recipient tail length differs from the preimage count.
    RecipientAccountCountMismatch = 2409,
    /// `settled - payoutWatermark` underflows.
    DistributePoolOverflow = 2410,
    /// Escrow arithmetic underflow.
    DistributeBalanceCalculationOverflow = 2411,
    /// Rent-payer lamports overflow.
    DistributePayerBalanceOverflow = 2412,
    /// `reclaim` before `clock.slot > openSlot + OPEN_SLOT_WINDOW`.
    ChannelCloseTooEarly = 2414,
}

impl From<ChannelError> for ProgramError {
    fn from(e: ChannelError) -> Self {
        ProgramError::Custom(e as u32)
    }
}

/// Shorthand for `Err(ProgramError::Custom(code))`.
#[inline(always)]
pub fn fail<T>(e: ChannelError) -> Result<T, ProgramError> {
    Err(e.into())
}
