//! The `solana`/`charge` request (draft-solana-charge-00 §Request Schema), validated once.

use mpp::Amount;
use serde::{Deserialize, Serialize};
use solana_address::Address;
use solana_hash::Hash;

use crate::error::RequestError;
use crate::network::Network;
use crate::token::{MAX_MEMO_BYTES, TokenProgram};

/// The most splits a request may carry.
pub const MAX_SPLITS: usize = 8;

/// What is being paid in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Currency {
    /// Native SOL, in lamports.
    Sol,
    /// An SPL token mint (Token or Token-2022).
    Mint(Address),
}

/// One extra payment leg.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Split {
    /// Who receives it (the owner; the ATA is derived).
    #[serde(with = "crate::serde_b58::address")]
    pub recipient: Address,
    /// Base units, same asset as the primary amount.
    pub amount: Amount,
    /// A label (not written on chain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memo: Option<String>,
    /// The payer must create this recipient's ATA first (idempotently).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ata_creation_required: bool,
}

/// `methodDetails`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MethodDetails {
    /// Cluster; `mainnet` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<Network>,
    /// Mint decimals (token payments only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decimals: Option<u8>,
    /// Token or Token-2022 (token payments only).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::serde_b58::opt_address"
    )]
    pub token_program: Option<Address>,
    /// The server pays the fees and co-signs.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fee_payer: bool,
    /// The server's fee payer (required when `fee_payer`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::serde_b58::opt_address"
    )]
    pub fee_payer_key: Option<Address>,
    /// Extra legs, at most eight.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub splits: Vec<Split>,
    /// A blockhash the client should use.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::serde_b58::opt_hash"
    )]
    pub recent_blockhash: Option<Hash>,
    /// mppsol extension, ignored by other clients: a per-challenge key our client adds to the
    /// primary transfer as a read-only account, so a push payment proves which challenge it
    /// was made for (the spec leaves push payments unbound).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::serde_b58::opt_address"
    )]
    pub reference: Option<Address>,
    /// Confidential transfers are not supported; a request asking for them is refused.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub confidential: bool,
}

impl MethodDetails {
    /// Nothing set (serialised by omitting `methodDetails`).
    pub fn is_empty(&self) -> bool {
        *self == MethodDetails::default()
    }
}

/// A `solana`/`charge` request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChargeRequest {
    /// Total the payer pays, base units (lamports for SOL).
    pub amount: Amount,
    /// `sol` or a base58 mint.
    pub currency: String,
    /// The primary recipient (owner; for tokens the ATA is derived).
    #[serde(with = "crate::serde_b58::address")]
    pub recipient: Address,
    /// Display text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The seller's reference; our client writes it as a memo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// Method details.
    #[serde(default, skip_serializing_if = "MethodDetails::is_empty")]
    pub method_details: MethodDetails,
}

/// One leg a transaction must pay: the primary remainder or a split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leg {
    /// The owner being paid.
    pub recipient: Address,
    /// Base units the recipient must receive.
    pub amount: u64,
    /// Whether the payer may (and must) create the recipient's ATA.
    pub ata_creation_required: bool,
    /// Whether this is a split (splits may get an ATA created; the primary never).
    pub is_split: bool,
}

impl ChargeRequest {
    /// Parses and validates a decoded `request` object.
    pub fn from_json(v: &serde_json::Map<String, serde_json::Value>) -> Result<Self, RequestError> {
        let r: ChargeRequest = serde_json::from_value(serde_json::Value::Object(v.clone()))
            .map_err(|e| RequestError::Schema(e.to_string()))?;
        r.validate()?;
        Ok(r)
    }

