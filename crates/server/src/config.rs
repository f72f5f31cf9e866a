//! What a paid server needs besides its routes: who it is (realm), how challenges are bound
//! (secret keyring, lifetime), where replay state lives (store), and how receipts are signed.

use std::sync::Arc;
use std::time::Duration;

use mpp::{ChallengeKeyring, Clock, ReceiptSigner, SystemClock, VerifyOptions};
use mppsol_store::Store;

/// Settings shared by every priced route of a server.
#[derive(Clone)]
pub struct PaymentConfig {
    /// The protection space (usually the API's host name).
    pub realm: String,
    /// Challenge-binding secrets.
    pub keys: ChallengeKeyring,
    /// How long a challenge stays payable.
    pub challenge_ttl: Duration,
    /// Expiry tolerance and whether `expires` is required.
    pub verify: VerifyOptions,
    /// Replay protection and payment records.
    pub store: Arc<dyn Store>,
    /// Time source.
    pub clock: Arc<dyn Clock>,
    /// Signs receipts when set (the public key is published in discovery).
    pub receipt_signer: Option<ReceiptSigner>,
    /// Largest request body buffered to check a challenge's body digest.
    pub max_body_bytes: usize,
}

impl PaymentConfig {
    /// A configuration with defaults: 5-minute challenges, 30 s skew, system clock, 1 MiB bodies.
    pub fn new(realm: impl Into<String>, keys: ChallengeKeyring, store: Arc<dyn Store>) -> Self {
        Self {
            realm: realm.into(),
            keys,
            challenge_ttl: Duration::from_secs(300),
            verify: VerifyOptions::default(),
            store,
            clock: Arc::new(SystemClock),
            receipt_signer: None,
            max_body_bytes: 1024 * 1024,
        }
    }

    /// Signs receipts with this key.
    pub fn with_receipt_signer(mut self, signer: ReceiptSigner) -> Self {
        self.receipt_signer = Some(signer);
        self
    }

    /// Uses another clock (tests, the embedded ledger's clock).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Changes the challenge lifetime.
    pub fn with_challenge_ttl(mut self, ttl: Duration) -> Self {
        self.challenge_ttl = ttl;
        self
    }
}

impl std::fmt::Debug for PaymentConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaymentConfig")
            .field("realm", &self.realm)
            .field("challenge_ttl", &self.challenge_ttl)
            .field("receipt_signer", &self.receipt_signer)
            .finish_non_exhaustive()
    }
}
