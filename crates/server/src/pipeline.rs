//! One paid request, start to finish: price it, answer 402 with fresh challenges, or check the
//! credential (binding, expiry, route, body), reserve its challenge, let the method verify and
//! settle, and record the receipt. Every refusal is a problem response with fresh challenges.

use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use bytes::Bytes;
use mpp::{
    B64Json, Challenge, ChallengeError, ChallengeUse, Credential, MethodError, PriceTag, Problem,
    ProblemType, Receipt, Settlement, VerifyContext, format_payment_receipt, parse_accept_payment,
    parse_authorization, parse_payment_receipt, rank_offers,
};
use mppsol_store::{PaymentRecord, Reservation};
use sha2::{Digest, Sha256};
use tracing::{Instrument, info_span, warn};

use crate::config::PaymentConfig;
use crate::price::Offer;
use crate::problem_response::problem_response;

/// What the layer does with a request.
pub(crate) enum Outcome {
    /// No offer prices this request: pass it through.
    Free,
    /// Paid: run the handler and attach the receipt.
    Paid(Box<PaidRequest>),
    /// Answer without running the handler.
    Refused(Response),
}

/// A verified payment, available to handlers through the [`crate::Paid`] extractor.
#[derive(Debug, Clone)]
pub struct PaidRequest {
    /// The receipt (signed when the server signs receipts).
    pub receipt: Receipt,
    /// The `Payment-Receipt` header value.
    pub receipt_header: String,
    /// The answered challenge.
    pub challenge_id: String,
    /// The price that was paid.
    pub price: PriceTag,
    /// The payer's `source`, if the credential named one.
    pub source: Option<serde_json::Value>,
}

/// The route a challenge is bound to (in `opaque`), so a challenge bought for one route cannot
/// be spent on another with the same price.
pub(crate) fn route_key(parts: &Parts) -> String {
    format!("{} {}", parts.method, parts.uri.path())
}

pub(crate) async fn run(
    config: &PaymentConfig,
    offers: &[Offer],
    parts: &Parts,
    body: &Bytes,
) -> Outcome {
    let priced: Vec<(&Offer, PriceTag)> = offers
        .iter()
        .filter_map(|o| o.price.for_request(parts).map(|p| (o, p)))
        .collect();
    if priced.is_empty() {
        return Outcome::Free;
    }
    let fresh = FreshChallenges {
        config,
        priced: &priced,
        parts,
        body,
    };
    let payment_headers: Vec<&str> = parts
        .headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter(|v| v.len() > 7 && v[..7].eq_ignore_ascii_case("payment"))
        .collect();
    let header_value = match payment_headers.as_slice() {
        [] => {
            return Outcome::Refused(
                fresh
                    .respond(Problem::new(ProblemType::PaymentRequired).with_detail(
                        "This resource requires payment; pay one of the offered challenges.",
                    ))
                    .await,
            );
        }
        [one] => *one,
        _ => {
            // Core §Multiple Payment Options: several credentials in one request → 400.
            return Outcome::Refused(problem_response(
                Problem::new(ProblemType::BadRequest)
                    .with_detail("send exactly one Authorization: Payment credential"),
                &[],
                None,
            ));
        }
    };
    let credential = match parse_authorization(header_value) {
        Ok(c) => c,
        Err(e) => {
            return refuse(&fresh, ProblemType::MalformedCredential, e.to_string()).await;
        }
    };
    let span = info_span!(
        "payment",
        challenge_id = %credential.challenge.id,
        method = %credential.challenge.method,
        intent = %credential.challenge.intent,
        route = %route_key(parts),
    );
    redeem(&fresh, credential, header_value)
        .instrument(span)
        .await
}

