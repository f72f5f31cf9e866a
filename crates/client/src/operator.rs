//! Talking to the operator service (`mppsol operator`): HMAC-signed API requests, and
//! [`OperatorSigner`], a [`ClientMethod`] for agents whose key the operator holds (custodial
//! accounts). The agent sends the challenge; the operator checks its policy and balance,
//! signs with the account's key and returns the `Authorization` value. An agent that holds its
//! own key (non-custodial account) signs the transfers the operator accepted with
//! [`OperatorApi::sign_transfer`].
//!
//! Request signing (the operator verifies with the same functions):
//!
//! ```text
//! X-Mppsol-Key:       key_…
//! X-Mppsol-Timestamp: <Unix seconds>
//! X-Mppsol-Nonce:     <16 to 64 URL-safe characters, fresh per request>
//! X-Mppsol-Signature: base64url(HMAC-SHA256(signing_key, METHOD "\n" PATH?QUERY "\n"
//!                         TIMESTAMP "\n" NONCE "\n" IDEMPOTENCY-KEY "\n" base64url(SHA-256(body))))
//! (IDEMPOTENCY-KEY is the `Idempotency-Key` header's value, empty when there is none)
//! signing_key = HMAC-SHA256(key = the secret's UTF-8 bytes, "mppsol/v1/request-signing")
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use mpp::{
    BoxFuture, Challenge, ClientMethod, Clock, Credential, MethodError, MethodName, Problem, Quote,
    Receipt, SystemClock, format_authorization, format_payment_receipt, format_www_authenticate,
    parse_authorization,
};
use mppsol_solana::network::Network;
use reqwest::{Method, Response};
use sha2::{Digest, Sha256};

use crate::charge::{charge_quote, supports_charge};
use crate::error::PayError;
use crate::session::{
    session_idempotency_key, session_needs_followup, session_quote, supports_session,
};

/// The API key id header.
pub const KEY_HEADER: &str = "x-mppsol-key";
/// The Unix-seconds timestamp header.
pub const TIMESTAMP_HEADER: &str = "x-mppsol-timestamp";
/// The per-request nonce header (the operator accepts each nonce once).
pub const NONCE_HEADER: &str = "x-mppsol-nonce";
/// The request signature header.
pub const SIGNATURE_HEADER: &str = "x-mppsol-signature";

const SIGNING_LABEL: &[u8] = b"mppsol/v1/request-signing";

/// The request-signing key derived from an API key's secret. The operator stores this (sealed),
/// never the secret.
pub fn signing_key(secret: &str) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(SIGNING_LABEL);
    mac.finalize().into_bytes().into()
}

/// The `Idempotency-Key` header, covered by the signature (changing it in transit could
/// otherwise turn a retry into a second transfer).
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";

/// What a request signature covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedParts<'a> {
    /// HTTP method (any case).
    pub method: &'a str,
    /// Path and query exactly as sent (`/v1/transfers?status=pending`).
    pub path_and_query: &'a str,
    /// Unix seconds.
    pub timestamp: i64,
    /// The request's nonce.
    pub nonce: &'a str,
    /// The `Idempotency-Key` header, if sent.
    pub idempotency_key: Option<&'a str>,
    /// The body bytes (empty when there is none).
    pub body: &'a [u8],
}

/// The text a request signature covers.
pub fn canonical_request(parts: &SignedParts<'_>) -> String {
    format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        parts.method.to_ascii_uppercase(),
        parts.path_and_query,
        parts.timestamp,
        parts.nonce,
        parts.idempotency_key.unwrap_or_default(),
        URL_SAFE_NO_PAD.encode(Sha256::digest(parts.body))
    )
}

/// The HMAC of a canonical request, unencoded (the operator compares these in constant time).
pub fn request_mac(key: &[u8; 32], canonical: &str) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(canonical.as_bytes());
    mac.finalize().into_bytes().into()
}

