//! The Payment challenge: issue it bound to its parameters, verify an echo of it.

use std::time::Duration;

use serde_json::{Map, Value};

use crate::challenge_id::{ChallengeKeyring, ChallengeSecret, IdInput};
use crate::clock::Timestamp;
use crate::digest::ContentDigest;
use crate::encoding::B64Json;
use crate::error::{ChallengeError, DecodeError};
use crate::names::{IntentName, MethodName};

/// One `WWW-Authenticate: Payment` challenge.
///
/// Fields hold the wire text (`request`, `opaque`, `expires` exactly as sent) so that an echoed
/// challenge verifies byte for byte, whatever encoder the issuer used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// Challenge id: for our challenges, the HMAC of the other bound fields.
    pub id: String,
    /// Protection space.
    pub realm: String,
    /// Payment method (`solana`).
    pub method: MethodName,
    /// Payment intent (`charge`, `session`).
    pub intent: IntentName,
    /// Method-specific request, base64url JCS JSON.
    pub request: B64Json,
    /// RFC 3339 expiry as sent.
    pub expires: Option<String>,
    /// Display text; not bound by the id.
    pub description: Option<String>,
    /// RFC 9530 content digest of the request body the payment is for.
    pub digest: Option<String>,
    /// Server correlation data as sent: base64url JCS JSON of a string map when we issue it.
    /// Kept as text and decoded on demand, so a peer's malformed `opaque` costs only that field.
    pub opaque: Option<String>,
    /// The request header the credential must travel in when it is not `Authorization`
    /// (a newer peer extension; bound by the id when present).
    pub header: Option<String>,
}

impl Challenge {
    /// Starts a challenge; finish it with [`ChallengeBuilder::issue`].
    pub fn builder(
        realm: impl Into<String>,
        method: MethodName,
        intent: IntentName,
        request: B64Json,
    ) -> ChallengeBuilder {
        ChallengeBuilder {
            realm: realm.into(),
            method,
            intent,
            request,
            expires: None,
            description: None,
            digest: None,
            opaque: None,
        }
    }

    /// The slots the id binds.
    pub fn id_input(&self) -> IdInput<'_> {
        IdInput {
            realm: &self.realm,
            method: self.method.as_str(),
            intent: self.intent.as_str(),
            request: self.request.encoded(),
            expires: self.expires.as_deref(),
            digest: self.digest.as_deref(),
            opaque: self.opaque.as_deref(),
            header: self.header.as_deref(),
        }
    }

    /// The expiry as an instant, if present and well-formed.
    pub fn expires_at(&self) -> Option<Timestamp> {
        self.expires
            .as_deref()
            .and_then(|e| Timestamp::parse(e).ok())
    }

    /// The decoded request object.
    pub fn request_value(&self) -> &Map<String, Value> {
        self.request.value()
    }

    /// The decoded `opaque` object, if present.
    pub fn opaque_value(&self) -> Option<Result<Map<String, Value>, DecodeError>> {
        self.opaque
            .as_deref()
            .map(crate::encoding::decode_json_object)
    }

    /// Checks that this (echoed) challenge was issued by us and is still valid: constant-time id
    /// check under every secret in the keyring, then expiry with the allowed clock skew.
    pub fn verify(
        &self,
        keys: &ChallengeKeyring,
        now: Timestamp,
        opts: &VerifyOptions,
    ) -> Result<(), ChallengeError> {
        if !keys.matches(&self.id, &self.id_input()) {
            return Err(ChallengeError::IdMismatch);
        }
        match self.expires.as_deref() {
            None if opts.require_expires => Err(ChallengeError::MissingExpires),
            None => Ok(()),
            Some(raw) => {
                let at = Timestamp::parse(raw).map_err(|_| ChallengeError::InvalidExpires)?;
                if now > at.saturating_add(opts.clock_skew) {
                    Err(ChallengeError::Expired(raw.to_owned()))
                } else {
                    Ok(())
                }
            }
        }
    }

    /// Checks the request body against the challenge's `digest`, when it has one.
    pub fn check_body(&self, body: &[u8]) -> Result<(), ChallengeError> {
        match self.digest.as_deref() {
            None => Ok(()),
            Some(d) => ContentDigest::parse(d)
                .ok()
                .filter(|cd| cd.matches(body))
                .map(|_| ())
                .ok_or(ChallengeError::DigestMismatch),
        }
    }
}

/// How strictly to verify an echoed challenge.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// Tolerance for clocks that disagree; a challenge is still accepted this long after
    /// `expires`.
    pub clock_skew: Duration,
    /// Refuse challenges without `expires` (ours always carry one).
    pub require_expires: bool,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        Self {
            clock_skew: Duration::from_secs(30),
            require_expires: true,
        }
    }
}

/// Collects a challenge's optional fields, then binds them with the server secret.
#[derive(Debug, Clone)]
pub struct ChallengeBuilder {
    realm: String,
    method: MethodName,
    intent: IntentName,
    request: B64Json,
    expires: Option<Timestamp>,
    description: Option<String>,
    digest: Option<String>,
    opaque: Option<String>,
}

impl ChallengeBuilder {
    /// Expires at `t` (emitted to the second, UTC).
    pub fn with_expires(mut self, t: Timestamp) -> Self {
        self.expires = Some(t.truncated_to_seconds());
        self
    }

