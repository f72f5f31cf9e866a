//! Webhook delivery: events become one delivery per matching endpoint (fan-out from the
//! `events` table, which state changes write in their own transaction), and a sender loop POSTs
//! them, signed, retrying with exponential backoff until a 2xx or `max_attempts`.
//!
//! ```text
//! POST <url>
//! Content-Type:               application/json
//! Mppsol-Webhook-Id:          evt_…   (the same on every retry: receivers deduplicate on it)
//! Mppsol-Webhook-Timestamp:   1795305600
//! Mppsol-Webhook-Signature:   v1=base64url(HMAC-SHA256(secret, TIMESTAMP "." BODY))
//! body: {"id", "type", "created_at", "account_id", "subject_id", "data"}
//! ```
//!
//! Delivery is at least once (a crash after the receiver's 2xx and before it is recorded sends
//! again); the event id makes it idempotent for the receiver.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use mpp::Clock;
use mppsol_store::operator::{DeliveryResult, DueDelivery};
use mppsol_store::{OperatorStore, StoreError};
use rand::RngCore as _;
use sha2::Sha256;

use crate::MasterKey;

/// The event id header.
pub const ID_HEADER: &str = "Mppsol-Webhook-Id";
/// The Unix-seconds timestamp header.
pub const TIMESTAMP_HEADER: &str = "Mppsol-Webhook-Timestamp";
/// The signature header (`v1=…`).
pub const SIGNATURE_HEADER: &str = "Mppsol-Webhook-Signature";

/// The sealing context of an endpoint's secret.
pub fn secret_context(endpoint_id: &str) -> String {
    format!("mppsol/webhook-secret/{endpoint_id}")
}

/// A fresh endpoint secret (`whsec_` + 32 random bytes, base64url): the HMAC key, as UTF-8.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("whsec_{}", URL_SAFE_NO_PAD.encode(bytes))
}

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `Mppsol-Webhook-Signature` value of `body` sent at `timestamp`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    format!(
        "v1={}",
        URL_SAFE_NO_PAD.encode(mac(secret, timestamp, body).finalize().into_bytes())
    )
}

/// Why a received webhook does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The signature header is not `v1=<base64url>`.
    #[error("malformed signature header")]
    Malformed,
    /// The timestamp is further than the tolerance from now (a replay).
    #[error("timestamp outside the tolerance")]
    Stale,
    /// The signature does not match.
    #[error("signature mismatch")]
    Mismatch,
}

/// Checks a received webhook (for receivers; constant-time comparison).
pub fn verify(
    secret: &str,
    timestamp: i64,
    signature: &str,
    body: &[u8],
    now: i64,
    tolerance: Duration,
) -> Result<(), VerifyError> {
    let tolerance = i64::try_from(tolerance.as_secs()).unwrap_or(i64::MAX);
    if now.abs_diff(timestamp) > tolerance.unsigned_abs() {
        return Err(VerifyError::Stale);
    }
    let raw = signature
        .strip_prefix("v1=")
        .and_then(|b| URL_SAFE_NO_PAD.decode(b).ok())
        .ok_or(VerifyError::Malformed)?;
    mac(secret, timestamp, body)
        .verify_slice(&raw)
        .map_err(|_| VerifyError::Mismatch)
}

/// How the sender behaves.
#[derive(Debug, Clone)]
pub struct SenderConfig {
    /// This sender's name in the lease column.
    pub worker_id: String,
    /// Deliveries claimed at once.
    pub batch: u32,
    /// How long a claim holds.
    pub lease: Duration,
    /// Per-request timeout.
    pub timeout: Duration,
    /// POSTs before a delivery is given up (`failed`).
    pub max_attempts: i64,
    /// Pause when nothing is due.
    pub idle_poll: Duration,
}

impl Default for SenderConfig {
    fn default() -> Self {
        Self {
            worker_id: mppsol_store::operator::new_id("whw"),
            batch: 32,
            lease: Duration::from_secs(60),
            timeout: Duration::from_secs(10),
            max_attempts: 12,
            idle_poll: Duration::from_millis(500),
        }
    }
}

/// Counts failed POSTs (metrics).
pub trait DeliveryObserver: Send + Sync {
    /// A POST failed (non-2xx, timeout, connection).
    fn delivery_failed(&self);
}

struct Silent;

