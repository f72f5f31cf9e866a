//! base64url (RFC 4648 §5) and RFC 8785 canonical JSON (JCS), the two encodings the wire uses.
//!
//! Emitting is strict (URL-safe alphabet, no padding, JCS). Decoding tolerates `=` padding, as
//! the core spec's peers do, but never the standard alphabet or embedded whitespace.

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::DecodeError;

/// URL-safe, emits no padding, accepts input with or without padding.
const B64URL: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Encodes bytes as base64url without padding.
pub fn b64url_encode(bytes: impl AsRef<[u8]>) -> String {
    B64URL.encode(bytes)
}

/// Decodes base64url, with or without `=` padding. The empty text is the empty byte string.
pub fn b64url_decode(text: &str) -> Result<Vec<u8>, DecodeError> {
    B64URL.decode(text).map_err(|_| DecodeError::Base64)
}

/// Serialises a value as RFC 8785 canonical JSON.
///
/// JCS writes every number as an IEEE-754 double, so an integer beyond ±2^53 would come out
/// as a different number than went in. Such values are refused rather than silently changed
/// (MPP carries amounts as strings for exactly this reason).
pub fn jcs<T: Serialize + ?Sized>(value: &T) -> Result<String, DecodeError> {
    let v = serde_json::to_value(value).map_err(|e| DecodeError::Canonicalize(e.to_string()))?;
    check_exact_numbers(&v)?;
    serde_jcs::to_string(&v).map_err(|e| DecodeError::Canonicalize(e.to_string()))
}

/// The largest integer a double holds exactly.
const MAX_EXACT_INT: u64 = 1 << 53;

fn check_exact_numbers(v: &Value) -> Result<(), DecodeError> {
    match v {
        Value::Number(n) => {
            let exact = match (n.as_u64(), n.as_i64()) {
                (Some(u), _) => u <= MAX_EXACT_INT,
                (None, Some(i)) => i.unsigned_abs() <= MAX_EXACT_INT,
                (None, None) => true, // already a double
            };
            if exact {
                Ok(())
            } else {
                Err(DecodeError::InexactNumber)
            }
        }
        Value::Array(a) => a.iter().try_for_each(check_exact_numbers),
        Value::Object(o) => o.values().try_for_each(check_exact_numbers),
        _ => Ok(()),
    }
}

/// Decodes base64url text holding a JSON object.
pub fn decode_json_object(text: &str) -> Result<Map<String, Value>, DecodeError> {
    let bytes = b64url_decode(text)?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(DecodeError::NotAnObject),
        Err(_) => Err(DecodeError::Json),
    }
}

/// A JSON object carried as base64url on the wire (`request`, `opaque`).
///
/// Keeps the exact wire text next to the decoded value: the challenge id binds the text as it
/// appeared, so re-encoding a received value would break verification for a peer whose encoder
/// differs (for example, one that is not JCS-ordered).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct B64Json {
    encoded: String,
    value: Map<String, Value>,
}

impl B64Json {
    /// Canonicalises `value` with JCS and encodes it: how a server emits `request` and `opaque`.
    pub fn encode(value: Map<String, Value>) -> Result<Self, DecodeError> {
        let encoded = b64url_encode(jcs(&value)?);
        Ok(Self { encoded, value })
    }

    /// Serialises any `Serialize` type that produces a JSON object, then encodes it.
    pub fn from_serialize<T: Serialize + ?Sized>(value: &T) -> Result<Self, DecodeError> {
        match serde_json::to_value(value) {
            Ok(Value::Object(map)) => Self::encode(map),
            Ok(_) => Err(DecodeError::NotAnObject),
            Err(e) => Err(DecodeError::Canonicalize(e.to_string())),
        }
    }

    /// Decodes wire text, keeping it verbatim.
    pub fn decode(encoded: &str) -> Result<Self, DecodeError> {
        let value = decode_json_object(encoded)?;
        Ok(Self {
            encoded: encoded.to_owned(),
            value,
        })
    }

    /// The text as it appears on the wire.
    pub fn encoded(&self) -> &str {
        &self.encoded
    }

    /// The decoded JSON object.
    pub fn value(&self) -> &Map<String, Value> {
        &self.value
    }

    /// Deserialises the decoded object into a typed request or opaque map.
    pub fn to_typed<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_value(Value::Object(self.value.clone()))
    }

    /// Whether the wire text is exactly the JCS encoding of the value (what the spec requires of
    /// a `request`); peers that are not JCS-ordered still parse, this only reports it.
    pub fn is_canonical(&self) -> bool {
        jcs(&self.value)
            .map(|c| b64url_encode(c) == self.encoded.trim_end_matches('='))
            .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn encodes_without_padding_and_url_safe() {
        assert_eq!(b64url_encode([0xfb, 0xff]), "-_8");
        assert_eq!(b64url_encode(b"a"), "YQ");
    }

    #[test]
    fn decode_tolerates_padding() {
        assert_eq!(b64url_decode("YQ==").ok(), Some(b"a".to_vec()));
        assert_eq!(b64url_decode("YQ").ok(), Some(b"a".to_vec()));
    }

    #[test]
    fn decode_refuses_standard_alphabet_and_whitespace() {
        assert_eq!(b64url_decode("+/8"), Err(DecodeError::Base64));
        assert_eq!(b64url_decode("Y Q"), Err(DecodeError::Base64));
        assert_eq!(b64url_decode(""), Ok(Vec::new()));
    }

    #[test]
    fn jcs_sorts_keys_by_utf16_and_formats_numbers() {
        // RFC 8785 §3.2.3: sorting by UTF-16 code units puts U+1F600 (surrogates D83D..) before
        // U+FB33 even though its scalar value is larger.
        let v = json!({"\u{fb33}": 1, "\u{1f600}": 2, "a": 1e21, "b": 0.000001, "c": -0.0});
        assert_eq!(
            jcs(&v).ok().as_deref(),
            Some("{\"a\":1e+21,\"b\":0.000001,\"c\":0,\"\u{1f600}\":2,\"\u{fb33}\":1}")
        );
    }

    #[test]
    fn jcs_refuses_integers_a_double_cannot_hold() {
        assert_eq!(
            jcs(&json!({"n": 9007199254740992u64})).ok().as_deref(),
            Some("{\"n\":9007199254740992}")
        );
        assert_eq!(
            jcs(&json!({"n": [9007199254740993u64]})),
            Err(DecodeError::InexactNumber)
        );
        assert_eq!(
            jcs(&json!({"n": -9007199254740993i64})),
            Err(DecodeError::InexactNumber)
        );
    }

    #[test]
    fn b64json_keeps_non_canonical_wire_text() {
        let wire = b64url_encode(r#"{"b":1,"a":2}"#);
        let parsed = B64Json::decode(&wire).expect("valid");
        assert_eq!(parsed.encoded(), wire);
        assert!(!parsed.is_canonical());
        assert!(
            B64Json::encode(parsed.value().clone())
                .expect("ok")
                .is_canonical()
        );
    }

    #[test]
    fn b64json_refuses_non_objects() {
        assert_eq!(
            B64Json::decode(&b64url_encode("[1]")),
            Err(DecodeError::NotAnObject)
        );
        assert_eq!(B64Json::decode(&b64url_encode("{")), Err(DecodeError::Json));
    }
}