    /// Display text (not bound).
    pub fn with_description(mut self, d: impl Into<String>) -> Self {
        self.description = Some(d.into());
        self
    }

    /// Binds the challenge to a request body.
    pub fn with_body_digest(mut self, body: &[u8]) -> Self {
        self.digest = Some(ContentDigest::sha256(body).to_string());
        self
    }

    /// Binds the challenge to a precomputed RFC 9530 digest value.
    pub fn with_digest(mut self, digest: impl Into<String>) -> Self {
        self.digest = Some(digest.into());
        self
    }

    /// Server correlation data: a flat string-to-string map, as the spec requires.
    pub fn with_opaque<I, K, V>(mut self, pairs: I) -> Result<Self, DecodeError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let map = pairs
            .into_iter()
            .map(|(k, v)| (k.into(), Value::String(v.into())))
            .collect();
        self.opaque = Some(B64Json::encode(map)?.encoded().to_owned());
        Ok(self)
    }

    /// Computes the id and returns the finished challenge.
    pub fn issue(self, secret: &ChallengeSecret) -> Challenge {
        let mut c = Challenge {
            id: String::new(),
            realm: self.realm,
            method: self.method,
            intent: self.intent,
            request: self.request,
            expires: self.expires.map(|t| t.to_string()),
            description: self.description,
            digest: self.digest,
            opaque: self.opaque,
            header: None,
        };
        c.id = secret.id_for(&c.id_input());
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn secret() -> ChallengeSecret {
        ChallengeSecret::new(*b"0123456789abcdef0123456789abcdef").unwrap()
    }

    fn issue(expires: &str) -> Challenge {
        let req = json!({"amount": "1000", "currency": "sol", "recipient": "abc"});
        let Value::Object(req) = req else {
            unreachable!()
        };
        Challenge::builder(
            "api.example.com",
            MethodName::solana(),
            IntentName::charge(),
            B64Json::encode(req).unwrap(),
        )
        .with_expires(Timestamp::parse(expires).unwrap())
        .with_description("weather")
        .with_opaque([("route", "/weather")])
        .unwrap()
        .issue(&secret())
    }

    fn at(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    #[test]
    fn issued_challenge_verifies_before_expiry() {
        let c = issue("2025-01-15T12:05:00Z");
        let keys = ChallengeKeyring::new(secret());
        assert_eq!(
            c.verify(&keys, at("2025-01-15T12:00:00Z"), &VerifyOptions::default()),
            Ok(())
        );
    }

    #[test]
    fn expiry_allows_skew_then_refuses() {
        let c = issue("2025-01-15T12:05:00Z");
        let keys = ChallengeKeyring::new(secret());
        let o = VerifyOptions::default();
        assert_eq!(c.verify(&keys, at("2025-01-15T12:05:30Z"), &o), Ok(()));
        assert_eq!(
            c.verify(&keys, at("2025-01-15T12:05:31Z"), &o),
            Err(ChallengeError::Expired("2025-01-15T12:05:00Z".into()))
        );
    }

    #[test]
    fn tampering_any_bound_field_breaks_the_id() {
        let keys = ChallengeKeyring::new(secret());
        let now = at("2025-01-15T12:00:00Z");
        let o = VerifyOptions::default();
        let base = issue("2025-01-15T12:05:00Z");

        let mut c = base.clone();
        c.realm = "evil.example".into();
        assert_eq!(c.verify(&keys, now, &o), Err(ChallengeError::IdMismatch));

        let mut c = base.clone();
        c.expires = Some("2099-01-15T12:05:00Z".into());
        assert_eq!(c.verify(&keys, now, &o), Err(ChallengeError::IdMismatch));

        let mut c = base.clone();
        let Value::Object(m) = json!({"amount": "1", "currency": "sol", "recipient": "abc"}) else {
            unreachable!()
        };
        c.request = B64Json::encode(m).unwrap();
        assert_eq!(c.verify(&keys, now, &o), Err(ChallengeError::IdMismatch));

        let mut c = base.clone();
        c.opaque = None;
        assert_eq!(c.verify(&keys, now, &o), Err(ChallengeError::IdMismatch));

        // description is display-only and deliberately unbound.
        let mut c = base;
        c.description = Some("something else".into());
        assert_eq!(c.verify(&keys, now, &o), Ok(()));
    }

    #[test]
    fn missing_expiry_is_refused_by_default() {
        let mut c = issue("2025-01-15T12:05:00Z");
        c.expires = None;
        c.id = secret().id_for(&c.id_input());
        let keys = ChallengeKeyring::new(secret());
        let now = at("2025-01-15T12:00:00Z");
        assert_eq!(
            c.verify(&keys, now, &VerifyOptions::default()),
            Err(ChallengeError::MissingExpires)
        );
        let lax = VerifyOptions {
            require_expires: false,
            ..VerifyOptions::default()
        };
        assert_eq!(c.verify(&keys, now, &lax), Ok(()));
    }

    #[test]
    fn body_digest_binding() {
        let c = Challenge {
            digest: Some(ContentDigest::sha256(b"{\"q\":1}").to_string()),
            ..issue("2025-01-15T12:05:00Z")
        };
        assert_eq!(c.check_body(b"{\"q\":1}"), Ok(()));
        assert_eq!(
            c.check_body(b"{\"q\":2}"),
            Err(ChallengeError::DigestMismatch)
        );
    }
}
