//! `Payment-Receipt: <base64url(JSON)>`.

use serde_json::Value;

use crate::encoding::{b64url_decode, b64url_encode};
use crate::error::{DecodeError, HeaderError};
use crate::receipt::Receipt;

/// The longest receipt field value we decode.
pub const MAX_RECEIPT_LEN: usize = 16 * 1024;

/// Parses a `Payment-Receipt` field value.
pub fn parse_payment_receipt(value: &str) -> Result<Receipt, HeaderError> {
    if value.len() > MAX_RECEIPT_LEN {
        return Err(HeaderError::TooLong {
            max: MAX_RECEIPT_LEN,
        });
    }
    let v = value.trim_matches([' ', '\t']);
    if v.is_empty() {
        return Err(HeaderError::Empty);
    }
    let bytes = b64url_decode(v).map_err(|source| HeaderError::Decode {
        field: "receipt",
        source,
    })?;
    let json: Value = serde_json::from_slice(&bytes).map_err(|_| HeaderError::Decode {
        field: "receipt",
        source: DecodeError::Json,
    })?;
    Receipt::from_json(json)
}

/// Formats a receipt as a `Payment-Receipt` field value.
pub fn format_payment_receipt(r: &Receipt) -> String {
    b64url_encode(Value::Object(r.to_json()).to_string())
}

impl std::str::FromStr for Receipt {
    type Err = HeaderError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_payment_receipt(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = "eyJzdGF0dXMiOiJzdWNjZXNzIiwibWV0aG9kIjoiaW52b2ljZSIsInRpbWVzdGFtcCI6IjIwMjUtMDEtMTVUMTI6MDA6MDBaIiwicmVmZXJlbmNlIjoiaW52XzEyMzQ1In0";

    #[test]
    fn parses_and_reformats_the_spec_example() {
        let r = parse_payment_receipt(SPEC).unwrap();
        assert_eq!(r.status, "success");
        assert_eq!(r.method, "invoice");
        assert_eq!(r.timestamp, "2025-01-15T12:00:00Z");
        assert_eq!(r.reference, "inv_12345");
        assert_eq!(
            parse_payment_receipt(&format_payment_receipt(&r)).unwrap(),
            r
        );
    }

    #[test]
    fn method_specific_fields_survive() {
        let r = parse_payment_receipt(SPEC)
            .unwrap()
            .with_field("challengeId", "abc")
            .with_field("acceptedCumulative", "16");
        let back = parse_payment_receipt(&format_payment_receipt(&r)).unwrap();
        assert_eq!(back.extra["challengeId"], "abc");
        assert_eq!(back, r);
    }

    #[test]
    fn core_fields_are_checked() {
        let enc = |s: &str| b64url_encode(s);
        assert_eq!(
            parse_payment_receipt(&enc(
                r#"{"status":"success","timestamp":"2025-01-15T12:00:00Z","reference":"x"}"#
            )),
            Err(HeaderError::MissingParam("method"))
        );
        assert_eq!(
            parse_payment_receipt(&enc(
                r#"{"status":"success","method":"m","timestamp":"yesterday","reference":"x"}"#
            )),
            Err(HeaderError::InvalidTimestamp("timestamp"))
        );
        assert_eq!(
            parse_payment_receipt(&enc(
                r#"{"status":"success","method":"m","timestamp":"2025-01-15T12:00:00Z","reference":""}"#
            )),
            Err(HeaderError::EmptyParam("reference"))
        );
        assert_eq!(
            parse_payment_receipt("%%%"),
            Err(HeaderError::Decode {
                field: "receipt",
                source: DecodeError::Base64
            })
        );
    }
}
