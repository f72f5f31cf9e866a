//! # mppsol-mpp: the Machine Payments Protocol on the wire
//!
//! The method-agnostic core of MPP (HTTP 402 with the `Payment` auth scheme,
//! draft-httpauth-payment-00). Pure values and rules: no network, no storage, no Solana.
//!
//! ```text
//!            ┌──────────── header ────────────┐
//!  wire text │ www_authenticate  authorization │ payment_receipt  accept_payment
//!            └──────────────┬──────────────────┘
//!                           │ parse_* / format_*
//!  values     Challenge ─ Credential ─ Receipt ─ Problem ─ DiscoveryDocument
//!                │                       │
//!  rules      challenge_id (HMAC)    receipt_signature (Ed25519)   digest (RFC 9530)
//!                │
//!  encodings  encoding (base64url, JCS)   amount (u64 base units)   clock (RFC 3339)
//!
//!  extension  method: ServerMethod / ClientMethod, implemented by payment methods
//! ```
//!
//! | module | holds |
//! |---|---|
//! | [`challenge`] | [`Challenge`], issuing (builder) and verifying (id, expiry, body digest) |
//! | [`challenge_id`] | the HMAC-SHA256 id over seven positional slots; secrets and rotation |
//! | [`credential`] | [`Credential`]: echoed challenge, `source`, method payload |
//! | [`receipt`], [`receipt_signature`] | [`Receipt`] and its optional server signature |
//! | [`problem`] | RFC 9457 bodies and the registered problem types |
//! | [`header`] | the four header codecs and the RFC 9110 auth-param tokenizer |
//! | [`discovery`] | `openapi.json` with `x-payment-info` |
//! | [`method`] | the traits a payment method implements |
//!
//! # Example: one challenge, issued, answered and verified
//!
//! ```
//! use std::time::Duration;
//! use mpp::*;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Server: price a route. The id is an HMAC over everything the client must not change.
//! let secret = ChallengeSecret::new([7u8; 32])?; // ≥ 32 bytes; load it from a file in practice
//! let request = B64Json::from_serialize(&serde_json::json!({
//!     "amount": "10000", "currency": "sol",
//!     "recipient": "7xKXtg2CW87d97TXJSDpbD5jBkheTqA83TZRuJosgAsU",
//! }))?;
//! let now = Timestamp::parse("2026-11-21T12:00:00Z")?;
//! let challenge = Challenge::builder("api.example.com", MethodName::solana(), IntentName::charge(), request)
//!     .with_expires(now.saturating_add(Duration::from_secs(300)))
//!     .issue(&secret);
//! let www_authenticate = format_www_authenticate(&challenge)?; // sent with the 402
//!
//! // Client: read the challenge, pay (method-specific), echo it in a credential.
//! let seen = parse_challenge(&www_authenticate)?;
//! let mut proof = serde_json::Map::new();
//! proof.insert("type".into(), "signature".into());
//! let authorization = format_authorization(&Credential::new(seen, proof));
//!
//! // Server: the echoed challenge must be ours, unchanged and fresh.
//! let credential = parse_authorization(&authorization)?;
//! credential.challenge.verify(&ChallengeKeyring::new(secret), now, &VerifyOptions::default())?;
//! assert_eq!(credential.challenge.request_value()["amount"], "10000");
//! # Ok(())
//! # }
//! ```

pub mod amount;
pub mod challenge;
pub mod challenge_id;
pub mod clock;
pub mod credential;
pub mod digest;
pub mod discovery;
pub mod encoding;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod header;
pub mod method;
pub mod names;
pub mod problem;
pub mod receipt;
pub mod receipt_signature;

pub use amount::{Amount, parse_amount};
pub use challenge::{Challenge, ChallengeBuilder, VerifyOptions};
pub use challenge_id::{ChallengeKeyring, ChallengeSecret, IdInput, compute_challenge_id};
pub use clock::{Clock, FixedClock, SystemClock, Timestamp};
pub use credential::Credential;
pub use digest::ContentDigest;
pub use discovery::{DiscoveryDocument, PaymentInfo, PaymentOffer};
pub use encoding::{B64Json, b64url_decode, b64url_encode, jcs};
pub use error::{AmountError, ChallengeError, DecodeError, FormatError, HeaderError};
pub use header::accept_payment::{
    PaymentRange, format_accept_payment, parse_accept_payment, rank_offers,
};
pub use header::authorization::{format_authorization, parse_authorization};
pub use header::payment_receipt::{format_payment_receipt, parse_payment_receipt};
pub use header::www_authenticate::{
    format_www_authenticate, parse_challenge, parse_www_authenticate, parse_www_authenticate_fields,
};
pub use method::{
    BoxFuture, ChallengeUse, ClientMethod, MethodError, PriceTag, Quote, ServerMethod, Settlement,
    VerifyContext,
};
pub use names::{IntentName, MethodName};
pub use problem::{PROBLEM_BASE, PROBLEM_CONTENT_TYPE, Problem, ProblemType};
pub use receipt::Receipt;
pub use receipt_signature::{ReceiptKey, ReceiptSignatureError, ReceiptSigner};

/// Header field names, lowercase as HTTP/2 writes them.
pub mod field {
    /// Challenge header.
    pub const WWW_AUTHENTICATE: &str = "www-authenticate";
    /// Credential header.
    pub const AUTHORIZATION: &str = "authorization";
    /// Receipt header.
    pub const PAYMENT_RECEIPT: &str = "payment-receipt";
    /// Client preferences header.
    pub const ACCEPT_PAYMENT: &str = "accept-payment";
}
