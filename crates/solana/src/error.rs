//! Errors of the Solana method, each naming the rule that failed and the problem type a server
//! answers with.

use mpp::ProblemType;
use solana_address::Address;

/// A charge request breaks a rule of the spec.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// Not the schema (a field has the wrong type, an address is not base58 …).
    #[error("request schema: {0}")]
    Schema(String),
    /// Amounts must be positive.
    #[error("amount must be positive")]
    ZeroAmount,
    /// `currency` is neither `sol` nor a base58 mint.
    #[error("invalid currency `{0}`")]
    InvalidCurrency(String),
    /// A token currency without `decimals`.
    #[error("decimals are required for token payments")]
    MissingDecimals,
    /// `decimals` above 9.
    #[error("decimals must be 0..=9")]
    InvalidDecimals,
    /// `tokenProgram` is neither Token nor Token-2022.
    #[error("tokenProgram must be the Token or Token-2022 program")]
    InvalidTokenProgram,
    /// Token-only fields on a SOL payment.
    #[error("decimals, tokenProgram and ATA creation apply to token payments only")]
    TokenFieldsOnSol,
    /// `feePayer` and `feePayerKey` disagree.
    #[error("feePayerKey must be present exactly when feePayer is true")]
    FeePayerKey,
    /// More than eight splits.
    #[error("{0} splits (at most 8)")]
    TooManySplits(usize),
    /// Splits add up to the whole amount or more.
    #[error("splits must leave a positive amount for the primary recipient")]
    SplitsExceedAmount,
    /// A text field is over its limit.
    #[error("`{0}` is too long")]
    TooLong(&'static str),
    /// Confidential transfers are not implemented.
    #[error("confidential transfers are not supported")]
    ConfidentialUnsupported,
}

/// A credential does not prove the payment the challenge asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The payload is not a charge payload.
    #[error("malformed payload: {0}")]
    MalformedPayload(String),
    /// The transaction bytes do not decode.
    #[error("transaction does not decode")]
    MalformedTransaction,
    /// Over 1232 bytes.
    #[error("transaction exceeds 1232 bytes")]
    TransactionTooLarge,
    /// The push signature is not base58 of 64 bytes.
    #[error("signature is not base58 of 64 bytes")]
    MalformedSignature,
    /// Push payments cannot be sponsored.
    #[error("a sponsored (feePayer) challenge requires a transaction payload")]
    PushNotAllowedWhenSponsored,
    /// The echoed request does not parse as a charge request.
    #[error("challenge request: {0}")]
    Request(#[from] RequestError),
    /// Address lookup tables could hide accounts from the checks.
    #[error("address lookup tables are not accepted")]
    AddressLookupTable,
    /// Account 0 (the fee payer) is not what the challenge says.
    #[error("fee payer must be {expected}, found {found}")]
    FeePayerMismatch {
        /// What the challenge requires.
        expected: Address,
        /// What the transaction has.
        found: Address,
    },
    /// The server's fee payer appears where it could be made to pay or sign for something.
    #[error("fee payer used by instruction {index}")]
    FeePayerInInstruction {
        /// Instruction index.
        index: usize,
    },
    /// More signers than the payment needs (each costs the fee payer).
    #[error("{found} signatures required, at most {max} allowed")]
    TooManySigners {
        /// Allowed.
        max: usize,
        /// Found.
        found: usize,
    },
    /// A required signature is missing or invalid.
    #[error("signature {index} is missing or invalid")]
    BadSignature {
        /// Signature index.
        index: usize,
    },
    /// An instruction outside the allowlist.
    #[error("instruction {index} ({program}) is not allowed")]
    InstructionNotAllowed {
        /// Instruction index.
        index: usize,
        /// Its program.
        program: Address,
    },
    /// A compute-budget setting above the server's cap, or repeated.
    #[error("compute budget: {0}")]
    ComputeBudget(String),
    /// An ATA creation the challenge does not authorise.
    #[error("instruction {index} creates an account the challenge does not authorise")]
    UnauthorisedAtaCreation {
        /// Instruction index.
        index: usize,
    },
    /// A required leg has no matching transfer.
    #[error("no transfer of {amount} to {recipient}")]
    MissingTransfer {
        /// Owner who should be paid.
        recipient: Address,
        /// Base units.
        amount: u64,
    },
    /// A transfer that pays no leg of the challenge.
    #[error("instruction {index} transfers funds the challenge did not ask for")]
    UnexpectedTransfer {
        /// Instruction index.
        index: usize,
    },
    /// Wrong mint, decimals or token program.
    #[error("instruction {index} uses the wrong mint, decimals or token program")]
    WrongAsset {
        /// Instruction index.
        index: usize,
    },
    /// The transfer's source or authority is not a signer of the transaction.
    #[error("instruction {index}: transfer authority did not sign")]
    UnsignedAuthority {
        /// Instruction index.
        index: usize,
    },
    /// A memo that is not the challenge's `externalId`.
    #[error("memo does not match the challenge externalId")]
    MemoMismatch,
    /// The push transaction does not carry the challenge's reference key.
    #[error("transaction is not bound to this challenge (reference missing)")]
    ReferenceMissing,
    /// The landed transaction failed.
    #[error("transaction failed on chain: {0}")]
    FailedOnChain(String),
    /// The transaction was not found at the required commitment.
    #[error("transaction not found")]
    NotFound,
    /// The recipient received less than the leg (for example a Token-2022 fee was not covered).
    #[error("{recipient} received {received}, expected at least {expected}")]
    Underpaid {
        /// Token account or address.
        recipient: Address,
        /// Expected base units.
        expected: u64,
        /// Received base units.
        received: u64,
    },
    /// The proof was already used for another challenge.
    #[error("signature already consumed")]
    AlreadyConsumed,
    /// Simulation says the transaction would fail.
    #[error("simulation failed: {0}")]
    SimulationFailed(String),
    /// The network does not match the server's.
    #[error("network mismatch")]
    NetworkMismatch,
    /// A payment through the policy or payments program does not bind this challenge (wrong
    /// program, receipt or challenge hash), or its receipt does not pay what was asked.
    #[error("receipt: {0}")]
    Receipt(String),
    /// The agent's on-chain spending policy refused the payment (simulation or landing).
    #[error("the wallet's on-chain policy refused the payment: {0}")]
    PolicyRefused(crate::policy::PolicyErrorCode),
}

impl VerifyError {
    /// The problem type the server answers with.
    pub fn problem_type(&self) -> ProblemType {
        match self {
            VerifyError::MalformedPayload(_)
            | VerifyError::MalformedTransaction
            | VerifyError::TransactionTooLarge
            | VerifyError::MalformedSignature => ProblemType::MalformedCredential,
            VerifyError::Request(_) | VerifyError::NetworkMismatch => ProblemType::InvalidChallenge,
            VerifyError::Underpaid { .. } => ProblemType::PaymentInsufficient,
            _ => ProblemType::VerificationFailed,
        }
    }
}

/// A transaction cannot be built for a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The request is invalid.
    #[error("{0}")]
    Request(#[from] RequestError),
    /// The request names a token but not its program, and the caller did not resolve it.
    #[error("token program unknown; resolve it from the mint's owner")]
    TokenProgramUnknown,
    /// A Token-2022 fee makes the amount impossible.
    #[error("amount plus transfer fee exceeds u64")]
    FeeOverflow,
    /// The transaction would exceed 1232 bytes.
    #[error("transaction would exceed 1232 bytes")]
    TooLarge,
    /// Message compilation failed.
    #[error("cannot compile the message: {0}")]
    Compile(String),
}
