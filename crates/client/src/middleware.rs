//! An HTTP client that pays 402s: send; on 402 pick a challenge this client can pay, check the
//! spending policy (before any signer call), pay, resend once with the credential, and keep a
//! record of the receipt.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use mpp::{
    Challenge, ClientMethod, Clock, Problem, Receipt, SystemClock, format_authorization,
    parse_payment_receipt, parse_www_authenticate_fields,
};
use mppsol_store::{PaymentRecord, Store};
use reqwest::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use reqwest::{Client, Request, Response, StatusCode};

use crate::error::{PayError, PolicyRule};
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

/// A challenge and the method that pays it.
type Payable = (Challenge, Arc<dyn ClientMethod>);

/// Pays 402 challenges automatically, within a spending policy.
#[derive(Clone)]
pub struct PayingClient {
    http: Client,
    methods: Vec<Arc<dyn ClientMethod>>,
    policy: SpendingPolicy,
    records: Option<Arc<dyn Store>>,
    clock: Arc<dyn Clock>,
    /// Session challenges by route (`METHOD origin/path`), paid up front on later requests.
    sessions: Arc<Mutex<HashMap<String, Payable>>>,
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
            sessions: Arc::new(Mutex::new(HashMap::new())),
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
    /// stream) so it can be sent again.
    ///
    /// Session challenges are remembered per route and paid up front on later requests (the next
    /// voucher goes with the request, no 402 round trip); a control step (opening a channel,
    /// topping up) is followed by the same request with the next credential.
    pub async fn execute(&self, req: Request) -> Result<PaidResponse, PayError> {
        let template = req
            .try_clone()
            .ok_or_else(|| PayError::Http("request body cannot be replayed".into()))?;
        let origin = req.url().origin().ascii_serialization();
        let route = format!("{} {}{}", req.method(), origin, req.url().path());
        let mut current: Option<Payable> = self.remembered(&route);
        let mut pending = Some(req);
        // A fresh challenge is paid at most twice (a stale session view gets one resync) and
        // control steps are bounded, so a misbehaving server cannot loop us.
        let mut fresh_refusals = 0;
        for _ in 0..6 {
            let Some((challenge, method)) = current.clone() else {
                let req = match pending.take() {
                    Some(r) => r,
                    None => clone(&template)?,
                };
                let first = self.http.execute(req).await?;
                if first.status() != StatusCode::PAYMENT_REQUIRED {
                    return Ok(PaidResponse {
                        response: first,
                        receipt: None,
                        paid_challenge: None,
                    });
                }
                current = Some(self.choose(&origin, &first)?);
                continue;
            };
            pending = None;
            let (quote, credential, reservation) =
                self.prepare(&origin, &challenge, &method).await?;
            let mut retry = clone(&template)?;
            let value =
                reqwest::header::HeaderValue::try_from(format_authorization(&credential))
                    .map_err(|_| PayError::Protocol("credential is not a header value".into()))?;
            retry.headers_mut().insert(AUTHORIZATION, value);
            if let Some(key) = method.idempotency_key(&credential)
                && let Ok(v) = reqwest::header::HeaderValue::try_from(key)
            {
                retry.headers_mut().insert("idempotency-key", v);
            }
            let response = self.http.execute(retry).await?;
            let status = response.status();
            if status == StatusCode::PAYMENT_REQUIRED || status == StatusCode::BAD_REQUEST {
                let fresh = status == StatusCode::PAYMENT_REQUIRED;
                let headers = response.headers().clone();
                let body = response.bytes().await.unwrap_or_default();
                let problem_map: serde_json::Map<String, serde_json::Value> =
                    serde_json::from_slice(&body).unwrap_or_default();
                method.on_refusal(&credential, &problem_map).await;
                // A refused credential moved no money in pull mode; in push mode the transfer
                // landed, so the budget stays spent.
                if let Some(r) = reservation
                    && credential.payload.get("type").and_then(|t| t.as_str()) != Some("signature")
                {
                    self.policy.refund(r).await;
                }
                let reusable = method.reusable(&challenge);
                let remembered = self.forget(&route, &challenge);
                // A remembered session challenge, or one session resync: pay the new 402.
                if fresh && reusable && (remembered || fresh_refusals == 0) {
                    fresh_refusals += usize::from(!remembered);
                    let fields = www_authenticate(&headers);
                    if let Ok(next) = self.choose_from(&origin, &fields) {
                        current = Some(next);
                        continue;
                    }
                }
                return Err(refused(status, &body));
            }
            let receipt_header = response
                .headers()
                .get(mpp::field::PAYMENT_RECEIPT)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let receipt = receipt_header
                .as_deref()
                .and_then(|h| parse_payment_receipt(h).ok());
            if status.is_success()
                && let Some(r) = &receipt
            {
                method.on_receipt(&credential, r).await;
            }
            self.record(
                &origin,
                &challenge,
                &quote,
                &credential,
                &receipt_header,
                &receipt,
            )
            .await;
            if status.is_success() && method.reusable(&challenge) {
                self.remember(&route, &challenge, &method);
            }
            // A control step (open, top-up), or an idempotent replay the server answered
            // without content: the same request goes again with the next credential.
            let replayed = receipt
                .as_ref()
                .is_some_and(|r| r.extra.get("replayed") == Some(&serde_json::Value::Bool(true)));
            if status.is_success() && (method.needs_followup(&credential) || replayed) {
                continue;
            }
            return Ok(PaidResponse {
                response,
                receipt,
                paid_challenge: Some(challenge),
            });
        }
        Err(PayError::Protocol(
            "the server kept asking for payment steps; giving up".into(),
        ))
    }