    /// The request as a JSON object (for `B64Json::encode`).
    pub fn to_json(&self) -> serde_json::Map<String, serde_json::Value> {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        }
    }

    /// The cluster (`mainnet` when absent).
    pub fn network(&self) -> Network {
        self.method_details.network.unwrap_or_default()
    }

    /// The currency, parsed. `SOL` in upper case is accepted from peers that write it so.
    pub fn currency(&self) -> Result<Currency, RequestError> {
        if self.currency.eq_ignore_ascii_case("sol") {
            return Ok(Currency::Sol);
        }
        parse_address(&self.currency)
            .map(Currency::Mint)
            .ok_or_else(|| RequestError::InvalidCurrency(self.currency.clone()))
    }

    /// The token program, when it is stated.
    pub fn token_program(&self) -> Option<TokenProgram> {
        self.method_details
            .token_program
            .as_ref()
            .and_then(TokenProgram::from_id)
    }

    /// The server's fee payer when the payment is sponsored.
    pub fn sponsor(&self) -> Option<Address> {
        self.method_details
            .fee_payer
            .then_some(self.method_details.fee_payer_key)
            .flatten()
    }

    /// The legs to pay: the primary remainder first, then each split in order (duplicates are
    /// separate legs, as the spec requires).
    pub fn legs(&self) -> Result<Vec<Leg>, RequestError> {
        let split_total = self
            .method_details
            .splits
            .iter()
            .try_fold(0u64, |acc, s| acc.checked_add(s.amount.get()))
            .ok_or(RequestError::SplitsExceedAmount)?;
        let primary = self
            .amount
            .get()
            .checked_sub(split_total)
            .filter(|p| *p > 0)
            .ok_or(RequestError::SplitsExceedAmount)?;
        let mut legs = vec![Leg {
            recipient: self.recipient,
            amount: primary,
            ata_creation_required: false,
            is_split: false,
        }];
        legs.extend(self.method_details.splits.iter().map(|s| Leg {
            recipient: s.recipient,
            amount: s.amount.get(),
            ata_creation_required: s.ata_creation_required,
            is_split: true,
        }));
        Ok(legs)
    }

    /// Checks every cross-field rule of the spec.
    pub fn validate(&self) -> Result<(), RequestError> {
        let d = &self.method_details;
        if self.amount.get() == 0 {
            return Err(RequestError::ZeroAmount);
        }
        if self.currency.len() > 128 {
            return Err(RequestError::InvalidCurrency(self.currency.clone()));
        }
        if self
            .description
            .as_ref()
            .is_some_and(|s| s.chars().count() > 256)
        {
            return Err(RequestError::TooLong("description"));
        }
        if self
            .external_id
            .as_ref()
            .is_some_and(|s| s.len() > MAX_MEMO_BYTES)
        {
            return Err(RequestError::TooLong("externalId"));
        }
        if d.confidential {
            return Err(RequestError::ConfidentialUnsupported);
        }
        match self.currency()? {
            Currency::Sol => {
                if d.decimals.is_some() || d.token_program.is_some() {
                    return Err(RequestError::TokenFieldsOnSol);
                }
                if d.splits.iter().any(|s| s.ata_creation_required) {
                    return Err(RequestError::TokenFieldsOnSol);
                }
            }
            Currency::Mint(_) => {
                match d.decimals {
                    Some(dec) if dec <= 9 => {}
                    Some(_) => return Err(RequestError::InvalidDecimals),
                    None => return Err(RequestError::MissingDecimals),
                }
                if let Some(p) = &d.token_program
                    && TokenProgram::from_id(p).is_none()
                {
                    return Err(RequestError::InvalidTokenProgram);
                }
            }
        }
        if d.fee_payer != d.fee_payer_key.is_some() {
            return Err(RequestError::FeePayerKey);
        }
        if d.splits.len() > MAX_SPLITS {
            return Err(RequestError::TooManySplits(d.splits.len()));
        }
        if d.splits.iter().any(|s| s.amount.get() == 0) {
            return Err(RequestError::ZeroAmount);
        }
        if d.splits
            .iter()
            .any(|s| s.memo.as_ref().is_some_and(|m| m.len() > MAX_MEMO_BYTES))
        {
            return Err(RequestError::TooLong("splits[].memo"));
        }
        self.legs().map(|_| ())
    }
}

