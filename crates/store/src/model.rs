//! Row types.

use serde::{Deserialize, Serialize};

/// One payment, as either side records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentRecord {
    /// The challenge it answered.
    pub challenge_id: String,
    /// `server` (we were paid) or `client` (we paid).
    pub role: String,
    /// Payment method (`solana`).
    pub method: String,
    /// Intent (`charge`).
    pub intent: String,
    /// Method reference (the transaction signature).
    pub reference: String,
    /// Base units.
    pub amount: u64,
    /// `sol` or a mint address.
    pub currency: String,
    /// Who was paid.
    pub recipient: String,
    /// Who paid, if known.
    pub payer: Option<String>,
    /// Where (the server's realm, or the URL the client paid).
    pub realm: String,
    /// The `Payment-Receipt` header value.
    pub receipt: String,
    /// Unix seconds.
    pub created_at: i64,
}
