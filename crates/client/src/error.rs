//! Why a payment was not made. Each denial names the rule.

/// The spending-policy rule that refused a payment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PolicyRule {
    /// Above the per-payment cap.
    MaxPerPayment {
        /// The cap, base units.
        cap: u64,
        /// Asked, base units.
        asked: u64,
    },
    /// The origin is not allowed to charge us.
    OriginNotAllowed(String),
    /// The network is not allowed.
    NetworkNotAllowed(String),
    /// The currency (mint) is not allowed.
    CurrencyNotAllowed(String),
    /// Today's budget would be exceeded.
    DailyBudget {
        /// The cap, base units.
        cap: u64,
        /// Already spent today.
        spent: u64,
        /// Asked.
        asked: u64,
    },
    /// The wallet's on-chain spending policy (the policy program) refused: in the client's own
    /// send (push), or in the server's simulation (pull; named in its 402 detail).
    OnChain(mppsol_solana::policy::PolicyErrorCode),
}

/// Prefix of every on-chain policy refusal's text (the server's `VerifyError::PolicyRefused`
/// and the client's own), followed by the code's `Display` (`Name (code): message`).
pub const ON_CHAIN_REFUSAL: &str = "the wallet's on-chain policy refused the payment: ";

/// The on-chain policy rule a refusal's text names, if it is one.
pub fn on_chain_denial(text: &str) -> Option<mppsol_solana::policy::PolicyErrorCode> {
    let named = text.split(ON_CHAIN_REFUSAL).nth(1)?;
    mppsol_solana::policy::PolicyErrorCode::ALL
        .iter()
        .copied()
        .find(|c| named.starts_with(&format!("{} ({})", c.name(), c.code())))
}

impl std::fmt::Display for PolicyRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PolicyRule::MaxPerPayment { cap, asked } => {
                write!(f, "asks {asked}, above the per-payment cap of {cap}")
            }
            PolicyRule::OriginNotAllowed(o) => write!(f, "origin {o} is not allowed"),
            PolicyRule::NetworkNotAllowed(n) => write!(f, "network {n} is not allowed"),
            PolicyRule::CurrencyNotAllowed(c) => write!(f, "currency {c} is not allowed"),
            PolicyRule::DailyBudget { cap, spent, asked } => write!(
                f,
                "asks {asked} with {spent} already spent today, above the daily budget of {cap}"
            ),
            PolicyRule::OnChain(code) => write!(f, "on-chain policy: {code}"),
        }
    }
}

/// A payment that did not happen (or did not unlock the resource).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PayError {
    /// The 402 offered nothing this client can pay.
    #[error("no acceptable challenge: {0}")]
    NoAcceptableChallenge(String),
    /// The spending policy refused before anything was signed.
    #[error("payment denied by policy: {rule}")]
    PolicyDenied {
        /// The rule.
        rule: PolicyRule,
    },
    /// The signer failed.
    #[error("signer: {0}")]
    Signer(String),
    /// The request could not be sent (the URL is stripped: it may carry secrets).
    #[error("http: {0}")]
    Http(String),
    /// The server refused the credential.
    #[error("server refused the payment ({status}): {detail}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The problem type URI, if the body was a problem.
        problem_type: Option<String>,
        /// The problem detail.
        detail: String,
    },
    /// The method could not build or send the payment.
    #[error("payment method: {0}")]
    Method(String),
    /// The server's response broke the protocol.
    #[error("protocol: {0}")]
    Protocol(String),
    /// The local record or budget store failed.
    #[error("store: {0}")]
    Store(String),
}

impl From<reqwest::Error> for PayError {
    fn from(e: reqwest::Error) -> Self {
        PayError::Http(e.without_url().to_string())
    }
}
