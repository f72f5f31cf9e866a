//! `Authorization: Payment <base64url(JSON)>`.

use serde_json::Value;

use crate::credential::Credential;
use crate::encoding::{b64url_decode, b64url_encode};
use crate::error::{DecodeError, HeaderError};
use crate::header::www_authenticate::SCHEME;

/// The longest credential we decode. The spec asks servers to take at least 4 KB; a Solana
/// transaction is at most 1232 bytes, so 64 KiB leaves room for any method without letting a
/// client make us buffer megabytes.
pub const MAX_CREDENTIAL_LEN: usize = 64 * 1024;

/// Parses an `Authorization` field value holding a Payment credential.
pub fn parse_authorization(value: &str) -> Result<Credential, HeaderError> {
    let token = credential_token(value)?;
    let bytes = b64url_decode(token).map_err(|source| HeaderError::Decode {
        field: "credential",
        source,
    })?;
    let json: Value = serde_json::from_slice(&bytes).map_err(|_| HeaderError::Decode {
        field: "credential",
        source: DecodeError::Json,
    })?;
    Credential::from_json(json)
}

/// Splits `Payment 1*SP token` and checks the token's alphabet.
fn credential_token(value: &str) -> Result<&str, HeaderError> {
    if value.len() > MAX_CREDENTIAL_LEN {
        return Err(HeaderError::TooLong {
            max: MAX_CREDENTIAL_LEN,
        });
    }
    let v = value.trim_matches([' ', '\t']);
    if v.is_empty() {
        return Err(HeaderError::Empty);
    }
    let (scheme, rest) = v.split_once(' ').ok_or(HeaderError::WrongScheme)?;
    if !scheme.eq_ignore_ascii_case(SCHEME) {
        return Err(HeaderError::WrongScheme);
    }
    let token = rest.trim_start_matches(' ');
    // Byte offset of the token in the caller's text, for the error.
    let offset = token.as_ptr() as usize - value.as_ptr() as usize;
    let body = token.trim_end_matches('=');
    if let Some(bad) = body
        .bytes()
        .position(|b| !(b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    {
        return Err(HeaderError::UnexpectedChar { at: offset + bad });
    }
    if body.is_empty() {
        return Err(HeaderError::MissingParam("credential"));
    }
    Ok(token)
}

/// Formats a credential as an `Authorization` field value.
pub fn format_authorization(c: &Credential) -> String {
    let json = c.to_json().to_string();
    let mut out = String::with_capacity(SCHEME.len() + 1 + json.len() * 4 / 3 + 4);
    out.push_str(SCHEME);
    out.push(' ');
    out.push_str(&b64url_encode(json));
    out
}

impl std::str::FromStr for Credential {
    type Err = HeaderError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_authorization(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SPEC: &str = "Payment eyJjaGFsbGVuZ2UiOnsiaWQiOiJ4N1RnMnBMcVI5bUt2TndZM2hCY1phIiwicmVhbG0iOiJhcGkuZXhhbXBsZS5jb20iLCJtZXRob2QiOiJleGFtcGxlIiwiaW50ZW50IjoiY2hhcmdlIiwicmVxdWVzdCI6ImV5SmhiVzkxYm5RaU9pSXhNREF3SWl3aVkzVnljbVZ1WTNraU9pSlZVMFFpTENKeVpXTnBjR2xsYm5RaU9pSmhZMk4wWHpFeU15SjkiLCJleHBpcmVzIjoiMjAyNS0wMS0xNVQxMjowNTowMFoifSwicGF5bG9hZCI6eyJwcm9vZiI6IjB4YWJjMTIzLi4uIn19";

    #[test]
    fn parses_the_core_spec_example() {
        let c = parse_authorization(SPEC).unwrap();
        assert_eq!(c.challenge.id, "x7Tg2pLqR9mKvNwY3hBcZa");
        assert_eq!(c.challenge.expires.as_deref(), Some("2025-01-15T12:05:00Z"));
        assert_eq!(
            Value::Object(c.payload.clone()),
            json!({"proof": "0xabc123..."})
        );
        assert_eq!(c.source, None);
        assert_eq!(parse_authorization(&format_authorization(&c)).unwrap(), c);
    }

    #[test]
    fn scheme_is_case_insensitive_and_padding_tolerated() {
        let lower = SPEC.replacen("Payment", "payment", 1);
        assert!(parse_authorization(&lower).is_ok());
        // Pad the JSON with spaces until its base64url form needs `=` padding.
        let mut json = r#"{"challenge":{"id":"a","realm":"r","method":"m","intent":"charge","request":"e30"},"payload":{}}"#.to_owned();
        while b64url_encode(&json).len().is_multiple_of(4) {
            json.push(' ');
        }
        let bare = b64url_encode(&json);
        let padded = format!("  Payment {bare}{}  ", "=".repeat(4 - bare.len() % 4));
        assert_eq!(
            parse_authorization(&padded),
            parse_authorization(&format!("Payment {bare}"))
        );
        assert!(parse_authorization(&padded).is_ok());
    }

    #[test]
    fn refuses_other_schemes_and_garbage() {
        assert_eq!(
            parse_authorization("Bearer abc"),
            Err(HeaderError::WrongScheme)
        );
        assert_eq!(
            parse_authorization("Payment"),
            Err(HeaderError::WrongScheme)
        );
        assert_eq!(parse_authorization(""), Err(HeaderError::Empty));
        assert_eq!(
            parse_authorization("Payment ab+c"),
            Err(HeaderError::UnexpectedChar { at: 10 })
        );
        let not_obj = format!("Payment {}", b64url_encode("[]"));
        assert_eq!(
            parse_authorization(&not_obj),
            Err(HeaderError::WrongType("credential"))
        );
    }

    #[test]
    fn missing_parts_name_the_part() {
        let no_payload = format!(
            "Payment {}",
            b64url_encode(
                r#"{"challenge":{"id":"a","realm":"r","method":"m","intent":"charge","request":"e30"}}"#
            )
        );
        assert_eq!(
            parse_authorization(&no_payload),
            Err(HeaderError::MissingParam("payload"))
        );
        let no_challenge = format!("Payment {}", b64url_encode(r#"{"payload":{}}"#));
        assert_eq!(
            parse_authorization(&no_challenge),
            Err(HeaderError::MissingParam("challenge"))
        );
    }

    #[test]
    fn source_may_be_string_or_object() {
        let c = parse_authorization(SPEC).unwrap();
        let with = c.clone().with_source("did:key:z6Mk");
        assert_eq!(
            parse_authorization(&format_authorization(&with)).unwrap(),
            with
        );
        let obj = c.with_source(json!({"address": "abc"}));
        assert_eq!(
            parse_authorization(&format_authorization(&obj)).unwrap(),
            obj
        );
    }
}
