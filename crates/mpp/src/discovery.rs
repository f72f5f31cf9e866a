//! Discovery (draft-payment-discovery-00): `GET /openapi.json` with `x-payment-info` on each
//! priced operation, `x-service-info` at the top, and our `x-receipt-keys` extension that
//! publishes the Ed25519 keys receipts are signed with.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::amount::Amount;
use crate::names::{IntentName, MethodName};
use crate::receipt_signature::ReceiptKey;

/// The path the document is served at.
pub const DISCOVERY_PATH: &str = "/openapi.json";

/// One way to pay for an operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentOffer {
    /// `charge` or `session`.
    pub intent: IntentName,
    /// Payment method.
    pub method: MethodName,
    /// Price in base units; `null` for dynamic pricing (always serialised, as the schema
    /// requires the member).
    pub amount: Option<Amount>,
    /// Currency: a mint address, or `sol`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// Pricing note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// `x-payment-info`: the single-offer shorthand or the `offers` form (both must be accepted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PaymentInfo {
    /// `{"offers": [...]}`, what we emit.
    Offers {
        /// Alternatives for the same operation.
        offers: Vec<PaymentOffer>,
    },
    /// A single offer's fields directly.
    Single(PaymentOffer),
}

impl PaymentInfo {
    /// The offers, whichever form was used.
    pub fn offers(&self) -> &[PaymentOffer] {
        match self {
            PaymentInfo::Offers { offers } => offers,
            PaymentInfo::Single(o) => std::slice::from_ref(o),
        }
    }
}

/// An OpenAPI operation, reduced to what discovery needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Operation {
    /// Short summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// The payment offers.
    #[serde(
        rename = "x-payment-info",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub payment_info: Option<PaymentInfo>,
    /// Input schema, verbatim.
    #[serde(
        rename = "requestBody",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub request_body: Option<serde_json::Value>,
    /// Responses; priced operations declare `402`.
    #[serde(default)]
    pub responses: BTreeMap<String, serde_json::Value>,
}

/// `x-service-info`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceInfo {
    /// Free-form categories (`data`, `compute`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    /// Documentation links.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub docs: BTreeMap<String, String>,
}

/// A receipt-signing key as published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedReceiptKey {
    /// Always `ed25519`.
    pub alg: String,
    /// Base58 public key.
    pub key: String,
}

/// Title and version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Info {
    /// Service name.
    pub title: String,
    /// API version.
    pub version: String,
}

/// The discovery document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiscoveryDocument {
    /// OpenAPI version, `3.1.0`.
    pub openapi: String,
    /// Title and version.
    pub info: Info,
    /// Service metadata.
    #[serde(
        rename = "x-service-info",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub service_info: Option<ServiceInfo>,
    /// Keys that sign this server's receipts.
    #[serde(
        rename = "x-receipt-keys",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub receipt_keys: Vec<PublishedReceiptKey>,
    /// path → HTTP method (lowercase) → operation.
    pub paths: BTreeMap<String, BTreeMap<String, Operation>>,
}

impl DiscoveryDocument {
    /// An empty document.
    pub fn new(title: impl Into<String>, version: impl Into<String>) -> Self {
        Self {
            openapi: "3.1.0".into(),
            info: Info {
                title: title.into(),
                version: version.into(),
            },
            service_info: None,
            receipt_keys: Vec::new(),
            paths: BTreeMap::new(),
        }
    }

    /// Publishes a receipt-signing key.
    pub fn with_receipt_key(mut self, key: ReceiptKey) -> Self {
        self.receipt_keys.push(PublishedReceiptKey {
            alg: "ed25519".into(),
            key: key.to_string(),
        });
        self
    }

    /// Adds a priced operation (declares its `402` response as the spec requires).
    pub fn with_priced_operation(
        mut self,
        path: impl Into<String>,
        http_method: &str,
        summary: Option<String>,
        offers: Vec<PaymentOffer>,
    ) -> Self {
        let mut responses = BTreeMap::new();
        responses.insert(
            "200".into(),
            serde_json::json!({"description": "Successful response"}),
        );
        responses.insert(
            "402".into(),
            serde_json::json!({"description": "Payment Required"}),
        );
        self.paths.entry(path.into()).or_default().insert(
            http_method.to_ascii_lowercase(),
            Operation {
                summary,
                payment_info: Some(PaymentInfo::Offers { offers }),
                request_body: None,
                responses,
            },
        );
        self
    }

    /// The receipt keys that parse.
    pub fn receipt_keys(&self) -> Vec<ReceiptKey> {
        self.receipt_keys
            .iter()
            .filter(|k| k.alg == "ed25519")
            .filter_map(|k| ReceiptKey::parse(&k.key))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::receipt_signature::ReceiptSigner;
    use serde_json::json;

    #[test]
    fn accepts_both_offer_forms() {
        let single: PaymentInfo = serde_json::from_value(json!({
            "intent": "charge", "method": "tempo", "amount": null, "currency": "0x20c0"
        }))
        .unwrap();
        assert_eq!(single.offers().len(), 1);
        assert_eq!(single.offers()[0].amount, None);
        let multi: PaymentInfo = serde_json::from_value(json!({"offers": [
            {"intent": "charge", "method": "tempo", "amount": "500"},
            {"intent": "session", "method": "solana", "amount": "1"}
        ]}))
        .unwrap();
        assert_eq!(multi.offers()[1].amount, Some(Amount::new(1)));
    }

    #[test]
    fn refuses_non_strict_amounts() {
        let r: Result<PaymentInfo, _> = serde_json::from_value(json!({
            "intent": "charge", "method": "tempo", "amount": "05"
        }));
        assert!(r.is_err());
    }

    #[test]
    fn document_carries_402_null_amounts_and_receipt_keys() {
        let key = ReceiptSigner::from_seed([3; 32]).public_key();
        let doc = DiscoveryDocument::new("Weather", "1.0.0")
            .with_receipt_key(key)
            .with_priced_operation(
                "/weather",
                "GET",
                None,
                vec![PaymentOffer {
                    intent: IntentName::charge(),
                    method: MethodName::solana(),
                    amount: None,
                    currency: Some("sol".into()),
                    description: None,
                }],
            );
        let v = serde_json::to_value(&doc).unwrap();
        let op = &v["paths"]["/weather"]["get"];
        assert!(op["responses"]["402"].is_object());
        assert!(op["x-payment-info"]["offers"][0]["amount"].is_null());
        let back: DiscoveryDocument = serde_json::from_value(v).unwrap();
        assert_eq!(back.receipt_keys(), vec![key]);
    }
}
