//! `WWW-Authenticate: Payment …`: parse every Payment challenge out of one or several fields,
//! format one challenge per field.

use std::collections::HashSet;

use crate::challenge::Challenge;
use crate::clock::Timestamp;
use crate::encoding::B64Json;
use crate::error::{FormatError, HeaderError};
use crate::header::auth_params::{RawChallenge, parse_challenge_list, push_quoted_param};
use crate::names::{IntentName, MethodName};

/// The auth-scheme name.
pub const SCHEME: &str = "Payment";

/// Parses the Payment challenges in one field value, skipping other schemes. An empty result
/// means the field held only other schemes.
pub fn parse_www_authenticate(value: &str) -> Result<Vec<Challenge>, HeaderError> {
    parse_challenge_list(value)?
        .iter()
        .filter(|c| c.scheme.eq_ignore_ascii_case(SCHEME))
        .map(challenge_from_raw)
        .collect()
}

/// Parses the Payment challenges across several `WWW-Authenticate` fields, in order.
pub fn parse_www_authenticate_fields<'a, I>(fields: I) -> Result<Vec<Challenge>, HeaderError>
where
    I: IntoIterator<Item = &'a str>,
{
    let mut out = Vec::new();
    for f in fields {
        out.extend(parse_www_authenticate(f)?);
    }
    Ok(out)
}

/// Parses a field that must hold exactly one Payment challenge (it may also hold other schemes).
pub fn parse_challenge(value: &str) -> Result<Challenge, HeaderError> {
    parse_www_authenticate(value)?
        .into_iter()
        .next()
        .ok_or(HeaderError::NoPaymentChallenge)
}

fn challenge_from_raw(raw: &RawChallenge<'_>) -> Result<Challenge, HeaderError> {
    if raw.token68.is_some() {
        return Err(HeaderError::MissingParam("id"));
    }
    let mut seen = HashSet::with_capacity(raw.params.len());
    let mut header = None;
    let mut id = None;
    let mut realm = None;
    let mut method = None;
    let mut intent = None;
    let mut request = None;
    let mut expires = None;
    let mut description = None;
    let mut digest = None;
    let mut opaque = None;
    for (name, value) in &raw.params {
        let lower = name.to_ascii_lowercase();
        let slot = match lower.as_str() {
            "id" => Some(&mut id),
            "realm" => Some(&mut realm),
            "method" => Some(&mut method),
            "intent" => Some(&mut intent),
            "request" => Some(&mut request),
            "expires" => Some(&mut expires),
            "description" => Some(&mut description),
            "digest" => Some(&mut digest),
            "opaque" => Some(&mut opaque),
            "header" => Some(&mut header),
            // Unknown parameters MUST be ignored (core §5.1.2), but still may not repeat.
            _ => None,
        };
        if !seen.insert(lower) {
            return Err(HeaderError::DuplicateParam((*name).to_owned()));
        }
        if raw.unterminated == Some(*name) {
            // An open quoted-string can be ignored, never trusted.
            if slot.is_some() {
                return Err(HeaderError::UnterminatedQuotedString);
            }
            continue;
        }
        if let Some(slot) = slot {
            *slot = Some(value.as_ref());
        }
    }
    let id = id.ok_or(HeaderError::MissingParam("id"))?;
    if id.is_empty() {
        return Err(HeaderError::EmptyParam("id"));
    }
    let realm = realm.ok_or(HeaderError::MissingParam("realm"))?;
    let method = method.ok_or(HeaderError::MissingParam("method"))?;
    let method = MethodName::new(method).ok_or(HeaderError::InvalidMethod)?;
    let intent = intent.ok_or(HeaderError::MissingParam("intent"))?;
    let intent = IntentName::new(intent).ok_or(HeaderError::InvalidIntent)?;
    let request = request.ok_or(HeaderError::MissingParam("request"))?;
    let request = B64Json::decode(request).map_err(|source| HeaderError::Decode {
        field: "request",
        source,
    })?;
    if let Some(e) = expires
        && Timestamp::parse(e).is_err()
    {
        return Err(HeaderError::InvalidTimestamp("expires"));
    }
    Ok(Challenge {
        id: id.to_owned(),
        realm: realm.to_owned(),
        method,
        intent,
        request,
        expires: expires.map(str::to_owned),
        description: description.map(str::to_owned),
        digest: digest.map(str::to_owned),
        opaque: opaque.map(str::to_owned),
        header: header.map(str::to_owned),
    })
}

/// Formats one challenge as a `WWW-Authenticate` field value, every parameter a quoted-string.
pub fn format_www_authenticate(c: &Challenge) -> Result<String, FormatError> {
    if c.id.is_empty() {
        return Err(FormatError::Empty("id"));
    }
    let mut out = String::with_capacity(64 + c.request.encoded().len());
    out.push_str(SCHEME);
    out.push(' ');
    push_quoted_param(&mut out, "id", &c.id)?;
    let mut param = |name: &str, value: &str| {
        out.push_str(", ");
        push_quoted_param(&mut out, name, value)
    };
    param("realm", &c.realm)?;
    param("method", c.method.as_str())?;
    param("intent", c.intent.as_str())?;
    param("request", c.request.encoded())?;
    if let Some(v) = &c.description {
        param("description", v)?;
    }
    if let Some(v) = &c.expires {
        param("expires", v)?;
    }
    if let Some(v) = &c.digest {
        param("digest", v)?;
    }
    if let Some(v) = &c.opaque {
        param("opaque", v)?;
    }
    if let Some(v) = &c.header {
        param("header", v)?;
    }
    Ok(out)
}

