//! Error codes of the policy (6000s), payments (7000s) and example-vault (8000s) programs.
//! The ranges do not overlap each other or the channel program's, so a `Custom(n)` that
//! surfaced through a CPI chain still names one reason.

use crate::program_error::program_error_codes;

program_error_codes! {
    /// A policy program error. 6100s are policy denials an agent client reports as such.
    PolicyErrorCode {
    InvalidInstructionData = 6000: "unknown instruction or malformed data",
    WrongAccountCount = 6001: "not exactly the accounts the instruction takes",
    MissingRequiredSignature = 6002: "a required signer did not sign",
    AccountNotWritable = 6003: "an account that must be writable is not",
    InvalidWalletAccount = 6004: "the account is not a wallet of this program",
    WalletAddressMismatch = 6005: "the wallet account is not [\"wallet\", owner, agent]",
    WalletAlreadyExists = 6006: "the wallet already exists",
    NotOwner = 6007: "not the wallet's owner",
    NotAgent = 6008: "not the wallet's agent",
    InvalidProgramAccount = 6009: "a program or sysvar account is not the expected one",
    VaultMismatch = 6010: "the vault is not ATA(wallet, mint, token program)",
    RecipientAccountMismatch = 6011: "the recipient token account is not ATA(recipient, mint, token program)",
    InvalidPolicy = 6012: "malformed policy (length, unknown flag, more than 16 counterparties)",
    InvalidMint = 6013: "the mint is not an initialised mint of the token program",
    VaultNotEmpty = 6014: "the vault still holds tokens",
    InvalidChannelAccount = 6015: "the channel account is not a channel of the wallet's channel program",
    Paused = 6100: "the wallet is paused",
    NonceReplayed = 6101: "the nonce is not greater than the last one used",
    ZeroAmount = 6102: "the amount is zero",
    OverSingleLimit = 6103: "above the single-payment limit",
    OverDailyLimit = 6104: "above the daily limit",
    CounterpartyNotAllowed = 6105: "the recipient is not an allowed counterparty",
    CategoryNotAllowed = 6106: "the category is not allowed",
    MemoRequired = 6107: "the policy requires a memo",
    EscalationRequired = 6108: "above the escalation threshold: the owner must co-sign",
    ChannelProgramNotAllowed = 6109: "the policy names no channel program, or another one",
    PaymentsProgramNotAllowed = 6110: "the policy names no payments program, or another one",
    AuthorizedSignerNotAgent = 6111: "a channel funded by the wallet must have the agent as voucher signer",
    MemoTooLong = 6112: "the memo is longer than 566 bytes",
}}

impl PolicyErrorCode {
    /// Whether this is a policy denial (the payment was well-formed but the rules refuse it)
    /// rather than a malformed request.
    pub fn is_denial(self) -> bool {
        self.code() >= 6100
    }

    /// The policy error a failed transaction's error text carries, if any.
    pub fn from_error_text(err: &str) -> Option<PolicyErrorCode> {
        crate::program_error::custom_code(err).and_then(PolicyErrorCode::from_code)
    }
}

program_error_codes! {
    /// A payments program error.
    PaymentsErrorCode {
    InvalidInstructionData = 7000: "unknown instruction or wrong data length",
    WrongAccountCount = 7001: "not exactly the accounts pay takes",
    MissingRequiredSignature = 7002: "the authority or rent payer did not sign",
    AccountNotWritable = 7003: "an account that must be writable is not",
    InvalidProgramAccount = 7004: "the token or system program account is not the expected one",
    InvalidMint = 7005: "the mint is not an initialised mint of the token program",
    InvalidDestination = 7006: "the destination is not an initialised token account of the mint",
    ReceiptAddressMismatch = 7007: "the receipt account is not [\"receipt\", challenge_hash]",
    ReceiptAlreadyExists = 7008: "this challenge is already paid (its receipt exists)",
    ZeroAmount = 7009: "the amount is zero",
}}

program_error_codes! {
    /// An example-vault program error.
    ExampleVaultErrorCode {
    InvalidInstructionData = 8000: "unknown instruction or malformed data",
    WrongAccountCount = 8001: "wrong number of accounts",
    MissingRequiredSignature = 8002: "the owner did not sign",
    AuthorityMismatch = 8003: "the authority is not the PDA of (owner, program)",
}}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_ranges_do_not_overlap() {
        for c in PolicyErrorCode::ALL {
            assert_eq!(PolicyErrorCode::from_code(c.code()), Some(*c));
            assert!((6000..7000).contains(&c.code()));
        }
        for c in PaymentsErrorCode::ALL {
            assert_eq!(PaymentsErrorCode::from_code(c.code()), Some(*c));
            assert!((7000..8000).contains(&c.code()));
        }
        assert_eq!(
            PolicyErrorCode::from_code(6104),
            Some(PolicyErrorCode::OverDailyLimit)
        );
        assert!(PolicyErrorCode::OverDailyLimit.is_denial());
        assert!(!PolicyErrorCode::NotOwner.is_denial());
        assert_eq!(
            PaymentsErrorCode::from_code(7008).map(|c| c.name()),
            Some("ReceiptAlreadyExists")
        );
    }
}