    /// Ends the session relationship behind `url` (a session close: the server settles and
    /// refunds). Returns the final receipt.
    pub async fn close_session(&self, url: &str) -> Result<PaidResponse, PayError> {
        let template = self.http.get(url).build()?;
        let origin = template.url().origin().ascii_serialization();
        let first = self.http.execute(clone(&template)?).await?;
        if first.status() != StatusCode::PAYMENT_REQUIRED {
            return Err(PayError::Protocol(
                "the URL is not priced; no session to close".into(),
            ));
        }
        let fields = www_authenticate(first.headers());
        let challenges = parse_www_authenticate_fields(fields.iter().map(String::as_str))
            .map_err(|e| PayError::Protocol(format!("unreadable challenge: {e}")))?;
        for c in &challenges {
            for m in &self.methods {
                if !m.supports(c) {
                    continue;
                }
                let Some(fut) = m.close_credential(c) else {
                    continue;
                };
                let credential = fut.await.map_err(|e| PayError::Method(e.to_string()))?;
                let mut req = clone(&template)?;
                let value =
                    reqwest::header::HeaderValue::try_from(format_authorization(&credential))
                        .map_err(|_| {
                            PayError::Protocol("credential is not a header value".into())
                        })?;
                req.headers_mut().insert(AUTHORIZATION, value);
                let response = self.http.execute(req).await?;
                let status = response.status();
                if !status.is_success() {
                    let body = response.bytes().await.unwrap_or_default();
                    return Err(refused(status, &body));
                }
                let receipt = response
                    .headers()
                    .get(mpp::field::PAYMENT_RECEIPT)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|h| parse_payment_receipt(h).ok());
                if let Some(r) = &receipt {
                    m.on_receipt(&credential, r).await;
                }
                if let Ok(mut map) = self.sessions.lock() {
                    map.retain(|k, _| !k.contains(&origin));
                }
                return Ok(PaidResponse {
                    response,
                    receipt,
                    paid_challenge: Some(c.clone()),
                });
            }
        }
        Err(PayError::NoAcceptableChallenge(
            "no session offer this client can close".into(),
        ))
    }

    /// Reads a 402's challenges and picks one.
    fn choose(&self, origin: &str, resp: &Response) -> Result<Payable, PayError> {
        self.choose_from(origin, &www_authenticate(resp.headers()))
    }

    fn choose_from(&self, origin: &str, fields: &[String]) -> Result<Payable, PayError> {
        let challenges = parse_www_authenticate_fields(fields.iter().map(String::as_str))
            .map_err(|e| PayError::Protocol(format!("unreadable challenge: {e}")))?;
        let (c, m, _) = self.select(origin, &challenges)?;
        Ok((c.clone(), Arc::clone(m)))
    }

    /// Policy first (static rules, then the durable budget), then the signer.
    async fn prepare(
        &self,
        origin: &str,
        challenge: &Challenge,
        method: &Arc<dyn ClientMethod>,
    ) -> Result<(mpp::Quote, mpp::Credential, Option<crate::policy::Reserved>), PayError> {
        let quote = method
            .quote(challenge)
            .map_err(|e| PayError::Method(e.to_string()))?;
        self.policy
            .check_static(origin, &quote)
            .map_err(|rule| PayError::PolicyDenied { rule })?;
        let reservation = self.policy.reserve(&quote, self.clock.now()).await?;
        match method.create_credential(challenge).await {
            Ok(c) => Ok((quote, c, reservation)),
            Err(e) => {
                if let Some(r) = reservation {
                    self.policy.refund(r).await;
                }
                let text = e.to_string();
                match crate::error::on_chain_denial(&text) {
                    Some(code) => Err(PayError::PolicyDenied {
                        rule: PolicyRule::OnChain(code),
                    }),
                    None => Err(PayError::Method(text)),
                }
            }
        }
    }

    async fn record(
        &self,
        origin: &str,
        challenge: &Challenge,
        quote: &mpp::Quote,
        credential: &mpp::Credential,
        header: &Option<String>,
        receipt: &Option<Receipt>,
    ) {
        let (Some(store), Some(header), Some(r)) = (&self.records, header, receipt) else {
            return;
        };
        // Session vouchers spend escrowed money: the deposit was the payment recorded.
        if quote.amount.get() == 0 {
            return;
        }
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
            realm: origin.to_owned(),
            receipt: header.clone(),
            created_at: self.clock.now().unix(),
        };
        if let Err(e) = store.record_payment(&record).await {
            tracing::warn!(error = %e, "could not record a payment");
        }
    }

    fn remembered(&self, route: &str) -> Option<Payable> {
        self.sessions.lock().ok()?.get(route).cloned()
    }

    fn remember(&self, route: &str, challenge: &Challenge, method: &Arc<dyn ClientMethod>) {
        if let Ok(mut m) = self.sessions.lock() {
            m.insert(route.to_owned(), (challenge.clone(), Arc::clone(method)));
        }
    }

    /// Forgets `challenge` for `route`; `true` if it was the remembered one.
    fn forget(&self, route: &str, challenge: &Challenge) -> bool {
        let Ok(mut m) = self.sessions.lock() else {
            return false;
        };
        if m.get(route).is_some_and(|(c, _)| c.id == challenge.id) {
            m.remove(route);
            return true;
        }
        false
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

fn clone(req: &Request) -> Result<Request, PayError> {
    req.try_clone()
        .ok_or_else(|| PayError::Http("request body cannot be replayed".into()))
}

/// The server's refusal, with its problem type and detail when the body is a problem document.
/// An on-chain spending-policy refusal the server relayed becomes a typed policy denial.
fn refused(status: StatusCode, body: &[u8]) -> PayError {
    let problem = Problem::from_json(body).ok();
    let detail = problem
        .as_ref()
        .and_then(|p| p.detail.clone())
        .unwrap_or_else(|| "no detail".into());
    if let Some(code) = crate::error::on_chain_denial(&detail) {
        return PayError::PolicyDenied {
            rule: PolicyRule::OnChain(code),
        };
    }
    PayError::Refused {
        status: status.as_u16(),
        problem_type: problem.as_ref().map(|p| p.problem_type.uri()),
        detail,
    }
}

fn www_authenticate(headers: &reqwest::header::HeaderMap) -> Vec<String> {
    headers
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect()
}
