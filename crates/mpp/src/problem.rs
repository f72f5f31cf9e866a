//! RFC 9457 problem details under `https://paymentauth.org/problems/`, with the spec's statuses.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The base URI of every problem type.
pub const PROBLEM_BASE: &str = "https://paymentauth.org/problems/";
/// The media type of a problem body.
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

macro_rules! problem_types {
    ($( $(#[$doc:meta])* $variant:ident => $path:literal, $title:literal, $status:literal; )*) => {
        /// A problem type the specs define (core, session intent and method drafts) or peers emit.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ProblemType {
            $( $(#[$doc])* $variant, )*
            /// A type URI we do not know (seen from peers).
            Other(String),
        }

        impl ProblemType {
            /// Every known type, for tables and tests.
            pub const ALL: &'static [ProblemType] = &[$(ProblemType::$variant,)*];

            /// The path after the base URI (`payment-required`, `session/channel-not-found`).
            pub fn code(&self) -> &str {
                match self {
                    $(ProblemType::$variant => $path,)*
                    ProblemType::Other(uri) => uri.strip_prefix(PROBLEM_BASE).unwrap_or(uri),
                }
            }

            /// The registered title.
            pub fn title(&self) -> &str {
                match self {
                    $(ProblemType::$variant => $title,)*
                    ProblemType::Other(_) => "Payment Error",
                }
            }

            /// The HTTP status the spec assigns.
            pub fn status(&self) -> u16 {
                match self {
                    $(ProblemType::$variant => $status,)*
                    ProblemType::Other(_) => 402,
                }
            }

            /// Recognises a type URI.
            pub fn from_uri(uri: &str) -> Self {
                match uri.strip_prefix(PROBLEM_BASE) {
                    $(Some($path) => ProblemType::$variant,)*
                    _ => ProblemType::Other(uri.to_owned()),
                }
            }
        }
    };
}

problem_types! {
    /// No credential was sent.
    PaymentRequired => "payment-required", "Payment Required", 402;
    /// The amount paid is too low.
    PaymentInsufficient => "payment-insufficient", "Payment Insufficient", 402;
    /// The challenge or authorisation expired.
    PaymentExpired => "payment-expired", "Payment Expired", 402;
    /// The proof is invalid.
    VerificationFailed => "verification-failed", "Verification Failed", 402;
    /// The method is not accepted here.
    MethodUnsupported => "method-unsupported", "Method Unsupported", 400;
    /// The credential is not well-formed.
    MalformedCredential => "malformed-credential", "Malformed Credential", 402;
    /// The challenge id is unknown, expired, or used.
    InvalidChallenge => "invalid-challenge", "Invalid Challenge", 402;
    /// A request that is malformed outside the credential (mppx uses this; 400).
    BadRequest => "bad-request", "Bad Request", 400;
    /// The payload does not match the method's schema (mppx).
    InvalidPayload => "invalid-payload", "Invalid Payload", 402;
    /// The payer must act (mppx, for example card 3-D Secure).
    PaymentActionRequired => "payment-action-required", "Payment Action Required", 402;
    /// A voucher or proof signature does not verify.
    SessionInvalidSignature => "session/invalid-signature", "Invalid Signature", 402;
    /// A voucher is signed by a key other than the channel's authorised signer.
    SessionSignerMismatch => "session/signer-mismatch", "Signer Mismatch", 402;
    /// A voucher's cumulative amount exceeds the channel deposit.
    SessionAmountExceedsDeposit => "session/amount-exceeds-deposit", "Amount Exceeds Deposit", 402;
    /// A voucher raises the cumulative amount by less than the price.
    SessionDeltaTooSmall => "session/delta-too-small", "Delta Too Small", 402;
    /// The channel does not exist.
    SessionChannelNotFound => "session/channel-not-found", "Channel Not Found", 410;
    /// The channel is closed.
    SessionChannelFinalized => "session/channel-finalized", "Channel Finalized", 410;
    /// The session's challenge is unknown.
    SessionChallengeNotFound => "session/challenge-not-found", "Challenge Not Found", 402;
    /// The channel cannot cover the request.
    SessionInsufficientBalance => "session/insufficient-balance", "Insufficient Balance", 402;
    /// The session lacks value for the requested service (generic session intent).
    SessionInsufficientValue => "session/insufficient-value", "Insufficient Value", 402;
}

impl ProblemType {
    /// The full type URI.
    pub fn uri(&self) -> String {
        match self {
            ProblemType::Other(uri) => uri.clone(),
            known => format!("{PROBLEM_BASE}{}", known.code()),
        }
    }
}

/// An RFC 9457 problem details body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The problem type.
    pub problem_type: ProblemType,
    /// Short summary; the type's title unless overridden.
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// What went wrong, for a person. Never internal details.
    pub detail: Option<String>,
    /// The id of the fresh challenge sent with this problem, as the spec's examples carry.
    pub challenge_id: Option<String>,
    /// Other members (`required`, `reference`, …).
    pub extensions: Map<String, Value>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireProblem {
    #[serde(rename = "type")]
    type_: String,
    title: String,
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    challenge_id: Option<String>,
    #[serde(flatten)]
    extensions: Map<String, Value>,
}

impl Problem {
    /// A problem of `t` with its registered title and status.
    pub fn new(t: ProblemType) -> Self {
        Self {
            title: t.title().to_owned(),
            status: t.status(),
            problem_type: t,
            detail: None,
            challenge_id: None,
            extensions: Map::new(),
        }
    }

    /// Sets the detail text.
    pub fn with_detail(mut self, d: impl Into<String>) -> Self {
        self.detail = Some(d.into());
        self
    }

    /// Names the fresh challenge sent alongside.
    pub fn with_challenge_id(mut self, id: impl Into<String>) -> Self {
        self.challenge_id = Some(id.into());
        self
    }

    /// Adds an extension member.
    pub fn with_extension(mut self, k: impl Into<String>, v: impl Into<Value>) -> Self {
        self.extensions.insert(k.into(), v.into());
        self
    }

    /// The JSON body.
    pub fn to_json(&self) -> String {
        let w = WireProblem {
            type_: self.problem_type.uri(),
            title: self.title.clone(),
            status: self.status,
            detail: self.detail.clone(),
            challenge_id: self.challenge_id.clone(),
            extensions: self.extensions.clone(),
        };
        serde_json::to_string(&w).unwrap_or_default()
    }

    /// Reads a problem body (what a client does with a 402's body).
    pub fn from_json(s: &[u8]) -> Result<Self, serde_json::Error> {
        let w: WireProblem = serde_json::from_slice(s)?;
        Ok(Self {
            problem_type: ProblemType::from_uri(&w.type_),
            title: w.title,
            status: w.status,
            detail: w.detail,
            challenge_id: w.challenge_id,
            extensions: w.extensions,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_types_match_the_spec_table() {
        let table = [
            ("payment-required", 402),
            ("payment-insufficient", 402),
            ("payment-expired", 402),
            ("verification-failed", 402),
            ("method-unsupported", 400),
            ("malformed-credential", 402),
            ("invalid-challenge", 402),
        ];
        for (code, status) in table {
            let t = ProblemType::from_uri(&format!("{PROBLEM_BASE}{code}"));
            assert!(!matches!(t, ProblemType::Other(_)), "{code}");
            assert_eq!(t.status(), status, "{code}");
            assert_eq!(t.code(), code);
        }
    }

    #[test]
    fn every_known_type_round_trips_its_uri() {
        for t in ProblemType::ALL {
            assert_eq!(&ProblemType::from_uri(&t.uri()), t);
        }
        let other = ProblemType::from_uri("https://example.com/x");
        assert_eq!(other, ProblemType::Other("https://example.com/x".into()));
    }

    #[test]
    fn body_has_rfc9457_members() {
        let p = Problem::new(ProblemType::VerificationFailed)
            .with_detail("amount mismatch")
            .with_challenge_id("abc")
            .with_extension("required", "2600");
        let v: Value = serde_json::from_str(&p.to_json()).unwrap();
        assert_eq!(
            v["type"],
            "https://paymentauth.org/problems/verification-failed"
        );
        assert_eq!(v["title"], "Verification Failed");
        assert_eq!(v["status"], 402);
        assert_eq!(v["challengeId"], "abc");
        assert_eq!(v["required"], "2600");
        assert_eq!(Problem::from_json(p.to_json().as_bytes()).unwrap(), p);
    }
}