/// A fresh request nonce (128 random bits, base64url).
pub fn new_nonce() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>())
}

/// An API key as its holder has it: the id and the secret.
#[derive(Clone)]
pub struct ApiCredentials {
    /// `key_…`.
    pub key_id: String,
    secret: String,
}

impl ApiCredentials {
    /// Wraps an id and its secret.
    pub fn new(key_id: impl Into<String>, secret: impl Into<String>) -> Self {
        Self {
            key_id: key_id.into(),
            secret: secret.into(),
        }
    }

    /// The four signing headers for a request (the `Idempotency-Key`, if any, is sent by the
    /// caller with the value signed here).
    pub fn sign(&self, parts: &SignedParts<'_>) -> [(&'static str, String); 4] {
        let mac = request_mac(&signing_key(&self.secret), &canonical_request(parts));
        [
            (KEY_HEADER, self.key_id.clone()),
            (TIMESTAMP_HEADER, parts.timestamp.to_string()),
            (NONCE_HEADER, parts.nonce.to_owned()),
            (SIGNATURE_HEADER, URL_SAFE_NO_PAD.encode(mac)),
        ]
    }
}

impl std::fmt::Debug for ApiCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiCredentials")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// A small client for the operator API that signs every request.
#[derive(Debug, Clone)]
pub struct OperatorApi {
    http: reqwest::Client,
    base_url: String,
    credentials: ApiCredentials,
}

impl OperatorApi {
    /// A client for the service at `base_url` (`http://host:port`, no trailing `/v1`).
    pub fn new(http: reqwest::Client, base_url: impl Into<String>, key: ApiCredentials) -> Self {
        Self {
            http,
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            credentials: key,
        }
    }

    /// Sends a signed request; `path_and_query` starts with `/v1/`.
    pub async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Response, PayError> {
        self.send_idempotent(method, path_and_query, body, None)
            .await
    }

    /// [`OperatorApi::send`] with a (signed) `Idempotency-Key`.
    pub async fn send_idempotent(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<&serde_json::Value>,
        idempotency_key: Option<&str>,
    ) -> Result<Response, PayError> {
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let nonce = new_nonce();
        let parts = SignedParts {
            method: method.as_str(),
            path_and_query,
            timestamp: SystemClock.now().unix(),
            nonce: &nonce,
            idempotency_key,
            body: &bytes,
        };
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path_and_query}", self.base_url));
        for (name, value) in self.credentials.sign(&parts) {
            req = req.header(name, value);
        }
        if let Some(key) = idempotency_key {
            req = req.header(IDEMPOTENCY_HEADER, key);
        }
        if body.is_some() {
            req = req.header("content-type", "application/json").body(bytes);
        }
        Ok(req.send().await?)
    }

    /// Signs a non-custodial transfer's `unsigned_transaction` (from the transfer's JSON) with
    /// the account's key and submits it (`POST /v1/transfers/{id}/signed`); the operator then
    /// sends it. Needs no [`crate::PayingClient`]: the agent only holds its key and an API key.
    pub async fn sign_transfer(
        &self,
        transfer_id: &str,
        unsigned_transaction: &str,
        signer: &dyn solana_signer::Signer,
    ) -> Result<Response, PayError> {
        let mut tx = mppsol_solana::charge::payload::decode_transaction(unsigned_transaction)
            .map_err(|e| PayError::Signer(format!("unsigned_transaction: {e}")))?;
        mppsol_solana::charge::build::sign_partial(&mut tx, signer)
            .map_err(|e| PayError::Signer(e.to_string()))?;
        let bytes = bincode::serialize(&tx).map_err(|e| PayError::Signer(e.to_string()))?;
        let body = serde_json::json!({
            "transaction": base64::engine::general_purpose::STANDARD.encode(bytes),
        });
        self.send(
            Method::POST,
            &format!("/v1/transfers/{transfer_id}/signed"),
            Some(&body),
        )
        .await
    }
}

