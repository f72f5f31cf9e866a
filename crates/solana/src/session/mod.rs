//! The `solana`/`session` wire types: the challenge request, the five credential actions, signed
//! vouchers in their JSON transport view, and the session bearer proof. The on-chain side
//! (voucher bytes, PDAs, instructions) is [`crate::channel`].

mod payload;
mod proof;
mod request;
pub mod verify;

pub use payload::{
    CloseAction, OpenAction, SessionPayload, SignedVoucher, TopUpAction, UseAction, VoucherAction,
    VoucherData,
};
pub use proof::{BEARER_PROOF_DOMAIN, BearerProof};
pub use request::{DistributionEntry, SessionDetails, SessionRequest, VoucherSigner};

/// The intent identifier.
pub const INTENT: &str = "session";

/// Open-slot window of the channel interface, in slots.
pub const OPEN_SLOT_WINDOW: u64 = 1500;

/// Idle timeouts are bounded to 1 s … 30 days.
pub const MAX_IDLE_TIMEOUT_SECONDS: u32 = 2_592_000;

/// A session credential or request that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SessionError {
    /// The JSON does not have the required shape.
    #[error("malformed session {what}: {detail}")]
    Malformed {
        /// `request` or `payload`.
        what: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// An open envelope carried a `bump` (spec: rejected as malformed).
    #[error("open credential must not carry a bump field")]
    BumpNotAllowed,
    /// A field holds a value the spec forbids.
    #[error("invalid {0}")]
    Invalid(&'static str),
    /// A signature did not verify.
    #[error("{0} signature does not verify")]
    BadSignature(&'static str),
}

/// Serde for `u64` as a decimal string (the wire's amount convention), refusing signs, blanks and
/// leading zeros like [`mpp::Amount`].
pub(crate) mod u64_string {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serialises as a decimal string.
    pub fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }

    /// Parses a strict decimal string.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        mpp::parse_amount(&s)
            .map(|a| a.get())
            .map_err(|e| serde::de::Error::custom(e.to_string()))
    }

    /// `Option<u64>` as an optional decimal string.
    pub mod opt {
        use serde::{Deserialize, Deserializer, Serializer};

        /// Serialises as a decimal string.
        pub fn serialize<S: Serializer>(v: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
            match v {
                Some(v) => s.collect_str(v),
                None => s.serialize_none(),
            }
        }

        /// Parses a strict decimal string.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
            let s = <Option<std::borrow::Cow<'de, str>>>::deserialize(d)?;
            s.map(|s| {
                mpp::parse_amount(&s)
                    .map(|a| a.get())
                    .map_err(|e| serde::de::Error::custom(e.to_string()))
            })
            .transpose()
        }
    }
}
