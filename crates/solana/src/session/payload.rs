//! The credential `payload` of a session: a discriminated union on `action`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use solana_address::Address;
use solana_keypair::Keypair;
use solana_signature::Signature;
use solana_signer::Signer;

use super::SessionError;
use super::proof::BearerProof;
use super::request::DistributionEntry;

/// The voucher fields of the JSON transport view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VoucherData {
    /// The channel.
    #[serde(with = "crate::serde_b58::address")]
    pub channel_id: Address,
    /// Total authorised spend since open.
    #[serde(with = "super::u64_string")]
    pub cumulative_amount: u64,
    /// Unix seconds; absent or 0 = no expiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

impl VoucherData {
    /// The 50 signed bytes (the on-chain Borsh layout).
    pub fn message(&self) -> [u8; 50] {
        crate::channel::Voucher {
            channel_id: self.channel_id,
            cumulative_amount: self.cumulative_amount,
            expires_at: self.expires_at.unwrap_or(0),
        }
        .to_bytes()
    }

    /// Signs with the authorised signer's key.
    pub fn sign(self, key: &Keypair) -> SignedVoucher {
        let sig = key.sign_message(&self.message());
        SignedVoucher {
            voucher: self,
            signer: key.pubkey(),
            signature: sig.to_string(),
            signature_type: "ed25519".into(),
        }
    }
}

/// A voucher with its Ed25519 signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignedVoucher {
    /// The voucher.
    pub voucher: VoucherData,
    /// Who signed.
    #[serde(with = "crate::serde_b58::address")]
    pub signer: Address,
    /// Base58 signature.
    pub signature: String,
    /// `"ed25519"`.
    pub signature_type: String,
}

impl SignedVoucher {
    /// The decoded signature.
    pub fn signature(&self) -> Result<Signature, SessionError> {
        let bytes = bs58::decode(&self.signature)
            .into_vec()
            .map_err(|_| SessionError::Invalid("voucher signature (not base58)"))?;
        let arr: [u8; 64] = bytes
            .try_into()
            .map_err(|_| SessionError::Invalid("voucher signature (not 64 bytes)"))?;
        Ok(Signature::from(arr))
    }

    /// Checks the signature type and the Ed25519 signature over the 50-byte message against
    /// `signer` (whether `signer` is the channel's authorised signer is the caller's check).
    pub fn verify(&self) -> Result<(), SessionError> {
        if self.signature_type != "ed25519" {
            return Err(SessionError::Invalid("signatureType (must be ed25519)"));
        }
        let sig = self.signature()?;
        if sig.verify(self.signer.as_ref(), &self.voucher.message()) {
            Ok(())
        } else {
            Err(SessionError::BadSignature("voucher"))
        }
    }
}

/// `action: "open"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenAction {
    /// Declared channel address (re-derived by the server).
    #[serde(with = "crate::serde_b58::address")]
    pub channel_id: Address,
    /// Depositor.
    #[serde(with = "crate::serde_b58::address")]
    pub payer: Address,
    /// Channel payee.
    #[serde(with = "crate::serde_b58::address")]
    pub payee: Address,
    /// Mint.
    #[serde(with = "crate::serde_b58::address")]
    pub mint: Address,
    /// Voucher signer bound into the PDA.
    #[serde(with = "crate::serde_b58::address")]
    pub authorized_signer: Address,
    /// PDA disambiguator.
    #[serde(with = "super::u64_string")]
    pub salt: u64,
    /// Initial deposit.
    #[serde(with = "super::u64_string")]
    pub deposit_amount: u64,
    /// Grace period bound at open.
    pub grace_period_seconds: u32,
    /// Client-selected idle timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeout_seconds: Option<u32>,
    /// Per-incarnation epoch (a PDA seed).
    #[serde(with = "super::u64_string")]
    pub open_slot: u64,
    /// Splits preimage (must match the challenge).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distribution_splits: Option<Vec<DistributionEntry>>,
    /// Voucher signer policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_policy: Option<Value>,
    /// Bearer proof (operator mode only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication: Option<BearerProof>,
    /// Base64 (standard, padded) partially signed open transaction.
    pub transaction: String,
    /// Implementation-specific extensions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Value>,
}