/// Pays `solana`/`charge` and `solana`/`session` challenges through the operator, for a
/// custodial account: the agent holds only an API key. For a session the operator opens the
/// channel with the account key, signs each voucher and closes it; this signer reports every
/// session receipt back (with the credential it answered) so the operator's channel state and
/// session record follow the server's.
#[derive(Debug, Clone)]
pub struct OperatorSigner {
    api: OperatorApi,
    account_id: String,
    network: Network,
    method: MethodName,
    category: Option<String>,
    memo: Option<String>,
    session_deposit: Option<u64>,
}

impl OperatorSigner {
    /// Signs through `api` for `account_id`, answering challenges on `network`.
    pub fn new(api: OperatorApi, account_id: impl Into<String>, network: Network) -> Self {
        Self {
            api,
            account_id: account_id.into(),
            network,
            method: MethodName::solana(),
            category: None,
            memo: None,
            session_deposit: None,
        }
    }

    /// Asks the operator to deposit this much when it opens a session channel (default: the
    /// challenge's suggested deposit).
    pub fn with_session_deposit(mut self, deposit: u64) -> Self {
        self.session_deposit = Some(deposit);
        self
    }

    /// Sends this category with every payment (for policies that require one).
    pub fn with_category(mut self, category: impl Into<String>) -> Self {
        self.category = Some(category.into());
        self
    }

    /// Sends this memo with every payment (for policies that require one; by default the
    /// operator records the challenge's realm).
    pub fn with_memo(mut self, memo: impl Into<String>) -> Self {
        self.memo = Some(memo.into());
        self
    }

    async fn authorize(
        &self,
        challenge: &Challenge,
        close: bool,
    ) -> Result<Credential, MethodError> {
        let www = format_www_authenticate(challenge)
            .map_err(|e| MethodError::verification(format!("unformattable challenge: {e}")))?;
        let mut body = serde_json::json!({
            "www_authenticate": [www],
            "request_url": challenge.realm,
            "memo": self.memo,
            "category": self.category,
        });
        if challenge.intent.as_str() == "session" {
            body["close"] = close.into();
            if let Some(d) = self.session_deposit {
                body["deposit"] = d.to_string().into();
            }
        }
        let path = format!("/v1/accounts/{}/credentials", self.account_id);
        let response = self
            .api
            .send(Method::POST, &path, Some(&body))
            .await
            .map_err(|e| MethodError::verification(format!("operator unreachable: {e}")))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| MethodError::verification(format!("operator reply: {e}")))?;
        if !status.is_success() || status.as_u16() == 202 {
            let detail = Problem::from_json(&bytes)
                .ok()
                .and_then(|p| p.detail)
                .unwrap_or_else(|| "no detail".into());
            return Err(MethodError::verification(format!(
                "operator refused to sign ({}): {detail}",
                status.as_u16()
            )));
        }
        let reply: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| MethodError::verification(format!("operator reply: {e}")))?;
        let authorization = reply["authorization"]
            .as_str()
            .ok_or_else(|| MethodError::verification("operator reply has no authorization"))?;
        parse_authorization(authorization)
            .map_err(|e| MethodError::verification(format!("operator credential: {e}")))
    }

    /// Reports a session receipt and the credential it answered; a failure is logged (the
    /// next report carries a higher amount, and the operator's reconciler reads the channel).
    async fn report(&self, credential: &Credential, receipt: &Receipt) {
        if credential.challenge.intent.as_str() != "session" {
            return;
        }
        let request = credential.challenge.request_value();
        let text = |k: &str| request.get(k).and_then(|v| v.as_str()).unwrap_or_default();
        let program = request
            .get("methodDetails")
            .and_then(|d| d.get("channelProgram"))
            .and_then(|v| v.as_str())
            .unwrap_or_default();
        let body = serde_json::json!({
            "receipt": format_payment_receipt(receipt),
            "counterparty": text("recipient"),
            "credential": format_authorization(credential),
            "session": {"provider_endpoint": credential.challenge.realm, "channel_program": program},
        });
        let path = format!("/v1/accounts/{}/receipts", self.account_id);
        match self.api.send(Method::POST, &path, Some(&body)).await {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => tracing::warn!(
                status = r.status().as_u16(),
                "operator refused a session report"
            ),
            Err(e) => tracing::warn!(error = %e, "could not report a session receipt"),
        }
    }
}

