//! Typed errors of the policy program, surfaced as `ProgramError::Custom(code)`: 6000s are
//! account/shape errors, 6100s are policy denials a client maps to a reason. Append-only.

/// Every refusal the policy program returns.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyError {
    /// Unknown discriminator or malformed data.
    InvalidInstructionData = 6000,
    /// Not exactly the accounts the instruction takes.
    WrongAccountCount = 6001,
    /// A required signer did not sign.
    MissingRequiredSignature = 6002,
    /// An account that must be writable is not.
    AccountNotWritable = 6003,
    /// The wallet account is not a wallet of this program.
    InvalidWalletAccount = 6004,
    /// The wallet account is not `["wallet", owner, agent]`.
    WalletAddressMismatch = 6005,
    /// The wallet already exists.
    WalletAlreadyExists = 6006,
    /// The signer is not the wallet's owner.
    NotOwner = 6007,
    /// The signer is not the wallet's agent.
    NotAgent = 6008,
    /// A program or sysvar account is not the expected one.
    InvalidProgramAccount = 6009,
    /// The vault is not `ATA(wallet, mint, token program)`.
    VaultMismatch = 6010,
    /// The recipient token account is not `ATA(recipient, mint, token program)`.
    RecipientAccountMismatch = 6011,
    /// The policy blob is malformed (length, unknown flag, more than 16 counterparties).
    InvalidPolicy = 6012,
    /// The mint is not an initialised mint of the token program.
    InvalidMint = 6013,
    /// `closeWallet` while the vault still holds tokens.
    VaultNotEmpty = 6014,
    /// The channel account is not a channel of the wallet's channel program.
    InvalidChannelAccount = 6015,

    /// The wallet is paused.
    Paused = 6100,
    /// The nonce is not greater than the last one used.
    NonceReplayed = 6101,
    /// The amount is zero.
    ZeroAmount = 6102,
    /// The amount is above the single-payment limit.
    OverSingleLimit = 6103,
    /// The amount would take the day's spend above the daily limit.
    OverDailyLimit = 6104,
    /// The recipient is not on the counterparty allow-list.
    CounterpartyNotAllowed = 6105,
    /// The payment's category is not allowed.
    CategoryNotAllowed = 6106,
    /// The policy requires a memo and there is none.
    MemoRequired = 6107,
    /// The amount is above the escalation threshold and the owner did not co-sign.
    EscalationRequired = 6108,
    /// The policy names no channel program, or another one.
    ChannelProgramNotAllowed = 6109,
    /// The policy names no payments program, or another one.
    PaymentsProgramNotAllowed = 6110,
    /// A channel funded by the wallet must have the agent as its voucher signer.
    AuthorizedSignerNotAgent = 6111,
    /// The memo is longer than 566 bytes.
    MemoTooLong = 6112,
}

mppsol_cpi::program_error!(PolicyError);