impl DeliveryObserver for Silent {
    fn delivery_failed(&self) {}
}

/// The webhook sender.
pub struct WebhookSender {
    store: Arc<dyn OperatorStore>,
    master_key: MasterKey,
    clock: Arc<dyn Clock>,
    http: reqwest::Client,
    config: SenderConfig,
    observer: Arc<dyn DeliveryObserver>,
}

/// Delay before try number `attempts + 1`: 2^attempts seconds, at most an hour.
pub fn backoff(attempts: i64) -> i64 {
    1i64 << attempts.clamp(0, 11).min(11)
}

impl WebhookSender {
    /// A sender over `store`.
    pub fn new(
        store: Arc<dyn OperatorStore>,
        master_key: MasterKey,
        clock: Arc<dyn Clock>,
        config: SenderConfig,
    ) -> Self {
        Self {
            store,
            master_key,
            clock,
            http: reqwest::Client::new(),
            config,
            observer: Arc::new(Silent),
        }
    }

    /// Reports failures to `observer`.
    pub fn with_observer(mut self, observer: Arc<dyn DeliveryObserver>) -> Self {
        self.observer = observer;
        self
    }

    /// Fans new events out, then POSTs one batch of due deliveries; returns how many were
    /// tried.
    pub async fn run_once(&self) -> Result<usize, StoreError> {
        let now = self.clock.now().unix();
        self.store.fan_out_events(500, now).await?;
        let lease = i64::try_from(self.config.lease.as_secs()).unwrap_or(i64::MAX);
        let due = self
            .store
            .claim_deliveries(
                &self.config.worker_id,
                self.config.batch,
                now.saturating_add(lease),
                now,
            )
            .await?;
        let n = due.len();
        for result in futures::future::join_all(due.iter().map(|d| self.deliver(d))).await {
            result?;
        }
        Ok(n)
    }

    /// Runs until `shutdown` resolves.
    pub async fn run(&self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let idle = match self.run_once().await {
                Ok(n) => n == 0,
                Err(e) => {
                    tracing::warn!(error = %e, "webhook batch failed");
                    true
                }
            };
            if idle {
                tokio::select! {
                    () = &mut shutdown => return,
                    () = tokio::time::sleep(self.config.idle_poll) => {}
                }
            }
        }
    }

    async fn deliver(&self, d: &DueDelivery) -> Result<(), StoreError> {
        let now = self.clock.now().unix();
        let outcome = match self
            .master_key
            .open(&d.sealed_secret, &secret_context(&d.endpoint_id))
        {
            Ok(secret) => self.post(d, &String::from_utf8_lossy(&secret), now).await,
            Err(_) => (None, Some("the endpoint secret does not open".to_owned())),
        };
        let (status_code, error) = outcome;
        if error.is_some() {
            self.observer.delivery_failed();
        }
        let attempts = d.attempts.saturating_add(1);
        let retry_at = (error.is_some() && attempts < self.config.max_attempts)
            .then(|| now.saturating_add(backoff(d.attempts)));
        let result = DeliveryResult {
            status_code,
            error,
            retry_at,
        };
        tracing::debug!(event = %d.event.id, endpoint = %d.endpoint_id, ?status_code,
            attempts, "webhook delivery");
        self.store
            .finish_delivery(d.delivery_id, &self.config.worker_id, &result, now)
            .await?;
        Ok(())
    }

    async fn post(&self, d: &DueDelivery, secret: &str, now: i64) -> (Option<u16>, Option<String>) {
        let e = &d.event;
        let body = serde_json::json!({
            "id": e.id,
            "type": e.event_type,
            "created_at": e.created_at,
            "account_id": e.account_id,
            "subject_id": e.subject_id,
            "data": e.payload,
        })
        .to_string();
        let sent = self
            .http
            .post(&d.url)
            .timeout(self.config.timeout)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(ID_HEADER, &e.id)
            .header(TIMESTAMP_HEADER, now.to_string())
            .header(SIGNATURE_HEADER, sign(secret, now, body.as_bytes()))
            .body(body)
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => (Some(r.status().as_u16()), None),
            Ok(r) => (
                Some(r.status().as_u16()),
                Some(format!("HTTP {}", r.status().as_u16())),
            ),
            // reqwest's error text names the URL, never a secret.
            Err(err) => (None, Some(err.without_url().to_string())),
        }
    }
}
