//! An HTTP client that pays 402s: send; on 402 pick a challenge this client can pay, check the
//! spending policy (before any signer call), pay, resend once with the credential, and keep a
//! record of the receipt.

use std::sync::Arc;

use mpp::{
    Challenge, ClientMethod, Clock, Problem, Receipt, SystemClock, format_authorization,
    parse_payment_receipt, parse_www_authenticate_fields,
};
use mppsol_store::{PaymentRecord, Store};
use reqwest::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use reqwest::{Client, Request, Response, StatusCode};

use crate::error::PayError;
use crate::policy::SpendingPolicy;

/// A response, with the payment that unlocked it (if one was made).
#[derive(Debug)]
pub struct PaidResponse {
    /// The final response.
    pub response: Response,
    /// The receipt, when a payment was made and the server returned one.
    pub receipt: Option<Receipt>,
    /// The challenge that was paid.
    pub paid_challenge: Option<Challenge>,
}

/// Pays 402 challenges automatically, within a spending policy.
#[derive(Clone)]
pub struct PayingClient {
    http: Client,
    methods: Vec<Arc<dyn ClientMethod>>,
    policy: SpendingPolicy,
    records: Option<Arc<dyn Store>>,
    clock: Arc<dyn Clock>,
}

impl PayingClient {
    /// A client paying with `methods` (in order of preference) under `policy`.
    pub fn new(http: Client, methods: Vec<Arc<dyn ClientMethod>>, policy: SpendingPolicy) -> Self {
        Self {
            http,
            methods,
            policy,
            records: None,
            clock: Arc::new(SystemClock),
        }
    }

    /// Records each payment in `store` (role `client`).
    pub fn with_records(mut self, store: Arc<dyn Store>) -> Self {
        self.records = Some(store);
        self
    }

    /// The underlying HTTP client, for building requests.
    pub fn http(&self) -> &Client {
        &self.http
    }

    /// `GET url`, paying if asked.
    pub async fn get(&self, url: &str) -> Result<PaidResponse, PayError> {
        let req = self.http.get(url).build()?;
        self.execute(req).await
    }

    /// Sends `req`; on 402 pays one challenge and resends. The body must be cloneable (not a
    /// stream) so it can be sent twice.
    pub async fn execute(&self, req: Request) -> Result<PaidResponse, PayError> {
        let retry = req
            .try_clone()
            .ok_or_else(|| PayError::Http("request body cannot be replayed".into()))?;
        let origin = req.url().origin().ascii_serialization();
        let first = self.http.execute(req).await?;
        if first.status() != StatusCode::PAYMENT_REQUIRED {
            return Ok(PaidResponse {
                response: first,
                receipt: None,
                paid_challenge: None,
            });
        }
        let fields: Vec<String> = first
            .headers()
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect();
        let challenges = parse_www_authenticate_fields(fields.iter().map(String::as_str))
            .map_err(|e| PayError::Protocol(format!("unreadable challenge: {e}")))?;
        let (challenge, method, quote) = self.select(&origin, &challenges)?;
        let now = self.clock.now();
        let reservation = self.policy.reserve(&quote, now).await?;
        let credential = match method.create_credential(challenge).await {
            Ok(c) => c,
            Err(e) => {
                if let Some(r) = reservation {
                    self.policy.refund(r).await;
                }
                return Err(PayError::Method(e.to_string()));
            }
        };
        let mut retry = retry;
        let value = reqwest::header::HeaderValue::try_from(format_authorization(&credential))
            .map_err(|_| PayError::Protocol("credential is not a header value".into()))?;
        retry.headers_mut().insert(AUTHORIZATION, value);
        let response = self.http.execute(retry).await?;
        if response.status() == StatusCode::PAYMENT_REQUIRED
            || response.status() == StatusCode::BAD_REQUEST
        {
            let status = response.status().as_u16();
            let body = response.bytes().await.unwrap_or_default();
            let problem = Problem::from_json(&body).ok();
            // A refused credential moved no money in pull mode; in push mode the transfer
            // landed, so the budget stays spent.
            if let Some(r) = reservation
                && credential.payload.get("type").and_then(|t| t.as_str()) != Some("signature")
            {
                self.policy.refund(r).await;
            }
            return Err(PayError::Refused {
                status,
                problem_type: problem.as_ref().map(|p| p.problem_type.uri()),
                detail: problem
                    .and_then(|p| p.detail)
                    .unwrap_or_else(|| "no detail".into()),
            });
        }
        let receipt_header = response
            .headers()
            .get(mpp::field::PAYMENT_RECEIPT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let receipt = receipt_header
            .as_deref()
            .and_then(|h| parse_payment_receipt(h).ok());
        if let (Some(store), Some(header), Some(r)) = (&self.records, &receipt_header, &receipt) {
            let record = PaymentRecord {
                challenge_id: challenge.id.clone(),
                role: "client".into(),
                method: challenge.method.to_string(),
                intent: challenge.intent.to_string(),
                reference: r.reference.clone(),
                amount: quote.amount.get(),
                currency: quote.currency.clone(),
                recipient: quote.recipient.clone().unwrap_or_default(),
                payer: credential
                    .source
                    .as_ref()
                    .and_then(|s| s.as_str().map(str::to_owned)),
                realm: origin.clone(),
                receipt: header.clone(),
                created_at: now.unix(),
            };
            if let Err(e) = store.record_payment(&record).await {
                tracing::warn!(error = %e, "could not record a payment");
            }
        }
        Ok(PaidResponse {
            response,
            receipt,
            paid_challenge: Some(challenge.clone()),
        })
    }

    /// The first challenge (server order, which honours our Accept-Payment) that a method
    /// supports and the static policy allows. If every supported one is denied, the first
    /// denial is the error.
    fn select<'c>(
        &self,
        origin: &str,
        challenges: &'c [Challenge],
    ) -> Result<(&'c Challenge, &Arc<dyn ClientMethod>, mpp::Quote), PayError> {
        let mut denial = None;
        for c in challenges {
            for m in &self.methods {
                if !m.supports(c) {
                    continue;
                }
                let Ok(q) = m.quote(c) else { continue };
                match self.policy.check_static(origin, &q) {
                    Ok(()) => return Ok((c, m, q)),
                    Err(rule) => {
                        denial.get_or_insert(rule);
                    }
                }
            }
        }
        match denial {
            Some(rule) => Err(PayError::PolicyDenied { rule }),
            None => Err(PayError::NoAcceptableChallenge(format!(
                "{} challenge(s), none for a configured method and network",
                challenges.len()
            ))),
        }
    }
}