impl ClientMethod for OperatorSigner {
    fn method(&self) -> &MethodName {
        &self.method
    }

    fn supports(&self, challenge: &Challenge) -> bool {
        supports_charge(challenge, self.network) || supports_session(challenge, self.network)
    }

    fn quote(&self, challenge: &Challenge) -> Result<Quote, MethodError> {
        if challenge.intent.as_str() == "session" {
            // One request's price: the operator checks the deposit against the policy.
            return session_quote(challenge);
        }
        charge_quote(challenge)
    }

    fn create_credential<'a>(
        &'a self,
        challenge: &'a Challenge,
    ) -> BoxFuture<'a, Result<Credential, MethodError>> {
        Box::pin(self.authorize(challenge, false))
    }

    fn needs_followup(&self, credential: &Credential) -> bool {
        session_needs_followup(credential)
    }

    fn reusable(&self, challenge: &Challenge) -> bool {
        challenge.intent.as_str() == "session"
    }

    fn idempotency_key(&self, credential: &Credential) -> Option<String> {
        session_idempotency_key(credential)
    }

    fn on_receipt<'a>(
        &'a self,
        credential: &'a Credential,
        receipt: &'a Receipt,
    ) -> BoxFuture<'a, ()> {
        Box::pin(self.report(credential, receipt))
    }

    fn close_credential<'a>(
        &'a self,
        challenge: &'a Challenge,
    ) -> Option<BoxFuture<'a, Result<Credential, MethodError>>> {
        // Only a session has something to close (a charge challenge would be paid).
        (challenge.intent.as_str() == "session")
            .then(|| Box::pin(self.authorize(challenge, true)) as BoxFuture<'a, _>)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_cover_every_part() {
        let key = ApiCredentials::new("key_a", "mppsol_sk_secret");
        let base = SignedParts {
            method: "POST",
            path_and_query: "/v1/x?a=1",
            timestamp: 100,
            nonce: "n1",
            idempotency_key: Some("k1"),
            body: b"{}",
        };
        let signed = key.sign(&base);
        assert_eq!(signed[0], (KEY_HEADER, "key_a".to_owned()));
        assert_eq!(signed[1], (TIMESTAMP_HEADER, "100".to_owned()));
        assert_eq!(signed[2], (NONCE_HEADER, "n1".to_owned()));
        let variants = [
            SignedParts {
                method: "GET",
                ..base
            },
            SignedParts {
                path_and_query: "/v1/x?a=2",
                ..base
            },
            SignedParts {
                timestamp: 101,
                ..base
            },
            SignedParts {
                nonce: "n2",
                ..base
            },
            SignedParts {
                idempotency_key: Some("k2"),
                ..base
            },
            SignedParts {
                idempotency_key: None,
                ..base
            },
            SignedParts {
                body: b"{ }",
                ..base
            },
        ];
        for other in variants {
            assert_ne!(key.sign(&other)[3], signed[3], "{other:?}");
        }
        let other_secret = ApiCredentials::new("key_a", "other");
        assert_ne!(other_secret.sign(&base)[3], signed[3]);
        // Deterministic: the operator recomputes the same value.
        assert_eq!(
            key.sign(&SignedParts {
                method: "post",
                ..base
            })[3],
            signed[3]
        );
        assert_ne!(new_nonce(), new_nonce());
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let key = ApiCredentials::new("key_a", "mppsol_sk_topsecret");
        assert!(!format!("{key:?}").contains("topsecret"));
    }
}