impl std::str::FromStr for Challenge {
    type Err = HeaderError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_challenge(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::DecodeError;

    const REQ: &str =
        "eyJhbW91bnQiOiIxMDAwIiwiY3VycmVuY3kiOiJVU0QiLCJyZWNpcGllbnQiOiJhY2N0XzEyMyJ9";

    fn spec_example() -> String {
        format!(
            "Payment id=\"x7Tg2pLqR9mKvNwY3hBcZa\",\n    realm=\"api.example.com\",\n    \
             method=\"example\",\n    intent=\"charge\",\n    expires=\"2025-01-15T12:05:00Z\",\n    \
             request=\"{REQ}\""
        )
        .replace(",\n    ", ", ")
    }

    #[test]
    fn parses_the_core_spec_example() {
        let c = parse_challenge(&spec_example()).unwrap();
        assert_eq!(c.id, "x7Tg2pLqR9mKvNwY3hBcZa");
        assert_eq!(c.realm, "api.example.com");
        assert_eq!(c.method, "example");
        assert_eq!(c.intent, "charge");
        assert_eq!(c.expires.as_deref(), Some("2025-01-15T12:05:00Z"));
        assert_eq!(c.request.value()["currency"], "USD");
        assert_eq!(c.request.encoded(), REQ);
    }

    #[test]
    fn format_then_parse_is_identity() {
        let mut c = parse_challenge(&spec_example()).unwrap();
        c.description = Some("say \"hi\" \\ ok".into());
        let text = format_www_authenticate(&c).unwrap();
        assert_eq!(parse_challenge(&text).unwrap(), c);
    }

    #[test]
    fn scheme_and_param_names_are_case_insensitive() {
        let h = format!(
            "pAyMeNt ID=\"a\", Realm=r, METHOD=\"solana\", Intent=charge, REQUEST=\"{REQ}\""
        );
        let c = parse_challenge(&h).unwrap();
        assert_eq!((c.id.as_str(), c.realm.as_str()), ("a", "r"));
    }

    #[test]
    fn unknown_params_are_ignored() {
        let h =
            format!("Payment id=a, realm=r, method=x, intent=charge, request={REQ}, foo=\"bar\"");
        assert_eq!(parse_challenge(&h).unwrap().id, "a");
    }

    #[test]
    fn duplicates_and_empty_id_are_refused() {
        let dup = format!("Payment id=a, realm=r, method=x, intent=charge, request={REQ}, ID=b");
        assert_eq!(
            parse_challenge(&dup),
            Err(HeaderError::DuplicateParam("ID".into()))
        );
        let dup_unknown =
            format!("Payment id=a, realm=r, method=x, intent=charge, request={REQ}, x=1, x=2");
        assert_eq!(
            parse_challenge(&dup_unknown),
            Err(HeaderError::DuplicateParam("x".into()))
        );
        let empty = format!("Payment id=\"\", realm=r, method=x, intent=charge, request={REQ}");
        assert_eq!(parse_challenge(&empty), Err(HeaderError::EmptyParam("id")));
    }

    #[test]
    fn required_params_and_their_shapes() {
        assert_eq!(
            parse_challenge("Payment id=a, realm=r, method=x, intent=charge"),
            Err(HeaderError::MissingParam("request"))
        );
        let upper = format!("Payment id=a, realm=r, method=X, intent=charge, request={REQ}");
        assert_eq!(parse_challenge(&upper), Err(HeaderError::InvalidMethod));
        let bad_req = "Payment id=a, realm=r, method=x, intent=charge, request=\"!!\"";
        assert_eq!(
            parse_challenge(bad_req),
            Err(HeaderError::Decode {
                field: "request",
                source: DecodeError::Base64
            })
        );
        let bad_exp =
            format!("Payment id=a, realm=r, method=x, intent=charge, request={REQ}, expires=soon");
        assert_eq!(
            parse_challenge(&bad_exp),
            Err(HeaderError::InvalidTimestamp("expires"))
        );
    }

    #[test]
    fn finds_payment_challenges_among_other_schemes_and_fields() {
        let f1 = format!(
            "Bearer realm=\"x\", Payment id=\"1\", realm=r, method=solana, intent=charge, \
             request={REQ}, Basic realm=y"
        );
        let f2 = format!("Payment id=\"2\", realm=r, method=solana, intent=session, request={REQ}");
        let all =
            parse_www_authenticate_fields([f1.as_str(), "Basic realm=z", f2.as_str()]).unwrap();
        let ids: Vec<_> = all.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["1", "2"]);
        assert_eq!(
            parse_challenge("Basic realm=z"),
            Err(HeaderError::NoPaymentChallenge)
        );
    }

    #[test]
    fn format_refuses_header_injection() {
        let mut c = parse_challenge(&spec_example()).unwrap();
        c.realm = "a\r\nX-Evil: 1".into();
        assert_eq!(
            format_www_authenticate(&c),
            Err(FormatError::ControlChar("realm".into()))
        );
    }
}