/// Parses a base58 32-byte address.
pub fn parse_address(s: &str) -> Option<Address> {
    let bytes: [u8; 32] = bs58::decode(s).into_vec().ok()?.try_into().ok()?;
    Some(Address::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn req(v: serde_json::Value) -> Result<ChargeRequest, RequestError> {
        let serde_json::Value::Object(m) = v else {
            unreachable!()
        };
        ChargeRequest::from_json(&m)
    }

    const R: &str = "7xKXtg2CW87d97TXJSDpbD5jBkheTqA83TZRuJosgAsU";
    const USDC: &str = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v";
    const SPLIT: &str = "3pF8Kg2aHbNvJkLMwEqR7YtDxZ5sGhJn4UV6mWcXrT9A";

    #[test]
    fn spec_examples_parse_and_reencode_to_the_derived_vectors() {
        let sol = req(json!({"amount":"10000000","currency":"sol","recipient":R,
            "description":"Weather API access","methodDetails":{"network":"mainnet"}}))
        .unwrap();
        assert_eq!(
            mpp::B64Json::encode(sol.to_json()).unwrap().encoded(),
            "eyJhbW91bnQiOiIxMDAwMDAwMCIsImN1cnJlbmN5Ijoic29sIiwiZGVzY3JpcHRpb24iOiJXZWF0aGVyIEFQSSBhY2Nlc3MiLCJtZXRob2REZXRhaWxzIjp7Im5ldHdvcmsiOiJtYWlubmV0In0sInJlY2lwaWVudCI6Ijd4S1h0ZzJDVzg3ZDk3VFhKU0RwYkQ1akJraGVUcUE4M1RaUnVKb3NnQXNVIn0"
        );
        let usdc = req(json!({"amount":"1000000","currency":USDC,"recipient":R,
            "description":"Premium API call","methodDetails":{"network":"mainnet","decimals":6,
            "tokenProgram":"TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA","feePayer":true,
            "feePayerKey":"Gh9ZwEmdLJ8DscKNTkTqPbNwLNNBjuSzaG9Vp2KGtKJr",
            "recentBlockhash":"EkSnNWid2cvwEVnVx9aBqawnmiCNiDgp3gUdkDPTKN1N"}}))
        .unwrap();
        assert_eq!(
            mpp::B64Json::encode(usdc.to_json()).unwrap().encoded(),
            "eyJhbW91bnQiOiIxMDAwMDAwIiwiY3VycmVuY3kiOiJFUGpGV2RkNUF1ZnFTU3FlTTJxTjF4enliYXBDOEc0d0VHR2tad3lURHQxdiIsImRlc2NyaXB0aW9uIjoiUHJlbWl1bSBBUEkgY2FsbCIsIm1ldGhvZERldGFpbHMiOnsiZGVjaW1hbHMiOjYsImZlZVBheWVyIjp0cnVlLCJmZWVQYXllcktleSI6IkdoOVp3RW1kTEo4RHNjS05Ua1RxUGJOd0xOTkJqdVN6YUc5VnAyS0d0S0pyIiwibmV0d29yayI6Im1haW5uZXQiLCJyZWNlbnRCbG9ja2hhc2giOiJFa1NuTldpZDJjdndFVm5WeDlhQnFhd25taUNOaURncDNnVWRrRFBUS04xTiIsInRva2VuUHJvZ3JhbSI6IlRva2Vua2VnUWZlWnlpTndBSmJOYkdLUEZYQ1d1QnZmOVNzNjIzVlE1REEifSwicmVjaXBpZW50IjoiN3hLWHRnMkNXODdkOTdUWEpTRHBiRDVqQmtoZVRxQTgzVFpSdUpvc2dBc1UifQ"
        );
        assert_eq!(
            usdc.sponsor().map(|a| a.to_string()).as_deref(),
            Some("Gh9ZwEmdLJ8DscKNTkTqPbNwLNNBjuSzaG9Vp2KGtKJr")
        );
    }

    #[test]
    fn splits_leave_a_positive_primary_leg() {
        let r = req(json!({"amount":"1050000","currency":USDC,"recipient":R,
            "methodDetails":{"decimals":6,"splits":[{"recipient":SPLIT,"amount":"50000","memo":"platform fee"}]}}))
        .unwrap();
        let legs = r.legs().unwrap();
        assert_eq!((legs[0].amount, legs[1].amount), (1_000_000, 50_000));
        assert_eq!(
            req(json!({"amount":"50000","currency":USDC,"recipient":R,
                "methodDetails":{"decimals":6,"splits":[{"recipient":SPLIT,"amount":"50000"}]}})),
            Err(RequestError::SplitsExceedAmount)
        );
    }

    #[test]
    fn cross_field_rules() {
        assert_eq!(
            req(json!({"amount":"1","currency":USDC,"recipient":R})),
            Err(RequestError::MissingDecimals)
        );
        assert_eq!(
            req(
                json!({"amount":"1","currency":"sol","recipient":R,"methodDetails":{"decimals":9}})
            ),
            Err(RequestError::TokenFieldsOnSol)
        );
        assert_eq!(
            req(
                json!({"amount":"1","currency":"sol","recipient":R,"methodDetails":{"feePayer":true}})
            ),
            Err(RequestError::FeePayerKey)
        );
        assert_eq!(
            req(json!({"amount":"0","currency":"sol","recipient":R})),
            Err(RequestError::ZeroAmount)
        );
        assert_eq!(
            req(
                json!({"amount":"1","currency":"sol","recipient":R,"methodDetails":{"confidential":true}})
            ),
            Err(RequestError::ConfidentialUnsupported)
        );
        let nine: Vec<_> = (0..9)
            .map(|_| json!({"recipient":SPLIT,"amount":"1"}))
            .collect();
        assert_eq!(
            req(
                json!({"amount":"100","currency":"sol","recipient":R,"methodDetails":{"splits":nine}})
            ),
            Err(RequestError::TooManySplits(9))
        );
        assert!(matches!(
            req(json!({"amount":"1","currency":"sol","recipient":"not-base58!"})),
            Err(RequestError::Schema(_))
        ));
    }

    #[test]
    fn upper_case_sol_and_mainnet_beta_from_peers_are_accepted() {
        let r = req(json!({"amount":"5","currency":"SOL","recipient":R,"methodDetails":{"network":"mainnet-beta"}})).unwrap();
        assert_eq!(r.currency(), Ok(Currency::Sol));
        assert_eq!(r.network(), Network::Mainnet);
    }
}