async fn redeem(
    fresh: &FreshChallenges<'_>,
    credential: Credential,
    header_value: &str,
) -> Outcome {
    let config = fresh.config;
    let now = config.clock.now();
    let ch = &credential.challenge;
    if ch.realm != config.realm {
        return refuse(
            fresh,
            ProblemType::InvalidChallenge,
            "challenge is for another realm",
        )
        .await;
    }
    // A reusable (session) challenge keeps anchoring its channel after `expires`; the method
    // decides which of its actions need an unexpired one. The HMAC is checked either way.
    let reusable = fresh.priced.iter().any(|(o, _)| {
        *o.method.method() == ch.method
            && *o.method.intent() == ch.intent
            && o.method.challenge_use() == ChallengeUse::Reusable
    });
    match ch.verify(&config.keys, now, &config.verify) {
        Ok(()) => {}
        Err(ChallengeError::Expired(_)) if reusable => {}
        Err(ChallengeError::Expired(_)) => {
            return refuse(fresh, ProblemType::PaymentExpired, "challenge expired").await;
        }
        Err(e) => return refuse(fresh, ProblemType::InvalidChallenge, e.to_string()).await,
    }
    let route = route_key(fresh.parts);
    let bound_route = ch
        .opaque_value()
        .and_then(Result::ok)
        .and_then(|m| m.get("route").and_then(|r| r.as_str().map(str::to_owned)));
    if bound_route.as_deref() != Some(route.as_str()) {
        return refuse(
            fresh,
            ProblemType::InvalidChallenge,
            "challenge was issued for another route",
        )
        .await;
    }
    // A session challenge is presented again with later requests whose bodies differ; the
    // channel's cumulative accounting, not the body, binds those.
    if !reusable && ch.check_body(fresh.body).is_err() {
        return refuse(
            fresh,
            ProblemType::VerificationFailed,
            "request body differs from the one the challenge was issued for",
        )
        .await;
    }
    let Some((offer, price)) = fresh
        .priced
        .iter()
        .find(|(o, _)| *o.method.method() == ch.method && *o.method.intent() == ch.intent)
    else {
        return refuse(
            fresh,
            ProblemType::InvalidChallenge,
            "this route no longer offers that method",
        )
        .await;
    };

    let ctx = VerifyContext {
        price: price.clone(),
        now,
        idempotency_key: fresh
            .parts
            .headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    };
    if reusable {
        return settle_reusable(fresh, offer, &credential, &ctx).await;
    }

    let digest: [u8; 32] = Sha256::digest(header_value.trim().as_bytes()).into();
    let expires_at = ch.expires_at().map_or(now.unix(), |t| t.unix());
    match config
        .store
        .reserve_challenge(&ch.id, &digest, expires_at)
        .await
    {
        Ok(Reservation::Fresh) => {}
        Ok(Reservation::Completed { receipt }) => {
            // An idempotent retry of a paid request: serve it again, charge nothing.
            return match parse_payment_receipt(&receipt) {
                Ok(r) => paid(r, receipt, &credential, price.clone()),
                Err(_) => internal("stored receipt is unreadable"),
            };
        }
        Ok(Reservation::InFlight) => {
            let mut resp = fresh
                .respond(Problem::new(ProblemType::InvalidChallenge).with_detail(
                    "this credential is being redeemed by another request; retry shortly",
                ))
                .await;
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            return Outcome::Refused(resp);
        }
        Ok(Reservation::TakenByOtherCredential) => {
            return refuse(
                fresh,
                ProblemType::InvalidChallenge,
                "challenge already used",
            )
            .await;
        }
        Err(e) => {
            warn!(error = %e, "store unavailable while reserving a challenge");
            return unavailable(fresh, "payment state is temporarily unavailable").await;
        }
    }

    match offer.method.verify(&credential, &ctx).await {
        Ok(mut receipt) => {
            if let Some(signer) = &config.receipt_signer {
                signer.sign(&mut receipt);
            }
            let header = format_payment_receipt(&receipt);
            let record = PaymentRecord {
                challenge_id: ch.id.clone(),
                role: "server".into(),
                method: ch.method.to_string(),
                intent: ch.intent.to_string(),
                reference: receipt.reference.clone(),
                amount: price.amount.get(),
                currency: price.currency.clone(),
                recipient: price.recipient.clone().unwrap_or_default(),
                payer: credential.source.as_ref().map(|s| match s {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                }),
                realm: config.realm.clone(),
                receipt: header.clone(),
                created_at: now.unix(),
            };
            // Independent rows, written concurrently (a batching store commits them together).
            let (completed, recorded) = tokio::join!(
                config.store.complete_challenge(&ch.id, &digest, &header),
                config.store.record_payment(&record)
            );
            if let Err(e) = completed {
                // The payment settled; serve it. A retry would find the reservation pending and
                // be told to wait, never charged twice.
                warn!(error = %e, "could not record a completed challenge");
            }
            if let Err(e) = recorded {
                warn!(error = %e, "could not record a payment");
            }
            paid(receipt, header, &credential, price.clone())
        }
        Err(e) => {
            if let Err(se) = config.store.release_challenge(&ch.id, &digest).await {
                warn!(error = %se, "could not release a failed challenge");
            }
            method_refusal(fresh, e).await
        }
    }
}

/// A session-style credential: the method keeps its own replay state (cumulative vouchers,
/// channel status), so no challenge reservation; control actions are answered here.
async fn settle_reusable(
    fresh: &FreshChallenges<'_>,
    offer: &Offer,
    credential: &Credential,
    ctx: &VerifyContext,
) -> Outcome {
    let config = fresh.config;
    match offer.method.settle(credential, ctx).await {
        Ok(settlement) => {
            let control = matches!(settlement, Settlement::Control(_));
            let (Settlement::Serve(mut receipt) | Settlement::Control(mut receipt)) = settlement;
            if let Some(signer) = &config.receipt_signer {
                signer.sign(&mut receipt);
            }
            let header = format_payment_receipt(&receipt);
            if control {
                return Outcome::Refused(control_response(&receipt, &header));
            }
            paid(receipt, header, credential, ctx.price.clone())
        }
        Err(e) => method_refusal(fresh, e).await,
    }
}

