//! The `request` object of a `solana`/`session` challenge.

use mpp::Amount;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use solana_address::Address;
use solana_hash::Hash;

use super::{MAX_IDLE_TIMEOUT_SECONDS, SessionError};
use crate::network::Network;

/// Who signs cumulative vouchers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum VoucherSigner {
    /// The client's `authorizedSigner` signs every voucher (the default).
    #[default]
    Client,
    /// The operator signs vouchers; the client presents a bearer proof.
    Operator,
}

/// One co-recipient of the merchant-side pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DistributionEntry {
    /// Who is paid.
    #[serde(with = "crate::serde_b58::address")]
    pub recipient: Address,
    /// Share in basis points (> 0).
    pub share_bps: u16,
}

/// `methodDetails` of a session request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionDetails {
    /// The cluster (required; no default).
    pub network: Network,
    /// The channel program for that cluster.
    #[serde(with = "crate::serde_b58::address")]
    pub channel_program: Address,
    /// An existing channel to resume.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::serde_b58::opt_address"
    )]
    pub channel_id: Option<Address>,
    /// Blockhash the open transaction must use (new channels).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::serde_b58::opt_hash"
    )]
    pub recent_blockhash: Option<Hash>,
    /// The slot of that blockhash; the client's `openSlot` reference.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "super::u64_string::opt"
    )]
    pub recent_slot: Option<u64>,
    /// Mint decimals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decimals: Option<u8>,
    /// Token program of the mint.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::serde_b58::opt_address"
    )]
    pub token_program: Option<Address>,
    /// Whether the server sponsors fees (and channel rent).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fee_payer: bool,
    /// The sponsor's key.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::serde_b58::opt_address"
    )]
    pub fee_payer_key: Option<Address>,
    /// Voucher signing mode (absent = client).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voucher_signer: Option<VoucherSigner>,
    /// The operator's voucher key (operator mode).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::serde_b58::opt_address"
    )]
    pub operator: Option<Address>,
    /// Minimum increase between vouchers.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "super::u64_string::opt"
    )]
    pub min_voucher_delta: Option<u64>,
    /// Suggested session duration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_seconds: Option<u64>,
    /// Idle timeouts a new channel may choose from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeout_options_seconds: Option<Vec<u32>>,
    /// The effective idle timeout of a resumed channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeout_seconds: Option<u32>,
    /// Forced-close grace period for a new channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_period_seconds: Option<u32>,
    /// Co-recipients bound into a new channel.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub distribution_splits: Vec<DistributionEntry>,
}

/// The `request` of a `solana`/`session` challenge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionRequest {
    /// Price per unit of service, base units.
    pub amount: Amount,
    /// What a unit is (`request`, `token`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_type: Option<String>,
    /// Suggested initial deposit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suggested_deposit: Option<Amount>,
    /// Smallest deposit the server accepts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_deposit: Option<Amount>,
    /// The payee (channel `payee`).
    #[serde(with = "crate::serde_b58::address")]
    pub recipient: Address,
    /// The mint (base58); native SOL is not supported.
    pub currency: String,
    /// Shown to payers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The seller's reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// Solana specifics.
    pub method_details: SessionDetails,
}

impl SessionRequest {
    /// Reads and validates a challenge request.
    pub fn from_json(v: &Map<String, Value>) -> Result<Self, SessionError> {
        let r: SessionRequest = serde_json::from_value(Value::Object(v.clone())).map_err(|e| {
            SessionError::Malformed {
                what: "request",
                detail: e.to_string(),
            }
        })?;
        r.validate()?;
        Ok(r)
    }

    /// The request as a JSON object.
    pub fn to_json(&self) -> Map<String, Value> {
        match serde_json::to_value(self) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        }
    }

    /// The mint.
    pub fn mint(&self) -> Result<Address, SessionError> {
        crate::charge::request::parse_address(&self.currency).ok_or(SessionError::Invalid(
            "currency (a session needs a mint address; wrap SOL to wSOL)",
        ))
    }

    /// The voucher signing mode.
    pub fn voucher_signer(&self) -> VoucherSigner {
        self.method_details.voucher_signer.unwrap_or_default()
    }

    /// Checks the request's internal rules (spec §Request Schema).
    pub fn validate(&self) -> Result<(), SessionError> {
        let d = &self.method_details;
        self.mint()?;
        if d.fee_payer && d.fee_payer_key.is_none() {
            return Err(SessionError::Invalid(
                "feePayerKey (required when feePayer)",
            ));
        }
        if self.voucher_signer() == VoucherSigner::Operator && d.operator.is_none() {
            return Err(SessionError::Invalid(
                "operator (required for operator vouchers)",
            ));
        }
        if d.decimals.is_some_and(|x| x > 9) {
            return Err(SessionError::Invalid("decimals"));
        }
        if d.grace_period_seconds == Some(0) {
            return Err(SessionError::Invalid("gracePeriodSeconds (must be > 0)"));
        }
        let idle_ok = |s: u32| (1..=MAX_IDLE_TIMEOUT_SECONDS).contains(&s);
        if let Some(opts) = &d.idle_timeout_options_seconds {
            let increasing = opts.windows(2).all(|w| w[0] < w[1]);
            if opts.is_empty() || !increasing || !opts.iter().copied().all(idle_ok) {
                return Err(SessionError::Invalid("idleTimeoutOptionsSeconds"));
            }
        }
        if d.idle_timeout_seconds.is_some_and(|s| !idle_ok(s)) {
            return Err(SessionError::Invalid("idleTimeoutSeconds"));
        }
        match d.channel_id {
            Some(_) => {
                if d.recent_blockhash.is_some()
                    || d.recent_slot.is_some()
                    || d.idle_timeout_options_seconds.is_some()
                {
                    return Err(SessionError::Invalid(
                        "resume challenge (no recentBlockhash, recentSlot or idle options)",
                    ));
                }
                if d.idle_timeout_seconds.is_none() {
                    return Err(SessionError::Invalid(
                        "idleTimeoutSeconds (required when resuming)",
                    ));
                }
            }
            None => {
                if d.recent_blockhash.is_none() || d.recent_slot.is_none() {
                    return Err(SessionError::Invalid(
                        "new-channel challenge (recentBlockhash and recentSlot required)",
                    ));
                }
                if d.grace_period_seconds.is_none() {
                    return Err(SessionError::Invalid(
                        "gracePeriodSeconds (required for a new channel)",
                    ));
                }
                if d.idle_timeout_seconds.is_some() {
                    return Err(SessionError::Invalid(
                        "idleTimeoutSeconds (only when resuming)",
                    ));
                }
            }
        }
        let mut total: u32 = 0;
        for (i, e) in d.distribution_splits.iter().enumerate() {
            if e.share_bps == 0 {
                return Err(SessionError::Invalid(
                    "distributionSplits (shareBps must be > 0)",
                ));
            }
            if d.distribution_splits[..i]
                .iter()
                .any(|p| p.recipient == e.recipient)
            {
                return Err(SessionError::Invalid(
                    "distributionSplits (duplicate recipient)",
                ));
            }
            total += u32::from(e.share_bps);
        }
        if total > 10_000 || d.distribution_splits.len() > 32 {
            return Err(SessionError::Invalid(
                "distributionSplits (over 10000 bps or 32 entries)",
            ));
        }
        Ok(())
    }
}
