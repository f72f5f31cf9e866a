//! Typed errors of the payments program, surfaced as `ProgramError::Custom(code)`. Codes start
//! at 7000 so they never collide with the channel (< 3000) or policy (6000s) programs when a
//! payment arrives by CPI. Append-only.

/// Every refusal the payments program returns.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PaymentsError {
    /// Unknown discriminator or wrong data length.
    InvalidInstructionData = 7000,
    /// Not exactly the accounts `pay` takes.
    WrongAccountCount = 7001,
    /// The authority or rent payer did not sign.
    MissingRequiredSignature = 7002,
    /// An account that must be writable is not.
    AccountNotWritable = 7003,
    /// The token or system program account is not the expected one.
    InvalidProgramAccount = 7004,
    /// The mint is not an initialised mint of the token program.
    InvalidMint = 7005,
    /// The destination is not an initialised token account of the mint.
    InvalidDestination = 7006,
    /// The receipt account is not `["receipt", challenge_hash]`.
    ReceiptAddressMismatch = 7007,
    /// A receipt for this challenge exists: the challenge is already paid.
    ReceiptAlreadyExists = 7008,
    /// The amount is zero.
    ZeroAmount = 7009,
}

mppsol_cpi::program_error!(PaymentsError);
