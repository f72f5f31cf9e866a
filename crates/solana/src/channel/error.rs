//! The channel program's error codes, so a client or server can turn `Custom(n)` into a reason.

use crate::program_error::program_error_codes;

program_error_codes! {
    /// A channel program error (`ProgramError::Custom(code)`).
    ChannelErrorCode {
    MissingRequiredSignature = 1: "a required signer did not sign",
    InvalidChannelStatus = 2: "the channel is not in the status this instruction needs",
    InvalidAccountDiscriminator = 3: "the account is not a channel",
    UnsupportedChannelVersion = 4: "unknown channel layout version",
    InvalidChannelPayer = 5: "account does not match the channel payer",
    InvalidChannelPayee = 6: "account does not match the channel payee",
    InvalidChannelMint = 7: "account does not match the channel mint",
    InvalidEventAuthority = 8: "not the program's event-authority PDA",
    NotEnoughAccountKeys = 9: "fewer accounts than the instruction takes",
    TooManyAccountKeys = 10: "more accounts than the instruction takes",
    InvalidRentPayer = 11: "account does not match the channel rent payer",
    AccountNotWritable = 12: "an account that must be writable is not",
    InvalidProgramAccount = 13: "a program or sysvar account is not the expected one",
    InvalidChannelOwner = 14: "the channel account is not owned by the channel program",
    InvalidInstructionData = 15: "instruction data has the wrong length or discriminator",
    ChannelAccountMismatch = 50: "the channel account is not the PDA of its stored seeds",
    InvalidChannelTokenAccount = 51: "the escrow is not ATA(channel, mint, token program) or is unusable",
    InvalidChannelTokenExtensions = 52: "the escrow carries a Token-2022 extension outside the allow-list",
    MintAccountMismatch = 53: "the mint cannot be parsed for the token program",
    InvalidMintTokenProgram = 54: "the token program is neither SPL Token nor Token-2022",
    MalformedMintTokenAccountData = 55: "a token account's data is malformed",
    MalformedMintTokenExtensions = 56: "a mint's extension data is malformed",
    PayerAccountMismatch = 57: "the payer token account is not the payer's ATA",
    InvalidPayerTokenAccount = 58: "the payer token account is unusable",
    InvalidPayerTokenExtensions = 59: "the payer token account carries a forbidden extension",
    PayeeAccountMismatch = 60: "the payee token account is not the payee's ATA",
    InvalidPayeeTokenAccount = 61: "the payee token account is malformed",
    InvalidPayeeTokenExtensions = 62: "the payee token account carries a forbidden extension",
    UnsupportedMintExtension = 63: "the mint carries a Token-2022 extension outside the allow-list",
    DepositMustBeNonZero = 200: "deposit or top-up amount is zero",
    GracePeriodMustBeNonZero = 201: "grace period is zero",
    MissingEd25519Verification = 230: "no Ed25519 precompile instruction immediately before",
    MalformedEd25519Instruction = 231: "the Ed25519 instruction is not the canonical single-signature layout",
    VoucherChannelMismatch = 232: "the voucher is for another channel",
    VoucherExpired = 233: "the voucher has expired",
    VoucherWatermarkNotMonotonic = 234: "the voucher does not exceed the settled amount",
    VoucherOverDeposit = 235: "the voucher exceeds the deposit",
    VoucherSignerMismatch = 237: "the voucher signer is not the channel's authorized signer",
    VoucherBadMagic = 238: "the voucher does not start with 0x56 0x01",
    InvalidRecipientCount = 260: "more than 32 split recipients",
    InvalidSplitConfig = 261: "a zero share, shares above 10000 bps, or the channel as recipient",
    DistributionPartsOverflow = 262: "overflow while summing shares",
    DuplicateRecipient = 263: "a split recipient appears twice",
    DistributionAmountOverflow = 264: "overflow in share arithmetic",
    DistributionPreimageLengthOverflow = 265: "the splits preimage length does not match its count",
    ChannelAddressMismatch = 2000: "the channel account is not the PDA of the open parameters",
    PayerPayeeMustDiffer = 2001: "payer and payee are the same account",
    InvalidAuthorizedSigner = 2002: "the authorized signer is not a valid Ed25519 key",
    OpenSlotOutOfWindow = 2003: "openSlot is in the future or older than OPEN_SLOT_WINDOW",
    ChannelAlreadyInitialized = 2004: "the channel address already holds an account",
    TopUpDepositOverflow = 2100: "deposit + amount overflows",
    SealDeadlineOverflow = 2200: "closureStartedAt + gracePeriod overflows",
    GracePeriodNotElapsed = 2201: "the grace period has not elapsed",
    GracePeriodElapsed = 2202: "the grace period has elapsed; use seal",
    PayerAlreadyWithdrawn = 2300: "the payer refund was already paid",
    RefundCalculationOverflow = 2301: "deposit - settled underflows",
    ChannelNotDistributable = 2400: "the channel is neither Open nor Sealed",
    TreasuryAccountMismatch = 2401: "the treasury account is not the treasury owner's ATA",
    InvalidTreasuryTokenAccount = 2402: "the treasury token account is unusable",
    InvalidTreasuryTokenExtensions = 2403: "the treasury token account carries a forbidden extension",
    RecipientAccountMismatch = 2404: "a recipient token account is not its canonical ATA",
    InvalidRecipientTokenAccount = 2405: "a recipient token account is malformed",
    InvalidDistributionHash = 2407: "the splits do not match the committed hash",
    NothingToDistribute = 2408: "nothing newly settled to distribute",
    RecipientAccountCountMismatch = 2409: "recipient accounts do not match the split count",
    DistributePoolOverflow = 2410: "payout watermark above settled",
    DistributeBalanceCalculationOverflow = 2411: "escrow arithmetic underflow",
    DistributePayerBalanceOverflow = 2412: "rent payer lamports overflow",
    ChannelCloseTooEarly = 2414: "reclaim before openSlot + OPEN_SLOT_WINDOW has passed",
}}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_reference_codes() {
        assert_eq!(ChannelErrorCode::VoucherBadMagic.code(), 238);
        assert_eq!(ChannelErrorCode::VoucherChannelMismatch.code(), 232);
        assert_eq!(ChannelErrorCode::OpenSlotOutOfWindow.code(), 2003);
        assert_eq!(ChannelErrorCode::ChannelCloseTooEarly.code(), 2414);
        for c in ChannelErrorCode::ALL {
            assert_eq!(ChannelErrorCode::from_code(c.code()), Some(*c));
        }
        assert_eq!(ChannelErrorCode::from_code(236), None);
        assert_eq!(
            ChannelErrorCode::from_code(2414).unwrap().name(),
            "ChannelCloseTooEarly"
        );
    }
}