/// `action: "voucher"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VoucherAction {
    /// The channel.
    #[serde(with = "crate::serde_b58::address")]
    pub channel_id: Address,
    /// The new cumulative voucher.
    pub voucher: SignedVoucher,
}

/// `action: "use"` (operator mode).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UseAction {
    /// The channel.
    #[serde(with = "crate::serde_b58::address")]
    pub channel_id: Address,
    /// The proof bound at open.
    pub authentication: BearerProof,
}

/// `action: "topUp"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopUpAction {
    /// The channel.
    #[serde(with = "crate::serde_b58::address")]
    pub channel_id: Address,
    /// Amount added.
    #[serde(with = "super::u64_string")]
    pub additional_amount: u64,
    /// Base64 signed topUp transaction.
    pub transaction: String,
}

/// `action: "close"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CloseAction {
    /// The channel.
    #[serde(with = "crate::serde_b58::address")]
    pub channel_id: Address,
    /// Final voucher (client mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voucher: Option<SignedVoucher>,
    /// Proof (operator mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication: Option<BearerProof>,
}

/// A session credential payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionPayload {
    /// Open a channel.
    Open(Box<OpenAction>),
    /// Pay with the next cumulative voucher (client mode).
    Voucher(VoucherAction),
    /// Authenticate a metered request (operator mode).
    Use(UseAction),
    /// Add funds.
    TopUp(TopUpAction),
    /// Close cooperatively.
    Close(CloseAction),
}

impl SessionPayload {
    /// Reads a payload, refusing unknown actions and a `bump` on open.
    pub fn from_json(v: &Value) -> Result<Self, SessionError> {
        let malformed = |detail: String| SessionError::Malformed {
            what: "payload",
            detail,
        };
        let obj = v
            .as_object()
            .ok_or_else(|| malformed("not an object".into()))?;
        let action = obj
            .get("action")
            .and_then(Value::as_str)
            .ok_or_else(|| malformed("missing action".into()))?;
        let parse = |m: &Map<String, Value>| Value::Object(m.clone());
        let v = parse(obj);
        Ok(match action {
            "open" => {
                if obj.contains_key("bump") {
                    return Err(SessionError::BumpNotAllowed);
                }
                SessionPayload::Open(Box::new(
                    serde_json::from_value(v).map_err(|e| malformed(e.to_string()))?,
                ))
            }
            "voucher" => SessionPayload::Voucher(
                serde_json::from_value(v).map_err(|e| malformed(e.to_string()))?,
            ),
            "use" => SessionPayload::Use(
                serde_json::from_value(v).map_err(|e| malformed(e.to_string()))?,
            ),
            "topUp" => SessionPayload::TopUp(
                serde_json::from_value(v).map_err(|e| malformed(e.to_string()))?,
            ),
            "close" => SessionPayload::Close(
                serde_json::from_value(v).map_err(|e| malformed(e.to_string()))?,
            ),
            other => return Err(malformed(format!("unknown action {other:?}"))),
        })
    }

    /// The payload as JSON, with its `action`.
    pub fn to_json(&self) -> Value {
        let (action, v) = match self {
            SessionPayload::Open(a) => ("open", serde_json::to_value(a)),
            SessionPayload::Voucher(a) => ("voucher", serde_json::to_value(a)),
            SessionPayload::Use(a) => ("use", serde_json::to_value(a)),
            SessionPayload::TopUp(a) => ("topUp", serde_json::to_value(a)),
            SessionPayload::Close(a) => ("close", serde_json::to_value(a)),
        };
        let mut m = match v {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        m.insert("action".into(), Value::String(action.into()));
        Value::Object(m)
    }

    /// The action name.
    pub fn action(&self) -> &'static str {
        match self {
            SessionPayload::Open(_) => "open",
            SessionPayload::Voucher(_) => "voucher",
            SessionPayload::Use(_) => "use",
            SessionPayload::TopUp(_) => "topUp",
            SessionPayload::Close(_) => "close",
        }
    }

    /// The channel the payload is about.
    pub fn channel_id(&self) -> Address {
        match self {
            SessionPayload::Open(a) => a.channel_id,
            SessionPayload::Voucher(a) => a.channel_id,
            SessionPayload::Use(a) => a.channel_id,
            SessionPayload::TopUp(a) => a.channel_id,
            SessionPayload::Close(a) => a.channel_id,
        }
    }
}
