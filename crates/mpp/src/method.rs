//! The traits a payment method implements. The protocol crate defines the shape; methods (the
//! Solana crate) do the I/O behind it. Futures are boxed so a server can hold several methods
//! as trait objects and offer them in one 402.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::pin::Pin;

use serde_json::{Map, Value};

use crate::amount::Amount;
use crate::challenge::Challenge;
use crate::clock::Timestamp;
use crate::credential::Credential;
use crate::names::{IntentName, MethodName};
use crate::problem::ProblemType;
use crate::receipt::Receipt;

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The price a route asks, before any method turns it into a `request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceTag {
    /// Base units.
    pub amount: Amount,
    /// `sol` or a mint address (method-defined).
    pub currency: String,
    /// Who is paid; methods may fill in a configured default.
    pub recipient: Option<String>,
    /// Shown to payers.
    pub description: Option<String>,
    /// The seller's own reference (order id).
    pub external_id: Option<String>,
}

/// What the server knows when verifying a credential whose challenge already passed the HMAC,
/// expiry and pinned-field checks.
#[derive(Debug, Clone)]
pub struct VerifyContext {
    /// The price the route asks now; the method checks the payment against it.
    pub price: PriceTag,
    /// The time to judge expiry by.
    pub now: Timestamp,
}

/// The amount, asset and payee a challenge asks for, read before anything is signed so a
/// spending policy can refuse first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quote {
    /// Base units.
    pub amount: Amount,
    /// `sol` or a mint.
    pub currency: String,
    /// Payee.
    pub recipient: Option<String>,
    /// Network name, where the method has one (`mainnet`, `devnet`, `localnet`).
    pub network: Option<String>,
}

/// Server side of a payment method, for one intent.
pub trait ServerMethod: Send + Sync {
    /// The method identifier.
    fn method(&self) -> &MethodName;

    /// The intent this implementation serves.
    fn intent(&self) -> &IntentName;

    /// Builds the challenge `request` object for a price (may read the chain, e.g. a blockhash).
    fn prepare<'a>(
        &'a self,
        price: &'a PriceTag,
    ) -> BoxFuture<'a, Result<Map<String, Value>, MethodError>>;

    /// Verifies (and where the method says so, settles) a credential, returning the receipt.
    fn verify<'a>(
        &'a self,
        credential: &'a Credential,
        ctx: &'a VerifyContext,
    ) -> BoxFuture<'a, Result<Receipt, MethodError>>;
}

/// Client side of a payment method.
pub trait ClientMethod: Send + Sync {
    /// The method identifier.
    fn method(&self) -> &MethodName;

    /// Whether this client can answer the challenge (intent, network, currency).
    fn supports(&self, challenge: &Challenge) -> bool;

    /// Reads what paying would cost, without signing anything.
    fn quote(&self, challenge: &Challenge) -> Result<Quote, MethodError>;

    /// Pays (or authorises) and returns the credential to send.
    fn create_credential<'a>(
        &'a self,
        challenge: &'a Challenge,
    ) -> BoxFuture<'a, Result<Credential, MethodError>>;
}

/// A method's refusal or failure, carrying the problem type the server should answer with.
#[derive(Debug)]
pub struct MethodError {
    /// The problem type.
    pub problem: ProblemType,
    /// Safe to show the caller.
    pub detail: String,
    /// Whether trying again later may succeed (RPC down, blockhash expired).
    pub retryable: bool,
    /// The underlying cause, for logs only.
    pub source: Option<Box<dyn StdError + Send + Sync>>,
}

impl MethodError {
    /// A refusal of type `problem`.
    pub fn new(problem: ProblemType, detail: impl Into<String>) -> Self {
        Self {
            problem,
            detail: detail.into(),
            retryable: false,
            source: None,
        }
    }

    /// `verification-failed` with a detail.
    pub fn verification(detail: impl Into<String>) -> Self {
        Self::new(ProblemType::VerificationFailed, detail)
    }

    /// Marks the error as transient.
    pub fn retryable(mut self) -> Self {
        self.retryable = true;
        self
    }

    /// Attaches the cause.
    pub fn with_source(mut self, e: impl StdError + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(e));
        self
    }
}

impl fmt::Display for MethodError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.problem.code(), self.detail)
    }
}

impl StdError for MethodError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}
