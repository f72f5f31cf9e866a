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
    /// The request's `Idempotency-Key` header, when sent (sessions use it to make retries of a
    /// metered request exactly-once).
    pub idempotency_key: Option<String>,
}

/// How a challenge may be presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeUse {
    /// Each challenge pays for one request and must be unexpired (charge). The server reserves
    /// it so a second credential on the same challenge is refused.
    SingleUse,
    /// The challenge anchors a reusable relationship (session): the method enforces replay
    /// protection itself (cumulative vouchers, channel state) and decides which actions need an
    /// unexpired challenge.
    Reusable,
}

/// What a verified credential entitles the request to.
#[derive(Debug, Clone)]
pub enum Settlement {
    /// Serve the resource with this receipt.
    Serve(Receipt),
    /// A payment-control action (open a channel, top up, close): answer 200 with the receipt and
    /// do not run the handler, so control messages are never charged as content.
    Control(Receipt),
}

impl Settlement {
    /// The receipt, whichever kind.
    pub fn receipt(&self) -> &Receipt {
        match self {
            Settlement::Serve(r) | Settlement::Control(r) => r,
        }
    }
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

    /// How this method's challenges may be presented. Charge-like methods keep the default.
    fn challenge_use(&self) -> ChallengeUse {
        ChallengeUse::SingleUse
    }

    /// Verifies a credential and says whether to serve the resource. The default serves
    /// whatever [`ServerMethod::verify`] accepts; session methods override it to answer their
    /// control actions themselves.
    fn settle<'a>(
        &'a self,
        credential: &'a Credential,
        ctx: &'a VerifyContext,
    ) -> BoxFuture<'a, Result<Settlement, MethodError>> {
        Box::pin(async move { self.verify(credential, ctx).await.map(Settlement::Serve) })
    }
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

    /// Whether a successful answer to `credential` was a control step (a session open or top-up)
    /// after which the same request must be sent again with a fresh credential from
    /// [`ClientMethod::create_credential`].
    fn needs_followup(&self, _credential: &Credential) -> bool {
        false
    }

    /// Whether `challenge` anchors a reusable relationship (a session), so the client may
    /// present it again with later requests to the same route without waiting for a 402.
    fn reusable(&self, _challenge: &Challenge) -> bool {
        false
    }

    /// The `Idempotency-Key` to send with `credential`, when retries of it must be exactly-once
    /// (a session voucher: the same voucher gets the same key).
    fn idempotency_key(&self, _credential: &Credential) -> Option<String> {
        None
    }

    /// Called with the receipt of a successful paid answer, so stateful methods (sessions) can
    /// reconcile their local view with the server's.
    fn on_receipt<'a>(
        &'a self,
        _credential: &'a Credential,
        _receipt: &'a Receipt,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }

    /// Called when the server refused `credential` with a problem document, so stateful
    /// methods can resynchronise (a session learns the server's accepted amount).
    fn on_refusal<'a>(
        &'a self,
        _credential: &'a Credential,
        _problem: &'a Map<String, Value>,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }

    /// A credential ending the relationship `challenge` anchors (a session close), when the
    /// method has one.
    fn close_credential<'a>(
        &'a self,
        _challenge: &'a Challenge,
    ) -> Option<BoxFuture<'a, Result<Credential, MethodError>>> {
        None
    }
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
    /// Problem-details extension members (a session's `acceptedCumulative`, say), safe to show.
    pub extensions: Map<String, Value>,
}

impl MethodError {
    /// A refusal of type `problem`.
    pub fn new(problem: ProblemType, detail: impl Into<String>) -> Self {
        Self {
            problem,
            detail: detail.into(),
            retryable: false,
            source: None,
            extensions: Map::new(),
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

    /// Adds a problem-details extension member.
    pub fn with_extension(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.extensions.insert(key.into(), value.into());
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
