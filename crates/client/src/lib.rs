//! # mppsol-client: pay 402s
//!
//! ```text
//! PayingClient::execute ─▶ 402? ─▶ select (methods × SpendingPolicy, no signer yet)
//!   ─▶ reserve daily budget (Store) ─▶ ClientMethod::create_credential (signs) ─▶ resend
//!   ─▶ receipt recorded (Store)
//! ```
//!
//! | module | holds |
//! |---|---|
//! | [`middleware`] | `PayingClient` |
//! | [`policy`] | `SpendingPolicy`: cap, allowlists, durable daily budget |
//! | [`charge`] | `SolanaChargeClient`: pull and push |
//! | [`session`] | `SolanaSessionClient`: channels, vouchers, top-ups, close, recovery |
//! | [`session_challenge`] | what every session signer shares: support, quote, follow-ups |
//! | [`session_report`] | `SessionReporter`: session receipts to the operator service |
//! | [`signer`] | keypair files, env keys |
//! | [`operator`] | signed operator-API requests; `OperatorSigner` (custodial accounts) |
//! | [`error`] | `PayError`, `PolicyRule` |

pub mod charge;
pub mod error;
pub mod middleware;
pub mod operator;
pub mod policy;
pub mod session;
pub mod session_challenge;
pub mod session_report;
pub mod signer;

pub use charge::{ChargeMode, PolicyWallet, SolanaChargeClient};
pub use error::{PayError, PolicyRule};
pub use middleware::{PaidResponse, PayingClient};
pub use operator::{ApiCredentials, OperatorApi, OperatorSigner};
pub use policy::SpendingPolicy;
pub use session::SolanaSessionClient;
pub use session_report::SessionReporter;