/// 200 for a payment-control action: the receipt in the header and, for clients that read
/// bodies, in the body; the protected handler does not run.
fn control_response(receipt: &Receipt, header: &str) -> Response {
    let body = serde_json::Value::Object(receipt.to_json()).to_string();
    let mut resp = Response::new(axum::body::Body::from(body));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::try_from(header) {
        h.insert(mpp::field::PAYMENT_RECEIPT, v);
    }
    resp
}

fn paid(receipt: Receipt, header: String, credential: &Credential, price: PriceTag) -> Outcome {
    Outcome::Paid(Box::new(PaidRequest {
        receipt,
        receipt_header: header,
        challenge_id: credential.challenge.id.clone(),
        price,
        source: credential.source.clone(),
    }))
}

async fn method_refusal(fresh: &FreshChallenges<'_>, e: MethodError) -> Outcome {
    if e.retryable {
        warn!(error = %e, cause = ?e.source, "payment verification could not complete");
        return unavailable(fresh, &e.detail).await;
    }
    let mut p = Problem::new(e.problem).with_detail(e.detail);
    p.extensions.extend(e.extensions);
    Outcome::Refused(fresh.respond(p).await)
}

async fn refuse(fresh: &FreshChallenges<'_>, t: ProblemType, detail: impl Into<String>) -> Outcome {
    Outcome::Refused(fresh.respond(Problem::new(t).with_detail(detail)).await)
}

async fn unavailable(fresh: &FreshChallenges<'_>, detail: &str) -> Outcome {
    let mut p = Problem::new(ProblemType::VerificationFailed).with_detail(detail);
    p.status = 503;
    let mut resp = fresh.respond(p).await;
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
    Outcome::Refused(resp)
}

fn internal(detail: &str) -> Outcome {
    let mut p = Problem::new(ProblemType::Other("about:blank".into())).with_detail(detail);
    p.title = "Internal Server Error".into();
    p.status = 500;
    Outcome::Refused(problem_response(p, &[], None))
}

/// Everything needed to issue fresh challenges for the request being answered.
pub(crate) struct FreshChallenges<'a> {
    pub config: &'a PaymentConfig,
    pub priced: &'a [(&'a Offer, PriceTag)],
    pub parts: &'a Parts,
    pub body: &'a Bytes,
}

impl FreshChallenges<'_> {
    /// Issues one challenge per offer, ordered by the client's `Accept-Payment`.
    pub(crate) async fn issue(&self) -> Vec<Challenge> {
        let config = self.config;
        let now = config.clock.now();
        let route = route_key(self.parts);
        let mut out = Vec::with_capacity(self.priced.len());
        for (offer, price) in self.priced {
            let request = match offer.method.prepare(price).await {
                Ok(r) => r,
                Err(e) => {
                    warn!(error = %e, method = %offer.method.method(), "cannot prepare an offer");
                    continue;
                }
            };
            let request = match B64Json::encode(request) {
                Ok(r) => r,
                Err(e) => {
                    warn!(error = %e, "offer request does not canonicalise");
                    continue;
                }
            };
            let mut b = Challenge::builder(
                config.realm.clone(),
                offer.method.method().clone(),
                offer.method.intent().clone(),
                request,
            )
            .with_expires(now.saturating_add(config.challenge_ttl));
            if let Some(d) = &price.description {
                b = b.with_description(d.clone());
            }
            if !self.body.is_empty() {
                b = b.with_body_digest(self.body);
            }
            match b.with_opaque([("route", route.as_str())]) {
                Ok(b) => out.push(b.issue(config.keys.current())),
                Err(e) => warn!(error = %e, "cannot bind the route"),
            }
        }
        let ranges = self
            .parts
            .headers
            .get(mpp::field::ACCEPT_PAYMENT)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_accept_payment(v).ok())
            .unwrap_or_default();
        let pairs: Vec<(&str, &str)> = out
            .iter()
            .map(|c| (c.method.as_str(), c.intent.as_str()))
            .collect();
        let order = rank_offers(&pairs, &ranges);
        let mut slots: Vec<Option<Challenge>> = out.into_iter().map(Some).collect();
        order.into_iter().filter_map(|i| slots[i].take()).collect()
    }

    /// A problem response carrying fresh challenges (503 when none can be issued).
    pub(crate) async fn respond(&self, problem: Problem) -> Response {
        let challenges = self.issue().await;
        if challenges.is_empty() {
            let mut p = Problem::new(ProblemType::VerificationFailed)
                .with_detail("no payment method can issue a challenge right now");
            p.status = 503;
            return problem_response(p, &[], Some(HeaderValue::from_static("5")));
        }
        problem_response(problem, &challenges, None)
    }
}
